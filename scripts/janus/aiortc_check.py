#!/usr/bin/env python3
"""End-to-end check of a Janus VideoRoom over the plain-HTTP Janus API with aiortc peers.

One aiortc publisher (VP8 + Opus) and one aiortc subscriber (multistream `streams:[{feed}]`) in a
room the script creates; the subscriber counts decoded video frames and audio frames.
Every HTTP request/response and every long-poll event is appended to --transcript (JSON lines).

--probe additionally rewrites the publisher's outgoing (pre-SRTP) video RTP: it appends a one-byte
header extension (id --probe-ext-id, URI urn:starling:probe-send-time, negotiated in the offer) with an
8-byte send time, and adds 8 bytes of RTP padding (P bit, content A5.., last octet = 8). The subscriber
records which extensions, P bits and padding bytes arrive, and both sides count RTCP types.

Run inside the network namespace where Janus runs (see scripts/janus/README.md), e.g.
  ip netns exec starling-janus python3 scripts/janus/aiortc_check.py --host-ip 10.99.0.1 --seconds 8
Exit status 0 when frames were decoded.
"""
import argparse
import asyncio
import collections
import json
import random
import struct
import sys
import time
import urllib.request

import aioice.ice
import av
import numpy
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import RtcpPacket, is_rtcp

ARGS = None
TRANSCRIPT = None
STATS = {
    "pub_rtcp": collections.Counter(), "sub_rtcp": collections.Counter(),
    "sub_video_pkts": 0, "sub_video_with_padding": 0, "sub_padding_intact": 0,
    "sub_ext_ids": collections.Counter(), "sub_probe_ext_seen": 0, "sub_rtx_pkts": 0,
    "pub_probed_pkts": 0, "sub_video_pts": collections.Counter(),
    "sample_sub_headers": [],
    "pub_rtcp_sent": collections.Counter(), "sub_rtcp_sent": collections.Counter(),
    "pub_rtx_sent": 0, "pub_dropped": 0, "sub_dropped": 0,
}
PROBE_PAD = bytes([0xA5] * 7 + [8])


def log(kind, **kw):
    kw["kind"] = kind
    kw["t"] = round(time.time(), 3)
    TRANSCRIPT.write(json.dumps(kw) + "\n")
    TRANSCRIPT.flush()


def http(method, path, body=None, timeout=5):
    url = ARGS.janus + path
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        resp = json.loads(r.read())
    if method != "GET":  # long-poll results are logged as "event" records
        log("http", method=method, path=path, request=body, response=resp)
    return resp


def tx():
    return "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))


class Janus:
    def __init__(self):
        self.events = []
        self.cond = asyncio.Condition()
        self.sid = None
        self.stop = False

    async def call(self, path, body):
        body.setdefault("transaction", tx())
        return await asyncio.to_thread(http, "POST", path, body)

    async def create(self):
        r = await self.call("", {"janus": "create"})
        self.sid = r["data"]["id"]
        ARGS._sid = self.sid
        return self.sid

    async def attach(self):
        r = await self.call(f"/{self.sid}", {"janus": "attach", "plugin": "janus.plugin.videoroom"})
        return r["data"]["id"]

    async def message(self, hid, body, jsep=None):
        req = {"janus": "message", "body": body}
        if jsep:
            req["jsep"] = jsep
        return await self.call(f"/{self.sid}/{hid}", req)

    async def poll_loop(self):
        while not self.stop:
            try:
                evs = await asyncio.to_thread(http, "GET", f"/{self.sid}?rid={int(time.time()*1000)}&maxev=10", None, 35)
            except Exception as e:  # noqa
                if self.stop:
                    return
                log("poll_error", error=str(e))
                await asyncio.sleep(0.2)
                continue
            if isinstance(evs, dict):
                evs = [evs]
            for ev in evs:
                log("event", event=ev)
            async with self.cond:
                self.events.extend(evs)
                self.cond.notify_all()

    async def wait(self, pred, timeout=10):
        async def _w():
            async with self.cond:
                while True:
                    for i, ev in enumerate(self.events):
                        if pred(ev):
                            return self.events.pop(i)
                    await self.cond.wait()
        return await asyncio.wait_for(_w(), timeout)

    async def keepalive_loop(self):
        while not self.stop:
            await asyncio.sleep(25)
            if not self.stop:
                await self.call(f"/{self.sid}", {"janus": "keepalive"})


def pdata(ev):
    return ev.get("plugindata", {}).get("data", {})


class FlagVideo(VideoStreamTrack):
    async def recv(self):
        pts, tb = await self.next_timestamp()
        img = numpy.zeros((240, 320, 3), numpy.uint8)
        img[:, :, (pts // 3000) % 3] = 200
        img[(pts // 900) % 240, :, :] = 255
        f = av.VideoFrame.from_ndarray(img, format="bgr24")
        f.pts, f.time_base = pts, tb
        return f


# ---- RTP probes (monkeypatched onto RTCDtlsTransport; role set per transport) ----
_orig_send_rtp = RTCDtlsTransport._send_rtp
_orig_handle_rtp = RTCDtlsTransport._handle_rtp_data
_orig_handle_rtcp = RTCDtlsTransport._handle_rtcp_data


def add_probe(data: bytes, ext_id: int) -> bytes:
    b0 = data[0]
    cc = b0 & 0x0F
    hlen = 12 + 4 * cc
    value = struct.pack("!Q", time.time_ns())
    elem = bytes([(ext_id << 4) | (len(value) - 1)]) + value
    if b0 & 0x10:
        prof, words = struct.unpack_from("!HH", data, hlen)
        if prof != 0xBEDE:
            return data
        ext = data[hlen + 4: hlen + 4 + 4 * words].rstrip(b"\x00") + elem
        payload = data[hlen + 4 + 4 * words:]
    else:
        ext = elem
        payload = data[hlen:]
    ext += b"\x00" * (-len(ext) % 4)
    if b0 & 0x20:  # already padded: leave it
        return data
    hdr = bytes([b0 | 0x10 | 0x20]) + data[1:hlen]
    return hdr + struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext + payload + PROBE_PAD


async def send_rtp(self, data):
    role = getattr(self, "_probe_role", None)
    if role and is_rtcp(data):
        try:
            for p in RtcpPacket.parse(data):
                name = type(p).__name__ + (f"(fmt={p.fmt})" if hasattr(p, "fmt") else "")
                STATS[f"{role}_rtcp_sent"][name] += 1
        except ValueError:
            pass
    elif role == "pub":
        pt = data[1] & 0x7F
        if pt == getattr(self, "_probe_rtxpt", -2):
            STATS["pub_rtx_sent"] += 1
        elif pt == getattr(self, "_probe_vpt", -1) and ARGS.drop > 0 and random.random() < ARGS.drop:
            STATS["pub_dropped"] += 1
            return None
    if role == "pub" and ARGS.probe and not is_rtcp(data) and (data[1] & 0x7F) == getattr(self, "_probe_vpt", -1):
        data = add_probe(data, ARGS.probe_ext_id)
        STATS["pub_probed_pkts"] += 1
    return await _orig_send_rtp(self, data)


def parse_exts(data):
    b0 = data[0]
    cc = b0 & 0x0F
    hlen = 12 + 4 * cc
    out = []
    if b0 & 0x10:
        prof, words = struct.unpack_from("!HH", data, hlen)
        ext = data[hlen + 4: hlen + 4 + 4 * words]
        i = 0
        if prof == 0xBEDE:
            while i < len(ext):
                if ext[i] == 0:
                    i += 1
                    continue
                xid, ln = ext[i] >> 4, (ext[i] & 0x0F) + 1
                out.append((xid, ext[i + 1:i + 1 + ln].hex()))
                i += 1 + ln
        else:
            out.append(("profile", hex(prof)))
    return out


async def handle_rtp(self, data, arrival_time_ms):
    if getattr(self, "_probe_role", None) == "sub":
        pt = data[1] & 0x7F
        if pt == getattr(self, "_probe_vpt", -1) and ARGS.drop > 0 and random.random() < ARGS.drop:
            STATS["sub_dropped"] += 1
            return None
        STATS["sub_video_pts"][pt] += 1
        if pt == getattr(self, "_probe_vpt", -1):
            STATS["sub_video_pkts"] += 1
            exts = parse_exts(data)
            for xid, _ in exts:
                STATS["sub_ext_ids"][xid] += 1
            if any(xid == ARGS.probe_ext_id for xid, _ in exts):
                STATS["sub_probe_ext_seen"] += 1
            if data[0] & 0x20:
                STATS["sub_video_with_padding"] += 1
                if data.endswith(PROBE_PAD):
                    STATS["sub_padding_intact"] += 1
            if len(STATS["sample_sub_headers"]) < 3:
                STATS["sample_sub_headers"].append({"first_byte": hex(data[0]), "pt": pt, "seq": struct.unpack_from("!H", data, 2)[0],
                                                    "exts": exts, "tail": data[-8:].hex(), "len": len(data)})
        elif pt == getattr(self, "_probe_rtxpt", -2):
            STATS["sub_rtx_pkts"] += 1
    return await _orig_handle_rtp(self, data, arrival_time_ms)


async def handle_rtcp(self, data):
    role = getattr(self, "_probe_role", None)
    if role:
        try:
            for p in RtcpPacket.parse(data):
                name = type(p).__name__
                if hasattr(p, "fmt"):
                    name += f"(fmt={p.fmt})"
                STATS[f"{role}_rtcp"][name] += 1
        except ValueError:
            STATS[f"{role}_rtcp"]["unparsable"] += 1
    return await _orig_handle_rtcp(self, data)


RTCDtlsTransport._send_rtp = send_rtp
RTCDtlsTransport._handle_rtp_data = handle_rtp
RTCDtlsTransport._handle_rtcp_data = handle_rtcp


def pt_of(sdp, codec, kind="video"):
    sec = None
    for line in sdp.splitlines():
        if line.startswith("m="):
            sec = line.split()[0][2:]
        if sec == kind and line.startswith("a=rtpmap:") and codec.lower() in line.lower():
            return int(line.split(":")[1].split()[0])
    return -1


def rtx_pt_of(sdp, apt):
    last = None
    for line in sdp.splitlines():
        if line.startswith("a=rtpmap:") and "rtx/" in line:
            last = int(line.split(":")[1].split()[0])
        if last is not None and line.startswith(f"a=fmtp:{last} ") and f"apt={apt}" in line:
            return last
    return -2


def munge_offer(sdp):
    out, sec = [], None
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            sec = line.split()[0][2:]
        out.append(line)
        if sec == "video" and line.startswith("a=mid:") and ARGS.probe:
            out.append(f"a=extmap:{ARGS.probe_ext_id} urn:starling:probe-send-time")
    return "\r\n".join(out)


async def main():
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [ARGS.host_ip]
    j = Janus()
    await j.create()
    poller = asyncio.create_task(j.poll_loop())
    keeper = asyncio.create_task(j.keepalive_loop())
    result = {}
    pub = sub = None
    try:
        room = ARGS.room
        hpub = await j.attach()
        r = await j.message(hpub, {"request": "create", "room": room, "description": "starling-check",
                                    "publishers": 16, "bitrate": 0, "videocodec": "vp8", "audiocodec": "opus",
                                    "notify_joining": False, "transport_wide_cc_ext": True, "audiolevel_ext": True})
        assert pdata(r).get("videoroom") == "created", r
        r = await j.message(hpub, {"request": "join", "ptype": "publisher", "room": room, "display": "pub-1"})
        ev = await j.wait(lambda e: e.get("sender") == hpub and pdata(e).get("videoroom") == "joined")
        pub_id = pdata(ev)["id"]

        pub = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pub.addTrack(FlagVideo())
        pub.addTrack(AudioStreamTrack())
        await pub.setLocalDescription(await pub.createOffer())
        offer_sdp = munge_offer(pub.localDescription.sdp)
        r = await j.message(hpub, {"request": "publish", "audio": True, "video": True, "display": "pub-1"},
                            {"type": "offer", "sdp": offer_sdp})
        ev = await j.wait(lambda e: e.get("sender") == hpub and "jsep" in e)
        await pub.setRemoteDescription(RTCSessionDescription(**{k: ev["jsep"][k] for k in ("type", "sdp")}))
        vpt = pt_of(ev["jsep"]["sdp"], "VP8")
        for t in pub.getTransceivers():
            t.sender.transport._probe_role = "pub"
            t.sender.transport._probe_vpt = vpt
            t.sender.transport._probe_rtxpt = rtx_pt_of(offer_sdp, pt_of(offer_sdp, "VP8"))
        if ARGS.trickle_completed:
            await j.call(f"/{j.sid}/{hpub}", {"janus": "trickle", "candidate": {"completed": True}})
        await j.wait(lambda e: e.get("sender") == hpub and e.get("janus") == "webrtcup", timeout=10)

        hsub = await j.attach()
        r = await j.message(hsub, {"request": "join", "ptype": "subscriber", "room": room,
                                    "streams": [{"feed": pub_id}]})
        ev = await j.wait(lambda e: e.get("sender") == hsub and "jsep" in e)
        sub = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        frames = collections.Counter()

        @sub.on("track")
        def on_track(track):
            async def consume():
                while True:
                    try:
                        await track.recv()
                    except Exception:
                        return
                    frames[track.kind] += 1
            asyncio.ensure_future(consume())

        await sub.setRemoteDescription(RTCSessionDescription(sdp=ev["jsep"]["sdp"], type=ev["jsep"]["type"]))
        await sub.setLocalDescription(await sub.createAnswer())
        svpt = pt_of(ev["jsep"]["sdp"], "VP8")
        for t in sub.getTransceivers():
            t.receiver.transport._probe_role = "sub"
            t.receiver.transport._probe_vpt = svpt
            t.receiver.transport._probe_rtxpt = rtx_pt_of(sub.localDescription.sdp, svpt)
        r = await j.message(hsub, {"request": "start"}, {"type": "answer", "sdp": sub.localDescription.sdp})
        if ARGS.trickle_completed:
            await j.call(f"/{j.sid}/{hsub}", {"janus": "trickle", "candidate": {"completed": True}})
        await j.wait(lambda e: e.get("sender") == hsub and e.get("janus") == "webrtcup", timeout=10)
        t0 = time.time()
        await asyncio.sleep(ARGS.seconds)
        result = {"video_frames_decoded": frames["video"], "audio_frames": frames["audio"],
                  "seconds": round(time.time() - t0, 1)}
        # a few API calls worth showing
        await j.message(hsub, {"request": "configure", "streams": [{"mid": "0", "send": True}]})
        await j.message(hpub, {"request": "listparticipants", "room": room})
        await j.message(hsub, {"request": "leave"})
        await j.message(hpub, {"request": "unpublish"})
        await j.message(hpub, {"request": "destroy", "room": room})
        await asyncio.sleep(0.5)
        await j.call(f"/{j.sid}/{hsub}", {"janus": "detach"})
        await j.call(f"/{j.sid}/{hpub}", {"janus": "detach"})
        await j.call(f"/{j.sid}", {"janus": "destroy"})
    finally:
        j.stop = True
        keeper.cancel()
        for pc in (pub, sub):
            if pc:
                await pc.close()
        poller.cancel()
    stats = {k: (dict(v) if isinstance(v, collections.Counter) else v) for k, v in STATS.items()}
    result["probe"] = stats
    log("result", result=result)
    print(json.dumps(result, indent=1))
    return 0 if result.get("video_frames_decoded", 0) > 0 else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--janus", default="http://127.0.0.1:8088/janus")
    ap.add_argument("--host-ip", default="10.99.0.1", help="address aiortc gathers (the veth address)")
    ap.add_argument("--room", type=int, default=4242)
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--transcript", default="janus-transcript.jsonl")
    ap.add_argument("--probe", action="store_true")
    ap.add_argument("--probe-ext-id", type=int, default=14)
    ap.add_argument("--drop", type=float, default=0.0,
                    help="drop this fraction of publisher-sent and of subscriber-received VP8 packets (NACK/RTX test)")
    ap.add_argument("--trickle-completed", action="store_true")
    ARGS = ap.parse_args()
    ARGS._sid = None
    TRANSCRIPT = open(ARGS.transcript, "w")
    sys.exit(asyncio.run(asyncio.wait_for(main(), ARGS.seconds + 60)))
