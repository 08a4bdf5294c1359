import FuzzDriver

runLibFuzzer(fuzzOne)
