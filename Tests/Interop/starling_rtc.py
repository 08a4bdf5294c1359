"""A reusable asyncio client for Starling's participant signaling WebSocket `/rtc` (docs/PROTOCOL.md), built on
aiortc and the `websockets` package.

    p = Participant("alice")
    await p.connect("ws://127.0.0.1:8080/rtc")
    await p.join(token)                      # token from GET /dev/token or your own HS256 JWT
    await p.publish()                        # VP8 moving pattern + Opus on the publishing connection
    ...                                      # every subscriberOffer is answered in order; frames are counted
    p.received                               # trackId -> ReceivedTrack(kind, frames, first frame time, ...)
    await p.leave(); await p.close()

Every message sent and received is validated against docs/schemas/rtc/{client,server}.schema.json; a message
that does not validate raises SchemaViolation at once (for a received one: from the next request or wait, and it
is kept in `violations`). Deliberately bad input goes through `send_raw`, which skips the client schema.

Must run where aiortc only sees loopback (Tests/Interop run inside `unshare --net`); `loopback_only()` applies
the aioice patch from shared/INTEROP.md.
"""

import asyncio
import fractions
import itertools
import json
import os
import re
import time

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCHEMA_DIR = os.path.join(ROOT, "docs", "schemas", "rtc")


class SchemaViolation(AssertionError):
    pass


class RequestError(Exception):
    """The server answered a request with an `error`."""

    def __init__(self, code, message, request_type):
        super().__init__(f"{request_type}: {code}: {message}")
        self.code = code
        self.message = message


class Schemas:
    """The /rtc JSON Schemas (draft 2020-12): one for client messages, one for server messages, and each request
    type's result."""

    def __init__(self, directory=SCHEMA_DIR):
        with open(os.path.join(directory, "client.schema.json")) as f:
            self.client_schema = json.load(f)
        with open(os.path.join(directory, "server.schema.json")) as f:
            self.server_schema = json.load(f)
        v = jsonschema.Draft202012Validator
        v.check_schema(self.client_schema)
        v.check_schema(self.server_schema)
        self.client = v(self.client_schema)
        self.server = v(self.server_schema)
        defs = self.server_schema["$defs"]
        self.results = {name: v({"$defs": defs, **ref}) for name, ref in defs["results"]["properties"].items()}

    @staticmethod
    def _check(validator, message, what):
        errors = sorted(validator.iter_errors(message), key=lambda e: e.path)
        if errors:
            best = jsonschema.exceptions.best_match(errors)
            text = json.dumps(message)
            if len(text) > 400:
                text = text[:400] + "..."
            why = best.message if len(best.message) < 300 else best.message[:300] + "..."
            raise SchemaViolation(f"{what} does not match the schema: {why} at {list(best.absolute_path)} "
                                  f"(schema {'/'.join(map(str, best.absolute_schema_path))}): {text}")

    def check_client(self, message):
        self._check(self.client, message, "client message")

    def check_server(self, message):
        self._check(self.server, message, "server message")

    def check_result(self, request_type, result):
        if request_type in self.results:
            self._check(self.results[request_type], result, f"result of {request_type}")


_SCHEMAS = None


def schemas():
    global _SCHEMAS
    if _SCHEMAS is None:
        _SCHEMAS = Schemas()
    return _SCHEMAS


def loopback_only():
    """shared/INTEROP.md: aioice leaves 127.0.0.1 out of its host candidates."""
    import aioice.ice
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def new_peer_connection():
    """iceServers=[] (else aiortc adds a public STUN server) and max-bundle: with aiortc's default `balanced`
    policy, an offer that brings two new m-lines of one kind (say audio mids 1 and 3) gives the second one the
    first one's own transport, which the BUNDLE step then stops without moving the second line onto the bundle
    transport: its receiver never starts and its packets are routed to the first line (aiortc 1.16)."""
    from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection
    return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


def parse_mlines(sdp):
    """Per m-line of an SDP: mid, kind, direction, msid (stream, track) and codec names."""
    lines = []
    current = None
    for raw in sdp.splitlines():
        if raw.startswith("m="):
            current = {"kind": raw[2:].split(" ")[0], "mid": None, "direction": "sendrecv", "msid": None,
                       "codecs": [], "port": int(raw.split(" ")[1])}
            lines.append(current)
        elif current is None:
            continue
        elif raw.startswith("a=mid:"):
            current["mid"] = raw[6:].strip()
        elif raw.strip() in ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"):
            current["direction"] = raw.strip()[2:]
        elif raw.startswith("a=msid:"):
            parts = raw[7:].split()
            current["msid"] = (parts[0], parts[1] if len(parts) > 1 else None)
        elif raw.startswith("a=rtpmap:"):
            current["codecs"].append(raw.split(" ", 1)[1].split("/")[0])
    return lines


def moving_pattern_track(width=320, height=240):
    """Synthetic video whose content changes every frame, so the VP8 encoder sends real data."""
    import av
    import numpy
    from aiortc import VideoStreamTrack

    class MovingPattern(VideoStreamTrack):
        def __init__(self):
            super().__init__()
            self.n = 0

        async def recv(self):
            pts, time_base = await self.next_timestamp()
            frame = numpy.zeros((height, width, 3), numpy.uint8)
            frame[:, :, 0] = (numpy.arange(width) + self.n * 4) % 256
            frame[:, :, 1] = (numpy.arange(height)[:, None] + self.n * 2) % 256
            frame[:, :, 2] = (self.n * 3) % 256
            self.n += 1
            video = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video.pts, video.time_base = pts, time_base
            return video

    return MovingPattern()


class ReceivedTrack:
    """Frames decoded from one remote track."""

    def __init__(self, track_id, kind, participant_id, mid):
        self.track_id = track_id
        self.kind = kind
        self.participant_id = participant_id
        self.mid = mid
        self.frames = 0
        self.offered_at = time.monotonic()
        self.first_frame_at = None
        self.last_frame_at = None
        self.ended = False

    @property
    def time_to_first_frame(self):
        return None if self.first_frame_at is None else self.first_frame_at - self.offered_at

    def as_dict(self):
        ttff = self.time_to_first_frame
        return {"trackId": self.track_id, "kind": self.kind, "from": self.participant_id, "mid": self.mid,
                "frames": self.frames, "timeToFirstFrame": None if ttff is None else round(ttff, 3), "ended": self.ended}


class Participant:
    """One participant on /rtc: a WebSocket, a publishing RTCPeerConnection (we offer) and a subscribing one (the
    server offers, we answer every `subscriberOffer` in order)."""

    def __init__(self, label, log=None, validate=True):
        self.label = label
        self.log = log or (lambda text: print(f"[{label}] {text}", flush=True))
        self.validate = validate
        self.ws = None
        self.url = None
        self.leave_unanswered = False
        self.ids = itertools.count(1)
        self.pending = {}           # id -> (future, request type)
        self.events = asyncio.Queue()   # events and id-less errors, in arrival order
        self.history = []           # every received message (dict)
        self.sent = []              # every sent message (text)
        self.violations = []
        self.participant_id = None
        self.join_result = None
        self.publish_result = None
        self.pub = None
        self.sub = None
        self.received = {}          # trackId -> ReceivedTrack
        self.offers_answered = []   # revisions answered, in order
        self.mlines = {}            # mid -> last offered m-line description (from the latest subscriberOffer)
        self.mids_map = {}          # mid -> trackId as the server's `mids` map said (when it sends one)
        self.offer_errors = []
        self._offers = asyncio.Queue()
        self._tasks = []
        self._closed = asyncio.Event()
        self._offer_applied = asyncio.Condition()
        # Data channels: channels the server opened on the subscribing connection, by label, and what
        # arrived on them as (sender identity, payload bytes or str, label, arrival time).
        self.data_channels = {}
        self.data_received = []
        self.data_arrived = asyncio.Event()
        self.data_closed = []       # labels of channels that closed
        self.data_opened = 0        # channels the server opened (a reset reliable channel opens again)

    # ---------------------------------------------------------------- WebSocket

    async def connect(self, url, token=None, timeout=10):
        """Opens the WebSocket; with a token, also joins."""
        await self._open(url, timeout)
        self._tasks.append(asyncio.ensure_future(self._answerer()))
        if token is not None:
            return await self.join(token)

    async def _open(self, url, timeout):
        from websockets.asyncio.client import connect
        self.url = url
        self.ws = await asyncio.wait_for(connect(url, max_size=4 << 20, open_timeout=timeout), timeout)
        self._closed = asyncio.Event()
        self._tasks.append(asyncio.ensure_future(self._reader(self.ws, self._closed)))

    def drop(self):
        """Drops the WebSocket without a close handshake (as a lost network would); the peer connections stay."""
        self.ws.transport.abort()

    async def reconnect(self, token, timeout=10):
        """A new WebSocket and `join {reconnect: true, resumeToken}` (the one the last join handed out); keeps both
        peer connections. Returns the join result."""
        if not self._closed.is_set():
            self.drop()
            await asyncio.wait_for(self._closed.wait(), timeout)
        await self._open(self.url, timeout)
        resume = (self.join_result or {}).get("resumeToken")
        return await self.join(token, reconnect=True, **({"resumeToken": resume} if resume else {}))

    async def _reader(self, ws, closed):
        try:
            async for text in ws:
                if isinstance(text, bytes):
                    self._violation(f"binary message from the server ({len(text)} bytes)")
                    continue
                try:
                    message = json.loads(text)
                except ValueError:
                    self._violation(f"server sent invalid JSON: {text[:200]!r}")
                    continue
                self.history.append(message)
                if self.validate:
                    try:
                        schemas().check_server(message)
                    except SchemaViolation as e:
                        self._violation(str(e))
                kind = message.get("type")
                if kind in ("response", "error") and message.get("id") in self.pending:
                    future, _ = self.pending.pop(message["id"])
                    if not future.done():
                        future.set_result(message)
                    continue
                if kind == "subscriberOffer":
                    self._offers.put_nowait(message)
                await self.events.put(message)
        except Exception as e:  # connection closed with an error
            self.log(f"websocket ended: {type(e).__name__}: {e}")
        finally:
            closed.set()
            if ws is self.ws:
                for future, _ in self.pending.values():
                    if not future.done():
                        future.set_exception(ConnectionError("the WebSocket closed"))
                self.pending.clear()

    def _violation(self, text):
        self.log("SCHEMA/PROTOCOL VIOLATION: " + text)
        self.violations.append(text)

    def check_violations(self):
        if self.violations:
            raise SchemaViolation(f"{self.label}: {len(self.violations)} violation(s); first: {self.violations[0]}")

    @property
    def closed(self):
        return self._closed.is_set()

    async def send_raw(self, data):
        """Sends text (or bytes) as it is: for deliberately bad input; no schema check."""
        self.sent.append(data)
        await self.ws.send(data)

    async def send(self, message):
        if self.validate:
            schemas().check_client(message)
        text = json.dumps(message)
        self.sent.append(text)
        await self.ws.send(text)

    async def request(self, type, timeout=10, **fields):
        """Sends a request with a fresh id; returns its result, raises RequestError on an `error` answer."""
        self.check_violations()
        request_id = f"{self.label}-{next(self.ids)}"
        message = {"type": type, "id": request_id, **fields}
        reply = await self.request_message(message, timeout=timeout)
        if reply["type"] == "error":
            raise RequestError(reply["error"]["code"], reply["error"]["message"], type)
        if self.validate:
            schemas().check_result(type, reply["result"])
        return reply["result"]

    async def request_message(self, message, timeout=10, raw=None):
        """Sends `message` (or the text `raw` with that message's id) and returns the whole reply with its id."""
        future = asyncio.get_running_loop().create_future()
        self.pending[message["id"]] = (future, message.get("type"))
        try:
            if raw is None:
                await self.send(message)
            else:
                await self.send_raw(raw)
            reply = await asyncio.wait_for(future, timeout)
        finally:
            self.pending.pop(message["id"], None)
        if reply.get("id") != message["id"]:
            raise AssertionError(f"reply id {reply.get('id')!r} for request id {message['id']!r}")
        return reply

    async def next_event(self, types=None, timeout=10, predicate=None):
        """The next event (or id-less error) of one of `types` that satisfies `predicate`; others are skipped
        (they stay in `history`)."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_violations()
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError(f"{self.label}: no {types} event within {timeout} s")
            event = await asyncio.wait_for(self.events.get(), left)
            if (types is None or event.get("type") in types) and (predicate is None or predicate(event)):
                return event

    async def ping(self, timeout=5):
        return await self.request("ping", timeout=timeout)

    # ---------------------------------------------------------------- join, publish, leave

    async def join(self, token, **extra):
        result = await self.request("join", token=token, **extra)
        self.join_result = result
        self.participant_id = result["participant"]["id"]
        self.log(f"{'resumed' if result.get('resumed') else 'joined'} as {self.participant_id}; "
                 f"{len(result['participants'])} others, {len(result['tracks'])} tracks")
        return result

    async def publish(self, video=True, audio=True, timeout=20):
        """Publishes VP8 video (a moving pattern) and Opus audio on a new publishing connection."""
        from aiortc import RTCRtpSender
        from aiortc.mediastreams import AudioStreamTrack
        loopback_only()
        self.pub = new_peer_connection()
        transceivers = []
        if video:
            t = self.pub.addTransceiver(moving_pattern_track(), direction="sendonly")
            caps = RTCRtpSender.getCapabilities("video").codecs
            t.setCodecPreferences([c for c in caps if c.mimeType.lower() in ("video/vp8", "video/rtx")])
            transceivers.append((t, "camera", f"{self.label} camera"))
        if audio:
            t = self.pub.addTransceiver(AudioStreamTrack(), direction="sendonly")
            caps = RTCRtpSender.getCapabilities("audio").codecs
            t.setCodecPreferences([c for c in caps if c.mimeType.lower() == "audio/opus"])
            transceivers.append((t, "microphone", f"{self.label} microphone"))
        await asyncio.wait_for(self.pub.setLocalDescription(await self.pub.createOffer()), timeout)
        tracks = [{"mid": t.mid, "source": source, "name": name} for t, source, name in transceivers]
        from aiortc import RTCSessionDescription
        result = await self.request("publish", timeout=timeout, sdp=self.pub.localDescription.sdp, tracks=tracks)
        await asyncio.wait_for(self.pub.setRemoteDescription(RTCSessionDescription(sdp=result["sdp"], type="answer")),
                               timeout)
        self.publish_result = result
        self.publish_answer_mlines = parse_mlines(result["sdp"])
        self.log("published " + ", ".join(f"{t['kind']} {t['id']} ({t['source']})" for t in result["tracks"]))
        return result

    async def publish_more(self, source="screen", name=None, timeout=20):
        """Renegotiates the publishing connection: adds a sendonly VP8 m-line (a second moving pattern, e.g. a
        screen share) and sends the new offer in `publish` listing only the new mid. Returns (result, new mid)."""
        from aiortc import RTCRtpSender, RTCSessionDescription
        t = self.pub.addTransceiver(moving_pattern_track(), direction="sendonly")
        caps = RTCRtpSender.getCapabilities("video").codecs
        t.setCodecPreferences([c for c in caps if c.mimeType.lower() in ("video/vp8", "video/rtx")])
        await asyncio.wait_for(self.pub.setLocalDescription(await self.pub.createOffer()), timeout)
        result = await self.request("publish", timeout=timeout, sdp=self.pub.localDescription.sdp,
                                    tracks=[{"mid": t.mid, "source": source, "name": name or f"{self.label} {source}"}])
        await asyncio.wait_for(self.pub.setRemoteDescription(RTCSessionDescription(sdp=result["sdp"], type="answer")),
                               timeout)
        self.publish_result = result
        self.log(f"renegotiated: now publishing " + ", ".join(f"{x['kind']} {x['id']} ({x['source']}, mid {x.get('mid')})"
                                                            for x in result["tracks"]))
        return result, t

    async def leave(self, timeout=5):
        """Sends `leave`; the server answers and then closes the WebSocket. Returns the result, or None when the
        WebSocket closed before the answer came (recorded in `leave_unanswered`; the caller decides)."""
        self.leave_unanswered = False
        try:
            result = await self.request("leave", timeout=timeout)
        except ConnectionError:
            self.leave_unanswered = True
            self.log(f"the WebSocket closed (code {self.ws.close_code}, reason {self.ws.close_reason!r}) before the "
                     "leave response arrived")
            result = None
        try:
            await asyncio.wait_for(self._closed.wait(), timeout)
        except asyncio.TimeoutError:
            self._violation("the server did not close the WebSocket after leave")
        return result

    async def close(self, timeout=5):
        """Closes both peer connections and the WebSocket and stops every task (bounded by `timeout` each)."""
        for task in self._tasks:
            task.cancel()
        for pc in (self.pub, self.sub):
            if pc is not None:
                try:
                    await asyncio.wait_for(pc.close(), timeout)
                except Exception:
                    pass
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), timeout)
            except Exception:
                pass
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout)
        self._tasks = []

    # ---------------------------------------------------------------- subscribing connection

    async def _answerer(self):
        """Answers every subscriberOffer in the order they came."""
        from aiortc import RTCSessionDescription
        while True:
            offer = await self._offers.get()
            try:
                if self.sub is None:
                    loopback_only()
                    self.sub = new_peer_connection()
                    self.sub.on("track", self._on_track)
                    self.sub.on("datachannel", self._on_datachannel)
                lines = parse_mlines(offer["sdp"])
                for line in lines:
                    self.mlines[line["mid"]] = line
                if "mids" in offer:
                    self.mids_map = dict(offer["mids"])
                await asyncio.wait_for(self.sub.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer")), 15)
                await asyncio.wait_for(self.sub.setLocalDescription(await self.sub.createAnswer()), 15)
                # Tracks whose m-line was reused by a new track: count under the new id from now on.
                for t in self.sub.getTransceivers():
                    key = self.track_key(t.mid, None)
                    if key and t.receiver.track is not None and key not in self.received and self.mlines.get(t.mid, {}).get("direction") != "inactive":
                        self._register(t.mid, key, t.kind)
                await self.request("subscriberAnswer", timeout=15, sdp=self.sub.localDescription.sdp,
                                   revision=offer["revision"])
                self.offers_answered.append(offer["revision"])
                async with self._offer_applied:
                    self._offer_applied.notify_all()
            except Exception as e:
                self.log(f"answering subscriberOffer {offer.get('revision')} failed: {type(e).__name__}: {e}")
                self.offer_errors.append(f"revision {offer.get('revision')}: {type(e).__name__}: {e}")
                async with self._offer_applied:
                    self._offer_applied.notify_all()

    # ---------------------------------------------------------------- data channels

    def _on_datachannel(self, channel):
        self.data_channels[channel.label] = channel
        self.data_opened += 1

        @channel.on("message")
        def on_message(message):
            raw = message.encode() if isinstance(message, str) else message
            sender, is_text, payload = decode_incoming(raw)
            self.data_received.append((sender, payload.decode() if is_text else payload, channel.label, time.monotonic()))
            self.data_arrived.set()

        @channel.on("close")
        def on_close():
            self.data_closed.append(channel.label)

    async def data_ready(self, timeout=15):
        """Waits until both relay channels are open."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.data_channels.get(l) is not None and self.data_channels[l].readyState == "open"
                   for l in ("starling.reliable", "starling.lossy")):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{self.label}: data channels not open: {list(self.data_channels)}")

    def send_data(self, payload, targets=(), reliable=True, channel=None):
        """Sends a message (str: text, bytes: binary) to everyone else or to `targets` (identities)."""
        ch = channel or self.data_channels["starling.reliable" if reliable else "starling.lossy"]
        ch.send(encode_outgoing(payload, targets))

    async def wait_data(self, count, timeout=20, predicate=None):
        """Waits until `count` messages (matching `predicate`) arrived; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            got = [m for m in self.data_received if predicate is None or predicate(m)]
            if len(got) >= count:
                return got
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.label}: {len(got)} of {count} data messages")
            self.data_arrived.clear()
            try:
                await asyncio.wait_for(self.data_arrived.wait(), min(remaining, 0.5))
            except asyncio.TimeoutError:
                pass

    def track_key(self, mid, fallback):
        """The trackId of what m-line `mid` carries now: the offer's `mids` map if it had one, else its msid."""
        if mid in self.mids_map:
            return self.mids_map[mid]
        line = self.mlines.get(mid)
        if line and line["msid"] and line["msid"][1]:
            return line["msid"][1]
        return fallback

    def _register(self, mid, key, kind):
        line = self.mlines.get(mid) or {}
        participant = line["msid"][0] if line.get("msid") else None
        if key not in self.received:
            self.received[key] = ReceivedTrack(key, kind, participant, mid)
        return self.received[key]

    def _on_track(self, track):
        transceiver = next((t for t in self.sub.getTransceivers() if t.receiver.track is track), None)
        mid = transceiver.mid if transceiver else None
        key = self.track_key(mid, track.id)
        self._register(mid, key, track.kind)
        self._tasks.append(asyncio.ensure_future(self._consume(track, mid)))

    async def _consume(self, track, mid):
        from aiortc.mediastreams import MediaStreamError
        while True:
            try:
                await track.recv()
            except (MediaStreamError, asyncio.CancelledError):
                key = self.track_key(mid, track.id)
                if key in self.received:
                    self.received[key].ended = True
                return
            key = self.track_key(mid, track.id)
            r = self.received.get(key) or self._register(mid, key, track.kind)
            now = time.monotonic()
            r.frames += 1
            r.last_frame_at = now
            if r.first_frame_at is None:
                r.first_frame_at = now

    def transceiver_direction(self, mid):
        """The subscribing transceiver's negotiated direction for `mid` (None when there is none)."""
        if self.sub is None:
            return None
        for t in self.sub.getTransceivers():
            if t.mid == mid:
                return t.currentDirection
        return None

    async def wait_offer_applied(self, predicate, timeout):
        """Waits until `predicate()` holds after an answered subscriberOffer (or already holds)."""
        deadline = time.monotonic() + timeout
        async with self._offer_applied:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise asyncio.TimeoutError(f"{self.label}: condition not reached within {timeout} s")
                try:
                    await asyncio.wait_for(self._offer_applied.wait(), left)
                except asyncio.TimeoutError:
                    pass
                self.check_violations()

    def frames_by_track(self):
        return {k: r.as_dict() for k, r in sorted(self.received.items())}


# ---------------------------------------------------------------- the data envelope (docs/PROTOCOL.md)

async def run_participants(run, server, checks, seconds):
    """Runs `run(server, checks, people)` (which appends the Participants it makes to `people`), capped at
    `seconds`; a failure or the cap is a failed check. Then checks that each participant's traffic matched the
    schemas, and returns `people`, still connected (the caller reports on them and closes them)."""
    people = []
    try:
        await asyncio.wait_for(run(server, checks, people), seconds)
    except Exception as e:
        import traceback
        traceback.print_exc()
        checks.check("the run completed", False, f"{type(e).__name__}: {e}")
    for p in people:
        checks.check(f"{p.label}: all traffic matched the schemas ({len(p.history)} received, {len(p.sent)} sent)",
                     not p.violations, "; ".join(p.violations[:2]))
    return people


def encode_outgoing(payload, targets=()):
    """version 1, flags (bit 0: text), target count, each target as length + UTF-8, then the payload."""
    is_text = isinstance(payload, str)
    body = payload.encode() if is_text else bytes(payload)
    out = bytearray([1, 1 if is_text else 0, len(targets)])
    for t in targets:
        name = t.encode()
        out += bytes([len(name)]) + name
    return bytes(out + body)


def decode_incoming(raw):
    """version 1, flags, sender identity as length + UTF-8, then the payload -> (sender, is_text, payload bytes)."""
    if len(raw) < 3 or raw[0] != 1:
        raise ValueError(f"not a Starling data envelope: {raw[:8]!r}")
    n = raw[2]
    return raw[3:3 + n].decode(), bool(raw[1] & 1), bytes(raw[3 + n:])


def impair(pc, loss=0.0, seed=1):
    """Drops a share of the datagrams `pc` sends and receives (its ICE transport), and all of them while
    `state['stalled']` is set. Returns the state dict."""
    import random
    rng = random.Random(seed)
    ice = pc.sctp.transport.transport
    send, recv = ice._send, ice._recv
    state = {"stalled": False, "loss": loss}

    async def lossy_send(data):
        if state["stalled"] or rng.random() < state["loss"]:
            return
        await send(data)

    async def lossy_recv():
        while True:
            data = await recv()
            if not state["stalled"] and rng.random() >= state["loss"]:
                return data

    ice._send, ice._recv = lossy_send, lossy_recv
    return state
