#!/usr/bin/env python3
"""A mixed room: two headless Chromium sessions on the web app and one aiortc participant, then the
control API removes a participant and closes the room while media flows, and the clients notice.

Inside a network namespace holding only `lo` (re-executes itself under `unshare --net`), starts `starling serve`
with development tokens on, a control API key (STARLING_CONTROL_API_KEY) and this repository's web root, then:
  1. Alice and Bob (Chromium, fake camera and microphone, Web/app.js through its own form) and Carol (aiortc,
     Tests/Interop/starling_rtc.py: VP8 moving pattern + Opus, every message schema-checked) join one room.
     Each page must decode the other page's camera and Carol's video (framesDecoded >= 30, from
     window.starling.stats()); Carol must decode >= 100 frames of each page's camera and receive audio frames of
     each page's microphone;
  2. while media flows, POST /api/listParticipants lists the 3 and POST /api/getStats shows every participant's
     published tracks with bitrate > 0 and every received track with packetsSent > 0 (figures printed);
  3. POST /api/removeParticipant {identity: Bob's}: Bob's page gets `removed`, shows the notice and leaves the
     'joined' state, and its /rtc WebSocket is closed by the server (the page records its sockets' close events;
     a close frame the server started carries the server's reason); Alice and Carol get participantLeft and
     trackUnpublished for Bob's two tracks, his tiles go from Alice's page, and media between Alice and Carol
     keeps flowing (frames keep growing both ways); listParticipants then lists 2;
  4. POST /api/closeRoom: Alice and Carol get roomClosed, the server closes both /rtc WebSockets (Carol's
     websocket ends with the server's close frame; Alice's page leaves 'joined'), and the room is gone from
     listRooms.
A screenshot of Alice's page (three participants) goes to artifacts/conference-mixed.png. Prints what it measured
and 'N passed, N failed'; exits non-zero on any failure; the server, the browsers and the aiortc client are
stopped on exit. Bounded: every wait has a timeout and the whole run is capped at 140 s.

    python3 Tests/Interop/conference_mixed.py [--binary .build/debug/starling]
"""

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import sdppeers  # noqa: E402
import starling_rtc  # noqa: E402
from conference_aiortc import Checks  # noqa: E402
from conference_chromium import Browser, Failure, Starling, camera_tracks, shot, wait_for  # noqa: E402
from starling_rtc import Participant  # noqa: E402

PAGE_FRAMES = 30      # frames each page decodes of each remote video (as conference_chromium.py)
AIORTC_FRAMES = 100   # frames aiortc decodes of each page's camera (as conference_aiortc.py)
GROWTH_FRAMES = 30    # after the removal, frames that must still arrive both ways between Alice and Carol
TOTAL_SECONDS = 140
PAGES = ["Alice", "Bob"]

# Installed into every page before its scripts run: records each WebSocket's close event (code, reason, whether
# the server's close frame came before the page called close()), so the test can tell who closed /rtc.
WS_RECORDER = r"""
(() => {
  const Native = window.WebSocket;
  const sockets = [];
  window.__starlingSockets = sockets;
  class RecordedWebSocket extends Native {
    constructor(...args) {
      super(...args);
      const rec = { url: String(args[0]), openedAt: Date.now(), pageCloseAt: null, readyStateAtPageClose: null,
                    closedAt: null, code: null, reason: null, wasClean: null };
      sockets.push(rec);
      this.__rec = rec;
      this.addEventListener("close", (e) => {
        rec.closedAt = Date.now(); rec.code = e.code; rec.reason = e.reason; rec.wasClean = e.wasClean;
      });
    }
    close(...args) {
      if (this.__rec.pageCloseAt === null) { this.__rec.pageCloseAt = Date.now(); this.__rec.readyStateAtPageClose = this.readyState; }
      return super.close(...args);
    }
  }
  window.WebSocket = RecordedWebSocket;
})();
"""


class ControlAPI:
    """POST /api/<method> with the API key."""

    def __init__(self, base_url, key):
        self.base_url = base_url
        self.key = key

    def call(self, method, **params):
        req = urllib.request.Request(f"{self.base_url}/api/{method}", data=json.dumps(params).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:
            body = json.loads(e.read() or b"{}")
            raise Failure(f"control API {method}: HTTP {e.code}: {json.dumps(body)}")
        if "result" not in body:
            raise Failure(f"control API {method}: no result: {json.dumps(body)}")
        return body["result"]


class AioThread:
    """An asyncio loop on a thread of its own for the aiortc participant, while the main thread drives Selenium."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="aiortc", daemon=True)
        self.thread.start()

    def run(self, coro, timeout):
        async def bounded():
            return await asyncio.wait_for(coro, timeout)
        return asyncio.run_coroutine_threadsafe(bounded(), self.loop).result(timeout + 5)

    def call(self, fn):
        """Runs `fn()` on the loop's thread (to read the participant's state without racing it)."""
        async def wrapped():
            return fn()
        return self.run(wrapped(), 5)

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def announced_tracks(p):
    """trackId -> track summary of everything the server announced to aiortc participant `p` (join result, then
    trackPublished events)."""
    tracks = {t["id"]: t for t in (p.join_result or {}).get("tracks", [])}
    for m in list(p.history):
        if m.get("type") == "trackPublished":
            tracks[m["track"]["id"]] = m["track"]
    return tracks


def events_of(history, kind):
    return [m for m in list(history) if m.get("type") == kind]


def rtc_sockets(b):
    return [s for s in (b.js("return window.__starlingSockets || []") or []) if s["url"].endswith("/rtc")]


def server_closed(rec):
    """Whether a recorded /rtc socket was closed by the server: the close frame the page received is the server's
    own (`1000 "done"`, what the server sends when it ends a connection after removed/roomClosed), not the echo of a
    close the page started (the server echoes 1000 with an empty reason). The page also closes its socket when it
    tears down, possibly a few ms before the server's frame arrives; that is recorded and printed, not judged."""
    return bool(rec) and rec["closedAt"] is not None and rec["wasClean"] and rec["code"] == 1000 and rec["reason"] == "done"


def describe_close(rec, since):
    if not rec:
        return "no /rtc socket recorded"
    if rec["closedAt"] is None:
        return f"still open: {json.dumps(rec)}"
    page = ("the page did not call close()" if rec["pageCloseAt"] is None else
            f"the page called close() {(rec['pageCloseAt'] - since) / 1000:.3f} s after the call (readyState "
            f"{rec['readyStateAtPageClose']})")
    return (f"closed {(rec['closedAt'] - since) / 1000:.3f} s after the call: code {rec['code']}, reason "
            f"{rec['reason']!r}, clean {rec['wasClean']}; {page}")


def run_inner(binary):
    started = time.time()
    checks = Checks()
    key = secrets.token_hex(16)
    server = Starling(binary, extra_env={"STARLING_CONTROL_API_KEY": key}, log_prefix="starling-mixed-")
    api = ControlAPI(server.url, key)
    room = "mixed-" + secrets.token_hex(3)
    aio = AioThread()
    browsers = []
    carol = None

    def cleanup():
        for b in browsers:
            b.quit()
        if carol is not None:
            try:
                aio.run(carol.close(timeout=3), 15)
            except Exception as e:
                print(f"closing the aiortc participant: {type(e).__name__}: {e}")
        aio.stop()
        server.stop()

    signal.signal(signal.SIGTERM, lambda *_: (cleanup(), sys.exit(1)))
    try:
        starling_rtc.schemas()  # a broken schema file fails here, before anything starts
        for name in PAGES:
            b = Browser(name)
            b.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WS_RECORDER})
            browsers.append(b)
        alice, bob = browsers
        for b in browsers:
            b.open_and_join(server.url, room)
        ids = {}
        for b in browsers:
            st = wait_for(f"{b.name} to join", lambda: (s := b.state) and s.get("phase") == "joined" and s.get("me") and s, 20)
            ids[b.name] = st["me"]["id"]

        async def carol_joins():
            p = Participant("carol")
            await p.connect(server.rtc_url)
            await p.join(server.token(room, "carol-aiortc", "Carol (aiortc)"))
            await p.publish()
            return p

        carol = aio.run(carol_joins(), 30)
        ids["Carol"] = carol.participant_id
        by_id = {v: k for k, v in ids.items()}
        carol_video = next(t["id"] for t in carol.publish_result["tracks"] if t["kind"] == "video")
        print(f"joined {room}: {json.dumps(ids)} ({time.time() - started:.1f} s)", flush=True)

        # 1. Everyone receives everyone.
        def page_tracks(name):
            """The pages' published tracks as Carol heard of them: (camera id, microphone id)."""
            tracks = [t for t in announced_tracks(carol).values() if t["participantId"] == ids[name]]
            cam = next((t["id"] for t in tracks if t["source"] == "camera" and t["kind"] == "video"), None)
            mic = next((t["id"] for t in tracks if t["kind"] == "audio"), None)
            return cam, mic

        def carol_frames():
            return aio.call(lambda: {k: r.frames for k, r in carol.received.items()})

        def page_frames(b, of):
            return camera_tracks(b, browsers).get(ids[of], {}).get("framesDecoded", 0)

        def media_complete():
            for b in browsers:
                for other in ("Alice", "Bob", "Carol"):
                    if other != b.name and page_frames(b, other) < PAGE_FRAMES:
                        return False
            frames = carol_frames()
            for name in PAGES:
                cam, mic = page_tracks(name)
                if cam is None or mic is None or frames.get(cam, 0) < AIORTC_FRAMES or frames.get(mic, 0) < 1:
                    return False
            return True

        t0 = time.time()
        try:
            wait_for(f"pages to decode >= {PAGE_FRAMES} frames of each remote video and Carol >= {AIORTC_FRAMES} of "
                     "each page's camera", media_complete, 60)
            complete = True
        except Failure as e:
            print(e, flush=True)
            complete = False
        print(f"media complete {time.time() - t0:.1f} s after Carol published" if complete else "media incomplete", flush=True)
        time.sleep(1.5)  # one more stats period of the pages, for bitrates
        frames = carol_frames()
        for b in browsers:
            cams = camera_tracks(b, browsers)
            for other in ("Alice", "Bob", "Carol"):
                if other == b.name:
                    continue
                s = cams.get(ids[other], {})
                n = s.get("framesDecoded", 0)
                checks.check(f"{b.name}'s page decodes >= {PAGE_FRAMES} frames of {other}'s video", n >= PAGE_FRAMES,
                             f"{n} frames, {s.get('frameWidth', 0)}x{s.get('frameHeight', 0)}, "
                             f"{s.get('bitrate', 0) / 1000:.0f} kb/s")
            audio = [s for s in b.stats().values() if s.get("kind") == "audio"]
            print(f"  {b.name} audio received: " + ", ".join(
                f"{by_id.get(s['participantId'], s['participantId'])} {s['packetsReceived']} packets "
                f"{s['bitrate'] / 1000:.0f} kb/s" for s in audio), flush=True)
        for name in PAGES:
            cam, mic = page_tracks(name)
            checks.check(f"Carol (aiortc) decodes >= {AIORTC_FRAMES} frames of {name}'s camera",
                         frames.get(cam, 0) >= AIORTC_FRAMES, f"track {cam}: {frames.get(cam, 0)} frames")
            checks.check(f"Carol (aiortc) receives audio frames of {name}'s microphone", frames.get(mic, 0) > 0,
                         f"track {mic}: {frames.get(mic, 0)} frames")
        checks.check("Carol: every subscriberOffer answered", not carol.offer_errors,
                     f"revisions {carol.offers_answered}" + (f"; errors {carol.offer_errors}" if carol.offer_errors else ""))
        if not complete:
            raise Failure("media did not complete; stopping before the control API steps")

        # 2. Control API while media flows.
        listed = api.call("listParticipants", room=room)["participants"]
        identities = {p["name"]: p["identity"] for p in listed}
        if "Carol (aiortc)" not in identities:
            # Not a failure of this test: GET /dev/token (a form-encoded query, as the web app's URLSearchParams
            # sends it) keeps '+' instead of a space in the name.
            print(f"NOTE: the name 'Carol (aiortc)' arrived as {[n for n in identities if n.startswith('Carol')]}", flush=True)
        checks.check("listParticipants lists the 3 participants", sorted(p["id"] for p in listed) == sorted(ids.values()),
                     ", ".join(f"{p['id']} {p['identity']} {p['name']!r} ({len(p['tracks'])} tracks, {p['quality']})"
                               for p in listed))

        def stats_ok(stats):
            parts = {p["participantId"]: p for p in stats["participants"]}
            for pid in ids.values():
                p = parts.get(pid)
                if p is None or len(p["published"]) != 2 or len(p["received"]) != 4:
                    return False
                if any(t["bitrate"] <= 0 for t in p["published"]) or any(t["packetsSent"] <= 0 for t in p["received"]):
                    return False
            return True

        stats = None
        try:
            stats = wait_for("getStats to show bitrates and packets for every track", lambda: (
                (s := api.call("getStats", room=room)) and stats_ok(s) and s), 10, 1)
            good = True
        except Failure:
            stats = api.call("getStats", room=room)
            good = False
        lines = []
        for p in stats["participants"]:
            who = by_id.get(p["participantId"], p["participantId"])
            for t in p["published"]:
                layers = " ".join(f"[{l.get('rid') or l['layer']}: {l['bitrate'] / 1000:.0f} kb/s, {l['packetsReceived']} pkts]"
                                  for l in t["layers"])
                lines.append(f"{who} publishes {t['kind']} {t['trackId']} ({t['source']}): {t['bitrate'] / 1000:.0f} kb/s "
                             f"to {t['receivers']} receivers {layers}")
            for t in p["received"]:
                rtt = t.get("rttMs")
                lines.append(f"{who} receives {t['trackId']}: {t['packetsSent']} packets sent, {t['bitrate'] / 1000:.0f} kb/s, "
                             f"layer {t['spatialLayer']}, lost {t['packetsLost']}, NACKs {t['nacksReceived']}, "
                             f"PLIs {t['keyframeRequestsReceived']}, RTT {'-' if rtt is None else f'{rtt:.1f} ms'}")
        print("getStats:\n  " + "\n  ".join(lines) + f"\n  router: {json.dumps(stats.get('router'))}", flush=True)
        checks.check("getStats: each participant's 2 published tracks have bitrate > 0 and its 4 received tracks "
                     "packetsSent > 0", good)

        shot(alice, "conference-mixed.png")

        # 3. removeParticipant of Bob while media flows.
        bob_tracks = {t for t, s in alice.state["tracks"].items() if s["participantId"] == ids["Bob"]}
        carol_before = carol_frames()
        alice_before = page_frames(alice, "Carol")
        removed_at = time.time()
        result = api.call("removeParticipant", room=room, identity=identities.get("Bob", "?"))
        checks.check("removeParticipant {identity of Bob's page} answers his participant id",
                     result.get("participantId") == ids["Bob"], json.dumps(result))
        try:
            wait_for("Bob's page to leave 'joined'", lambda: bob.state["phase"] != "joined", 10, 0.2)
            noticed = time.time() - removed_at
            removed_events = [e for e in bob.state["events"] if e["type"] == "removed"]
            shown = bob.js("return Array.from(document.querySelectorAll('.notice.error span')).map(e => e.textContent)")
            checks.check("Bob's page gets removed {reason: removed}, shows it and leaves the room",
                         removed_events and removed_events[-1].get("reason") == "removed"
                         and any("removed" in s for s in shown) and bob.state["phase"] == "left",
                         f"{noticed:.2f} s after the call; phase {bob.state['phase']}; events {json.dumps(removed_events)}; "
                         f"notice {shown}")
        except Failure as e:
            checks.check("Bob's page notices the removal", False, str(e) + "\n" + bob.log_tail(15))
        try:
            rec = wait_for("Bob's /rtc socket to close", lambda: (r := rtc_sockets(bob)) and r[-1]["closedAt"] and r[-1], 10, 0.2)
        except Failure:
            rec = (rtc_sockets(bob) or [None])[-1]
        checks.check("Bob's /rtc WebSocket is closed by the server", server_closed(rec), describe_close(rec, removed_at * 1000))

        def got_left(events, who):
            return [e for e in events if e["type"] == "participantLeft" and e.get("participantId") == ids[who]]

        try:
            wait_for("Alice to drop Bob", lambda: (
                (s := alice.state) and got_left(s["events"], "Bob") and ids["Bob"] not in s["participants"]
                and not any(t["participantId"] == ids["Bob"] for t in alice.tiles())), 10, 0.3)
            unpub = {e["trackId"] for e in alice.state["events"] if e["type"] == "trackUnpublished"}
            checks.check("Alice's page gets participantLeft and trackUnpublished for Bob's tracks; his tiles go",
                         bob_tracks and bob_tracks <= unpub,
                         f"{json.dumps(got_left(alice.state['events'], 'Bob'))}; trackUnpublished {sorted(unpub)} "
                         f"(Bob's {sorted(bob_tracks)}); tiles now {[t['key'] for t in alice.tiles()]}")
        except Failure as e:
            checks.check("Alice's page gets participantLeft for Bob and his tiles go", False, str(e))
        bob_cam, bob_mic = page_tracks("Bob")
        try:
            wait_for("Carol to get participantLeft and trackUnpublished for Bob", lambda: (
                got_left(carol.history, "Bob") and {bob_cam, bob_mic} <= {e["trackId"] for e in events_of(carol.history, "trackUnpublished")}), 10, 0.2)
            ok = True
        except Failure:
            ok = False
        checks.check("Carol (aiortc) gets participantLeft (reason removed) and trackUnpublished for Bob's 2 tracks",
                     ok and got_left(carol.history, "Bob")[-1].get("reason") == "removed",
                     f"{json.dumps(got_left(carol.history, 'Bob'))}; trackUnpublished "
                     f"{sorted(e['trackId'] for e in events_of(carol.history, 'trackUnpublished'))}")
        alice_cam = page_tracks("Alice")[0]
        bob_at_carol = carol_frames().get(bob_cam, 0)  # Bob's tracks are unpublished at Carol by now
        try:
            wait_for("media to keep flowing between Alice and Carol", lambda: (
                page_frames(alice, "Carol") >= alice_before + GROWTH_FRAMES
                and carol_frames().get(alice_cam, 0) >= carol_before.get(alice_cam, 0) + GROWTH_FRAMES), 15, 0.5)
            ok = True
        except Failure:
            ok = False
        after = carol_frames()
        checks.check(f"after the removal Alice and Carol still decode each other (>= +{GROWTH_FRAMES} frames each way)", ok,
                     f"Alice <- Carol +{page_frames(alice, 'Carol') - alice_before} frames, Carol <- Alice "
                     f"+{after.get(alice_cam, 0) - carol_before.get(alice_cam, 0)} frames, Carol <- Bob "
                     f"+{after.get(bob_cam, 0) - carol_before.get(bob_cam, 0)} frames, in {time.time() - removed_at:.1f} s")
        stale = carol_frames().get(bob_cam, 0) - bob_at_carol
        checks.check("Carol decodes nothing more of Bob's camera once it is unpublished", stale <= 2, f"+{stale} frames")
        listed = api.call("listParticipants", room=room)["participants"]
        checks.check("listParticipants then lists 2", sorted(p["id"] for p in listed) == sorted([ids["Alice"], ids["Carol"]]),
                     ", ".join(p["name"] for p in listed))

        # 4. closeRoom while Alice and Carol exchange media.
        closed_at = time.time()
        result = api.call("closeRoom", room=room)
        checks.check("closeRoom answers {closed: true}", result.get("closed") is True, json.dumps(result))
        try:
            wait_for("Alice's page to leave 'joined'", lambda: alice.state["phase"] != "joined", 10, 0.2)
            closed = [e for e in alice.state["events"] if e["type"] == "roomClosed"]
            shown = alice.js("return Array.from(document.querySelectorAll('.notice.error span')).map(e => e.textContent)")
            checks.check("Alice's page gets roomClosed, shows it and leaves the room",
                         closed and alice.state["phase"] == "left" and any("closed" in s for s in shown),
                         f"{time.time() - closed_at:.2f} s after the call; {json.dumps(closed)}; notice {shown}")
        except Failure as e:
            checks.check("Alice's page notices the room closing", False, str(e) + "\n" + alice.log_tail(15))
        try:
            rec = wait_for("Alice's /rtc socket to close", lambda: (r := rtc_sockets(alice)) and r[-1]["closedAt"] and r[-1], 10, 0.2)
        except Failure:
            rec = (rtc_sockets(alice) or [None])[-1]
        checks.check("Alice's /rtc WebSocket is closed by the server", server_closed(rec), describe_close(rec, closed_at * 1000))
        try:
            wait_for("Carol's websocket to close", lambda: carol.closed, 10, 0.2)
        except Failure:
            pass
        got = events_of(carol.history, "roomClosed")
        ws = carol.ws
        proto = ws.protocol  # websockets' sans-I/O state: which close frame came first
        checks.check("Carol (aiortc) gets roomClosed and the server closes her websocket",
                     got and carol.closed and ws.close_code == 1000 and proto.close_rcvd is not None
                     and (proto.close_sent is None or proto.close_rcvd_then_sent),
                     f"{json.dumps(got)}; closed {carol.closed} {time.time() - closed_at:.2f} s after the call, "
                     f"code {ws.close_code} reason {ws.close_reason!r}, server's close frame first: {proto.close_rcvd_then_sent}")
        rooms = api.call("listRooms")["rooms"]
        names = [r.get("name") if isinstance(r, dict) else r for r in rooms]
        checks.check("the room is gone from listRooms", room not in names, json.dumps(names))
        checks.check("Carol: all traffic matched the schemas", not carol.violations,
                     f"{len(carol.history)} received, {len(carol.sent)} sent" + (f"; {carol.violations[:2]}" if carol.violations else ""))
        errors = {b.name: b.state["errors"] for b in browsers if b.state and b.state["errors"]}
        print(f"errors/notices shown on the pages: {json.dumps(errors)}", flush=True)
    except Exception as e:
        checks.check("the run completed", False, f"{type(e).__name__}: {e}")
    finally:
        if checks.failed:
            for b in browsers:
                try:
                    print(f"--- {b.name}'s page log (tail)\n{b.log_tail(30)}")
                except Exception:
                    pass
            print(f"--- server log (tail)\n{server.tail()}")
        try:
            cleanup()
        except Exception as e:
            print(f"cleanup: {type(e).__name__}: {e}")
    if checks.failed:
        print(f"server log kept: {server.log.name}")
    else:
        os.unlink(server.log.name)
    total = len(checks.results)
    print(f"{total - checks.failed} passed, {checks.failed} failed in {time.time() - started:.1f} s")
    return 1 if checks.failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.environ.get("STARLING_BINARY", os.path.join(ROOT, ".build/debug/starling")))
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    if args.inner or sdppeers.is_isolated():
        if not sdppeers.is_isolated():
            raise SystemExit("refusing to run: interfaces other than lo exist")
        # Hard bound on the whole run, whatever hangs.
        signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(Failure(f"the run exceeded {TOTAL_SECONDS} s")))
        signal.alarm(TOTAL_SECONDS)
        return run_inner(binary)
    return sdppeers.reexec_isolated([sys.executable, os.path.abspath(__file__), "--inner", "--binary", binary])


if __name__ == "__main__":
    sys.exit(main())
