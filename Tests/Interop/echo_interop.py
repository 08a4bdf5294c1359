#!/usr/bin/env python3
"""Starling's transport proven by peers we did not write, through the /v1/echo endpoint.

Inside a network namespace holding only `lo` (re-executes itself under `unshare --net`), for each UDP port
mode (single-port and port-range) it starts the built `starling serve` on 127.0.0.1 and:
  * aiortc sends VP8 video and Opus audio to /v1/echo, receives them back and decodes >= 100 video frames;
    once with AEAD_AES_128_GCM and once with AES_CM_128_HMAC_SHA1_80 (aiortc's SRTP profile list is narrowed);
  * headless Chromium (fake camera and microphone) opens /echo.html, which sends its camera to /v1/echo and
    plays back the echo; the test reads framesDecoded > 0 of the returned track from getStats and keeps a
    screenshot in artifacts/echo-chromium-<mode>.png.
Exits non-zero on any failure.

    python3 Tests/Interop/echo_interop.py [--binary .build/debug/starling]
"""

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import sdppeers  # noqa: E402
from harness import StarlingProcess, isolated_main  # noqa: E402

FRAMES_WANTED = 100


class Starling(StarlingProcess):
    def __init__(self, binary, mode):
        super().__init__(binary, {
            "STARLING_MEDIA_PORT_MODE": mode,
            "STARLING_MEDIA_UDP_PORT": "0",
            "STARLING_MEDIA_PORT_RANGE_START": "40000",
            "STARLING_MEDIA_PORT_RANGE_END": "40099",
            "STARLING_HTTP_WEB_ROOT": os.path.join(ROOT, "Web"),
        }, log_prefix="starling-echo-", stop_seconds=15)


# ------------------------------------------------------------------------------------------------
# aiortc

async def aiortc_echo(url, profile_name, seconds=40):
    import aioice.ice
    import av
    import numpy
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
    from aiortc import rtcdtlstransport
    from aiortc.mediastreams import AudioStreamTrack

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    wanted = {"gcm": rtcdtlstransport.SRTP_AEAD_AES_128_GCM, "cm": rtcdtlstransport.SRTP_AES128_CM_SHA1_80}[profile_name]
    rtcdtlstransport.SRTP_PROFILES[:] = [wanted]

    class MovingPattern(VideoStreamTrack):
        """Synthetic 320x240 video whose content changes every frame (so the encoder sends real data)."""

        def __init__(self):
            super().__init__()
            self.n = 0

        async def recv(self):
            pts, time_base = await self.next_timestamp()
            frame = numpy.zeros((240, 320, 3), numpy.uint8)
            frame[:, :, 0] = (numpy.arange(320) + self.n * 4) % 256
            frame[:, :, 1] = (numpy.arange(240)[:, None] + self.n * 2) % 256
            self.n += 1
            video = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video.pts, video.time_base = pts, time_base
            return video

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(MovingPattern())
    pc.addTrack(AudioStreamTrack())
    counts = {"video": 0, "audio": 0}
    done = asyncio.Event()

    async def consume(track):
        while True:
            try:
                await track.recv()
            except Exception:
                return
            counts[track.kind] += 1
            if counts["video"] >= FRAMES_WANTED and counts["audio"] > 0:
                done.set()

    @pc.on("track")
    def on_track(track):
        asyncio.ensure_future(consume(track))

    await pc.setLocalDescription(await pc.createOffer())
    request = urllib.request.Request(url + "/v1/echo", data=pc.localDescription.sdp.encode(),
                                     headers={"Content-Type": "application/sdp"}, method="POST")
    loop = asyncio.get_running_loop()
    response = await loop.run_in_executor(None, lambda: urllib.request.urlopen(request, timeout=10))
    assert response.status == 201, response.status
    location = response.headers["Location"]
    answer = response.read().decode()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    try:
        await asyncio.wait_for(done.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass
    negotiated = pc.sctp is None and [t for t in pc.getTransceivers()]
    profile = None
    for t in pc.getTransceivers():
        srtp = getattr(t.receiver.transport, "_rx_srtp", None)
        if srtp is not None:
            profile = wanted.openssl_profile.decode()
    await pc.close()
    delete = urllib.request.Request(url + location, method="DELETE")
    try:
        await loop.run_in_executor(None, lambda: urllib.request.urlopen(delete, timeout=10).read())
    except urllib.error.HTTPError:
        pass  # the session may already have ended
    return {"videoFramesDecoded": counts["video"], "audioFramesDecoded": counts["audio"], "srtp": profile}


# ------------------------------------------------------------------------------------------------
# Chromium

def chromium_echo(url, mode, seconds=30):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="starling-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in sdppeers.CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(url + "/echo.html")
        deadline = time.time() + seconds
        result = {}
        while time.time() < deadline:
            result = driver.execute_script("return window.echoResult")
            if result.get("error") or result.get("framesDecoded", 0) >= 30:
                break
            time.sleep(0.5)
        os.makedirs(os.path.join(ROOT, "artifacts"), exist_ok=True)
        driver.get_screenshot_as_file(os.path.join(ROOT, "artifacts", f"echo-chromium-{mode}.png"))
        return result
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def run_inner(binary):
    failures = 0
    results = []
    for mode in ["single-port", "port-range"]:
        server = Starling(binary, mode)
        try:
            for profile in ["gcm", "cm"]:
                r = asyncio.run(aiortc_echo(server.url, profile))
                ok = r["videoFramesDecoded"] >= FRAMES_WANTED and r["audioFramesDecoded"] > 0
                results.append((f"aiortc {mode} {profile}", ok, r))
                failures += not ok
            r = chromium_echo(server.url, mode)
            ok = r.get("framesDecoded", 0) > 0 and not r.get("error")
            results.append((f"chromium {mode}", ok, r))
            failures += not ok
        finally:
            server.stop()
            if failures:
                print(server.tail())
    for name, ok, r in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {json.dumps(r)}")
    print(f"{len(results) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(isolated_main(__file__, __doc__, run_inner))
