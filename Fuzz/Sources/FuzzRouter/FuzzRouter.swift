import StarlingRoutingChecks

/// libFuzzer entry for the whole receive and forward path: a router with a publisher and two subscribers
/// fed arbitrary decrypted RTP and RTCP and templated packets (`RouterFuzzHarness`, which the unit tests run
/// too); traps on the first broken invariant.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if let problem = RouterFuzzHarness.run(UnsafeRawBufferPointer(start: data, count: size)) { fatalError(problem) }
    return 0
}
