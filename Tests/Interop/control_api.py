#!/usr/bin/env python3
"""The control API (docs/API.md) end to end against the built `starling serve`, every message checked
against the JSON Schemas in docs/schemas/control/.

Inside a network namespace holding only `lo` (re-executes itself under `unshare --net`), it starts the server
on 127.0.0.1 (a free HTTP port, STARLING_MEDIA_UDP_PORT=0, an API key and a JWT secret) and:
  * calls every method over `POST /api/<method>` and over JSON-RPC 2.0 on the `/control` WebSocket
    (authentication by header and by `authenticate`, a batch, notifications, subscribe/unsubscribe);
  * lets participants join over `/rtc` with tokens from createToken (plain WebSockets, no media; one publishes
    an SDP offer so that there are tracks to mute, list and count);
  * follows the room events of two subscriptions (one room, every room);
  * removes a participant (its `/rtc` socket gets `removed`, then the server closes it) and closes the room
    (the participant left gets `roomClosed`, then its socket closes);
  * sends every error case of every method on both transports, and the protocol errors (parse, invalid
    request, unknown method, too large, rate limited, unauthorized, unavailable);
  * validates EVERY request sent and every reply and notification received against the schemas (requests
    that are wrong on purpose must be rejected by the params schema too).
Prints a summary; exits non-zero on any failure. Bounded to 60 s.

    python3 Tests/Interop/control_api.py [--binary .build/debug/starling] [--record traffic.json]
"""

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request

import jsonschema
import referencing
import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import sdppeers  # noqa: E402
from harness import StarlingProcess  # noqa: E402

SCHEMAS = os.path.join(ROOT, "docs", "schemas", "control")
BASE = "https://starling.invalid/schemas/control/"
API_KEY = "interop-control-key-0123456789"
JWT_SECRET = "interop-jwt-secret-0123456789-abcdefghij"
OFFER = os.path.join(ROOT, "Tests", "StarlingWireTests", "Fixtures", "sdp", "aiortc-video-audio.sdp")
MAX_MESSAGE = 65536
DEADLINE_SECONDS = 60

# code -> (HTTP status, JSON-RPC number), as docs/API.md lists them.
ERRORS = {
    "parse_error": (400, -32700), "invalid_request": (400, -32600), "method_not_found": (404, -32601),
    "invalid_params": (400, -32602), "unauthorized": (401, -32001), "not_found": (404, -32004),
    "too_large": (413, -32013), "rate_limited": (429, -32029), "unavailable": (503, -32003), "internal": (500, -32603),
}


class Failure(Exception):
    pass


class Checker:
    """Schema validation and the tallies of the summary."""

    def __init__(self):
        resources = []
        for name in sorted(os.listdir(SCHEMAS)):
            if name.endswith(".schema.json"):
                with open(os.path.join(SCHEMAS, name)) as f:
                    schema = json.load(f)
                jsonschema.Draft202012Validator.check_schema(schema)
                resources.append((schema["$id"], referencing.Resource.from_contents(schema)))
        self.registry = referencing.Registry().with_resources(resources)
        self.validators = {}
        self.validated = 0
        self.rejected = 0
        self.calls = {"http": 0, "rpc": 0}
        self.methods = {"http": set(), "rpc": set()}
        self.events = {}
        self.errors_seen = {"http": set(), "rpc": set()}
        self.checks = 0
        self.failures = []
        self.traffic = []

    def validator(self, ref):
        if ref not in self.validators:
            self.validators[ref] = jsonschema.Draft202012Validator({"$ref": BASE + ref}, registry=self.registry)
        return self.validators[ref]

    def valid(self, ref, instance, what):
        errors = sorted(self.validator(ref).iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            detail = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:200]}" for e in errors[:3])
            self.fail(f"{what}: does not match {ref}: {detail}\n    {json.dumps(instance)[:400]}")
        else:
            self.validated += 1

    def invalid(self, ref, instance, what):
        """A message wrong on purpose: the schema must catch it as the server does."""
        if self.validator(ref).is_valid(instance):
            self.fail(f"{what}: {ref} accepts what the server refuses: {json.dumps(instance)[:300]}")
        else:
            self.rejected += 1

    def expect(self, condition, what):
        self.checks += 1
        if not condition:
            self.fail(what)

    def fail(self, what):
        self.failures.append(what)
        print(f"FAIL {what}", flush=True)

    def record(self, **entry):
        self.traffic.append(entry)


class Server(StarlingProcess):
    def __init__(self, binary, api_key=API_KEY, jwt_secret=JWT_SECRET):
        try:
            super().__init__(binary, {
                "STARLING_HTTP_HOST": "127.0.0.1", "STARLING_HTTP_WEB_ROOT": "",
                "STARLING_MEDIA_UDP_PORT": "0", "STARLING_MEDIA_EVENT_LOOPS": "1",
                "STARLING_CONTROL_API_KEY": api_key, "STARLING_AUTH_JWT_SECRET": jwt_secret,
                "STARLING_SIGNALING_MAX_MESSAGE_BYTES": str(MAX_MESSAGE), "STARLING_SHUTDOWN_GRACE_PERIOD_SECONDS": "1",
                # The message limit must hold the largest SDP accepted (check-config says so otherwise).
                "STARLING_LIMITS_SDP_BYTES": str(MAX_MESSAGE // 2),
            }, log_prefix="starling-control-", clean_env=True, startup_seconds=15, stop_seconds=5)
        except RuntimeError as e:
            raise Failure(str(e))


# ------------------------------------------------------------------------------------------------
# HTTP: POST /api/<method>

class HTTP:
    def __init__(self, checker, port):
        self.c = checker
        self.url = f"http://127.0.0.1:{port}/api/"

    def raw(self, method, body, key=API_KEY, auth=None):
        headers = {"Content-Type": "application/json"}
        if auth is not None:
            headers["Authorization"] = auth
        elif key is not None:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.url + method, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, r.headers.get("Content-Type"), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read()

    async def call(self, method, params=None, *, error=None, valid=None, body=None, key=API_KEY, auth=None, label=None):
        """Calls a method; checks the status and the body; returns the result (or the error object).
        `error`: the code expected. `valid`: whether the params should pass the params schema (default: yes
        for a success or not_found, no for invalid_params)."""
        what = f"HTTP {method} {label or json.dumps(params)[:80]}"
        if body is None:
            body = b"" if params is None else json.dumps(params).encode()
            shown = {} if params is None else params
            if valid is None:
                valid = error not in ("invalid_params",)
            if isinstance(shown, dict) and valid is not None:
                ref = f"methods.schema.json#/$defs/{method}Params"
                if method in METHOD_NAMES:
                    (self.c.valid if valid else self.c.invalid)(ref, shown, what + " (params)")
        status, ctype, data = await asyncio.get_running_loop().run_in_executor(
            None, lambda: self.raw(method, body, key=key, auth=auth))
        self.c.calls["http"] += 1
        self.c.methods["http"].add(method)
        self.c.expect(ctype == "application/json", f"{what}: Content-Type {ctype}")
        try:
            reply = json.loads(data)
        except ValueError:
            self.c.fail(f"{what}: reply is not JSON: {data[:200]!r}")
            return None
        self.c.valid("http.schema.json", reply, what)
        self.c.record(transport="http", method=method, label=label, request=params if params is not None else body.decode(errors="replace")[:300],
                      status=status, reply=reply)
        if error is None:
            self.c.expect(status == 200, f"{what}: status {status}, wanted 200: {reply}")
            if status == 200 and method in METHOD_NAMES:
                self.c.valid(f"methods.schema.json#/$defs/{method}Result", reply.get("result"), what + " (result)")
            return reply.get("result")
        got = reply.get("error", {}).get("code")
        self.c.errors_seen["http"].add(got)
        self.c.expect(got == error and status == ERRORS[error][0],
                      f"{what}: got {status} {got}, wanted {ERRORS[error][0]} {error}: {reply}")
        return reply.get("error")


METHOD_NAMES = ["createRoom", "listRooms", "getRoom", "closeRoom", "listParticipants", "removeParticipant",
                "muteTrack", "createToken", "getStats", "getServerStats", "sendData", "authenticate", "subscribe",
                "unsubscribe"]


# ------------------------------------------------------------------------------------------------
# JSON-RPC on /control

class RPC:
    def __init__(self, checker, name):
        self.c = checker
        self.name = name
        self.ws = None
        self.events = []
        self.next_id = 1
        self.pending = {}

    async def open(self, port, header=True):
        headers = {"Authorization": f"Bearer {API_KEY}"} if header else {}
        self.ws = await websockets.connect(f"ws://127.0.0.1:{port}/control", additional_headers=headers,
                                           max_size=1 << 22, open_timeout=10)
        return self

    async def send_text(self, text, *, valid=True, what=""):
        """Sends raw text; `valid`: whether it must match clientMessage (None: not JSON, not checked)."""
        if valid is not None:
            try:
                message = json.loads(text)
            except ValueError:
                message = None
            if message is not None:
                (self.c.valid if valid else self.c.invalid)("jsonrpc.schema.json#/$defs/clientMessage", message,
                                                              f"RPC[{self.name}] send {what}")
        await self.ws.send(text)

    async def read(self, timeout):
        """The next message; an event is validated, kept in self.events and returned as None."""
        text = await asyncio.wait_for(self.ws.recv(), timeout)
        message = json.loads(text)
        self.c.valid("jsonrpc.schema.json#/$defs/serverMessage", message, f"RPC[{self.name}] received")
        if isinstance(message, dict) and message.get("method") == "event":
            self.events.append(message)
            kind = message["params"]["type"]
            self.c.events[kind] = self.c.events.get(kind, 0) + 1
            self.c.record(transport="rpc-event", connection=self.name, notification=message)
            return None
        return message

    async def receive(self, timeout=5.0):
        """The next reply (events that come first are kept in self.events)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError()
            message = await self.read(left)
            if message is not None:
                return message

    def check_reply(self, reply, method, error, what):
        if error is None:
            if "result" not in reply:
                self.c.fail(f"{what}: wanted a result, got {reply}")
                return None
            if method in METHOD_NAMES:
                self.c.valid(f"methods.schema.json#/$defs/{method}Result", reply["result"], what + " (result)")
            return reply["result"]
        e = reply.get("error", {})
        got = (e.get("code"), e.get("data", {}).get("code"))
        self.c.errors_seen["rpc"].add(got[1])
        self.c.expect(got == (ERRORS[error][1], error), f"{what}: got {got}, wanted {(ERRORS[error][1], error)}: {reply}")
        return e

    async def call(self, method, params=None, *, error=None, valid=None, label=None):
        rid = self.next_id
        self.next_id += 1
        request = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            request["params"] = params
        what = f"RPC[{self.name}] {method} {label or json.dumps(params)[:80]}"
        if valid is None:
            valid = error not in ("invalid_params", "method_not_found")
        await self.send_text(json.dumps(request), valid=valid, what=what)
        self.c.calls["rpc"] += 1
        self.c.methods["rpc"].add(method)
        reply = await self.receive()
        self.c.record(transport="rpc", connection=self.name, method=method, label=label, request=request, reply=reply)
        self.c.expect(isinstance(reply, dict) and reply.get("id") == rid, f"{what}: reply to another id: {reply}")
        return self.check_reply(reply, method, error, what)

    async def quiet(self, seconds=0.3):
        """Reads what arrives for a while; a reply (not an event) here is a failure."""
        try:
            while True:
                reply = await self.receive(seconds)
                self.c.fail(f"RPC[{self.name}] unexpected reply: {reply}")
        except asyncio.TimeoutError:
            pass

    async def wait_event(self, kind, timeout=5.0, **fields):
        """The first event of this type (and these fields) received, waiting for it if need be."""
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                p = e["params"]
                if p["type"] == kind and all(p.get(k) == v for k, v in fields.items()):
                    del self.events[i]
                    return p
            left = deadline - time.monotonic()
            if left <= 0:
                self.c.fail(f"RPC[{self.name}]: no {kind} event {fields}; have {[e['params'] for e in self.events]}")
                return None
            try:
                reply = await self.read(left)
                if reply is not None:
                    self.c.fail(f"RPC[{self.name}] unexpected reply while waiting for {kind}: {reply}")
            except asyncio.TimeoutError:
                pass


# ------------------------------------------------------------------------------------------------
# A participant on /rtc (no media)

class Participant:
    def __init__(self, checker, name):
        self.c = checker
        self.name = name
        self.messages = []
        self.next_id = 1

    async def join(self, port, token):
        self.ws = await websockets.connect(f"ws://127.0.0.1:{port}/rtc", max_size=1 << 22, open_timeout=10)
        result = await self.request({"type": "join", "token": token})
        self.id = result["participant"]["id"]
        return result

    async def request(self, message):
        message = dict(message, id=self.next_id)
        self.next_id += 1
        await self.ws.send(json.dumps(message))
        async with asyncio.timeout(5):
            while True:
                reply = json.loads(await self.ws.recv())
                if reply.get("id") == message["id"]:
                    if reply.get("type") != "response":
                        raise Failure(f"{self.name}: {message['type']} failed: {reply}")
                    return reply["result"]
                self.messages.append(reply)

    async def until_closed(self, timeout=5.0):
        """Every message until the server closes the socket; (messages, close code, server closed first)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self.messages.append(json.loads(await self.ws.recv()))
        except websockets.ConnectionClosed:
            pass
        except TimeoutError:
            self.c.fail(f"{self.name}: its WebSocket is still open after {timeout} s")
            await self.ws.close()
        proto = self.ws.protocol
        rcvd = proto.close_rcvd
        return self.messages, rcvd.code if rcvd else None, bool(proto.close_rcvd_then_sent)

    def saw(self, kind):
        return [m for m in self.messages if m.get("type") == kind]


# ------------------------------------------------------------------------------------------------
# The scenario

async def scenario(c, binary):
    server = Server(binary)
    try:
        await main_server(c, server)
    except Exception:
        print(server.tail())
        raise
    finally:
        server.stop()
    # createToken with no JWT secret: unavailable; no API key: the API is off.
    server = Server(binary, jwt_secret="")
    try:
        http = HTTP(c, server.port)
        await http.call("createToken", {"room": "demo", "identity": "ada"}, error="unavailable")
        rpc = await RPC(c, "nosecret").open(server.port)
        await rpc.call("createToken", {"room": "demo", "identity": "ada"}, error="unavailable")
        await rpc.ws.close()
    finally:
        server.stop()
    server = Server(binary, api_key="")
    try:
        http = HTTP(c, server.port)
        e = await http.call("listRooms", {}, error="unauthorized", key="", label="(API off)")
        c.expect("off" in (e or {}).get("message", ""), f"API off: the message says so: {e}")
        rpc = await RPC(c, "off").open(server.port, header=False)
        await rpc.call("authenticate", {"apiKey": API_KEY}, error="unauthorized", label="(API off)")
        await rpc.ws.close()
    finally:
        server.stop()


async def main_server(c, server):
    port = server.port
    http = HTTP(c, port)

    # --- Authentication -------------------------------------------------------------------------
    await http.call("listRooms", {}, error="unauthorized", key=None, label="(no Authorization)")
    await http.call("listRooms", {}, error="unauthorized", key="not-the-key-0123456789", label="(wrong key)")
    await http.call("listRooms", {}, error="unauthorized", auth=f"Basic {API_KEY}", label="(not Bearer)")
    every = await RPC(c, "all").open(port, header=False)
    await every.call("listRooms", error="unauthorized", label="(before authenticate)")
    await every.call("authenticate", {"apiKey": "not-the-key-0123456789"}, error="unauthorized")
    await every.call("authenticate", {}, error="invalid_params")
    r = await every.call("authenticate", {"apiKey": API_KEY})
    c.expect(r == {"authenticated": True}, f"authenticate: {r}")
    r = await every.call("subscribe")
    c.expect(r == {"subscribed": True, "room": None}, f"subscribe (all): {r}")
    demo = await RPC(c, "demo").open(port)  # authenticated by the header
    r = await demo.call("subscribe", {"room": "demo"})
    c.expect(r == {"subscribed": True, "room": "demo"}, f"subscribe demo: {r}")

    # --- Rooms ----------------------------------------------------------------------------------
    r = await http.call("createRoom", {"room": "demo", "maxParticipants": 3, "emptyTimeoutSeconds": 120})
    c.expect(r and r["created"] is True and r["room"]["maxParticipants"] == 3 and r["room"]["emptyTimeoutSeconds"] == 120,
             f"createRoom: {r}")
    for conn in (every, demo):
        await conn.wait_event("roomCreated", room="demo")
    r = await demo.call("createRoom", {"room": "demo", "maxParticipants": 3, "emptyTimeoutSeconds": 120})
    c.expect(r and r["created"] is False, f"createRoom again: {r}")
    r = await every.call("createRoom", {"room": "lobby"})
    c.expect(r and r["created"] is True and r["room"]["maxParticipants"] == 0, f"createRoom lobby: {r}")
    await every.wait_event("roomCreated", room="lobby")
    r = await http.call("listRooms")
    c.expect(r and [x["name"] for x in r["rooms"]] == ["demo", "lobby"], f"listRooms (HTTP, no body): {r}")
    r = await demo.call("listRooms", {})
    c.expect(r and [x["name"] for x in r["rooms"]] == ["demo", "lobby"], f"listRooms (RPC): {r}")
    r = await http.call("getRoom", {"room": "demo"})
    c.expect(r and r["room"]["participants"] == [] and r["room"]["tracks"] == [], f"getRoom empty: {r}")

    # --- Tokens and participants ----------------------------------------------------------------
    t_ada = await http.call("createToken", {"room": "demo", "identity": "ada", "name": "Ada Lovelace",
                                            "grants": {"publish": True, "subscribe": True, "publishData": False},
                                            "ttlSeconds": 600})
    c.expect(t_ada and abs(t_ada["expiresAt"] - time.time() - 600) < 30, f"createToken expiresAt: {t_ada}")
    t_bob = await demo.call("createToken", {"room": "demo", "identity": "bob", "grants": {"publish": False}})
    c.expect(t_bob and abs(t_bob["expiresAt"] - time.time() - 6 * 3600) < 30, f"createToken default ttl: {t_bob}")
    t_cy = await every.call("createToken", {"room": "demo", "identity": "cy", "name": "Cy"})

    ada = Participant(c, "ada")
    joined = await ada.join(port, t_ada["token"])
    c.expect(joined["participant"]["identity"] == "ada", f"ada joined: {joined}")
    p = await demo.wait_event("participantJoined")
    c.expect(p and p["participant"] == {"id": ada.id, "identity": "ada", "name": "Ada Lovelace"}, f"participantJoined: {p}")
    await every.wait_event("participantJoined")
    with open(OFFER) as f:
        offer = f.read()
    published = await ada.request({"type": "publish", "sdp": offer, "tracks": [
        {"mid": "0", "source": "microphone", "name": "mic"}, {"mid": "1", "source": "camera"}]})
    tracks = {t["source"]: t["id"] for t in published["tracks"]}
    audio, video = tracks.get("microphone"), tracks.get("camera")
    c.expect(audio and video, f"ada published two tracks: {published}")
    for _ in range(2):
        p = await demo.wait_event("trackPublished")
        c.expect(p and p["track"]["participantId"] == ada.id, f"trackPublished: {p}")
    bob = Participant(c, "bob")
    await bob.join(port, t_bob["token"])
    await demo.wait_event("participantJoined")
    cy = Participant(c, "cy")
    await cy.join(port, t_cy["token"])
    await demo.wait_event("participantJoined")

    r = await demo.call("getRoom", {"room": "demo"})
    room = r["room"] if r else {}
    c.expect(room.get("participantCount") == 3 and room.get("trackCount") == 2 and len(room.get("tracks", [])) == 2,
             f"getRoom: {room}")
    r = await http.call("listParticipants", {"room": "demo"})
    people = {x["identity"]: x for x in (r or {}).get("participants", [])}
    c.expect(set(people) == {"ada", "bob", "cy"}, f"listParticipants: {r}")
    c.expect(people.get("bob", {}).get("grants") == {"publish": False, "subscribe": True, "publishData": True},
             f"bob's grants from createToken: {people.get('bob')}")
    c.expect(len(people.get("ada", {}).get("tracks", [])) == 2 and people.get("ada", {}).get("name") == "Ada Lovelace",
             f"ada in listParticipants: {people.get('ada')}")
    await demo.call("listParticipants", {"room": "demo"})
    r = await http.call("getServerStats", {})
    c.expect(r and r["rooms"] >= 1 and r["participants"] >= 3 and len(r["mediaLoops"]) >= 1 and "httpConnections" in r,
             f"getServerStats: {r}")
    r = await http.call("getStats", {"room": "demo"})
    c.expect(r and len(r["participants"]) == 3, f"getStats: {r}")
    r = await demo.call("getServerStats", {})
    c.expect(r and r["signalingSessions"] >= 3, f"getServerStats over JSON-RPC: {r}")
    r = await demo.call("getStats", {"room": "demo", "participantId": ada.id})
    c.expect(r and [x["participantId"] for x in r["participants"]] == [ada.id]
             and len(r["participants"][0]["published"]) == 2, f"getStats of ada: {r}")

    # --- Muting: by the server (both transports), by the participant -----------------------------
    r = await demo.call("muteTrack", {"room": "demo", "trackId": audio, "muted": True})
    c.expect(r == {"trackId": audio, "muted": True}, f"muteTrack: {r}")
    p = await demo.wait_event("trackMuted")
    c.expect(p and p["trackId"] == audio and p["muted"] is True and p["by"] == "server", f"trackMuted (server): {p}")
    r = await http.call("muteTrack", {"room": "demo", "trackId": audio, "muted": False})
    c.expect(r == {"trackId": audio, "muted": False}, f"muteTrack off: {r}")
    p = await demo.wait_event("trackMuted")
    c.expect(p and p["muted"] is False and p["by"] == "server", f"trackMuted unmute: {p}")
    await ada.request({"type": "mute", "trackId": video, "muted": True})
    p = await demo.wait_event("trackMuted")
    c.expect(p and p["trackId"] == video and p["by"] == "participant", f"trackMuted (participant): {p}")
    r = await http.call("getRoom", {"room": "demo"})
    muted = {t["id"]: t["muted"] for t in (r or {}).get("room", {}).get("tracks", [])}
    c.expect(muted == {audio: False, video: True}, f"getRoom after muting: {muted}")

    # --- sendData: nobody here joined with data channels, so it is queued for nobody (delivery to real data
    # channels and the dataReceived event are checked by data_aiortc.py) ------------------------------------
    r = await http.call("sendData", {"room": "demo", "text": "hello everyone"})
    c.expect(r == {"queued": 0}, f"sendData (nobody has data channels): {r}")
    r = await demo.call("sendData", {"room": "demo", "base64": "AAEC", "identities": ["ada"], "reliable": False})
    c.expect(r == {"queued": 0}, f"sendData binary to ada: {r}")

    # --- A notification (no id) is run, never answered; a batch is answered in order ------------
    note = {"jsonrpc": "2.0", "method": "muteTrack", "params": {"room": "demo", "trackId": audio, "muted": True}}
    await demo.send_text(json.dumps(note), what="notification muteTrack")
    c.calls["rpc"] += 1
    p = await demo.wait_event("trackMuted")
    c.expect(p and p["trackId"] == audio and p["muted"] is True, f"the notification ran: {p}")
    bad_note = {"jsonrpc": "2.0", "method": "getRoom", "params": {"room": "nowhere"}}
    await demo.send_text(json.dumps(bad_note), what="failing notification")
    c.calls["rpc"] += 1
    await demo.quiet(0.3)
    batch = [
        {"jsonrpc": "2.0", "method": "muteTrack", "params": {"room": "demo", "trackId": audio, "muted": False}},
        {"jsonrpc": "2.0", "id": "b1", "method": "getRoom", "params": {"room": "demo"}},
        {"jsonrpc": "2.0", "id": "b2", "method": "getRoom", "params": {"room": "nowhere"}},
        {"jsonrpc": "2.0", "id": "b3", "method": "listParticipants", "params": {"room": "demo"}},
    ]
    await demo.send_text(json.dumps(batch), what="batch")
    c.calls["rpc"] += len(batch)
    replies = await demo.receive()
    c.record(transport="rpc", connection="demo", method="(batch)", request=batch, reply=replies)
    c.expect(isinstance(replies, list) and [x.get("id") for x in replies] == ["b1", "b2", "b3"], f"batch replies: {replies}")
    if isinstance(replies, list) and len(replies) == 3:
        demo.check_reply(replies[0], "getRoom", None, "batch getRoom")
        demo.check_reply(replies[1], "getRoom", "not_found", "batch getRoom nowhere")
        demo.check_reply(replies[2], "listParticipants", None, "batch listParticipants")
    await demo.wait_event("trackMuted", muted=False)

    # --- The participant unpublishes a track -----------------------------------------------------
    await ada.request({"type": "unpublish", "trackId": video})
    p = await demo.wait_event("trackUnpublished")
    c.expect(p and p["trackId"] == video and p["participantId"] == ada.id, f"trackUnpublished: {p}")

    # --- Removing participants -------------------------------------------------------------------
    r = await http.call("removeParticipant", {"room": "demo", "identity": "bob"})
    c.expect(r == {"participantId": bob.id}, f"removeParticipant bob: {r}")
    msgs, code, server_closed = await bob.until_closed()
    c.expect(bob.saw("removed") and msgs[-1] == {"type": "removed", "reason": "removed"},
             f"bob gets removed last: {[m.get('type') for m in msgs]} {msgs[-1:]}")
    c.expect(code == 1000 and server_closed, f"bob's WebSocket is closed by the server: code {code}, server first {server_closed}")
    p = await demo.wait_event("participantLeft")
    c.expect(p and p["participantId"] == bob.id and p["reason"] == "removed", f"participantLeft: {p}")
    await every.wait_event("participantLeft")
    r = await demo.call("removeParticipant", {"room": "demo", "participantId": cy.id})
    c.expect(r == {"participantId": cy.id}, f"removeParticipant cy by id: {r}")
    msgs, code, server_closed = await cy.until_closed()
    c.expect(msgs and msgs[-1] == {"type": "removed", "reason": "removed"} and code == 1000 and server_closed,
             f"cy removed and closed: {msgs[-1:]} {code} {server_closed}")
    await demo.wait_event("participantLeft", participantId=cy.id, reason="removed")

    # --- Every error of every method, on both transports -----------------------------------------
    long = "x" * 129
    cases = [
        ("createRoom", {}, "invalid_params"),
        ("createRoom", {"room": ""}, "invalid_params"),
        ("createRoom", {"room": 7}, "invalid_params"),
        ("createRoom", {"room": long}, "invalid_params"),
        ("createRoom", {"room": "a\nb"}, "invalid_params"),
        ("createRoom", {"room": "b", "maxParticipants": "two"}, "invalid_params"),
        ("createRoom", {"room": "b", "maxParticipants": -1}, "invalid_params"),
        ("createRoom", {"room": "b", "maxParticipants": 1.5}, "invalid_params"),
        ("createRoom", {"room": "b", "emptyTimeoutSeconds": 0}, "invalid_params"),
        ("createRoom", {"room": "b", "emptyTimeoutSeconds": 86401}, "invalid_params"),
        ("createRoom", {"room": "b", "emptyTimeoutSeconds": "60"}, "invalid_params"),
        ("getRoom", {}, "invalid_params"),
        ("getRoom", {"room": 7}, "invalid_params"),
        ("getRoom", {"room": "nowhere"}, "not_found"),
        ("closeRoom", {}, "invalid_params"),
        ("closeRoom", {"room": "nowhere"}, "not_found"),
        ("listParticipants", {}, "invalid_params"),
        ("listParticipants", {"room": "nowhere"}, "not_found"),
        ("removeParticipant", {"room": "demo"}, "invalid_params"),
        ("removeParticipant", {"room": "demo", "participantId": "PA_1", "identity": "ada"}, "invalid_params"),
        ("removeParticipant", {"room": "demo", "identity": 5}, "invalid_params"),
        ("removeParticipant", {"room": "demo", "participantId": "PA_999"}, "not_found"),
        ("removeParticipant", {"room": "demo", "identity": "nobody"}, "not_found"),
        ("removeParticipant", {"room": "nowhere", "identity": "ada"}, "not_found"),
        ("muteTrack", {"room": "demo", "trackId": "TR_1"}, "invalid_params"),
        ("muteTrack", {"room": "demo", "muted": True}, "invalid_params"),
        ("muteTrack", {"room": "demo", "trackId": "TR_1", "muted": "yes"}, "invalid_params"),
        ("muteTrack", {"room": "demo", "trackId": "TR_999", "muted": True}, "not_found"),
        ("muteTrack", {"room": "nowhere", "trackId": "TR_1", "muted": True}, "not_found"),
        ("createToken", {"room": "demo"}, "invalid_params"),
        ("createToken", {"identity": "x"}, "invalid_params"),
        ("createToken", {"room": "demo", "identity": ""}, "invalid_params"),
        ("createToken", {"room": "demo", "identity": "x", "ttlSeconds": 1}, "invalid_params"),
        ("createToken", {"room": "demo", "identity": "x", "ttlSeconds": 604801}, "invalid_params"),
        ("createToken", {"room": "demo", "identity": "x", "grants": True}, "invalid_params"),
        ("createToken", {"room": "demo", "identity": "x", "grants": {"publish": "no"}}, "invalid_params"),
        ("createToken", {"room": "demo", "identity": "x", "name": 3}, "invalid_params"),
        ("getStats", {}, "invalid_params"),
        ("getStats", {"room": "nowhere"}, "not_found"),
        ("getStats", {"room": "demo", "participantId": "PA_999"}, "not_found"),
        ("getStats", {"room": "demo", "participantId": 1}, "invalid_params"),
        ("sendData", {"text": "x"}, "invalid_params"),
        ("sendData", {"room": "demo"}, "invalid_params"),
        ("sendData", {"room": "demo", "text": "x", "base64": "AA=="}, "invalid_params"),
        ("sendData", {"room": "demo", "text": 5}, "invalid_params"),
        ("sendData", {"room": "demo", "base64": "not base64!"}, "invalid_params"),
        ("sendData", {"room": "demo", "text": "x", "identities": "ada"}, "invalid_params"),
        ("sendData", {"room": "demo", "text": "x", "identities": ["ada", ""]}, "invalid_params"),
        ("sendData", {"room": "demo", "text": "x", "reliable": "yes"}, "invalid_params"),
        ("sendData", {"room": "nowhere", "text": "x"}, "not_found"),
        ("fly", {}, "method_not_found"),
    ]
    for method, params, code in cases:
        await http.call(method, params, error=code)
        await every.call(method, params, error=code)
    # Params that are not an object.
    await http.call("listRooms", body=b"[1]", error="invalid_params", label="(params [1])")
    await every.call("listRooms", [1], error="invalid_params", valid=False, label="(params [1])")
    await every.call("subscribe", {"room": 5}, error="invalid_params")
    # HTTP: body not JSON, too large.
    await http.call("listRooms", body=b"{nope", error="parse_error", label="(not JSON)")
    await http.call("listRooms", body=json.dumps({"pad": "x" * (MAX_MESSAGE + 10)}).encode(), error="too_large",
                    label=f"(body over {MAX_MESSAGE} bytes)")

    # --- JSON-RPC protocol errors ----------------------------------------------------------------
    async def raw(text, code, valid, what, expect_id=None):
        await every.send_text(text, valid=valid, what=what)
        c.calls["rpc"] += 1
        reply = await every.receive()
        c.record(transport="rpc", connection="all", method="(raw)", label=what, request=text[:300], reply=reply)
        c.expect(isinstance(reply, dict) and reply.get("id") == expect_id, f"{what}: id {reply}")
        every.check_reply(reply if isinstance(reply, dict) else {}, None, code, f"RPC {what}")
    await raw("{nope", "parse_error", None, "not JSON")
    await raw('{"id": 40, "method": "listRooms"}', "invalid_request", False, "no jsonrpc", expect_id=40)
    await raw('{"jsonrpc": "1.0", "id": 41, "method": "listRooms"}', "invalid_request", False, "jsonrpc 1.0", expect_id=41)
    await raw('{"jsonrpc": "2.0", "id": 42}', "invalid_request", False, "no method", expect_id=42)
    await raw('{"jsonrpc": "2.0", "id": 43, "method": 5}', "invalid_request", False, "method not a string", expect_id=43)
    await raw('{"jsonrpc": "2.0", "id": true, "method": "listRooms"}', "invalid_request", False, "id true")
    await raw('{"jsonrpc": "2.0", "id": 1.5, "method": "listRooms"}', "invalid_request", False, "id 1.5")
    await raw(json.dumps({"jsonrpc": "2.0", "id": "i" * 129, "method": "listRooms"}), "invalid_request", False, "id too long")
    await raw('"listRooms"', "invalid_request", False, "not an object")
    await raw("[]", "invalid_request", False, "empty batch")
    await raw(json.dumps([{"jsonrpc": "2.0", "id": i, "method": "listRooms"} for i in range(33)]), "invalid_request",
              False, "batch of 33")
    await raw(json.dumps({"jsonrpc": "2.0", "id": 44, "method": "listRooms", "params": {"pad": "x" * MAX_MESSAGE}}),
              "too_large", False, f"message over {MAX_MESSAGE} bytes")
    await every.ws.send(json.dumps({"jsonrpc": "2.0", "id": 45, "method": "listRooms"}).encode())  # binary frame
    c.calls["rpc"] += 1
    reply = await every.receive()
    c.expect(reply.get("id") is None, f"binary: {reply}")
    every.check_reply(reply, None, "parse_error", "RPC binary message")
    # A batch of invalid elements: an error for each, with id null.
    await every.send_text("[1, 2]", valid=False, what="batch of non-objects")
    c.calls["rpc"] += 2
    replies = await every.receive()
    c.expect(isinstance(replies, list) and len(replies) == 2 and all(r.get("id") is None for r in replies), f"[1,2]: {replies}")
    for x in replies if isinstance(replies, list) else []:
        every.check_reply(x, None, "invalid_request", "RPC batch element 1")
    # A string id is echoed back.
    await every.send_text(json.dumps({"jsonrpc": "2.0", "id": "req-7", "method": "listRooms"}), what="string id")
    c.calls["rpc"] += 1
    reply = await every.receive()
    c.expect(reply.get("id") == "req-7", f"string id echoed: {reply}")
    every.check_reply(reply, "listRooms", None, "RPC listRooms (string id)")

    # --- An empty room closes after its timeout --------------------------------------------------
    await http.call("createRoom", {"room": "brief", "emptyTimeoutSeconds": 1})
    await every.wait_event("roomCreated", room="brief")
    p = await every.wait_event("roomClosed", timeout=5, room="brief")
    c.expect(p and p["reason"] == "empty_timeout", f"roomClosed empty_timeout: {p}")

    # --- Closing the room: the participant left sees it ------------------------------------------
    r = await demo.call("closeRoom", {"room": "demo"})
    c.expect(r == {"closed": True}, f"closeRoom: {r}")
    msgs, code, server_closed = await ada.until_closed()
    c.expect(msgs and msgs[-1] == {"type": "roomClosed", "reason": "closed"},
             f"ada gets roomClosed last: {[m.get('type') for m in msgs]} {msgs[-1:]}")
    c.expect(code == 1000 and server_closed, f"ada's WebSocket closed by the server: {code} {server_closed}")
    # The tracks still published go first (trackUnpublished), then roomClosed; no participantLeft.
    p = await demo.wait_event("trackUnpublished", trackId=audio)
    c.expect(p and p["participantId"] == ada.id, f"trackUnpublished of the closing room: {p}")
    p = await demo.wait_event("roomClosed")
    c.expect(p and p["reason"] == "closed", f"roomClosed event: {p}")
    await every.wait_event("roomClosed", room="demo")
    await http.call("getRoom", {"room": "demo"}, error="not_found", label="(after closeRoom)")
    await demo.call("closeRoom", {"room": "demo"}, error="not_found", label="(again)")
    r = await http.call("closeRoom", {"room": "lobby"})
    await every.wait_event("roomClosed", room="lobby")
    await demo.quiet(0.2)
    c.expect(not demo.events, f"the demo subscription saw only demo's events, and all were expected: {demo.events}")

    # --- unsubscribe: no more events --------------------------------------------------------------
    r = await every.call("unsubscribe")
    c.expect(r == {"subscribed": False}, f"unsubscribe: {r}")
    every.events.clear()
    await http.call("createRoom", {"room": "after"})
    await every.quiet(0.3)
    c.expect(not every.events, f"no events after unsubscribe: {every.events}")
    await demo.call("closeRoom", {"room": "after"})
    await demo.ws.close()

    # --- Rate limit: 100 messages/s per connection (bursts of 200) --------------------------------
    flood = await RPC(c, "flood").open(port)
    n = 300
    for i in range(n):
        await flood.send_text(json.dumps({"jsonrpc": "2.0", "id": i, "method": "unsubscribe"}), what="flood")
    c.calls["rpc"] += n
    limited = 0
    for _ in range(n):
        reply = await flood.receive()
        if "error" in reply:
            flood.check_reply(reply, None, "rate_limited", "RPC flood")
            limited += 1
        else:
            flood.check_reply(reply, "unsubscribe", None, "RPC flood")
    c.record(transport="rpc", connection="flood", method="(flood)", label=f"{n} messages at once", reply=f"{limited} rate_limited")
    # 200 pass at once, then 100 more per second while the rest are sent.
    c.expect(1 <= limited <= n - 200, f"rate limited: {limited} of {n}")
    await asyncio.sleep(1.0)
    await flood.call("listRooms", label="(after the flood)")
    await flood.ws.close()
    await every.ws.close()


def run_inner(binary, record):
    c = Checker()
    started = time.monotonic()

    async def bounded():
        await asyncio.wait_for(scenario(c, binary), DEADLINE_SECONDS - 5)
    try:
        asyncio.run(bounded())
    except asyncio.TimeoutError:
        c.fail(f"the test did not finish in {DEADLINE_SECONDS - 5} s")
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        c.fail(f"aborted: {e!r}")
    if record:
        with open(record, "w") as f:
            json.dump(c.traffic, f, indent=1)
    all_methods = set(METHOD_NAMES)
    c.expect(c.methods["rpc"] >= all_methods, f"methods not called over JSON-RPC: {all_methods - c.methods['rpc']}")
    c.expect(c.methods["http"] >= all_methods - {"authenticate", "subscribe", "unsubscribe"},
             f"methods not called over HTTP: {all_methods - c.methods['http']}")
    wanted_events = {"roomCreated", "roomClosed", "participantJoined", "participantLeft", "trackPublished",
                     "trackUnpublished", "trackMuted"}
    c.expect(set(c.events) >= wanted_events, f"event types not seen: {wanted_events - set(c.events)}")
    wanted_errors = set(ERRORS) - {"internal"}
    c.expect(c.errors_seen["rpc"] >= wanted_errors, f"errors not seen over JSON-RPC: {wanted_errors - c.errors_seen['rpc']}")
    c.expect(c.errors_seen["http"] >= wanted_errors - {"invalid_request", "rate_limited"},
             f"errors not seen over HTTP: {wanted_errors - c.errors_seen['http']}")
    print(f"calls: {c.calls['http']} over HTTP ({len(c.methods['http'])} methods), {c.calls['rpc']} over JSON-RPC "
          f"({len(c.methods['rpc'])} methods)")
    print(f"events: {sum(c.events.values())} notifications: " + ", ".join(f"{k} {v}" for k, v in sorted(c.events.items())))
    print(f"errors seen: HTTP {sorted(x for x in c.errors_seen['http'] if x)}; JSON-RPC {sorted(x for x in c.errors_seen['rpc'] if x)}")
    print(f"schema: {c.validated} messages validated, {c.rejected} wrong-on-purpose requests rejected; {c.checks} checks")
    print(f"{'FAILED' if c.failures else 'passed'}: {len(c.failures)} failures in {time.monotonic() - started:.1f} s")
    return 1 if c.failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/debug/starling"))
    ap.add_argument("--record", help="write every exchange to this JSON file")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    record = os.path.abspath(args.record) if args.record else None
    if args.inner or sdppeers.is_isolated():
        if not sdppeers.is_isolated():
            raise SystemExit("refusing to run: interfaces other than lo exist")
        return run_inner(os.path.abspath(args.binary), record)
    argv = [sys.executable, os.path.abspath(__file__), "--inner", "--binary", os.path.abspath(args.binary)]
    if record:
        argv += ["--record", record]
    return sdppeers.reexec_isolated(argv)


if __name__ == "__main__":
    sys.exit(main())
