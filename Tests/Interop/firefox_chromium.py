#!/usr/bin/env python3
"""Firefox ESR and Chromium in one Starling room through the web app (Web/index.html, Web/app.js).

Inside a network namespace holding only `lo` (re-executes itself under `unshare --net`), starts `starling serve`
with development tokens on and this repository's web root, then one headless Firefox ESR (driven over its own
Marionette protocol, Tests/Interop/marionette.py; fake camera and microphone) and one headless Chromium (Selenium
and /usr/bin/chromedriver) each open http://127.0.0.1:PORT/, fill in name and room and press Join:
  1. round "default": both pages with the browsers' default bundle policy. Each must publish (the server answers
     its `publish` offer and the page applies the answer), decode the other's camera (framesDecoded >= 30 and
     still growing, from getStats through the page's window.starling.stats()) and receive the other's microphone
     (audio packets growing, and non-silent: totalAudioEnergy > 0 from the receiving connection's getStats);
  2. round "max-bundle": both pages go to a new room, Firefox's with `?bundle=max-bundle`. Its publish offer then
     carries every m-section but the first with port 0 and `a=bundle-only` (RFC 8843 section 6, JSEP RFC 8829
     section 5.2.1; checked here, so that the round tests what it means to). The server must accept those
     m-sections (an answer m-section with port 0 whose mid is not in the answer's BUNDLE group is a rejection,
     RFC 8843 section 7.3.3), and both pages must again decode each other's camera and receive each other's
     microphone.
Every figure measured is printed (frames decoded, frame sizes, bitrates, audio energy). A screenshot of the Firefox
page goes to artifacts/firefox-chromium.png (round 1) and artifacts/firefox-chromium-max-bundle.png (round 2).
When a publish fails, the server's error (from the page's window.starlingLog) and the offer's m-sections are
printed. The server log's warnings and errors are printed at the end.

Ends with 'N passed, N failed' and exits non-zero on any failure. Bounded: every wait has a timeout, the whole run
is stopped after TOTAL_SECONDS; Starling, Firefox (its whole process group and temporary profile) and Chromium are
stopped on exit.

    python3 Tests/Interop/firefox_chromium.py [--binary .build/debug/starling]
"""

import json
import os
import re
import signal
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from conference_chromium import Browser, Failure, Starling, wait_for  # noqa: E402
from harness import Checks, finish, isolated_main  # noqa: E402
from marionette import Firefox, MarionetteError  # noqa: E402

FRAMES_WANTED = 30
TOTAL_SECONDS = 170  # the whole run stays under 3 minutes
JOIN_SECONDS = 20
PUBLISH_SECONDS = 25
DECODE_SECONDS = 40
ROUNDS = [
    # (label, room, Firefox's page options, Chromium's page options)
    ("default", "firefox-chromium", {}, {}),
    ("max-bundle", "firefox-chromium-max-bundle", {"bundle": "max-bundle"}, {}),
]

# Installed on the loaded page before Join is pressed (both browsers): the web app creates its WebSocket and its
# RTCPeerConnections at join time, through these globals. Records every /rtc message (SDPs included) in
# window.__rtc and every peer connection in window.__pcs, for the checks and the report below.
RECORDER = """
if (!window.__rtc) {
  window.__rtc = [];
  window.__pcs = [];
  const NativeWS = window.WebSocket;
  const keep = (dir, data) => { try { window.__rtc.push({dir, at: Date.now(), msg: JSON.parse(data)}); } catch (e) {} };
  window.WebSocket = class extends NativeWS {
    constructor(...args) { super(...args); this.addEventListener("message", (e) => keep("in", e.data)); }
    send(data) { keep("out", data); return super.send(data); }
  };
  const NativePC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePC {
    constructor(...args) { super(...args); window.__pcs.push(this); }
  };
}
return true;
"""

# Per inbound audio stream of the receiving (subscriber) connections: what the page's stats sample leaves out.
AUDIO_ENERGY = """
const out = [];
for (const pc of window.__pcs || []) {
  if (pc.connectionState === "closed") continue;
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.push({ssrc: s.ssrc, mid: s.mid ?? null, packetsReceived: s.packetsReceived || 0,
                totalAudioEnergy: s.totalAudioEnergy ?? null, totalSamplesReceived: s.totalSamplesReceived ?? null,
                concealedSamples: s.concealedSamples ?? null, audioLevel: s.audioLevel ?? null});
    }
  });
}
return out;
"""


class Deadline(BaseException):
    """The whole run took longer than TOTAL_SECONDS. A BaseException, so that no handler of a single check (they
    catch Failure or Exception) swallows it: it ends the run wherever it strikes."""


def page_url(base, options):
    return base + "/" + (("?" + urllib.parse.urlencode(options)) if options else "")


class Page:
    """What the checks read from a web app page, whichever browser runs it; subclasses provide js, js_async,
    open (load the page), fill (type into a field), click (press a button), screenshot_png and quit."""

    browser = "?"

    def open_and_join(self, url, room):
        self.open(url)
        wait_for(f"{self.name}'s page to load the web app", lambda: self.js(
            "return !!(window.starling && document.getElementById('join-button'))"), 15, 0.2)
        self.js(RECORDER)
        self.fill("name-input", self.name)
        self.fill("room-input", room)
        self.click("join-button")

    @property
    def state(self):
        return self.js("return window.starling && window.starling.state")

    def stats(self):
        return self.js("return window.starling.stats()") or {}

    def publish_stats(self):
        return self.js("return window.starling.publishStats()") or {}

    def log_lines(self):
        return self.js("return window.starlingLog || []") or []

    def log_tail(self, n=40):
        return "\n".join(self.log_lines()[-n:])

    def rtc(self, direction=None, type_=None):
        """The recorded /rtc messages, optionally of one direction ('in'/'out') and type."""
        msgs = self.js("return window.__rtc || []") or []
        return [m["msg"] for m in msgs if (direction is None or m["dir"] == direction)
                and (type_ is None or m["msg"].get("type") == type_)]

    def publish_exchanges(self):
        """[(offer sdp, answer sdp or None, error or None, the response's tracks)] of the page's publish requests."""
        out = []
        msgs = self.rtc()
        for m in msgs:
            if m.get("type") != "publish":
                continue
            reply = next((r for r in msgs if r.get("id") == m.get("id") and r.get("type") in ("response", "error")), None)
            answer = (reply or {}).get("result", {}).get("sdp") if reply and reply["type"] == "response" else None
            error = reply.get("error") if reply and reply["type"] == "error" else None
            tracks = reply.get("result", {}).get("tracks") if reply and reply["type"] == "response" else None
            out.append((m.get("sdp", ""), answer, error, tracks))
        return out

    def audio_energy(self):
        r = self.js_async(AUDIO_ENERGY)
        if isinstance(r, dict) and "error" in r:
            raise Failure(f"{self.name}: getStats failed: {r['error']}")
        return r or []


class ChromiumPage(Page, Browser):
    browser = "Chromium"

    def open(self, url):
        self.driver.get(url)

    def fill(self, element_id, value):
        from selenium.webdriver.common.by import By

        el = self.driver.find_element(By.ID, element_id)
        el.clear()
        el.send_keys(value)

    def screenshot_png(self):
        return self.driver.get_screenshot_as_png()


class FirefoxPage(Page):
    browser = "Firefox"

    def __init__(self, name):
        self.name = name
        self.ff = Firefox(script_seconds=30, page_load_seconds=20)

    def js(self, script, *args):
        return self.ff.js(script, *args)

    def js_async(self, script, *args):
        return self.ff.js_async(script, *args)

    def open(self, url):
        self.ff.navigate(url)

    def fill(self, element_id, value):
        self.ff.type(f"#{element_id}", value)

    def click(self, element_id):
        self.ff.click(f"#{element_id}")

    def screenshot_png(self):
        return self.ff.screenshot()

    def quit(self):
        self.ff.quit()


# ---------------------------------------------------------------------------------------------------------------
# SDP helpers


def m_sections(sdp):
    """[{kind, port, mid, bundle_only, direction, line}] of an SDP's m-sections, plus the session's BUNDLE mids."""
    blocks = re.split(r"\r?\n(?=m=)", sdp or "")
    session, media = blocks[0], blocks[1:]
    bundle = []
    for line in session.splitlines():
        if line.startswith("a=group:BUNDLE"):
            bundle += line.split()[1:]
    out = []
    for block in media:
        lines = block.splitlines()
        first = lines[0].split()
        mid = next((x[len("a=mid:"):] for x in lines if x.startswith("a=mid:")), None)
        direction = next((x[2:] for x in lines if x in ("a=sendonly", "a=recvonly", "a=sendrecv", "a=inactive")), "sendrecv")
        out.append({"kind": first[0][2:], "port": int(first[1]), "mid": mid, "bundle_only": "a=bundle-only" in lines,
                    "direction": direction, "line": lines[0]})
    return out, bundle


def describe_sections(sdp):
    sections, bundle = m_sections(sdp)
    parts = [f"{s['line']} mid={s['mid']} {s['direction']}{' bundle-only' if s['bundle_only'] else ''}" for s in sections]
    return f"BUNDLE {' '.join(bundle) or '(none)'}; " + "; ".join(parts)


def rejected_in_answer(answer):
    """Mids the answer rejects: port 0 and not in its BUNDLE group. RFC 8843 lets a bundled m-section carry port 0
    without being rejected, so its mid in the answer's BUNDLE group is what tells (section 7.3.3: a rejected
    m-section gets port 0 and leaves the group; RFC 3264 section 6)."""
    sections, bundle = m_sections(answer)
    return [s["mid"] for s in sections if s["port"] == 0 and s["mid"] not in bundle]


def sections_not_accepted(answer):
    """The whole text of each answer m-section that does not receive media: rejected (port 0 outside the BUNDLE
    group) or inactive."""
    sections, bundle = m_sections(answer)
    blocks = re.split(r"\r?\n(?=m=)", answer)[1:]
    return [block.splitlines() for s, block in zip(sections, blocks)
            if (s["port"] == 0 and s["mid"] not in bundle) or s["direction"] == "inactive"]


def save_artifact(filename, text):
    os.makedirs(os.path.join(ROOT, "artifacts"), exist_ok=True)
    path = os.path.join(ROOT, "artifacts", filename)
    with open(path, "w") as f:
        f.write(text)
    return os.path.relpath(path, ROOT)


# ---------------------------------------------------------------------------------------------------------------
# One round


def camera_of(page, other_id):
    return next((s for s in page.stats().values()
                 if s.get("participantId") == other_id and s.get("kind") == "video" and s.get("source") == "camera"), None)


def audio_of(page, other_id):
    return next((s for s in page.stats().values() if s.get("participantId") == other_id and s.get("kind") == "audio"), None)


def publish_outcome(page):
    """None until the server answered the page's first publish (response or error); then 'ok' once the page holds
    a published camera and microphone (server track ids), else what went wrong: the server's error from the page's
    log, or the sources the answer left without a track (after a short grace for the page to apply it)."""
    exchanges = page.publish_exchanges()
    if not exchanges or (exchanges[0][1] is None and exchanges[0][2] is None):
        return None
    for line in page.log_lines():
        if "(publish)" in line and "<- error" in line:
            return line
    try:
        wait_for(f"{page.name}'s page to take its published tracks", lambda: (
            (loc := (page.state or {}).get("local") or {}) and all((loc.get(s) or {}).get("trackId")
                                                              for s in ("camera", "microphone")) and loc), 3, 0.2)
        return "ok"
    except Failure:
        local = (page.state or {}).get("local") or {}
        missing = [s for s in ("camera", "microphone") if not (local.get(s) or {}).get("trackId")]
        errors = (page.state or {}).get("errors") or []
        return f"the publish was answered but left no server track for: {', '.join(missing)}" + (
            f"; page errors: {errors}" if errors else "")


def run_round(checks, server, label, room, pages, options):
    """Both pages join `room` (each with its page options) and must publish, decode the other's camera and receive
    the other's microphone."""
    ff, cr = pages
    t0 = time.time()
    for page in pages:
        page.open_and_join(page_url(server.url, options[page.browser]), room)
    ids = {}
    for page in pages:
        st = wait_for(f"{page.name} to join {room}", lambda: (s := page.state) and s.get("phase") == "joined"
                      and s.get("me") and s, JOIN_SECONDS, 0.2)
        ids[page.name] = st["me"]["id"]
    print(f"[{label}] joined {room}: {json.dumps(ids)} ({time.time() - t0:.1f} s)", flush=True)

    # Publishing: each page's offer, the server's answer or error.
    published = {}  # page name -> the sources the server made tracks of
    for page in pages:
        outcome = wait_for(f"{page.name}'s publish to be answered", lambda: publish_outcome(page), PUBLISH_SECONDS, 0.2)
        exchanges = page.publish_exchanges()
        offer, answer, error, tracks = exchanges[-1] if exchanges else ("", None, None, None)
        local = (page.state or {}).get("local") or {}
        published[page.name] = {s for s in ("camera", "microphone") if (local.get(s) or {}).get("trackId")}
        detail = [f"offer: {describe_sections(offer)}"]
        if answer:
            detail.append(f"answer: {describe_sections(answer)}")
            detail.append(f"tracks in the response: {json.dumps(tracks)}")
        if error:
            detail.append(f"server error: {json.dumps(error)}")
        ok = outcome == "ok"
        if not ok:
            detail.append(f"page: {outcome}")
        if answer:
            rejected = rejected_in_answer(answer)
            if rejected:
                ok = False
                detail.append(f"the answer rejects mids {rejected} (port 0, outside its BUNDLE group)")
        if not ok:
            # The evidence for whoever fixes the server: the offer and answer, whole, next to the other artifacts.
            for what, sdp in (("offer", offer), ("answer", answer)):
                if sdp:
                    path = save_artifact(f"firefox-chromium-{label}-{page.browser.lower()}-publish-{what}.sdp", sdp)
                    detail.append(f"{what} saved to {path}")
            if answer:
                for block in sections_not_accepted(answer):
                    detail.append("not accepted in the answer:\n        " + "\n        ".join(block))
        checks.check(f"[{label}] {page.browser} publishes camera and microphone (server answers its offer)", ok,
                     "\n      ".join(detail))
        if options[page.browser].get("bundle") == "max-bundle":
            sections, bundle = m_sections(offer)
            later = sections[1:]
            shaped = bool(later) and all(s["port"] == 0 and s["bundle_only"] and s["mid"] in bundle for s in later) \
                and sections[0]["port"] != 0 and not sections[0]["bundle_only"]
            checks.check(f"[{label}] {page.browser}'s offer has bundle-only m-sections with port 0 (RFC 8843 section 6)",
                         shaped, f"{len(later)} of {len(sections)} m-sections after the first, all port 0 + a=bundle-only"
                         if shaped else describe_sections(offer))

    # Video: each decodes the other's camera, and it keeps decoding.
    for page, other in ((ff, cr), (cr, ff)):
        name = f"[{label}] {page.browser} decodes {other.browser}'s camera"
        if "camera" not in published[other.name]:
            checks.check(name, False, f"{other.browser}'s camera was never published")
            continue
        try:
            first = wait_for(f"{page.name} to decode >= {FRAMES_WANTED} frames of {other.name}'s camera", lambda: (
                (s := camera_of(page, ids[other.name])) and s.get("framesDecoded", 0) >= FRAMES_WANTED and s),
                DECODE_SECONDS, 0.5)
            time.sleep(2)
            later = camera_of(page, ids[other.name]) or {}
            grew = later.get("framesDecoded", 0) > first["framesDecoded"]
            checks.check(name, grew and later.get("frameWidth", 0) > 0,
                         f"{first['framesDecoded']} -> {later.get('framesDecoded')} frames decoded in 2 s, "
                         f"{later.get('frameWidth')}x{later.get('frameHeight')}, {later.get('bitrate', 0) / 1000:.0f} kb/s, "
                         f"{later.get('framesPerSecond')} fps, {later.get('packetsLost')} packets lost")
        except Failure as e:
            s = camera_of(page, ids[other.name])
            checks.check(name, False, f"{e}; last sample: {json.dumps(s)}")

    # Audio: each receives the other's microphone, and what it decodes is not silence.
    for page, other in ((ff, cr), (cr, ff)):
        name = f"[{label}] {page.browser} receives {other.browser}'s microphone"
        if "microphone" not in published[other.name]:
            checks.check(name, False, f"{other.browser}'s microphone was never published")
            continue
        try:
            first = wait_for(f"{page.name} to receive {other.name}'s microphone", lambda: (
                (s := audio_of(page, ids[other.name])) and s.get("packetsReceived", 0) > 0 and s), 15, 0.5)
            time.sleep(1.5)
            later = audio_of(page, ids[other.name]) or {}
            energy = [a for a in page.audio_energy() if a.get("packetsReceived", 0) > 0]
            energies = [a["totalAudioEnergy"] for a in energy if a.get("totalAudioEnergy") is not None]
            heard = any(e > 0 for e in energies) if energies else None
            grew = later.get("packetsReceived", 0) > first["packetsReceived"]
            checks.check(name, grew and heard is not False,
                         f"{first['packetsReceived']} -> {later.get('packetsReceived')} packets, "
                         f"{later.get('bitrate', 0) / 1000:.0f} kb/s, audioLevel {later.get('audioLevel')}, "
                         f"totalAudioEnergy {energies or 'not reported'}")
        except Failure as e:
            checks.check(name, False, f"{e}; last sample: {json.dumps(audio_of(page, ids[other.name]))}")

    # What each sends (simulcast layers), for the record.
    for page in pages:
        sent = page.publish_stats()
        print(f"[{label}] {page.browser} sends: " + (", ".join(
            f"{k} {v['frameWidth']}x{v['frameHeight']} {v['bitrate'] / 1000:.0f} kb/s"
            for k, v in sorted(sent.items())) or "nothing"), flush=True)
    errors = {p.browser: p.state.get("errors") for p in pages if (p.state or {}).get("errors")}
    if errors:
        print(f"[{label}] errors shown on the pages: {json.dumps(errors)}", flush=True)
    return ids


def shot(page, filename):
    try:
        os.makedirs(os.path.join(ROOT, "artifacts"), exist_ok=True)
        path = os.path.join(ROOT, "artifacts", filename)
        with open(path, "wb") as f:
            f.write(page.screenshot_png())
        print(f"screenshot of {page.browser}'s page: {os.path.relpath(path, ROOT)}", flush=True)
    except Exception as e:  # a picture is a nice-to-have
        print(f"no screenshot of {page.browser}'s page: {e}", flush=True)


def server_complaints(server, limit=25):
    """The server log's lines at warning level or above (its mishandlings show up there first)."""
    with open(server.log.name, errors="replace") as f:
        lines = [line.rstrip() for line in f if re.search(r"\b(warning|warn|error|critical)\b", line, re.I)]
    return lines[-limit:], len(lines)


def run_inner(binary):
    started = time.monotonic()
    checks = Checks()
    server = None
    pages = []

    def cleanup():
        for p in pages:
            try:
                p.quit()
            except Exception:
                pass
        pages.clear()
        if server:
            server.stop()

    def on_term(*_):
        cleanup()
        sys.exit(1)

    signal.signal(signal.SIGTERM, on_term)
    # Hard bound on the whole run, whatever hangs: Deadline surfaces in whatever call is waiting.
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(Deadline(f"the run exceeded {TOTAL_SECONDS} s")))
    signal.alarm(TOTAL_SECONDS)
    try:
        server = Starling(binary, log_prefix="starling-firefox-")
        t0 = time.time()
        pages.append(FirefoxPage("Fox"))
        print(f"Firefox {pages[0].ff.capabilities.get('browserVersion')} started ({time.time() - t0:.1f} s)", flush=True)
        t0 = time.time()
        pages.append(ChromiumPage("Chrome"))
        print(f"Chromium {pages[1].driver.capabilities.get('browserVersion')} started ({time.time() - t0:.1f} s)", flush=True)
        for i, (label, room, ff_options, cr_options) in enumerate(ROUNDS):
            try:
                run_round(checks, server, label, room, pages, {"Firefox": ff_options, "Chromium": cr_options})
            except (Failure, MarionetteError) as e:
                checks.check(f"[{label}] round", False, str(e))
            shot(pages[0], "firefox-chromium.png" if i == 0 else f"firefox-chromium-{label}.png")
            if checks.failed:
                for p in pages:
                    try:
                        print(f"--- {p.browser}'s page log, round {label} (tail)\n{p.log_tail(25)}", flush=True)
                    except Exception as e:
                        print(f"--- {p.browser}'s page log unavailable: {e}")
    except (Deadline, Failure, MarionetteError) as e:
        checks.check("run", False, str(e))
    except Exception as e:  # a Selenium or page problem: report it like a failure
        checks.check("run", False, f"{type(e).__name__}: {e}")
    finally:
        signal.alarm(0)
        cleanup()
    if server:
        complaints, total = server_complaints(server)
        if complaints:
            print(f"--- server log: {total} warning/error lines, the last {len(complaints)}:\n" + "\n".join(complaints))
        return finish(server, checks, started)
    print(f"{len(checks.results) - checks.failed} passed, {checks.failed} failed")
    return 1


def main():
    return isolated_main(__file__, __doc__, run_inner)


if __name__ == "__main__":
    sys.exit(main())
