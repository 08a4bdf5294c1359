#!/usr/bin/env python3
"""GStreamer's webrtcbin (Debian's GStreamer 1.22) as a /v1/echo peer we did not write.

Inside a network namespace holding only `lo` (re-executes itself under `unshare --net`) it starts the built
`starling serve` on 127.0.0.1 and, for each of webrtcbin's bundle policies below, builds a pipeline whose
webrtcbin sends VP8 video (videotestsrc ! vp8enc ! rtpvp8pay) and Opus audio (audiotestsrc ! opusenc !
rtpopuspay) on two sendrecv transceivers, creates an offer (with every ICE candidate gathered: POST /v1/echo is
WHIP-shaped, no trickle), POSTs it, sets the 201's answer and decodes what the server echoes back
(rtpvp8depay ! vp8dec, rtpopusdepay ! opusdec, counted by pad probes):
  * max-bundle: the offer's second m-section is `a=bundle-only` with port 0 (RFC 8843 §6);
  * max-compat: every m-section has its own port inside one BUNDLE group.
A round passes when webrtcbin accepted the answer (the set-remote-description promise has no error and the
bus carries no error), >= 30 echoed video frames were decoded and echoed audio arrived. Each round runs in a
forked process of its own, killed if it outlives 40 s (so a GStreamer crash or hang neither blocks the test nor
orphans the server); the whole test stops by itself within about 90 s. Exits non-zero on any failure.

Needs Debian's gstreamer1.0-plugins-{base,good,bad}, gstreamer1.0-nice, python3-gst-1.0 and
gir1.2-gst-plugins-bad-1.0, which are for /usr/bin/python3: when `python3` on PATH cannot import gi (a pyenv
one), the script re-executes itself with /usr/bin/python3.

    python3 Tests/Interop/gstreamer_echo.py [--binary .build/debug/starling]
"""

import os
import sys

SYSTEM_PYTHON = "/usr/bin/python3"
try:
    import gi
except ImportError:
    if os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON) and os.path.exists(SYSTEM_PYTHON):
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])
    raise SystemExit("gi (PyGObject) is missing: apt-get install python3-gst-1.0 gir1.2-gst-plugins-bad-1.0")

import json  # noqa: E402
import multiprocessing  # noqa: E402
import re  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import Gst, GstSdp, GstWebRTC  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import Checks, StarlingProcess, finish, isolated_main  # noqa: E402

VIDEO_FRAMES_WANTED = 30
ROUND_SECONDS = 25        # per bundle policy, from pipeline start to enough frames
GATHER_SECONDS = 8
ROUND_LIMIT_SECONDS = 40  # a round's process is killed after this, whatever hangs in it
# webrtcbin 1.22's "balanced" and "none" offer no BUNDLE group at all (an ICE/DTLS transport per m-section), which
# /v1/echo does not serve yet; GST_ECHO_POLICIES="max-bundle balanced" (space-separated) runs those on request.
POLICIES = os.environ.get("GST_ECHO_POLICIES", "max-bundle max-compat").split()

# keyframe-max-dist is high on purpose: the first keyframe goes out before DTLS is up and is lost, so the echoed
# video decodes only once webrtcbin's PLI has gone through the server and back to its own vp8enc.
SOURCES = """
videotestsrc is-live=true pattern=zone-plate kx2=20 ky2=20 kt=1 ! video/x-raw,width=640,height=360,framerate=30/1 !
  videoconvert ! vp8enc deadline=1 target-bitrate=800000 keyframe-max-dist=3000 ! rtpvp8pay pt=96 mtu=1200 !
  application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000 ! webrtc.sink_0
audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc ! rtpopuspay pt=111 !
  application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000 ! webrtc.sink_1
"""


class Starling(StarlingProcess):
    def __init__(self, binary):
        super().__init__(binary, {
            "STARLING_MEDIA_PORT_MODE": "single-port",
            "STARLING_MEDIA_UDP_PORT": "0",
        }, log_prefix="starling-gstreamer-", stop_seconds=15)


def wait_promise(promise, what):
    """The reply structure of `promise` (None when it has none); RuntimeError when it was not answered or carries
    an error (webrtcbin 1.22 answers a refused description with an `error` field). wait() blocks until the reply:
    run_round bounds it by killing the round's process."""
    result = promise.wait()
    if result != Gst.PromiseResult.REPLIED:
        raise RuntimeError(f"{what}: promise {result.value_nick}")
    reply = promise.get_reply()
    if reply is not None and reply.has_field("error"):
        raise RuntimeError(f"{what}: {reply.get_value('error')}")
    return reply


def mline_summary(sdp):
    """'video port=N bundle-only' per m-section, and the BUNDLE group, for printing."""
    out, group = [], ""
    for section in re.split(r"\r?\n(?=m=)", sdp):
        lines = section.splitlines()
        if lines and lines[0].startswith("m="):
            kind, port = lines[0][2:].split()[:2]
            flags = [f for f in ("bundle-only", "sendrecv", "sendonly", "recvonly", "inactive")
                     if f"a={f}" in lines]
            cands = sum(1 for l in lines if l.startswith("a=candidate:"))
            out.append(f"{kind} port={port} {' '.join(flags)} candidates={cands}")
        for l in lines:
            if l.startswith("a=group:"):
                group = l[2:]
    return out, group


class Round:
    """One webrtcbin pipeline against /v1/echo with the given bundle policy."""

    def __init__(self, url, policy):
        self.url, self.policy = url, policy
        self.counts = {"video": 0, "audio": 0, "video_rtp": 0}
        self.lock = threading.Lock()
        self.errors, self.warnings = [], []
        self.linked = []
        self.pipeline = Gst.parse_launch(f"webrtcbin name=webrtc bundle-policy={policy} {SOURCES}")
        self.webrtc = self.pipeline.get_by_name("webrtc")
        # libnice skips loopback addresses unless told; the wrapper is kept alive as long as the pipeline (PyGObject
        # drops one reference too many on GstWebRTCNice when a temporary wrapper of it is freed)
        self.ice = self.webrtc.get_property("ice-agent")
        self.ice.emit("add-local-ip-address", "127.0.0.1")
        self.webrtc.connect("pad-added", self.on_pad_added)
        self.location = None

    # -- receiving -------------------------------------------------------------------------------
    def count(self, key):
        def probe(pad, info):
            with self.lock:
                self.counts[key] += 1
            return Gst.PadProbeReturn.OK
        return probe

    def on_pad_added(self, webrtc, pad):
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        caps = pad.get_current_caps() or pad.query_caps(None)
        s = caps.get_structure(0)
        encoding = (s.get_string("encoding-name") or "").upper()
        if encoding == "VP8":
            chain, key = "rtpvp8depay ! vp8dec ! fakesink sync=false async=false", "video"
        elif encoding == "OPUS":
            chain, key = "rtpopusdepay ! opusdec ! fakesink sync=false async=false", "audio"
        else:
            chain, key = "fakesink sync=false async=false", None
        bin_ = Gst.parse_bin_from_description(chain, True)
        self.pipeline.add(bin_)
        bin_.sync_state_with_parent()
        if key == "video":
            pad.add_probe(Gst.PadProbeType.BUFFER, self.count("video_rtp"))
        if key is not None:
            # count what the decoder outputs: the sink pad of the fakesink inside the bin
            sink = [e for e in bin_.iterate_sinks()][0]
            sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self.count(key))
        pad.link(bin_.get_static_pad("sink"))
        self.linked.append(f"{pad.get_name()}:{encoding or s.get_name()}")

    # -- bus -------------------------------------------------------------------------------------
    def drain_bus(self):
        bus = self.pipeline.get_bus()
        while True:
            msg = bus.pop_filtered(Gst.MessageType.ERROR | Gst.MessageType.WARNING)
            if msg is None:
                return
            if msg.type == Gst.MessageType.ERROR:
                err, dbg = msg.parse_error()
                self.errors.append(f"{msg.src.get_name()}: {err.message} ({dbg})")
            else:
                err, dbg = msg.parse_warning()
                self.warnings.append(f"{msg.src.get_name()}: {err.message}")

    @staticmethod
    def description(kind, text):
        ok, sdpmsg = GstSdp.SDPMessage.new_from_text(text)
        if ok != GstSdp.SDPResult.OK:
            raise RuntimeError(f"GstSdp cannot parse the {kind.value_nick}: {ok.value_nick}")
        return GstWebRTC.WebRTCSessionDescription.new(kind, sdpmsg)

    # -- the exchange ----------------------------------------------------------------------------
    def run(self):
        started = time.monotonic()
        result = {"policy": self.policy, "gstreamer": Gst.version_string()}
        self.pipeline.set_state(Gst.State.PLAYING)
        try:
            for t in range(2):
                self.webrtc.emit("get-transceiver", t).set_property(
                    "direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDRECV)

            promise = Gst.Promise.new()
            self.webrtc.emit("create-offer", None, promise)
            reply = wait_promise(promise, "create-offer")
            # PyGObject hands out the reply's boxed offer without a copy of its own: take the text while the reply
            # lives and build a description this side owns (passing the borrowed one on crashed or reached
            # set-local-description with a NULL SDP)
            offer = self.description(GstWebRTC.WebRTCSDPType.OFFER, reply.get_value("offer").sdp.as_text())
            del reply
            promise = Gst.Promise.new()
            self.webrtc.emit("set-local-description", offer, promise)
            wait_promise(promise, "set-local-description")

            deadline = time.monotonic() + GATHER_SECONDS
            while (self.webrtc.get_property("ice-gathering-state") != GstWebRTC.WebRTCICEGatheringState.COMPLETE
                   and time.monotonic() < deadline):
                time.sleep(0.05)
            result["gathering"] = self.webrtc.get_property("ice-gathering-state").value_nick
            offer_sdp = self.webrtc.get_property("local-description").sdp.as_text()
            result["offer"], result["offer_group"] = mline_summary(offer_sdp)
            result["offer_sdp"] = offer_sdp

            request = urllib.request.Request(self.url + "/v1/echo", data=offer_sdp.encode(),
                                             headers={"Content-Type": "application/sdp"}, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    result["status"] = response.status
                    self.location = response.headers.get("Location")
                    answer_sdp = response.read().decode()
            except urllib.error.HTTPError as e:
                result["status"] = e.code
                result["body"] = e.read().decode(errors="replace")[:300]
                return result
            result["answer"], result["answer_group"] = mline_summary(answer_sdp)
            result["answer_sdp"] = answer_sdp

            try:
                answer = self.description(GstWebRTC.WebRTCSDPType.ANSWER, answer_sdp)
            except RuntimeError as e:
                result["answer_accepted"] = False
                result["answer_error"] = str(e)
                return result
            promise = Gst.Promise.new()
            self.webrtc.emit("set-remote-description", answer, promise)
            try:
                wait_promise(promise, "set-remote-description")
                result["answer_accepted"] = True
            except RuntimeError as e:
                result["answer_accepted"] = False
                result["answer_error"] = str(e)
                return result

            deadline = started + ROUND_SECONDS
            connected_at = None
            while time.monotonic() < deadline:
                self.drain_bus()
                if self.errors:
                    break
                if connected_at is None and self.webrtc.get_property("connection-state") == \
                        GstWebRTC.WebRTCPeerConnectionState.CONNECTED:
                    connected_at = time.monotonic()
                with self.lock:
                    if self.counts["video"] >= VIDEO_FRAMES_WANTED and self.counts["audio"] > 0:
                        break
                time.sleep(0.1)
            result["connection"] = self.webrtc.get_property("connection-state").value_nick
            result["ice"] = self.webrtc.get_property("ice-connection-state").value_nick
            if connected_at is not None:
                result["connected_after_s"] = round(connected_at - started, 2)
            return result
        finally:
            self.drain_bus()
            with self.lock:
                result.update({"video_frames": self.counts["video"], "video_rtp_packets": self.counts["video_rtp"],
                               "audio_buffers": self.counts["audio"]})
            result["pads"] = self.linked
            result["errors"] = self.errors
            result["warnings"] = self.warnings[:5]
            result["seconds"] = round(time.monotonic() - started, 2)
            self.close()

    def close(self):
        self.pipeline.set_state(Gst.State.NULL)
        if self.location:
            delete = urllib.request.Request(self.url + self.location, method="DELETE")
            try:
                urllib.request.urlopen(delete, timeout=5).read()
            except (urllib.error.HTTPError, OSError):
                pass  # the session may already have ended


def round_child(url, policy, conn):
    """One round in a forked child: GStreamer crashing or hanging there cannot take the server's owner with it."""
    Gst.init(None)
    try:
        conn.send(Round(url, policy).run())
    except Exception as e:  # noqa: BLE001 — reported as the round's error
        conn.send({"policy": policy, "errors": [f"{type(e).__name__}: {e}"]})
    conn.close()


def run_round(url, policy):
    """Round(url, policy).run() in a child process, killed after ROUND_LIMIT_SECONDS."""
    ctx = multiprocessing.get_context("fork")  # Gst is never initialised in this (the parent) process
    receiving, sending = ctx.Pipe(duplex=False)
    child = ctx.Process(target=round_child, args=(url, policy, sending), daemon=True)
    child.start()
    sending.close()
    try:
        if receiving.poll(ROUND_LIMIT_SECONDS):
            r = receiving.recv()
        else:
            r = {"policy": policy, "errors": [f"the round did not end within {ROUND_LIMIT_SECONDS} s"]}
    except EOFError:
        r = {"policy": policy, "errors": ["the webrtcbin process died"]}
    child.join(5)
    if child.is_alive():
        child.kill()
        child.join()
    if child.exitcode != 0:
        r.setdefault("errors", []).append(f"the webrtcbin process exited with {child.exitcode}")
    return r


def run_inner(binary):
    started = time.monotonic()
    print(f"python {sys.executable}", flush=True)
    checks = Checks()
    server = Starling(binary)
    try:
        for policy in POLICIES:
            failed_before = checks.failed
            r = run_round(server.url, policy)
            print(json.dumps({k: v for k, v in r.items() if not k.endswith("_sdp")}, indent=1), flush=True)
            name = f"webrtcbin {policy}"
            checks.check(f"{name}: POST /v1/echo -> 201", r.get("status") == 201,
                         f"{r.get('status')} {r.get('body', '')} {'; '.join(r.get('errors', []))}".strip())
            if r.get("status") != 201:
                print("--- offer ---\n" + r.get("offer_sdp", ""))
                continue
            if policy == "max-bundle":
                checks.check(f"{name}: the offer has a bundle-only m-section with port 0",
                             any("port=0" in m and "bundle-only" in m for m in r["offer"]), "; ".join(r["offer"]))
            checks.check(f"{name}: webrtcbin accepted the answer", r.get("answer_accepted") and not r["errors"],
                         r.get("answer_error") or "; ".join(r["errors"]))
            checks.check(f"{name}: >= {VIDEO_FRAMES_WANTED} echoed VP8 frames decoded",
                         r["video_frames"] >= VIDEO_FRAMES_WANTED,
                         f"{r['video_frames']} frames from {r['video_rtp_packets']} RTP packets")
            checks.check(f"{name}: echoed Opus audio decoded", r["audio_buffers"] > 0, f"{r['audio_buffers']} buffers")
            if checks.failed > failed_before:
                print("--- offer ---\n" + r.get("offer_sdp", "") + "--- answer ---\n" + r.get("answer_sdp", ""))
    finally:
        server.stop()
    return finish(server, checks, started)


if __name__ == "__main__":
    sys.exit(isolated_main(__file__, __doc__, run_inner))
