#!/usr/bin/env python3
"""Every video codec end to end through a Starling room with Chromium: VP8, VP9, H.264 and AV1.

Inside a network namespace holding only `lo` (re-executes itself under `unshare --net`), starts `starling serve`
with development tokens and the control API on, then, for each codec in turn and in a room of its own:
  * a publisher page opens the web app with `?codec=<name>` (the app puts that codec first in its camera
    transceiver's preferences with setCodecPreferences; the camera goes out in its 3 simulcast layers) and joins;
  * a subscriber page (watch-only: its getUserMedia is made to fail before the app loads, so it publishes nothing
    and the only video it receives is the publisher's camera) joins the same room;
  * the subscriber must decode the publisher's camera: its inbound-rtp (getStats on the page's subscribing
    RTCPeerConnection, recorded before the app's script runs) reaches framesDecoded >= 30 and keeps growing,
    frameWidth > 0, and inbound-rtp.codecId -> codec.mimeType is the codec asked for;
  * the publisher's outbound-rtp streams that carry bytes all use that codec (codecId -> mimeType), so the test
    cannot pass by a silent fallback to VP8; the server's answer to the publisher and its offer to the subscriber
    must name the codec first on the video line.
Per codec it prints frames decoded, frame size, mime type and fmtp, the publisher's keyframes and PLIs
(outbound-rtp keyFramesEncoded, pliCount, per rid), the time from Join to the first decoded frame, and what
the server saw (control API getStats: packets and keyframes per layer, packets forwarded, keyframe requests).
The four SDPs of each codec (publisher offer/answer, subscriber offer/answer) go to
artifacts/codecs-chromium/<codec>-*.sdp; on a failure their video lines are printed too.
Exits non-zero on any failure. Bounded: the whole run stops after TOTAL_SECONDS; the browsers and the server are
stopped on exit.

    python3 Tests/Interop/codecs_chromium.py [--binary .build/debug/starling] [--codecs vp9,av1]
"""

import json
import os
import re
import secrets
import signal
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from conference_chromium import Browser, Failure, Starling, wait_for  # noqa: E402
from harness import Checks, finish, isolated_main  # noqa: E402

CODECS = ["vp8", "vp9", "h264", "av1"]
MIME = {"vp8": "video/VP8", "vp9": "video/VP9", "h264": "video/H264", "av1": "video/AV1"}
FRAMES_WANTED = 30
JOIN_SECONDS = 20
DECODE_SECONDS = 20  # per codec, from Join to FRAMES_WANTED decoded frames
TOTAL_SECONDS = 170  # the whole run stays under 3 minutes
POLL = 0.25
ARTIFACTS = os.path.join(ROOT, "artifacts", "codecs-chromium")

# Before the web app's script runs: remember every RTCPeerConnection the page makes (for getStats and the SDPs).
# The subscriber page has no camera or microphone: the app then joins to watch only (it says so in a notice).
WATCH_ONLY = """
(() => {
  if (!navigator.mediaDevices) return;
  navigator.mediaDevices.getUserMedia = () =>
    Promise.reject(new DOMException("watch-only page (codecs_chromium.py)", "NotAllowedError"));
})();
"""

# Per recorded connection: its role, SDPs, and video inbound/outbound RTP stats with their codec.
PAGE_STATS = """
const out = {pcs: [], mids: {}, tracks: {}, me: null};
const st = window.starling && window.starling.state;
if (st) { out.mids = st.mids || {}; out.tracks = st.tracks || {}; out.me = st.me && st.me.id; }
for (const pc of window.__pcs || []) {
  if (pc.signalingState === "closed") continue;
  const report = await pc.getStats();
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  const codecOf = (id) => {
    const c = id && byId.get(id);
    return c ? {mimeType: c.mimeType, payloadType: c.payloadType, sdpFmtpLine: c.sdpFmtpLine || ""} : null;
  };
  const inbound = [], outbound = [];
  report.forEach((s) => {
    if (s.kind !== "video") return;
    if (s.type === "inbound-rtp") inbound.push({
      mid: s.mid ?? null, ssrc: s.ssrc, framesDecoded: s.framesDecoded || 0, keyFramesDecoded: s.keyFramesDecoded || 0,
      framesReceived: s.framesReceived || 0, framesDropped: s.framesDropped || 0,
      frameWidth: s.frameWidth || 0, frameHeight: s.frameHeight || 0, packetsReceived: s.packetsReceived || 0,
      bytesReceived: s.bytesReceived || 0, packetsLost: s.packetsLost || 0, pliCount: s.pliCount || 0,
      firCount: s.firCount || 0, nackCount: s.nackCount || 0, decoderImplementation: s.decoderImplementation || null,
      codec: codecOf(s.codecId)});
    if (s.type === "outbound-rtp") outbound.push({
      rid: s.rid ?? null, mid: s.mid ?? null, ssrc: s.ssrc, active: s.active ?? null, bytesSent: s.bytesSent || 0,
      packetsSent: s.packetsSent || 0, framesEncoded: s.framesEncoded || 0, keyFramesEncoded: s.keyFramesEncoded || 0,
      pliCount: s.pliCount || 0, firCount: s.firCount || 0, nackCount: s.nackCount || 0,
      frameWidth: s.frameWidth || 0, frameHeight: s.frameHeight || 0,
      encoderImplementation: s.encoderImplementation || null, scalabilityMode: s.scalabilityMode || null,
      qualityLimitationReason: s.qualityLimitationReason || null, codec: codecOf(s.codecId)});
  });
  out.pcs.push({
    role: pc.getTransceivers().some((t) => t.direction === "sendonly" || t.direction === "sendrecv")
      ? "publishing" : "subscribing",
    connectionState: pc.connectionState,
    local: pc.localDescription ? {type: pc.localDescription.type, sdp: pc.localDescription.sdp} : null,
    remote: pc.remoteDescription ? {type: pc.remoteDescription.type, sdp: pc.remoteDescription.sdp} : null,
    inbound, outbound});
}
return out;
"""

# What the browser can send and receive, for a clear failure when a codec is missing from this build.
CAPABILITIES = """
const list = (c) => (c ? c.codecs : []).map((x) => x.mimeType + (x.sdpFmtpLine ? " " + x.sdpFmtpLine : ""));
return {send: list(RTCRtpSender.getCapabilities("video")), recv: list(RTCRtpReceiver.getCapabilities("video"))};
"""


class Page(Browser):
    """A Browser whose pages record their RTCPeerConnections (window.__pcs); `watch_only` pages have no camera
    or microphone."""

    def __init__(self, name, watch_only=False):
        super().__init__(name)
        self.query = ""
        self.record_peer_connections()
        if watch_only:
            self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_ONLY})

    def page_stats(self):
        r = self.js_async(PAGE_STATS)
        if isinstance(r, dict) and "error" in r:
            raise Failure(f"{self.name}: getStats failed: {r['error']}")
        return r

    def connection(self, stats, role):
        return next((pc for pc in stats["pcs"] if pc["role"] == role), None)

    def camera_inbound(self, stats, publisher_id):
        """The subscriber's inbound-rtp of `publisher_id`'s camera: its mid maps (the app's state.mids) to a track
        of that participant with source camera."""
        sub = self.connection(stats, "subscribing")
        if not sub:
            return None
        best = None
        for s in sub["inbound"]:
            track = stats["tracks"].get(stats["mids"].get(s["mid"]) or "", {})
            if track.get("participantId") == publisher_id and track.get("source") == "camera":
                if best is None or s["framesDecoded"] > best["framesDecoded"]:
                    best = s
        return best


def api_call(server, key, method, params):
    request = urllib.request.Request(
        f"{server.url}/api/{method}", data=json.dumps(params).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            reply = json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError) as e:
        return {"error": str(e)}
    return reply.get("result", reply) if isinstance(reply, dict) else reply


# ------------------------------------------------------------------------------------------------------------
# SDP helpers

def video_section(sdp):
    """The lines of the first m=video section of `sdp` (with its m= line), or []."""
    if not sdp:
        return []
    lines, inside = [], False
    for line in sdp.replace("\r\n", "\n").split("\n"):
        if line.startswith("m="):
            if inside:
                break
            inside = line.startswith("m=video") and not line.split()[1] == "0"
        if inside and line:
            lines.append(line)
    return lines


def first_codec(section):
    """(encoding name, payload type, fmtp) of the first payload type of an m=video section."""
    if not section:
        return None
    pts = section[0].split()[3:]
    if not pts:
        return None
    pt = pts[0]
    name = next((l.split(" ", 1)[1].split("/")[0] for l in section if l.startswith(f"a=rtpmap:{pt} ")), "?")
    fmtp = next((l.split(" ", 1)[1] for l in section if l.startswith(f"a=fmtp:{pt} ")), "")
    return name, pt, fmtp


def relevant_lines(section):
    """What matters for codec negotiation: the m= line, rtpmap/fmtp of non-RTX formats, extmaps, rid/simulcast."""
    rtx = {l.split(":")[1].split()[0] for l in section if re.match(r"a=rtpmap:\d+ rtx/", l)}
    keep = []
    for l in section:
        m = re.match(r"a=(rtpmap|fmtp|rtcp-fb):(\d+)", l)
        if m and m.group(2) in rtx:
            continue
        if l.startswith(("m=", "a=rtpmap:", "a=fmtp:", "a=extmap:", "a=rid:", "a=simulcast:", "a=ssrc-group:",
                         "a=sendonly", "a=recvonly", "a=sendrecv", "a=inactive")):
            keep.append(l)
    return keep


# ------------------------------------------------------------------------------------------------------------

def run_codec(codec, server, key, pub, sub, checks, started, deadline):
    """One codec in a room of its own; records its checks; returns its measured summary."""
    mime = MIME[codec]
    room = f"codecs-{codec}-{secrets.token_hex(3)}"
    print(f"\n=== {codec.upper()} (room {room}, {time.time() - started:.1f} s into the run)", flush=True)
    pub.query = f"?codec={codec}"
    sub.query = ""
    for b in (pub, sub):
        b.open_form(server.url, room)

    caps = pub.js(CAPABILITIES)
    can_send = any(c.split()[0].lower() == mime.lower() for c in caps["send"])
    can_recv = any(c.split()[0].lower() == mime.lower() for c in sub.js(CAPABILITIES)["recv"])
    if not (can_send and can_recv):
        checks.check(f"{codec}: Chromium can send and receive {mime}", False,
                     f"send {can_send}, receive {can_recv}; send capabilities: {caps['send']}")
        return None

    t0 = time.time()
    pub.click("join-button")
    sub.click("join-button")
    ids = {}
    for b in (pub, sub):
        st = wait_for(f"{b.name} to join {room}",
                      lambda: (s := b.state) and s.get("phase") == "joined" and s.get("me") and s, JOIN_SECONDS)
        ids[b.name] = st["me"]["id"]
    joined = time.time() - t0

    # Decoding: poll the subscriber's stats until FRAMES_WANTED frames, noting the first decoded frame.
    first_frame = None
    reached = None
    stop = min(t0 + DECODE_SECONDS, deadline)
    inbound = None
    while time.time() < stop:
        stats = sub.page_stats()
        inbound = sub.camera_inbound(stats, ids[pub.name])
        if inbound and inbound["framesDecoded"] > 0 and first_frame is None:
            first_frame = time.time() - t0
        if inbound and inbound["framesDecoded"] >= FRAMES_WANTED:
            reached = inbound
            break
        time.sleep(POLL)
    # One more second: the count must keep growing (decoding goes on, not one burst).
    time.sleep(1.0)
    sub_stats, pub_stats = sub.page_stats(), pub.page_stats()
    inbound = sub.camera_inbound(sub_stats, ids[pub.name])
    pub_conn = pub.connection(pub_stats, "publishing")
    sub_conn = sub.connection(sub_stats, "subscribing")
    server_stats = api_call(server, key, "getStats", {"room": room})

    # The four SDPs, kept as artifacts.
    sdps = {
        "publisher-offer": (pub_conn or {}).get("local"), "publisher-answer": (pub_conn or {}).get("remote"),
        "subscriber-offer": (sub_conn or {}).get("remote"), "subscriber-answer": (sub_conn or {}).get("local"),
    }
    os.makedirs(ARTIFACTS, exist_ok=True)
    for name, d in sdps.items():
        with open(os.path.join(ARTIFACTS, f"{codec}-{name}.sdp"), "w") as f:
            f.write((d or {}).get("sdp") or "")
    sections = {name: video_section((d or {}).get("sdp")) for name, d in sdps.items()}
    firsts = {name: first_codec(s) for name, s in sections.items()}

    def named(name):
        f = firsts[name]
        return f"{f[0]}/{f[1]}" + (f" {f[2]}" if f[2] else "") if f else "(no video line)"

    # Checks, strict: the codec asked for on every leg.
    ok_all = True

    def check(name, ok, detail):
        return checks.check(name, bool(ok), detail)

    ok_all &= check(f"{codec}: the publisher's offer puts {codec.upper()} first (?codec= took effect)",
                    firsts["publisher-offer"] and firsts["publisher-offer"][0].lower() == codec,
                    named("publisher-offer"))
    ok_all &= check(f"{codec}: the server's answer to the publisher picks {codec.upper()}",
                    firsts["publisher-answer"] and firsts["publisher-answer"][0].lower() == codec,
                    named("publisher-answer"))
    sending = [o for o in (pub_conn or {}).get("outbound", []) if o["bytesSent"] > 0]
    used = sorted({(o["codec"] or {}).get("mimeType") for o in sending}, key=str)
    ok_all &= check(f"{codec}: the publisher's outbound-rtp streams all send {mime}",
                    sending and used == [mime],
                    f"{len(sending)} streams with bytes, codecs {used}")
    ok_all &= check(f"{codec}: the server's offer to the subscriber carries {codec.upper()}",
                    firsts["subscriber-offer"] and firsts["subscriber-offer"][0].lower() == codec,
                    named("subscriber-offer"))
    got = inbound or {}
    got_mime = (got.get("codec") or {}).get("mimeType")
    growing = reached is not None and got.get("framesDecoded", 0) > reached["framesDecoded"]
    ok_all &= check(
        f"{codec}: the subscriber decodes the camera as {mime}: framesDecoded >= {FRAMES_WANTED} and growing, "
        f"frameWidth > 0",
        reached is not None and growing and got.get("frameWidth", 0) > 0 and got_mime == mime,
        f"framesDecoded {reached['framesDecoded'] if reached else got.get('framesDecoded', 0)} -> "
        f"{got.get('framesDecoded', 0)}, {got.get('frameWidth', 0)}x{got.get('frameHeight', 0)}, codec {got_mime}, "
        f"packetsReceived {got.get('packetsReceived', 0)}"
        + ("" if reached else f" (not {FRAMES_WANTED} frames within {DECODE_SECONDS} s of Join)"))

    # What was measured.
    layers = sorted((pub_conn or {}).get("outbound", []), key=lambda o: "qhf".find(o["rid"] or "f"))
    print(f"  joined in {joined:.1f} s; first frame decoded "
          + (f"{first_frame:.2f} s after Join" if first_frame is not None else "never"))
    print(f"  subscriber: framesDecoded {got.get('framesDecoded', 0)}, "
          f"keyFramesDecoded {got.get('keyFramesDecoded', 0)}, {got.get('frameWidth', 0)}x{got.get('frameHeight', 0)}, "
          f"mimeType {got_mime} fmtp '{(got.get('codec') or {}).get('sdpFmtpLine', '')}', "
          f"decoder {got.get('decoderImplementation')}, packets {got.get('packetsReceived', 0)}, "
          f"lost {got.get('packetsLost', 0)}, PLIs sent {got.get('pliCount', 0)}, NACKs sent {got.get('nackCount', 0)}")
    for o in layers:
        print(f"  publisher {o['rid'] or '-'}: {(o['codec'] or {}).get('mimeType')} "
              f"{o['frameWidth']}x{o['frameHeight']}, framesEncoded {o['framesEncoded']}, "
              f"keyFramesEncoded {o['keyFramesEncoded']}, pliCount {o['pliCount']}, firCount {o['firCount']}, "
              f"nackCount {o['nackCount']}, encoder {o['encoderImplementation']}, "
              f"scalabilityMode {o['scalabilityMode']}, limited by {o['qualityLimitationReason']}")
    print(f"  SDP: publisher offer {named('publisher-offer')} | answer {named('publisher-answer')} | "
          f"subscriber offer {named('subscriber-offer')} | answer {named('subscriber-answer')}")
    describe_server(server_stats, ids[pub.name], ids[sub.name])
    if not ok_all:
        for name, section in sections.items():
            print(f"  --- {name} (video section, codec lines)")
            for line in relevant_lines(section):
                print(f"      {line}")
        print("  --- publisher page log (tail)\n      " + pub.log_tail(12).replace("\n", "\n      "))
        print("  --- subscriber page log (tail)\n      " + sub.log_tail(8).replace("\n", "\n      "))
    return {
        "codec": codec, "ok": ok_all, "framesDecoded": got.get("framesDecoded", 0),
        "frameWidth": got.get("frameWidth", 0),
        "mimeType": got_mime, "firstFrame": first_frame,
        "keyFramesEncoded": sum(o["keyFramesEncoded"] for o in layers), "pliCount": sum(o["pliCount"] for o in layers),
    }


def describe_server(stats, pub_id, sub_id):
    """The server's view (control API getStats): per published layer packets and keyframes in, per received track
    packets forwarded and keyframe requests, and the router's keyframe requests to publishers."""
    if not isinstance(stats, dict) or "participants" not in stats:
        print(f"  server getStats: {stats}")
        return
    cameras = set()
    for p in stats["participants"]:
        for t in p.get("published", []):
            if p.get("participantId") != pub_id or t.get("kind") != "video":
                continue
            cameras.add(t["trackId"])
            layers = ", ".join(f"{l.get('rid') or l['layer']}: {l['packetsReceived']} packets, "
                               f"{l['keyframesReceived']} keyframes" for l in t.get("layers", []))
            print(f"  server, publisher's camera {t['trackId']} in: {layers}")
    for p in stats["participants"]:
        if p.get("participantId") != sub_id:
            continue
        for r in p.get("received", []):
            if r["trackId"] in cameras:
                print(f"  server, camera out to the subscriber: layer {r['spatialLayer']} (target "
                      f"{r['targetSpatialLayer']}), {r['packetsSent']} packets sent, "
                      f"{r['keyframeRequestsReceived']} keyframe requests received")
    router = stats.get("router", {})
    print(f"  server router: rtpIn {router.get('rtpIn')}, rtpOut {router.get('rtpOut')}, "
          f"keyframe requests sent to publishers {router.get('keyframeRequestsSent')}")


def run_inner(binary):
    started = time.time()
    monotonic_start = time.monotonic()
    checks = Checks()
    codecs = [c for c in os.environ.get("CODECS_CHROMIUM", ",".join(CODECS)).split(",") if c in MIME]
    key = secrets.token_hex(16)
    server = Starling(binary, log_prefix="starling-codecs-", extra_env={"STARLING_CONTROL_API_KEY": key})
    pages = []

    def cleanup():
        for b in pages:
            b.quit()
        server.stop()

    def on_term(*_):
        cleanup()
        sys.exit(1)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(Failure(f"the run exceeded {TOTAL_SECONDS} s")))
    signal.alarm(TOTAL_SECONDS)
    summaries = []
    try:
        pub = Page("pub")
        pages.append(pub)
        sub = Page("sub", watch_only=True)
        pages.append(sub)
        print(f"starling on {server.url}; Chromium ready ({time.time() - started:.1f} s)", flush=True)
        deadline = started + TOTAL_SECONDS - 15
        for codec in codecs:
            try:
                summaries.append(run_codec(codec, server, key, pub, sub, checks, started, deadline))
            except Failure as e:
                checks.check(f"{codec}: run", False, str(e))
                if "exceeded" in str(e):
                    break
    except Failure as e:
        checks.check("run", False, str(e))
    except Exception as e:  # a Selenium or page problem: report it like a failure
        checks.check("run", False, f"{type(e).__name__}: {e}")
    finally:
        signal.alarm(0)
        cleanup()
    print("\ncodec  result  frames  width  mimeType    first frame  keyframes encoded  PLIs at publisher")
    for s in summaries:
        if s:
            first = f"{s['firstFrame']:.2f} s" if s["firstFrame"] is not None else "never"
            print(f"{s['codec']:6} {'ok' if s['ok'] else 'FAIL':7} {s['framesDecoded']:6} {s['frameWidth']:6}  "
                  f"{str(s['mimeType']):11} {first:12} {s['keyFramesEncoded']:17} {s['pliCount']:17}")
    print(f"SDPs in {os.path.relpath(ARTIFACTS, ROOT)}/")
    return finish(server, checks, monotonic_start)


if __name__ == "__main__":
    if "--codecs" in sys.argv:  # a subset, e.g. --codecs vp9,av1 (passed to the inner run through the environment)
        i = sys.argv.index("--codecs")
        os.environ["CODECS_CHROMIUM"] = sys.argv[i + 1]
        del sys.argv[i:i + 2]
    sys.exit(isolated_main(__file__, __doc__, run_inner))
