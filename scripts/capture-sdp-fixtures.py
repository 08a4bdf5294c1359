#!/usr/bin/env python3
"""Captures the real SDP offers under Tests/StarlingWireTests/Fixtures/sdp/ from Debian's Chromium
(Selenium) and from aiortc, on loopback only.

    python3 scripts/capture-sdp-fixtures.py            # installs what is missing, then captures
    python3 scripts/capture-sdp-fixtures.py --no-install

Installs (needs the network, run as root): apt-get update; apt-get install chromium chromium-driver;
pip install aiortc selenium. Then it re-runs itself inside `unshare --net` with only `lo` up, so the
peers gather nothing but 127.0.0.1 candidates.
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "Interop"))
import sdppeers  # noqa: E402

OUT = os.path.join(ROOT, "Tests", "StarlingWireTests", "Fixtures", "sdp")


def capture():
    loop = sdppeers.new_loop()
    chromium = sdppeers.ChromiumPeer()
    aiortc_peer = sdppeers.AiortcPeer()
    try:
        offers = sdppeers.make_offers(chromium, aiortc_peer, loop)
    finally:
        chromium.close()
        loop.run_until_complete(aiortc_peer.close())
    os.makedirs(OUT, exist_ok=True)
    for name, sdp in offers.items():
        path = os.path.join(OUT, f"{name}.sdp")
        with open(path, "w", newline="") as f:  # keep the peers' CRLF line endings
            f.write(sdp)
        print(f"wrote {os.path.relpath(path, ROOT)} ({len(sdp)} bytes)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-install", action="store_true", help="do not install Chromium/aiortc")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner or sdppeers.is_isolated():
        if not sdppeers.is_isolated():
            raise SystemExit("refusing to capture: interfaces other than lo exist")
        capture()
        return 0
    if not args.no_install:
        sdppeers.install()
    return sdppeers.reexec_isolated([sys.executable, os.path.abspath(__file__), "--inner"])


if __name__ == "__main__":
    sys.exit(main())
