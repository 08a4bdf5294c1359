#!/usr/bin/env bash
# Counts heap allocations on the server's media path over real sockets: builds the tests in release
# (with -enable-testing, its own scratch path), runs RoomOverUDPTests (1 publisher, 4 subscribers, 10 s of media on
# 127.0.0.1) under heaptrack, and sorts every allocation made inside Starling's server frames into
#   media  - on the forwarding path: a decrypted packet handed to the room (RoomTransport.receive), the router,
#            the room's output (protect + DatagramWriter.send), flushes;
#   other  - setup and control traffic: DTLS handshakes, SRTP init, SDP, STUN/consent, teardown, buffer pools.
# Prints both, and media allocations per forwarded RTP packet. Needs heaptrack (apt-get install heaptrack).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v heaptrack >/dev/null || { echo "heaptrack is not installed (apt-get install heaptrack)" >&2; exit 1; }
SCRATCH=$(realpath -m "${SCRATCH:-.build-release-tests}")
swift build -c release --build-tests -Xswiftc -enable-testing --scratch-path "$SCRATCH" >/tmp/room-alloc-build.log 2>&1 \
  || { tail -20 /tmp/room-alloc-build.log; exit 1; }
out=$(mktemp -d)
(cd "$out" && timeout 300 heaptrack "$SCRATCH/release/StarlingPackageTests.xctest" --testing-library swift-testing \
  --filter RoomOverUDPTests >run.log 2>&1) || { tail -20 "$out/run.log"; exit 1; }
grep -E "router: " "$out/run.log" | head -1
heaptrack_print -f "$out"/heaptrack.*.zst -p 0 -a 0 -T 0 -F "$out/stacks.txt" --flamegraph-cost-type allocations >/dev/null
python3 - "$out/stacks.txt" "$out/run.log" <<'PY'
import collections, re, sys
stacks, log = sys.argv[1], open(sys.argv[2]).read()
rtp_out = int(re.search(r"rtpOut: (\d+)", log).group(1))
rtp_in = int(re.search(r"rtpIn: (\d+)", log).group(1))
server = ("MediaDatagramHandler", "StarlingServer4Room", "RoomTransport", "RoomOutput", "DatagramWriter")
setup = ("DTLSEndpoint", "SRTPLibrary", "SRTPSessionC7profile", "SessionDescription", "STUN", "ICE", "slotCount",
         "transportEnded", "7removed", "RoomC7connect", "SocketAddress",
         # signaling and SDP (offers to subscribers, events), room start and close, transports removed
         "SignalingCodec", "SubscriberNegotiation", "StarlingWire3SDP", "MediaDescription", "DTLSCertificate",
         "RoomC5start", "RoomC5close", "closeRoom", "closeTransport", "MediaLoopC6remove")
media, other = collections.Counter(), collections.Counter()
for line in open(stacks):
    stack, _, n = line.rstrip().rpartition(" ")
    frames = stack.split(";")
    if not any(any(s in f for s in server) for f in frames):
        continue
    ours = [f.split(" (")[0] for f in frames if "Starling" in f]
    site = ours[-1][-90:] if ours else "?"
    (other if any(any(s in f for s in setup) for f in frames) else media)[site] += int(n)
print(f"RTP packets in: {rtp_in}, RTP copies out: {rtp_out}")
print(f"media-path allocations: {sum(media.values())} ({sum(media.values()) / max(rtp_in, 1):.4f} per packet in)")
for site, n in media.most_common(10): print(f"  {n:7d}  {site}")
print(f"setup/control allocations (DTLS, SRTP init, SDP, STUN, teardown, pools): {sum(other.values())}")
PY
rm -rf "$out"
