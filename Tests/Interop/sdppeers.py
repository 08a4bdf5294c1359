"""Real WebRTC peers (headless Chromium via Selenium, and aiortc) that make SDP offers of fixed
shapes and apply answers to them. Shared by scripts/capture-sdp-fixtures.py (which saves the offers
as test fixtures) and Tests/Interop/sdp_accept.py (which feeds Starling-built answers back).

Everything here must run inside a network namespace that has only `lo` (see `reexec_isolated`),
so that every candidate is 127.0.0.1 and nothing leaves the machine.
"""

import asyncio
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

# Offer shapes: fixture file name (without .sdp) -> (peer, shape)
CHROMIUM_SHAPES = ["camera-mic", "simulcast", "datachannel"]
AIORTC_SHAPES = ["video-audio", "datachannel"]
ALL_OFFERS = [("chromium", s) for s in CHROMIUM_SHAPES] + [("aiortc", s) for s in AIORTC_SHAPES]

APT_PACKAGES = ["chromium", "chromium-driver"]
PIP_PACKAGES = ["aiortc", "selenium"]


def install():
    """Installs Debian's Chromium + chromedriver and aiortc + selenium from PyPI (needs the network)."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        subprocess.run(["apt-get", "update"], check=True)
        subprocess.run(["apt-get", "install", "-y", *APT_PACKAGES], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    try:
        import aiortc  # noqa: F401
        import selenium  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", *PIP_PACKAGES], check=True)


def is_isolated():
    """True when the only network interface is the loopback one."""
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in links.splitlines() if line.strip()]
    return names == ["lo"]


def reexec_isolated(argv):
    """Runs `argv` in a new network namespace with only `lo` up; returns its exit code."""
    inner = " ".join(_shell_quote(a) for a in argv)
    return subprocess.run(["unshare", "--net", "bash", "-c", f"ip link set lo up; exec {inner}"]).returncode


def _shell_quote(s):
    return "'" + s.replace("'", "'\"'\"'") + "'"


def check_loopback_only(name, sdp):
    """Every candidate and connection address must be loopback (or the 0.0.0.0 placeholder)."""
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            addr = line.split(" ")[4]
            if addr != "127.0.0.1":
                raise SystemExit(f"{name}: non-loopback candidate: {line}")
        for addr in re.findall(r"IN IP[46] (\S+)", line):
            if addr not in ("127.0.0.1", "0.0.0.0", "::1", "::"):
                raise SystemExit(f"{name}: non-loopback address: {line}")
    if "a=candidate:" not in sdp:
        raise SystemExit(f"{name}: no candidates gathered")


# --------------------------------------------------------------------------------------------
# Chromium

PAGE = b"""<!doctype html><meta charset=utf-8><title>sdp</title><script>
window.pcs = {};
async function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise((resolve) => {
    const t = setTimeout(resolve, 5000);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
    });
  });
}
async function makeOffer(shape) {
  const pc = new RTCPeerConnection({iceServers: []});
  window.pcs[shape] = pc;
  const stream = await navigator.mediaDevices.getUserMedia({audio: true, video: {width: 1280, height: 720}});
  const audio = stream.getAudioTracks()[0], video = stream.getVideoTracks()[0];
  if (shape === 'simulcast') {
    pc.addTransceiver(audio, {direction: 'sendonly', streams: [stream]});
    pc.addTransceiver(video, {direction: 'sendonly', streams: [stream], sendEncodings: [
      {rid: 'q', scaleResolutionDownBy: 4}, {rid: 'h', scaleResolutionDownBy: 2}, {rid: 'f'}]});
  } else {
    pc.addTrack(audio, stream);
    pc.addTrack(video, stream);
  }
  if (shape === 'datachannel') pc.createDataChannel('chat');
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  return pc.localDescription.sdp;
}
async function applyAnswer(shape, sdp) {
  const pc = window.pcs[shape];
  try {
    await pc.setRemoteDescription({type: 'answer', sdp});
  } catch (e) {
    return {ok: false, error: String(e)};
  }
  return {
    ok: true,
    signalingState: pc.signalingState,
    transceivers: pc.getTransceivers().map((t) => ({
      mid: t.mid, kind: t.receiver.track.kind, currentDirection: t.currentDirection,
      encodings: t.sender.getParameters().encodings.map((e) => e.rid || ''),
    })),
    sctp: pc.sctp ? pc.sctp.maxMessageSize : null,
  };
}
</script>"""

CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
]


class _PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


class ChromiumPeer:
    """One headless Chromium tab holding one RTCPeerConnection per offer shape."""

    def __init__(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.profile = tempfile.mkdtemp(prefix="starling-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in CHROMIUM_FLAGS + [f"--user-data-dir={self.profile}"]:
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        self.driver.set_script_timeout(30)
        self.driver.get(f"http://127.0.0.1:{self.server.server_address[1]}/")

    def offer(self, shape):
        return self.driver.execute_async_script(
            "makeOffer(arguments[0]).then(arguments[1], (e) => arguments[1]('ERROR ' + e))", shape)

    def apply_answer(self, shape, sdp):
        return self.driver.execute_async_script(
            "applyAnswer(arguments[0], arguments[1]).then(arguments[2])", shape, sdp)

    def close(self):
        self.driver.quit()
        self.server.shutdown()
        shutil.rmtree(self.profile, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# aiortc


class AiortcPeer:
    """aiortc peer connections, one per offer shape. Use from inside an asyncio loop."""

    def __init__(self):
        import aioice.ice

        # aioice leaves 127.0.0.1 out of its host candidates (see shared/INTEROP.md).
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
        self.pcs = {}

    async def offer(self, shape):
        from aiortc import RTCConfiguration, RTCPeerConnection
        from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pcs[shape] = pc
        pc.addTrack(AudioStreamTrack())
        pc.addTrack(VideoStreamTrack())
        if shape == "datachannel":
            pc.createDataChannel("chat")
        await pc.setLocalDescription(await pc.createOffer())  # gathers before returning
        return pc.localDescription.sdp

    async def apply_answer(self, shape, sdp):
        from aiortc import RTCSessionDescription

        pc = self.pcs[shape]
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as e:  # aiortc raises ValueError and friends
            return {"ok": False, "error": f"{type(e).__name__}: {e}"}
        return {
            "ok": True,
            "signalingState": pc.signalingState,
            "transceivers": [
                {"mid": t.mid, "kind": t.kind, "currentDirection": t.currentDirection,
                 "codecs": [c.mimeType for c in getattr(t, "_codecs", [])]}
                for t in pc.getTransceivers()
            ],
            "sctp": pc.sctp.transport.state if pc.sctp else None,
        }

    async def close(self):
        for pc in self.pcs.values():
            await pc.close()


def make_offers(chromium, aiortc_peer, loop):
    """Fresh offers of every shape: {'chromium-camera-mic': sdp, ...}."""
    offers = {}
    for shape in CHROMIUM_SHAPES:
        sdp = chromium.offer(shape)
        if sdp.startswith("ERROR"):
            raise SystemExit(f"chromium {shape}: {sdp}")
        offers[f"chromium-{shape}"] = sdp
    for shape in AIORTC_SHAPES:
        offers[f"aiortc-{shape}"] = loop.run_until_complete(aiortc_peer.offer(shape))
    for name, sdp in offers.items():
        check_loopback_only(name, sdp)
    return offers


def new_loop():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop
