#!/usr/bin/env python3
"""Instruction counts of the data-channel relay beside media, under callgrind (not part of `make bench-data`).

The timed benchmark (Benchmarks/Sources/DataRelayBenchmark) reports CPU time, which drifts on a shared VM. This
runs it under `valgrind --tool=callgrind` (about 2 minutes) and reads the inclusive instruction counts of the
functions that wrap the server's work per stage (`Bench.serverBatchOfData()`, `serverTickOfData()`, and the
media ones): instructions do not depend on the machine's speed at the time. Setup (ICE, DTLS, SCTP) has its own
functions and is left out, as is the final drain; the warm-up phase is included (it is the same work).

Usage: scripts/bench-data-callgrind.py [--binary PATH]   (build the benchmark first, e.g. with `make bench-data`)
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument("--binary", default=os.path.join(here, "..", "Benchmarks", ".build", "release", "DataRelayBenchmark"))
args = parser.parse_args()

rows = []
with tempfile.TemporaryDirectory() as work:
    for receivers in (10, 100):
        for size in (100, 16384):
            out = os.path.join(work, f"cg-{receivers}-{size}.out")
            run = subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", args.binary,
                 "--receivers", str(receivers), "--sizes", str(size), "--rounds", "1", "--quick"],
                capture_output=True, text=True)
            if run.returncode != 0:
                sys.exit(f"the benchmark failed under callgrind:\n{run.stdout}\n{run.stderr}")
            # Messages per path: the warm-up phase and one round, of `k` messages each.
            k = int(re.search(r"rounds of (\d+) messages", run.stderr).group(1))
            messages = 2 * k
            annotate = subprocess.run(
                ["callgrind_annotate", "--inclusive=yes", "--threshold=100", out], capture_output=True, text=True, check=True)
            demangled = subprocess.run(
                ["swift", "demangle", "--simplified"], input=annotate.stdout, capture_output=True, text=True, check=True).stdout
            counts = {}
            for line in demangled.splitlines():
                m = re.match(r"\s*([\d,]+) \(.*?\)\s+\S*Bench\.swift:.*Bench\.(server(?:Batch|Tick)Of(?:Data|Media))\(\)", line)
                if m:
                    counts[m.group(2)] = int(m.group(1).replace(",", ""))
            rows.append((receivers, size, messages, counts))
            print(f"done: N = {receivers}, {size} B", file=sys.stderr)

print("| receivers | message | data: instructions per delivery | media | data / media | data / media with the ticks |")
print("|---:|---|---:|---:|---:|---:|")
for receivers, size, messages, c in rows:
    deliveries = messages * receivers
    data, media = c["serverBatchOfData"], c["serverBatchOfMedia"]
    data_all, media_all = data + c.get("serverTickOfData", 0), media + c.get("serverTickOfMedia", 0)
    label = "100 B" if size == 100 else "16 KiB"
    print(f"| {receivers} | {label} | {data / deliveries:,.0f} | {media / deliveries:,.0f} | {data / media:.2f} "
          f"| {data_all / media_all:.2f} |")
