#!/usr/bin/env python3
"""Three headless Chromium sessions in one Starling room through the web app (Web/index.html, Web/app.js).

Inside a network namespace holding only `lo` (re-executes itself under `unshare --net`), starts
`starling serve` with development tokens on and the web root of this repository, then:
  1. three Chromium sessions (fake camera and microphone) open http://127.0.0.1:PORT/, fill in name and room
     and press Join; each must decode both other cameras (framesDecoded >= 30 from getStats, read through
     the page's window.starling.stats());
  2. one mutes its microphone with the page's button: the server must answer `mute` and the other two must
     see the track muted (trackMuted event), then unmuted again;
  3. one shares its screen (getDisplayMedia, a new transceiver, a second `publish` = renegotiation) and the
     other two decode the screen track (framesDecoded grows); then it stops sharing and the screen tiles go.
     When the binary cannot renegotiate yet (its CHANGES file does not list renegotiation), this step is
     reported as SKIPPED, after checking that the page showed the server's error;
  4. one page's WebSocket drops (closed without leaving): the page reconnects with `reconnect: true`, is resumed,
     restarts ICE on its publishing connection, and media flows both ways again (SKIPPED when CHANGES does
     not list reconnect);
  5. a screenshot of a participant's page goes to artifacts/conference-chromium.png (and one during the screen
     share to artifacts/conference-chromium-screen.png);
  6. one participant presses Leave and the others see its tiles go.
Prints what it measured, exits non-zero on any failure; the server and browsers are stopped on exit.

    python3 Tests/Interop/conference_chromium.py [--binary .build/debug/starling] [--changes FILE]
"""

import argparse
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import sdppeers  # noqa: E402
from harness import StarlingProcess  # noqa: E402

FRAMES_WANTED = 30
ROOM = "conference-test"
NAMES = ["Alice", "Bob", "Carol"]
TOTAL_SECONDS = 170  # the whole run stays under 3 minutes

# Besides INTEROP.md's flags: sound may play without a click, and a fixed window size for the screenshot.
# getDisplayMedia needs nothing more: with --use-fake-ui-for-media-stream headless Chromium 156 captures its
# (800x450) screen and the frames go through a peer connection (checked).
EXTRA_FLAGS = [
    "--autoplay-policy=no-user-gesture-required",
    "--window-size=1280,800",
]


class Failure(Exception):
    pass


class Starling(StarlingProcess):
    """`starling serve` on a free port of 127.0.0.1 with development tokens on and this repository's web root;
    `extra_env` adds or overrides environment settings (e.g. STARLING_CONTROL_API_KEY)."""

    def __init__(self, binary, extra_env=None, log_prefix="starling-conference-"):
        env = {
            "STARLING_MEDIA_UDP_PORT": "0",
            "STARLING_HTTP_WEB_ROOT": os.path.join(ROOT, "Web"),
            "STARLING_AUTH_DEV_TOKENS": "true",
        }
        env.update(extra_env or {})
        try:
            super().__init__(binary, env, log_prefix=log_prefix)
        except RuntimeError as e:
            raise Failure(str(e))


# Keeps every RTCPeerConnection the page makes in window.__pcs (install before the page loads).
RECORD_PEER_CONNECTIONS = """
(() => {
  const Native = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); window.__pcs.push(this); }
  };
})();
"""


class Browser:
    """One headless Chromium session on the web app. `query` (e.g. "?codec=vp9") is added to the page's address."""

    query = ""

    def __init__(self, name, extra_flags=()):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.name = name
        self.profile = tempfile.mkdtemp(prefix="starling-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in sdppeers.CHROMIUM_FLAGS + EXTRA_FLAGS + list(extra_flags) + [f"--user-data-dir={self.profile}"]:
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        self.driver.set_script_timeout(30)
        self.driver.set_page_load_timeout(20)

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def js_async(self, script, *args):
        """Runs `script` (which must return a promise) and returns what it resolves to, or {error}."""
        return self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            f"(async () => {{ {script} }})(...Array.from(arguments).slice(0, -1))"
            ".then((r) => done(r === undefined ? null : r), (e) => done({error: String(e && e.message || e)}));", *args)

    def open_and_join(self, url, room, token=None):
        """Joins through the web app's form; with `token`, pasted as on a server without development tokens."""
        self.open_form(url, room)
        if token:
            self.paste_token(token)
        self.click("join-button")

    def paste_token(self, token):
        """Pastes an application's token, once the page has found that the server issues no development tokens."""
        from selenium.webdriver.common.by import By

        wait_for("the token field", lambda: self.js("return !document.getElementById('token-field').hidden"), 10)
        self.driver.find_element(By.ID, "token-input").send_keys(token)

    def record_peer_connections(self):
        """From the next page load on, the page's RTCPeerConnections are in window.__pcs."""
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_PEER_CONNECTIONS})

    def open_form(self, url, room):
        """Loads the web app and fills its join form (name, room), as a person would, without joining yet."""
        from selenium.webdriver.common.by import By

        self.driver.get(f"{url}/{self.query}")
        for field, value in (("name-input", self.name), ("room-input", room)):
            el = self.driver.find_element(By.ID, field)
            el.clear()
            el.send_keys(value)

    def click(self, element_id):
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.ID, element_id).click()

    @property
    def state(self):
        return self.js("return window.starling && window.starling.state")

    def stats(self):
        return self.js("return window.starling.stats()") or {}

    def tiles(self):
        return self.js("return window.starling.tiles()") or []

    def log_tail(self, n=40):
        return "\n".join(self.js("return (window.starlingLog || []).slice(-arguments[0])", n) or [])

    def quit(self):
        try:
            self.driver.quit()
        except Exception:
            pass
        shutil.rmtree(self.profile, ignore_errors=True)


def wait_for(what, predicate, timeout, interval=0.5):
    """Polls `predicate` until it returns something truthy; raises Failure naming `what` on timeout."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise Failure(f"timed out after {timeout} s waiting for {what}")


def listed(changes_path, feature):
    """Whether the newest entry of the binary's CHANGES file lists `feature` (e.g. "renegotiation"), False when it
    says "no <feature>"; None without a file."""
    if not changes_path or not os.path.exists(changes_path):
        return None
    # The file lists what each binary has, the newest entry last: a line at the margin, then indented or
    # bulleted lines.
    latest = []
    for line in open(changes_path).read().splitlines():
        if line.strip() and not line[0].isspace() and not line.startswith("-"):
            latest = []
        latest.append(line)
    latest = "\n".join(latest)
    if re.search(rf"\bno {feature}", latest, re.I):
        return False
    return bool(re.search(feature, latest, re.I))


def camera_tracks(b, browsers):
    """Per remote participant (by id), the received camera sample of `b`."""
    st = b.stats()
    return {s["participantId"]: s for s in st.values() if s.get("source") == "camera" and s.get("kind") == "video"}


def run_inner(binary, changes_path):
    started = time.time()
    results = []  # (name, status, detail) with status ok | FAIL | SKIP
    server = Starling(binary)
    browsers = []

    def cleanup(*_):
        for b in browsers:
            b.quit()
        server.stop()

    signal.signal(signal.SIGTERM, lambda *_: (cleanup(), sys.exit(1)))
    failed = False
    try:
        for name in NAMES:
            browsers.append(Browser(name))
        for b in browsers:
            b.open_and_join(server.url, ROOM)
        ids = {}
        for b in browsers:
            st = wait_for(f"{b.name} to join", lambda: (s := b.state) and s.get("phase") == "joined" and s.get("me") and s, 20)
            ids[b.name] = st["me"]["id"]
        by_id = {v: k for k, v in ids.items()}
        print(f"joined: {json.dumps(ids)} ({time.time() - started:.1f} s)")

        # 1. Every participant decodes both other cameras.
        def all_cameras_decoding():
            for b in browsers:
                cams = camera_tracks(b, browsers)
                others = [ids[n] for n in NAMES if n != b.name]
                if any(cams.get(p, {}).get("framesDecoded", 0) < FRAMES_WANTED for p in others):
                    return None
            return True

        try:
            wait_for(f"each participant to decode >= {FRAMES_WANTED} frames of both other cameras", all_cameras_decoding, 60)
            status = "ok"
        except Failure as e:
            status, failed = "FAIL", True
            print(e)
        time.sleep(2)  # one more stats period, for bitrates
        detail = []
        for b in browsers:
            for pid, s in sorted(camera_tracks(b, browsers).items()):
                detail.append(f"{b.name} <- {by_id.get(pid, pid)} camera: {s['framesDecoded']} frames, "
                              f"{s['frameWidth']}x{s['frameHeight']}, {s['bitrate'] / 1000:.0f} kb/s")
            audio = [s for s in b.stats().values() if s.get("kind") == "audio"]
            heard = ", ".join(f"{by_id.get(s['participantId'])} {s['bitrate'] / 1000:.0f} kb/s" for s in audio)
            detail.append(f"{b.name} audio tracks received: {len(audio)}: {heard}")
            sent = b.js("return window.starling.publishStats()") or {}
            detail.append(f"{b.name} sends: " + ", ".join(
                f"{k} {v['frameWidth']}x{v['frameHeight']} {v['bitrate'] / 1000:.0f} kb/s" for k, v in sorted(sent.items())))
        results.append(("3 participants decode both other cameras", status, "\n      ".join(detail)))
        if status == "FAIL":
            raise Failure("cameras not decoded; stopping here")

        # The tiles: own preview plus one per other participant, named, with layer and bitrate on the remote ones.
        try:
            detail = []
            for b in browsers:
                tiles = {t["key"]: t for t in b.tiles()}
                if "self:camera" not in tiles or not tiles["self:camera"]["hasVideo"]:
                    raise Failure(f"{b.name}: no own preview tile")
                for n in NAMES:
                    if n == b.name:
                        continue
                    t = tiles.get(f"{ids[n]}:camera")
                    if not t or t["name"] != n or not t["hasVideo"]:
                        raise Failure(f"{b.name}: no video tile named {n}: {tiles}")
                    if not re.match(r"\d+x\d+ .*\d+ [kM]b/s", t["overlay"]):
                        raise Failure(f"{b.name}: tile of {n} has no layer/bitrate overlay: {t['overlay']!r}")
                    detail.append(f"{b.name}'s tile of {n}: {t['overlay']!r}")
            results.append(("tiles named, with layer and bitrate overlays", "ok", "\n      ".join(detail)))
        except Failure as e:
            failed = True
            results.append(("tiles named, with layer and bitrate overlays", "FAIL", str(e)))

        # 2. Mute: Alice's microphone button; Bob and Carol see trackMuted.
        alice, bob, carol = browsers
        mic = (alice.state.get("local") or {}).get("microphone") or {}
        mic_id = mic.get("trackId")
        try:
            if not mic_id:
                raise Failure("Alice has no published microphone track")
            alice.click("mic-button")
            wait_for("Alice's own microphone state muted", lambda: ((alice.state["local"].get("microphone") or {}).get("muted")), 5)
            for b in (bob, carol):
                wait_for(f"{b.name} to see Alice's microphone muted",
                         lambda: ((b.state["tracks"].get(mic_id) or {}).get("muted") is True), 10)
                wait_for(f"{b.name}'s tile of Alice to show 'mic off'", lambda: any(
                    t["participantId"] == ids["Alice"] and "mic off" in b.js(
                        "return document.querySelector(`[data-key='${arguments[0]}'] .badges`).textContent", t["key"])
                    for t in b.tiles()), 5)
            alice.click("mic-button")
            for b in (bob, carol):
                wait_for(f"{b.name} to see Alice's microphone unmuted",
                         lambda: ((b.state["tracks"].get(mic_id) or {}).get("muted") is False), 10)
            # The camera toggle: the others show Alice's avatar instead of her video, then her video again.
            cam_id = (alice.state["local"].get("camera") or {}).get("trackId")
            alice_tile = f"{ids['Alice']}:camera"
            has_video = lambda b: next((t["hasVideo"] for t in b.tiles() if t["key"] == alice_tile), None)  # noqa: E731
            alice.click("cam-button")
            for b in (bob, carol):
                wait_for(f"{b.name} to see Alice's camera off", lambda: (
                    (b.state["tracks"].get(cam_id) or {}).get("muted") is True and has_video(b) is False), 10)
            alice.click("cam-button")
            for b in (bob, carol):
                wait_for(f"{b.name} to see Alice's camera on", lambda: (
                    (b.state["tracks"].get(cam_id) or {}).get("muted") is False and has_video(b) is True), 10)
            events = [e for e in bob.state["events"] if e["type"] == "trackMuted"]
            results.append(("mic and camera toggles -> trackMuted at the others", "ok", f"Bob got {json.dumps(events)}"))
        except Failure as e:
            failed = True
            results.append(("mic and camera toggles -> trackMuted at the others", "FAIL", str(e)))

        # 3. Screen share by Bob (renegotiation of his publishing connection).
        renegotiation = listed(changes_path, "renegotiation")
        name = "screen share decoded by the others, then stopped"
        bob.click("screen-button")
        outcome = wait_for("Bob's screen share to be published or refused", lambda: (
            (s := bob.state) and ((s["local"].get("screen") or {}).get("trackId") and {"trackId": s["local"]["screen"]["trackId"]}
                                  or (any("Screen sharing" in e for e in s["errors"]) and {"errors": s["errors"]}))), 30)
        if "trackId" in outcome:
            screen_id = outcome["trackId"]
            try:
                first = {}
                for b in (alice, carol):
                    s = wait_for(f"{b.name} to decode >= {FRAMES_WANTED} frames of Bob's screen", lambda: (
                        (x := b.stats().get(screen_id)) and x["framesDecoded"] >= FRAMES_WANTED and x), 40)
                    first[b.name] = s["framesDecoded"]
                time.sleep(2)
                detail = []
                for b in (alice, carol):
                    s = b.stats()[screen_id]
                    if s["framesDecoded"] <= first[b.name]:
                        raise Failure(f"{b.name}: Bob's screen stopped decoding at {s['framesDecoded']} frames")
                    detail.append(f"{b.name} <- Bob screen: {s['framesDecoded']} frames, {s['frameWidth']}x{s['frameHeight']}, "
                                  f"{s['bitrate'] / 1000:.0f} kb/s")
                shot(alice, "conference-chromium-screen.png")
                bob.click("screen-button")
                for b in (alice, carol):
                    wait_for(f"{b.name}'s screen tile of Bob to go", lambda: not any(
                        t["key"] == f"{ids['Bob']}:screen" for t in b.tiles()), 15)
                # Bob's camera still flows after the renegotiations.
                before = camera_tracks(alice, browsers)[ids["Bob"]]["framesDecoded"]
                wait_for("Alice to keep decoding Bob's camera after the screen share", lambda: (
                    camera_tracks(alice, browsers).get(ids["Bob"], {}).get("framesDecoded", 0) > before + 10), 10)
                results.append((name, "ok", "\n      ".join(detail)))
            except Failure as e:
                failed = True
                results.append((name, "FAIL", str(e) + "\n" + bob.log_tail(15)))
        else:
            shown = bob.js("return Array.from(document.querySelectorAll('.notice.error span')).map(e => e.textContent)")
            on_page = [e for e in shown if "Screen sharing" in e]
            # The refused offer was rolled back: Bob's camera must still reach Alice.
            before = camera_tracks(alice, browsers).get(ids["Bob"], {}).get("framesDecoded", 0)
            try:
                wait_for("Alice to keep decoding Bob's camera after the refused screen share", lambda: (
                    camera_tracks(alice, browsers).get(ids["Bob"], {}).get("framesDecoded", 0) > before + 10), 10)
            except Failure as e:
                failed = True
                results.append(("publishing goes on after a refused renegotiation", "FAIL", str(e)))
            if renegotiation is False:
                results.append((name, "SKIP",
                                "the binary's CHANGES does not list renegotiation yet; the page showed the server's refusal: "
                                + (on_page[0] if on_page else "(NOT shown on the page!)")))
                if not on_page:
                    failed = True
            else:
                failed = True
                results.append((name, "FAIL", f"publish refused: {outcome['errors']}"))

        # 4. Alice's WebSocket drops (closed by the page without leaving): she reconnects within the server's
        # window and resumes, media goes on, and nobody sees her leave.
        name = "dropped WebSocket: reconnect, resume, ICE restart"
        if listed(changes_path, "reconnect") is False:
            results.append((name, "SKIP", "the binary's CHANGES does not list reconnect yet"))
        else:
            try:
                left_before = len([e for e in bob.state["events"] if e["type"] == "participantLeft"])
                t0 = time.time()
                alice.js("window.starling.dropSignaling()")
                wait_for("Alice's page to notice the drop", lambda: alice.state["phase"] != "joined", 5, 0.1)
                wait_for("Alice to be back in the room", lambda: alice.state["phase"] == "joined", 20, 0.2)
                back = time.time() - t0
                resumed = any("resumed; restarting ICE" in line for line in alice.js("return window.starlingLog"))
                if not resumed:
                    raise Failure("Alice was not resumed (joined as a new participant)")
                before_a = camera_tracks(alice, browsers).get(ids["Bob"], {}).get("framesDecoded", 0)
                before_b = camera_tracks(bob, browsers).get(ids["Alice"], {}).get("framesDecoded", 0)
                wait_for("Alice to keep decoding Bob's camera after resuming", lambda: (
                    camera_tracks(alice, browsers).get(ids["Bob"], {}).get("framesDecoded", 0) >= before_a + FRAMES_WANTED), 20)
                wait_for("Bob to keep decoding Alice's camera after her ICE restart", lambda: (
                    camera_tracks(bob, browsers).get(ids["Alice"], {}).get("framesDecoded", 0) >= before_b + FRAMES_WANTED), 20)
                left = [e for e in bob.state["events"] if e["type"] == "participantLeft"][left_before:]
                if left:
                    raise Failure(f"Bob saw participants leave: {left}")
                if ids["Alice"] not in bob.state["participants"]:
                    raise Failure("Bob lost Alice from his participants")
                results.append((name, "ok", f"back in the room {back:.1f} s after the drop; media flows both ways again"))
            except Failure as e:
                failed = True
                results.append((name, "FAIL", str(e) + "\n" + alice.log_tail(20)))

        # 5. Screenshot of a participant's page.
        shot(alice, "conference-chromium.png")

        # 6. Carol leaves; her tiles go at Alice and Bob.
        carol.click("leave-button")
        try:
            wait_for("Carol's page to leave", lambda: carol.state["phase"] == "left", 10)
            for b in (alice, bob):
                wait_for(f"{b.name} to drop Carol's tiles", lambda: (
                    ids["Carol"] not in b.state["participants"]
                    and not any(t["participantId"] == ids["Carol"] for t in b.tiles())), 10)
            left = [e for e in alice.state["events"] if e["type"] == "participantLeft"]
            remaining = [(t["key"], t["name"]) for t in alice.tiles()]
            results.append(("leave removes the tiles at the others", "ok", f"Alice got {json.dumps(left)}; tiles now {remaining}"))
        except Failure as e:
            failed = True
            results.append(("leave removes the tiles at the others", "FAIL", str(e)))

        errors = {b.name: b.state["errors"] for b in browsers if b.state and b.state["errors"]}
        if errors:
            print(f"errors shown on the pages: {json.dumps(errors)}")
    except Failure as e:
        failed = True
        results.append(("run", "FAIL", str(e)))
    except Exception as e:  # a Selenium or page problem: report it like a failure
        failed = True
        results.append(("run", "FAIL", f"{type(e).__name__}: {e}"))
    finally:
        if failed:
            for b in browsers:
                try:
                    print(f"--- {b.name}'s page log (tail)\n{b.log_tail(30)}")
                except Exception:
                    pass
            print(f"--- server log (tail)\n{server.tail()}")
        cleanup()
    for name, status, detail in results:
        print(f"{status:4} {name}" + (f"\n      {detail}" if detail else ""))
    print(f"{sum(s == 'ok' for _, s, _ in results)} passed, {sum(s == 'FAIL' for _, s, _ in results)} failed, "
          f"{sum(s == 'SKIP' for _, s, _ in results)} skipped in {time.time() - started:.1f} s")
    return 1 if failed else 0


def shot(browser, filename):
    os.makedirs(os.path.join(ROOT, "artifacts"), exist_ok=True)
    path = os.path.join(ROOT, "artifacts", filename)
    browser.driver.get_screenshot_as_file(path)
    print(f"screenshot of {browser.name}'s page: {os.path.relpath(path, ROOT)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/debug/starling"))
    ap.add_argument("--changes", default=None,
                    help="file saying what the binary supports (default: CHANGES next to the binary, if any); "
                         "without one, screen sharing must work")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    changes = args.changes or os.path.join(os.path.dirname(binary), "CHANGES")
    if args.inner or sdppeers.is_isolated():
        if not sdppeers.is_isolated():
            raise SystemExit("refusing to run: interfaces other than lo exist")
        # Hard bound on the whole run, whatever hangs.
        signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(Failure(f"the run exceeded {TOTAL_SECONDS} s")))
        signal.alarm(TOTAL_SECONDS)
        return run_inner(binary, os.path.abspath(changes))
    return sdppeers.reexec_isolated([sys.executable, os.path.abspath(__file__), "--inner", "--binary", binary,
                                     "--changes", os.path.abspath(changes)])


if __name__ == "__main__":
    sys.exit(main())
