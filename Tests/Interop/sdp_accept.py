#!/usr/bin/env python3
"""Do real peers accept the answers Starling's SDP code builds?

Makes fresh offers of every fixture shape (Chromium: camera+mic, simulcast q/h/f + mic, data channel;
aiortc: video+audio, data channel), writes them to an offer directory, runs
`swift test --filter SDPAnswerAcceptance` with STARLING_SDP_OFFER_DIR / STARLING_SDP_ANSWER_DIR so the
Swift test builds an ICE-lite SFU answer for each, then applies every answer with
setRemoteDescription in the peer that made the offer. Exits non-zero if any peer rejects its answer
or negotiates something other than what the answer says.

    python3 Tests/Interop/sdp_accept.py              # builds the tests, then runs in `unshare --net`
    python3 Tests/Interop/sdp_accept.py --install    # also installs Chromium/aiortc (see sdppeers.py)
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import sdppeers  # noqa: E402


def expected_problems(name, result):
    """What is wrong with a peer's state after setRemoteDescription(answer), as a list of strings."""
    if not result.get("ok"):
        return [f"setRemoteDescription failed: {result.get('error')}"]
    problems = []
    if result.get("signalingState") != "stable":
        problems.append(f"signalingState {result.get('signalingState')}")
    for t in result.get("transceivers", []):
        # The answer is recvonly, so each sending transceiver must now be sendonly.
        if t.get("currentDirection") != "sendonly":
            problems.append(f"mid {t.get('mid')}: currentDirection {t.get('currentDirection')}")
        if name == "chromium-simulcast" and t.get("kind") == "video" and t.get("encodings") != ["q", "h", "f"]:
            problems.append(f"simulcast encodings after answer: {t.get('encodings')}")
        codecs = [c.lower() for c in t.get("codecs", [])]
        if codecs and not (codecs == ["audio/opus"] or codecs == ["video/vp8", "video/rtx"]):
            problems.append(f"mid {t.get('mid')}: negotiated codecs {codecs}")
    if name.endswith("datachannel") and result.get("sctp") is None:
        problems.append("no SCTP transport after answering the data channel")
    return problems


def run_inner(keep):
    work = keep or tempfile.mkdtemp(prefix="starling-sdp-")
    offer_dir, answer_dir = os.path.join(work, "offers"), os.path.join(work, "answers")
    os.makedirs(offer_dir, exist_ok=True)
    os.makedirs(answer_dir, exist_ok=True)

    loop = sdppeers.new_loop()
    chromium = sdppeers.ChromiumPeer()
    aiortc_peer = sdppeers.AiortcPeer()
    failures = 0
    try:
        offers = sdppeers.make_offers(chromium, aiortc_peer, loop)
        for name, sdp in offers.items():
            with open(os.path.join(offer_dir, f"{name}.sdp"), "w", newline="") as f:
                f.write(sdp)

        env = {**os.environ, "STARLING_SDP_OFFER_DIR": offer_dir, "STARLING_SDP_ANSWER_DIR": answer_dir}
        swift = ["swift", "test", "--skip-build", "--filter", "SDPAnswerAcceptance"]
        proc = subprocess.run(swift, cwd=ROOT, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stdout[-4000:], proc.stderr[-4000:], sep="\n")
            raise SystemExit(f"{' '.join(swift)} failed ({proc.returncode})")

        for name in offers:
            path = os.path.join(answer_dir, f"{name}.sdp")
            if not os.path.exists(path):
                print(f"FAIL {name}: no answer written")
                failures += 1
                continue
            with open(path, newline="") as f:
                answer = f.read()
            peer, shape = name.split("-", 1)
            if peer == "chromium":
                result = chromium.apply_answer(shape, answer)
            else:
                result = loop.run_until_complete(aiortc_peer.apply_answer(shape, answer))
            problems = expected_problems(name, result)
            failures += bool(problems)
            print(f"{'FAIL' if problems else 'ok  '} {name}: {json.dumps(result)}")
            for p in problems:
                print(f"     - {p}")
    finally:
        chromium.close()
        loop.run_until_complete(aiortc_peer.close())
    print(f"{len(sdppeers.ALL_OFFERS) - failures} passed, {failures} failed")
    if keep or failures:
        print(f"offers and answers in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--install", action="store_true", help="install Chromium, chromedriver, aiortc, selenium")
    ap.add_argument("--no-build", action="store_true", help="skip `swift build --build-tests`")
    ap.add_argument("--keep", metavar="DIR", help="write offers/ and answers/ under DIR")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner or sdppeers.is_isolated():
        if not sdppeers.is_isolated():
            raise SystemExit("refusing to run: interfaces other than lo exist")
        return run_inner(args.keep)
    if args.install:
        sdppeers.install()
    if not args.no_build:  # outside the namespace: package resolution may need the network
        subprocess.run(["swift", "build", "--build-tests"], cwd=ROOT, check=True)
    inner = [sys.executable, os.path.abspath(__file__), "--inner"]
    if args.keep:
        inner += ["--keep", os.path.abspath(args.keep)]
    return sdppeers.reexec_isolated(inner)


if __name__ == "__main__":
    sys.exit(main())
