#!/usr/bin/env python3
"""ICE-TCP (RFC 6544): a participant whose network drops UDP reaches Starling over TCP.

Inside a network namespace holding only `lo` (re-executes itself under `unshare --net`) the test builds a
second namespace for the client side and joins the two with a veth pair:

    server namespace (this one)              client namespace (unshare --net, held by a `sleep`)
    st0 10.77.0.1/24  <------ veth ------>   st1 10.77.0.2/24, nftables: UDP in and out on st1 dropped
    starling serve: HTTP on 0.0.0.0,         Chromium "ben" (driven by this script run again there with
    media (UDP and TCP) on 10.77.0.1         --client), the web app at http://10.77.0.1:PORT/
    Chromium "ann" (driven from here)

Both join one room through the web app with fake camera and microphone, pasting tokens minted here (a server
listening beyond loopback refuses development tokens). Then:
  * ben's publishing and subscribing connections both select a TCP pair: his local candidate is TCP, Starling's
    the passive TCP host candidate of its answer (getStats through window.starling.selectedPairs());
  * ben decodes ann's camera and ann decodes ben's (framesDecoded of the remote video grows to 30 and more),
    so media, RTCP and DTLS all crossed the RFC 4571 framed TCP connections;
  * nftables counted UDP packets dropped on st1 (ben did try UDP, and it was blocked);
  * ann, who reaches Starling both ways, is on the UDP pair she nominated (Starling offers TCP candidates at a
    lower priority and follows the peer's nomination).
Prints what it measured; exits non-zero on any failure. Bounded: about 60 s at most; the client namespace, its
browser and the server are stopped on exit.

    python3 Tests/Interop/ice_tcp_chromium.py [--binary .build/debug/starling]
"""

import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from conference_chromium import Browser, Failure, Starling, wait_for  # noqa: E402
from harness import Checks, isolated_main, participant_token  # noqa: E402

ROOM = "ice-tcp"
SERVER_IP, CLIENT_IP = "10.77.0.1", "10.77.0.2"
FRAMES = 30
API_KEY = "ice-tcp-test-key-0123456789"
# The server listens beyond loopback, where development tokens are refused: the pages paste tokens minted here.
JWT_SECRET = "ice-tcp-test-jwt-secret-0123456789abcdef"
RULES = """
table inet starling_ice_tcp {
  chain input { type filter hook input priority 0; policy accept; iifname "st1" meta l4proto udp counter drop; }
  chain output { type filter hook output priority 0; policy accept; oifname "st1" meta l4proto udp counter drop; }
}
"""


def run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


class ClientNamespace:
    """A network namespace of its own (held by a `sleep` so that it goes away with it), joined to this one by
    the veth pair st0/st1, with UDP dropped on st1."""

    def __init__(self):
        mine = os.readlink("/proc/self/ns/net")
        self.holder = subprocess.Popen(["unshare", "--net", "sleep", "120"])
        deadline = time.time() + 5
        while os.readlink(f"/proc/{self.holder.pid}/ns/net") == mine:
            if time.time() > deadline:
                raise Failure("the client namespace did not appear")
            time.sleep(0.02)
        pid = str(self.holder.pid)
        run(["ip", "link", "add", "st0", "type", "veth", "peer", "name", "st1", "netns", pid])
        run(["ip", "addr", "add", f"{SERVER_IP}/24", "dev", "st0"])
        run(["ip", "link", "set", "st0", "up"])
        for argv in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{CLIENT_IP}/24", "dev", "st1"],
                     ["ip", "link", "set", "st1", "up"]):
            run(self.enter(argv))
        run(self.enter(["nft", "-f", "-"]), input=RULES)

    def enter(self, argv):
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net"] + argv

    def udp_dropped(self):
        """Packets the two UDP drop rules counted."""
        out = run(self.enter(["nft", "-j", "list", "table", "inet", "starling_ice_tcp"])).stdout
        total = 0
        for item in json.loads(out).get("nftables", []):
            for expr in item.get("rule", {}).get("expr", []):
                if "counter" in expr:
                    total += expr["counter"]["packets"]
        return total

    def close(self):
        self.holder.kill()
        self.holder.wait()


def room_stats(port):
    """The control API's getStats of the room, for the log of a failed run."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/getStats", data=json.dumps({"room": ROOM}).encode(),
                                     headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.read().decode()
    except OSError as e:
        return f"(getStats failed: {e})"


def video_frames(browser):
    """The most frames decoded of any remote video track."""
    stats = browser.js("return window.starling.stats()") or {}
    return max([s.get("framesDecoded") or 0 for s in stats.values()] or [0])


def pairs(browser):
    return browser.js_async("return await window.starling.selectedPairs();")


def secure(url):
    """Chromium flags that let the page at `url` (not localhost) use the camera: a secure context by flag."""
    return [f"--unsafely-treat-insecure-origin-as-secure={url}"]


def client(url, name, token):
    """Runs in the client namespace: joins, waits until the remote camera decodes, prints one JSON line with
    what it saw, then stays in the room until its stdin closes."""
    b = Browser(name, secure(url))
    result = {}
    try:
        b.open_and_join(url, ROOM, token)
        try:
            wait_for(f"{name} to join", lambda: (s := b.state) and s.get("phase") == "joined", 30)
            wait_for(f"{name} to decode {FRAMES} frames", lambda: video_frames(b) >= FRAMES, 40)
        except Failure as e:
            result["error"] = str(e)
        result.update(frames=video_frames(b), pairs=pairs(b), log=b.log_tail(15), stats=b.js("return window.starling.stats()"))
        print(json.dumps(result), flush=True)
        sys.stdin.read()
    finally:
        b.quit()
    return 0


def run_inner(binary):
    checks = Checks()
    started = time.time()
    namespace = ClientNamespace()
    server = None
    browsers = []
    ben = None
    try:
        server = Starling(binary, extra_env={
            "STARLING_HTTP_HOST": "0.0.0.0",
            "STARLING_MEDIA_LISTEN_ADDRESS": SERVER_IP,
            "STARLING_MEDIA_TCP_PORT": "0",
            "STARLING_CONTROL_API_KEY": API_KEY,
            "STARLING_AUTH_DEV_TOKENS": "false",
            "STARLING_AUTH_JWT_SECRET": JWT_SECRET,
        }, log_prefix="starling-ice-tcp-")
        url = f"http://{SERVER_IP}:{server.port}"
        ann = Browser("ann", secure(url))
        browsers.append(ann)
        ann.open_and_join(url, ROOM, participant_token(JWT_SECRET, ROOM, "ann"))
        wait_for("ann to join", lambda: (s := ann.state) and s.get("phase") == "joined", 30)
        ben = subprocess.Popen(namespace.enter([sys.executable, os.path.abspath(__file__), "--client", url, "ben",
                                                    participant_token(JWT_SECRET, ROOM, "ben")]),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = ben.stdout.readline()
        seen = json.loads(line) if line.strip() else {"error": "the client side ended without a report"}
        checks.check("ben (UDP dropped) joined and decodes ann's camera over TCP",
                     "error" not in seen and seen.get("frames", 0) >= FRAMES,
                     f"{seen.get('frames')} frames" + (f"; {seen['error']}\n{seen.get('log')}\n{seen.get('stats')}" if "error" in seen else ""))
        for side in ("publisher", "subscriber"):
            p = (seen.get("pairs") or {}).get(side) or {}
            local, remote = p.get("local") or {}, p.get("remote") or {}
            checks.check(f"ben's {side} connection selected a TCP pair to Starling's passive TCP candidate",
                         local.get("protocol") == "tcp" and remote.get("protocol") == "tcp"
                         and remote.get("address") == SERVER_IP and remote.get("candidateType") == "host",
                         f"local {local}, remote {remote}")
        try:
            frames = wait_for(f"ann to decode {FRAMES} frames of ben's camera", lambda: video_frames(ann) >= FRAMES and video_frames(ann), 30)
            checks.check("ann decodes ben's camera (ben publishes over TCP)", True, f"{frames} frames")
        except Failure as e:
            checks.check("ann decodes ben's camera (ben publishes over TCP)", False, str(e))
        if checks.failed:
            print("--- room stats ---\n" + room_stats(server.port))
        dropped = namespace.udp_dropped()
        checks.check("nftables dropped ben's UDP packets", dropped > 0, f"{dropped} packets")
        ann_pairs = pairs(ann) or {}
        protocols = {side: ((ann_pairs.get(side) or {}).get("local") or {}).get("protocol") for side in ("publisher", "subscriber")}
        checks.check("ann, who reaches Starling over UDP and TCP, is on the UDP pair she nominated",
                     protocols == {"publisher": "udp", "subscriber": "udp"}, str(protocols))
    except Failure as e:
        checks.check("the run completed", False, str(e))
    finally:
        if ben is not None:
            try:
                ben.stdin.close()
                ben.wait(timeout=15)
            except Exception:
                ben.kill()
        for b in browsers:
            b.quit()
        if server is not None:
            server.stop()
        namespace.close()
    if checks.failed and server is not None:
        print("--- starling log (tail) ---\n" + server.tail())
    print(f"elapsed {time.time() - started:.1f} s")
    print(f"{len(checks.results) - checks.failed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--client":
        sys.exit(client(sys.argv[2], sys.argv[3], sys.argv[4]))
    sys.exit(isolated_main(__file__, __doc__, run_inner))
