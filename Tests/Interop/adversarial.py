#!/usr/bin/env python3
"""The adversarial suite: a stranger or a participant tries to starve, confuse or outlive Starling, and
every limit of docs/OPERATIONS.md ("Limits and abuse", "Resuming a participant", "Stopping") is checked from
outside, as a client sees it, with memory, descriptors and connections measured from /proc where they are the
point.

Inside a network namespace holding only `lo` (re-executes itself under `unshare --net`), three `starling serve`
runs on 127.0.0.1, with small limits through STARLING_* variables so that every wait is short:
  B  first, on its fresh heap, ICE-TCP framing and connection caps with RSS (8); then an echo token: /v1/echo
     without or with a wrong bearer (401); an aiortc echo peer that is SIGKILLed once its media flows, whose
     session must be gone after RFC 7675 consent expiry plus media.disconnectedTimeoutSeconds (case 12, probed
     40 s after the kill while the A cases run); at the end SIGTERM with a participant and a control subscriber
     in a room (case 9).
  A  one case after the other: echo session limits and lifetime with RSS (3, first, on a fresh heap), /v1/echo
     simulcast, m-line and size limits (1, 2), origin checks (7), /rtc and /control sockets that never join or
     authenticate (5), half-sent and trickled HTTP requests and connections per address (6), /rtc track limits
     and subscriber offer sizes (4), resume takeover and grants (10), floods of large messages (13), and last a
     zero-length two-byte audio-level extension through /v1/echo (11).
  C  /v1/echo turned off (404) and a small http.maxConnections.
Settings the binary does not know (an older one refuses to start with them) are dropped and the checks that
depend on them fail with "setting not supported". Prints one line per check with what was measured and
'N passed, N failed'; exits non-zero on any failure. Bounded: every case has a deadline; about 70 s in all.

    python3 Tests/Interop/adversarial.py [--binary .build/debug/starling]
"""

import asyncio
import collections
import json
import os
import signal
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import attack  # noqa: E402
from attack import (API_KEY, ECHO_TOKEN, JWT_SECRET, RTC, EchoPeer, Server, WSClient, close_all,  # noqa: E402
                    count_simulcast_layers, echo_delete, echo_post, error_code, fd_count, http_request,
                    largest_echo_offer, offer, open_tcp, plain_echo_offer, RawWebSocket, stun_like,
                    tcp_connections, watch_closed, ws_upgrade_status)
from harness import Checks, finish, isolated_main  # noqa: E402

# Small limits of the A run (seconds): every deadline below is one of these plus MARGIN.
REQUEST_TIMEOUT = 2
JOIN_TIMEOUT = 2
AUTH_TIMEOUT = 2
DISCONNECTED_TIMEOUT = 3
ECHO_SECONDS = 5
MARGIN = 3
# Defaults of docs/OPERATIONS.md the cases rely on (also set explicitly, so the cases do not depend on a file).
PER_ADDRESS = 64
ECHO_MAX = 16
ECHO_PER_ADDRESS = 2
TRACKS_PER_PARTICIPANT = 8
TRACKS_PER_ROOM = 48
SENDING_SECTIONS = 8
MEDIA_SECTIONS = 32
SIMULCAST_LAYERS = 4
SDP_BYTES = 98304
MAX_MESSAGE = 131072
TCP_PER_ADDRESS = 16
TCP_MAX_FRAME = 4096
CONSENT_SECONDS = 30
SHUTDOWN_GRACE = 3
TOTAL_SECONDS = 230
GONE = (404, 410)  # DELETE /v1/echo/{id} of a session that already ended

ENV_COMMON = {
    "STARLING_HTTP_HOST": "127.0.0.1",
    "STARLING_HTTP_WEB_ROOT": "",
    "STARLING_MEDIA_EVENT_LOOPS": "1",
    "STARLING_MEDIA_PORT_MODE": "single-port",
    "STARLING_AUTH_DEV_TOKENS": "true",
    "STARLING_AUTH_JWT_SECRET": JWT_SECRET,
    "STARLING_CONTROL_API_KEY": API_KEY,
    "STARLING_LOG_LEVEL": "info",
}

ENV_A = {
    **ENV_COMMON,
    "STARLING_SHUTDOWN_GRACE_PERIOD_SECONDS": "2",
    "STARLING_HTTP_REQUEST_TIMEOUT_SECONDS": str(REQUEST_TIMEOUT),
    "STARLING_HTTP_MAX_CONNECTIONS_PER_ADDRESS": str(PER_ADDRESS),
    "STARLING_SIGNALING_JOIN_TIMEOUT_SECONDS": str(JOIN_TIMEOUT),
    "STARLING_SIGNALING_MAX_MESSAGE_BYTES": str(MAX_MESSAGE),
    "STARLING_CONTROL_AUTHENTICATION_TIMEOUT_SECONDS": str(AUTH_TIMEOUT),
    # Not the short disconnected timeout here: case 4's subscribers answer by hand and never connect ICE, and a
    # participant whose subscribing connection ends is removed (media_timeout).
    "STARLING_ECHO_SESSION_SECONDS": str(ECHO_SECONDS),
    "STARLING_ECHO_MAX_SESSIONS": str(ECHO_MAX),
    "STARLING_ECHO_MAX_SESSIONS_PER_ADDRESS": str(ECHO_PER_ADDRESS),
    "STARLING_LIMITS_TRACKS_PER_PARTICIPANT": str(TRACKS_PER_PARTICIPANT),
    "STARLING_LIMITS_TRACKS_PER_ROOM": str(TRACKS_PER_ROOM),
    "STARLING_LIMITS_SENDING_SECTIONS_PER_OFFER": str(SENDING_SECTIONS),
    "STARLING_LIMITS_MEDIA_SECTIONS_PER_OFFER": str(MEDIA_SECTIONS),
    "STARLING_LIMITS_SIMULCAST_LAYERS": str(SIMULCAST_LAYERS),
    "STARLING_LIMITS_SDP_BYTES": str(SDP_BYTES),
}

ENV_B = {
    **ENV_COMMON,
    "STARLING_SHUTDOWN_GRACE_PERIOD_SECONDS": str(SHUTDOWN_GRACE),
    "STARLING_ECHO_TOKEN": ECHO_TOKEN,
    "STARLING_ECHO_SESSION_SECONDS": "600",
    "STARLING_MEDIA_DISCONNECTED_TIMEOUT_SECONDS": str(DISCONNECTED_TIMEOUT),
    "STARLING_MEDIA_TCP_CONNECTIONS_PER_ADDRESS": str(TCP_PER_ADDRESS),
    "STARLING_MEDIA_TCP_MAX_FRAME_BYTES": str(TCP_MAX_FRAME),
}

ENV_C = {
    **ENV_COMMON,
    "STARLING_SHUTDOWN_GRACE_PERIOD_SECONDS": "1",
    "STARLING_ECHO_ENABLED": "false",
    "STARLING_HTTP_MAX_CONNECTIONS": "20",
}


class Suite:
    def __init__(self, checks):
        self.checks = checks
        self.servers = []
        self.background = []      # callables that report checks watched in the background
        self.A = self.B = self.C = None

    def check(self, name, ok, detail, server=None, needs=()):
        """A check; when it fails and `server` refused one of the settings in `needs`, the message says so."""
        missing = server.missing(*needs) if server is not None else []
        if not ok and missing:
            detail += f" [setting not supported by this binary: {', '.join(missing)}]"
        return self.checks.check(name, ok, detail)

    def failed(self, name, e):
        traceback.print_exc()
        self.checks.check(name, False, f"{type(e).__name__}: {e}")


def mb(kb):
    return f"{kb / 1024:.1f} MB"


def fresh(base, i):
    """The i-th source address of a block: 127.<base>.<1 + i // 200>.<1 + i % 200>."""
    return f"127.{base}.{1 + i // 200}.{1 + i % 200}"


# ------------------------------------------------------------------------------------------------------------
# 1, 2: /v1/echo offers over the limits

def echo_try(server, sdp, source):
    """POSTs an offer; a session it creates is deleted at once. Returns (status, body, layers, m-lines)."""
    status, headers, body = echo_post(server.port, sdp, source)
    layers, mlines = 0, 0
    if status == 201:
        layers, mlines = count_simulcast_layers(body), body.count("\nm=")
        if headers.get("Location"):
            echo_delete(server.port, headers["Location"])
    return status, body.strip()[:120], layers, mlines


def refused(result, want=400):
    status, body, _, _ = result
    return status == want and len(body) > 0


def describe(result):
    status, body, layers, mlines = result
    if status == 201:
        return f"201 answered with {mlines} m-lines, {layers} simulcast layers"
    return f"{status} {body!r}"


def case1_simulcast(s):
    A = s.A
    base = echo_try(A, plain_echo_offer(), "127.1.0.1")
    s.check("1.0 echo: a plain audio+video offer is answered (baseline)", base[0] == 201, describe(base))
    rids = [f"r{i}" for i in range(48)]
    r48 = echo_try(A, offer([("audio", "0", "sendrecv", {}), ("video", "1", "sendrecv", {"rids": rids})]), "127.1.0.2")
    s.check("1a echo: a video m-line with 48 simulcast rids is refused (400 with a message)", refused(r48),
            f"{describe(r48)}; limits.simulcastLayers={SIMULCAST_LAYERS}", A, ["STARLING_LIMITS_SIMULCAST_LAYERS"])
    dup1 = echo_try(A, offer([("video", "0", "sendrecv", {"rid_lines": ["a=rid:a send"],
                                                               "simulcast": "a=simulcast:send a;a"})]), "127.1.0.3")
    dup2 = echo_try(A, offer([("video", "0", "sendrecv", {"rid_lines": ["a=rid:a send", "a=rid:a send"],
                                                               "simulcast": "a=simulcast:send a;a"})]), "127.1.0.4")
    s.check("1b echo: duplicated rids (a=simulcast:send a;a) are refused", refused(dup1) and refused(dup2),
            f"one a=rid line: {describe(dup1)}; two a=rid:a lines: {describe(dup2)}")
    norid = echo_try(A, offer([("video", "0", "sendrecv", {"rid_lines": ["a=rid:a send"],
                                                                "simulcast": "a=simulcast:send a;b"})]), "127.1.0.5")
    recv = echo_try(A, offer([("video", "0", "sendrecv", {"rid_lines": ["a=rid:a send", "a=rid:b recv"],
                                                               "simulcast": "a=simulcast:send a;b"})]), "127.1.0.6")
    s.check("1c echo: an a=simulcast rid without its a=rid:<id> send line is refused (bad_sdp/400)",
            refused(norid) and refused(recv),
            f"rid b missing: {describe(norid)}; rid b declared recv: {describe(recv)}")
    sim = echo_try(A, offer([("video", "0", "sendrecv", {"sim_ssrcs": list(range(1001, 1009))})]), "127.1.0.7")
    s.check("1d echo: an a=ssrc-group:SIM of 8 SSRCs is refused (simulcastLayers counts them too)", refused(sim),
            describe(sim), A, ["STARLING_LIMITS_SIMULCAST_LAYERS"])


def case2_mlines(s):
    A = s.A
    r40 = echo_try(A, offer([("audio" if i % 2 else "video", str(i), "sendrecv", {}) for i in range(40)]), "127.1.1.1")
    s.check("2a echo: an offer with 40 sending m-lines is refused (400)", refused(r40),
            f"{describe(r40)}; limits.sendingSectionsPerOffer={SENDING_SECTIONS}, "
            f"mediaSectionsPerOffer={MEDIA_SECTIONS}", A, ["STARLING_LIMITS_SENDING_SECTIONS_PER_OFFER"])
    r12 = echo_try(A, offer([("audio" if i % 2 else "video", str(i), "sendrecv", {}) for i in range(12)]), "127.1.1.2")
    s.check(f"2b echo: 12 sending m-lines (over sendingSectionsPerOffer {SENDING_SECTIONS}) are refused (400)",
            refused(r12), describe(r12), A, ["STARLING_LIMITS_SENDING_SECTIONS_PER_OFFER"])
    r33 = echo_try(A, offer([("audio", "0", "sendrecv", {})] +
                            [("audio", str(i), "inactive", {}) for i in range(1, 33)]), "127.1.1.3")
    s.check(f"2c echo: 33 m-sections, one sending (over mediaSectionsPerOffer {MEDIA_SECTIONS}), are refused (400)",
            refused(r33), describe(r33), A, ["STARLING_LIMITS_MEDIA_SECTIONS_PER_OFFER"])
    sdp = offer([("audio", "0", "sendrecv", {}), ("video", "1", "sendrecv", {})], pad_to=SDP_BYTES + 2000)
    big = echo_try(A, sdp, "127.1.1.4")
    s.check(f"2d echo: an SDP of {len(sdp)} bytes (over limits.sdpBytes {SDP_BYTES}) gets 413", big[0] == 413,
            describe(big), A, ["STARLING_LIMITS_SDP_BYTES"])


# ------------------------------------------------------------------------------------------------------------
# 7: Origin

def case7_origin(s):
    A = s.A
    own = f"http://127.0.0.1:{A.port}"
    foreign = ["http://evil.example", "null", f"http://127.0.0.1:{A.port}.evil.example", f"http://127.0.0.1:{A.port + 1}"]
    bad, good = {}, {}
    for path in ("/rtc", "/control"):
        for i, origin in enumerate(foreign):
            bad[(path, origin)] = ws_upgrade_status(A.port, path, origin=origin, source=f"127.1.7.{1 + i}")
        good[(path, own)] = ws_upgrade_status(A.port, path, origin=own, source="127.1.7.10")
        good[(path, None)] = ws_upgrade_status(A.port, path, origin=None, source="127.1.7.11")
    s.check("7a /rtc and /control upgrades from a foreign Origin are refused with 400 and no WebSocket (no 101)",
            all(v == 400 for v in bad.values()),
            "; ".join(f"{p} Origin {o}: {v}" for (p, o), v in bad.items()) + " (400 wanted)")
    s.check("7b /rtc and /control upgrades with the server's own Origin, or none, are accepted (101)",
            all(v == 101 for v in good.values()),
            "; ".join(f"{p} Origin {o or '(none)'}: {v}" for (p, o), v in good.items()))


# ------------------------------------------------------------------------------------------------------------
# 5: sockets that never join or authenticate

async def case5_idle_sockets(s):
    A = s.A
    rtc_url, control_url = f"ws://127.0.0.1:{A.port}/rtc", f"ws://127.0.0.1:{A.port}/control"
    before = tcp_connections(A.pid, A.port)

    async def opened(url, i, block):
        c = WSClient(f"idle{i}")
        await c.open(url, source=fresh(block, i // 40))
        return c

    results = await asyncio.gather(*(opened(rtc_url, i, 20) for i in range(200)), return_exceptions=True)
    rtc = [c for c in results if isinstance(c, WSClient)]
    errors = [r for r in results if not isinstance(r, WSClient)]
    control = [await opened(control_url, 0, 21), await opened(control_url, 40, 21)]
    held = tcp_connections(A.pid, A.port)

    async def keep_pinging(c, message):
        n = 0
        while not c.closed.is_set():
            n += 1
            try:
                await c.send({**message, "id": f"keep-{n}"})
            except Exception:
                return
            await asyncio.sleep(0.5)

    # Ten /rtc sockets ping (allowed before join) and one /control socket calls listRooms: neither is a join.
    tasks = [asyncio.ensure_future(keep_pinging(c, {"type": "ping"})) for c in rtc[:10]]
    tasks.append(asyncio.ensure_future(keep_pinging(control[1], {"jsonrpc": "2.0", "method": "listRooms"})))
    limit = max(JOIN_TIMEOUT, AUTH_TIMEOUT) + MARGIN
    everyone = rtc + control
    last_open = max(c.opened_at for c in everyone)
    while time.monotonic() < last_open + limit and not all(c.closed.is_set() for c in everyone):
        await asyncio.sleep(0.1)
    after = tcp_connections(A.pid, A.port)
    for t in tasks:
        t.cancel()
    in_time = [c for c in rtc if c.closed_at is not None and c.closed_at - c.opened_at <= JOIN_TIMEOUT + MARGIN]
    codes = collections.Counter(c.close_code for c in rtc)
    told = sum(1 for c in rtc if any(error_code(m) == "join_timeout" for _, m in c.messages))
    spans = sorted(c.closed_at - c.opened_at for c in in_time)
    span = f"{spans[0]:.1f}-{spans[-1]:.1f} s after opening" if spans else "none closed"
    s.check(f"5a 200 /rtc sockets that never join (10 of them pinging) are closed within joinTimeout {JOIN_TIMEOUT} s "
            f"+ {MARGIN} s", len(rtc) == 200 and len(in_time) == 200,
            f"{len(rtc)} opened ({len(errors)} failed to open), {len(in_time)} closed by the server in time ({span}); "
            f"server-side connections before {before}, while held {held}, after {after}",
            A, ["STARLING_SIGNALING_JOIN_TIMEOUT_SECONDS"])
    s.check("5b each of them got error join_timeout and close status 1008", told == len(rtc) and codes == {1008: len(rtc)},
            f"join_timeout errors {told}/{len(rtc)}; close codes {dict(codes)}", A,
            ["STARLING_SIGNALING_JOIN_TIMEOUT_SECONDS"])
    detail = []
    ok = True
    for c, what in zip(control, ("silent", "calling listRooms")):
        got = any(isinstance(m.get("error"), dict) and m["error"].get("code") == -32001 and m.get("id") is None
                  for _, m in c.messages)
        took = None if c.closed_at is None else c.closed_at - c.opened_at
        ok = ok and took is not None and took <= AUTH_TIMEOUT + MARGIN and c.close_code == 1008 and got
        detail.append(f"{what}: closed {'never' if took is None else f'after {took:.1f} s'} with code {c.close_code}, "
                      f"-32001 (id null) received: {got}")
    s.check(f"5c /control sockets that never authenticate are closed within {AUTH_TIMEOUT} s + {MARGIN} s "
            "(JSON-RPC -32001, status 1008)", ok, "; ".join(detail), A,
            ["STARLING_CONTROL_AUTHENTICATION_TIMEOUT_SECONDS"])
    await asyncio.gather(*(c.close() for c in everyone), return_exceptions=True)


# ------------------------------------------------------------------------------------------------------------
# 6: half-sent HTTP requests, connections per address

def case6_http(s):
    A = s.A
    port = A.port
    before = tcp_connections(A.pid, port)
    host = f"Host: 127.0.0.1:{port}\r\n"
    kinds = {
        "partial head": f"GET /healthz HTTP/1.1\r\n{host}X-Half: ".encode(),
        "partial upgrade": (f"GET /rtc HTTP/1.1\r\n{host}Upgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Version: 13\r\n").encode(),
        "echo body": (f"POST /v1/echo HTTP/1.1\r\n{host}Content-Type: application/sdp\r\nContent-Length: 90000\r\n\r\n"
                      ).encode() + b"v=0\r\n" + b"a=x:" + b"y" * 1000,
        "api body": (f"POST /api/listRooms HTTP/1.1\r\n{host}Authorization: Bearer {API_KEY}\r\n"
                     "Content-Length: 50000\r\n\r\n{\"pad\": \"").encode() + b"z" * 100,
    }
    start = time.monotonic()
    socks, kind_of, failed = [], {}, 0
    for k, (name, payload) in enumerate(kinds.items()):
        for half in range(2):
            got, bad = open_tcp(port, f"127.2.{k}.{1 + half}", 38 if half == 0 else 37, payload)
            failed += bad
            socks += got
            kind_of.update({x: name for x in got})
    trickle, bad = open_tcp(port, "127.2.9.1", 20, f"GET /healthz HTTP/1.1\r\n{host}X-Drip: ".encode())
    failed += bad
    held = tcp_connections(A.pid, port)
    closed = watch_closed(socks + trickle, REQUEST_TIMEOUT + MARGIN, start, trickle=(set(trickle), b"a", 0.3))
    after = tcp_connections(A.pid, port)
    by_kind = collections.Counter(kind_of[x] for x in socks if x in closed)
    late = sorted(closed[x] for x in socks if x in closed)
    s.check(f"6a 300 half-sent HTTP requests are closed within requestTimeout {REQUEST_TIMEOUT} s + {MARGIN} s",
            len(socks) == 300 and sum(by_kind.values()) == 300,
            f"{len(socks)} sent ({failed} refused at connect), closed by the server: "
            + ", ".join(f"{n} {by_kind.get(n, 0)}/75" for n in kinds)
            + (f" (after {late[0]:.1f}-{late[-1]:.1f} s)" if late else "")
            + f"; server-side connections before {before}, while held {held}, after {after}",
            A, ["STARLING_HTTP_REQUEST_TIMEOUT_SECONDS"])
    dripped = [closed[x] for x in trickle if x in closed]
    s.check(f"6b 20 requests trickled a byte every 0.3 s are cut within requestTimeout {REQUEST_TIMEOUT} s + {MARGIN} s "
            "of their first byte", len(trickle) == 20 and len(dripped) == 20,
            f"{len(dripped)}/{len(trickle)} closed" + (f" after {min(dripped):.1f}-{max(dripped):.1f} s" if dripped else ""),
            A, ["STARLING_HTTP_REQUEST_TIMEOUT_SECONDS"])
    close_all(socks + trickle)
    time.sleep(0.3)
    extra = 16
    start = time.monotonic()
    many, bad = open_tcp(port, "127.2.10.1", PER_ADDRESS + extra, b"")
    closed = watch_closed(many, 1.0, start)
    s.check(f"6c {PER_ADDRESS + extra} connections from one address (http.maxConnectionsPerAddress {PER_ADDRESS}): "
            f"the {extra} extra ones are closed at once, the others kept",
            bad + len(closed) >= extra and len(many) - len(closed) >= PER_ADDRESS - 4,
            f"{bad} refused at connect, {len(closed)} closed within 1 s, {len(many) - len(closed)} still open",
            A, ["STARLING_HTTP_MAX_CONNECTIONS_PER_ADDRESS"])
    close_all(many)


# ------------------------------------------------------------------------------------------------------------
# 8: ICE-TCP

def case8_ice_tcp(s):
    A = s.B  # a fresh process: its RSS is not hiding in memory other cases freed
    if not A.tcp_ports:
        s.check("8 ICE-TCP port known", False, "no tcpPorts in the 'media ready' log line")
        return
    port = A.tcp_ports[0]
    rss0 = attack.rss_kb(A.pid)
    conns0 = tcp_connections(A.pid, port)
    start = time.monotonic()
    socks = []
    partial = b"\xff\xff" + b"\x00" * 60000
    for i in range(200):
        got, _ = open_tcp(port, f"127.3.{1 + i // TCP_PER_ADDRESS}.1", 1, partial)
        socks += got
    time.sleep(1.0)
    rss1 = attack.rss_kb(A.pid)
    conns1 = tcp_connections(A.pid, port)
    closed = watch_closed(socks, 1.5, start)
    s.check(f"8a 200 ICE-TCP connections each announcing a 65535-byte frame and sending 60000 bytes of it "
            f"(over media.tcpMaxFrameBytes {TCP_MAX_FRAME}) are closed and hold no memory",
            len(closed) == len(socks) == 200 and rss1 - rss0 < 5 * 1024,
            f"{len(closed)}/{len(socks)} closed within 1.5 s; RSS {mb(rss0)} -> {mb(rss1)} "
            f"({(rss1 - rss0) / 1024:+.1f} MB, at most +5 MB allowed); server-side ICE-TCP connections before "
            f"{conns0}, 1 s after {conns1}", A, ["STARLING_MEDIA_TCP_MAX_FRAME_BYTES"])
    close_all(socks)
    start = time.monotonic()
    many, bad = open_tcp(port, "127.3.100.1", 40, b"")
    closed = watch_closed(many, 1.0, start)
    open_left = len(many) - len(closed)
    s.check(f"8b 40 ICE-TCP connections from one address: at most media.tcpConnectionsPerAddress ({TCP_PER_ADDRESS}) "
            "stay, the rest are closed at once", open_left <= TCP_PER_ADDRESS and bad + len(closed) >= 40 - TCP_PER_ADDRESS,
            f"{bad} refused at connect, {len(closed)} closed within 1 s, {open_left} still open", A,
            ["STARLING_MEDIA_TCP_CONNECTIONS_PER_ADDRESS"])
    close_all(many)
    start = time.monotonic()
    over, _ = open_tcp(port, "127.3.101.1", 1, stun_like(TCP_MAX_FRAME + 1, 100))
    at, _ = open_tcp(port, "127.3.101.2", 1, stun_like(TCP_MAX_FRAME, 100))
    small, _ = open_tcp(port, "127.3.101.3", 1, stun_like(200, 30))
    closed = watch_closed(over + at + small, 1.0, start)
    s.check(f"8c a frame announcing {TCP_MAX_FRAME + 1} bytes closes its connection at once; "
            f"one announcing {TCP_MAX_FRAME} does not", over[0] in closed and at[0] not in closed,
            f"{TCP_MAX_FRAME + 1}: {'closed' if over[0] in closed else 'open'} after 1 s; "
            f"{TCP_MAX_FRAME}: {'closed' if at[0] in closed else 'open'} after 1 s", A,
            ["STARLING_MEDIA_TCP_MAX_FRAME_BYTES"])

    # Connections never bound to a peer by an ICE check are closed within 10 s: watched while other cases run.
    pending = [x for x in at + small if x not in closed]
    result = {}

    def watch():
        result["closed"] = watch_closed(pending, 10 + MARGIN, start)
        close_all(over + at + small)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()

    def report():
        thread.join(20)
        got = result.get("closed", {})
        s.check("8d ICE-TCP connections never bound by a validated ICE check are closed within 10 s "
                f"(+ {MARGIN} s)", len(pending) > 0 and len(got) == len(pending),
                f"{len(got)}/{len(pending)} closed" + (f" after {max(got.values()):.1f} s" if got else ""))

    s.background.append(report)


# ------------------------------------------------------------------------------------------------------------
# 3: echo session limits and lifetime

async def case3_echo_sessions(s):
    A = s.A
    port = A.port

    async def post(source):
        # Each session as large as the limits allow (8 video m-lines x 4 layers), so that memory shows.
        return await asyncio.to_thread(echo_post, port, largest_echo_offer(SENDING_SECTIONS, SIMULCAST_LAYERS), source)

    rss0 = A.rss_mb()
    fds0 = fd_count(A.pid)
    created = []   # locations
    first = []
    for _ in range(3):
        status, headers, body = await post("127.4.0.1")
        first.append(status)
        if status == 201:
            created.append(headers["Location"])
    s.check(f"3a echo: a third concurrent session from one address gets 429 "
            f"(echo.maxSessionsPerAddress {ECHO_PER_ADDRESS})", first == [201, 201, 429],
            f"statuses {first}", A, ["STARLING_ECHO_MAX_SESSIONS_PER_ADDRESS"])
    statuses = []
    for i in range(7):
        for _ in range(2):
            status, headers, _ = await post(f"127.4.1.{1 + i}")
            statuses.append(status)
            if status == 201:
                created.append(headers["Location"])
    status, headers, body = await post("127.4.2.1")
    if status == 201:
        created.append(headers["Location"])
    last_created = time.monotonic()
    retry = headers.get("Retry-After")
    s.check(f"3b echo: session {ECHO_MAX + 1} (echo.maxSessions {ECHO_MAX}) gets 429 with Retry-After",
            statuses.count(201) == 14 and status == 429 and retry is not None,
            f"14 more from 7 addresses: {dict(collections.Counter(statuses))}; the next: {status} Retry-After {retry!r}; "
            f"{len(created)} sessions open", A, ["STARLING_ECHO_MAX_SESSIONS"])
    rss1 = A.rss_mb()
    fds1 = fd_count(A.pid)
    await asyncio.sleep(max(0.0, last_created + ECHO_SECONDS + MARGIN - time.monotonic()))
    rss2 = A.rss_mb()
    gone = [echo_delete(port, loc) for loc in created]
    status, headers, _ = await post("127.4.0.1")
    again = status
    if status == 201:
        echo_delete(port, headers["Location"])

    # A second round: 15 unconnected sessions and one aiortc peer that connects and sends media.
    peer = EchoPeer(port, "127.4.3.1", seconds=ECHO_SECONDS + MARGIN + 8)
    posted = await peer.wait(lambda e: e.get("event") == "posted", 20)
    second = []
    for i in range(15):
        status, headers, _ = await post(f"127.4.4.{1 + i // 2}")
        if status == 201:
            second.append(headers["Location"])
    round2_at = time.monotonic()
    connected = await peer.wait(lambda e: e.get("event") == "connected", 10)
    flowing = await peer.wait(lambda e: e.get("event") == "frames" and e["video"] >= 10, 8)
    rss_peak2 = A.rss_mb()
    s.check(f"3c echo: unconnected sessions end after echo.sessionSeconds {ECHO_SECONDS} s (or "
            f"media.disconnectedTimeoutSeconds {DISCONNECTED_TIMEOUT} s) + {MARGIN} s and free their place",
            len(created) > 0 and all(g in GONE for g in gone) and again == 201,
            f"DELETE of the {len(created)} sessions afterwards: {dict(collections.Counter(gone))} (404 = already gone); "
            f"a new session from the first address: {again}; RSS {rss0:.1f} MB -> {rss1:.1f} MB with them "
            f"-> {rss2:.1f} MB after; fds {fds0} -> {fds1}",
            A, ["STARLING_ECHO_SESSION_SECONDS", "STARLING_MEDIA_DISCONNECTED_TIMEOUT_SECONDS"])

    ended = None
    if posted and posted.get("status") == 201:
        await asyncio.sleep(max(0.0, posted["t"] + ECHO_SECONDS + MARGIN - time.monotonic()))
        before = peer.last("frames") or {"video": 0}
        await asyncio.sleep(1.0)
        after = peer.last("frames") or {"video": 0}
        ended = echo_delete(port, posted["location"])
        s.check(f"3d echo: a connected session (aiortc, media flowing) ends after echo.sessionSeconds {ECHO_SECONDS} s",
                connected is not None and flowing is not None and ended in GONE and after["video"] == before["video"],
                f"connected: {connected is not None}, {before['video']} frames echoed; "
                f"{after['video'] - before['video']} more frames {ECHO_SECONDS + MARGIN} s after the POST; DELETE then: {ended}",
                A, ["STARLING_ECHO_SESSION_SECONDS"])
    else:
        s.check("3d echo: a connected session ends after echo.sessionSeconds", False,
                f"the aiortc peer could not start a session: {posted}")
    peer.kill()
    await asyncio.sleep(max(0.0, round2_at + ECHO_SECONDS + MARGIN - time.monotonic()))
    rss3 = A.rss_mb()
    gone2 = [echo_delete(port, loc) for loc in second]
    growth1, growth2 = rss1 - rss0, rss3 - rss2
    s.check("3e echo: a second round of sessions does not ratchet RSS (memory of ended sessions is reused)",
            growth2 <= max(3.0, 0.5 * growth1) and all(g in GONE for g in gone2),
            f"round 1: {rss0:.1f} -> {rss1:.1f} MB (+{growth1:.1f}), ended {rss2:.1f} MB; round 2 peak {rss_peak2:.1f} MB, "
            f"ended {rss3:.1f} MB ({growth2:+.1f} MB over round 1's end); round-2 DELETEs "
            f"{dict(collections.Counter(gone2))}", A, ["STARLING_ECHO_SESSION_SECONDS"])


# ------------------------------------------------------------------------------------------------------------
# 4: /rtc track limits and subscriber offers

def track_sections(prefix, count, rich=True, kinds=("video", "audio")):
    return [(kinds[i % len(kinds)], f"{prefix}{i}", "sendonly", {"rich": rich}) for i in range(count)]


def track_list(sections):
    return [{"mid": mid, "source": "camera" if kind == "video" else "microphone"} for kind, mid, _, _ in sections][:16]


async def case4_tracks(s):
    A = s.A
    url = f"ws://127.0.0.1:{A.port}/rtc"
    room = "adv-tracks"
    rss0 = A.rss_mb()
    people = []

    async def participant(name, answer=False, source="127.5.0.1"):
        p = await RTC(name, answer=answer).open(url, source=source)
        people.append(p)
        reply = await p.join(A.dev_token(room, name))
        if reply.get("type") != "response":
            raise RuntimeError(f"{name}: join refused: {reply}")
        return p

    try:
        early = await participant("early-subscriber", answer=True, source="127.5.0.2")
        p1 = await participant("p120", source="127.5.0.3")
        sdp120 = offer([("audio", f"a{i}", "sendonly", {}) for i in range(120)])
        r = await p1.publish(sdp120, [{"mid": "a0", "source": "microphone"}])
        got = len(r.get("result", {}).get("tracks", [])) if r.get("type") == "response" else 0
        s.check("4a /rtc: one publish with 120 sending m-lines is refused with limit_exceeded",
                error_code(r) == "limit_exceeded",
                f"{len(sdp120)}-byte offer answered {r.get('type')} {error_code(r) or ''} "
                f"({got} tracks published)", A, ["STARLING_LIMITS_SENDING_SECTIONS_PER_OFFER"])

        # Renegotiations that keep their m-lines and add four sending ones each time.
        p2 = await participant("grower", source="127.5.0.4")
        creds, sess = attack.ice(), 4242424242
        sections, outcomes = [], []
        for k in range(9):
            new = track_sections(f"g{k}m", 4)
            sections = sections + new
            r = await p2.publish(offer(sections, creds, origin=(sess, 2 + k)), track_list(new))
            outcomes.append(error_code(r) or f"ok:{len(r.get('result', {}).get('tracks', []))}")
        status, info = A.api("listParticipants", {"room": room})
        held = {p["identity"]: len(p.get("tracks", [])) for p in info.get("result", {}).get("participants", [])}
        refusals = [o for o in outcomes if not o.startswith("ok")]
        s.check(f"4b /rtc: nine renegotiations adding 4 tracks each stop at limits.tracksPerParticipant "
                f"({TRACKS_PER_PARTICIPANT}); what was published goes on",
                held.get("grower") == TRACKS_PER_PARTICIPANT and outcomes[:2] == ["ok:4", "ok:8"]
                and all(o == "limit_exceeded" for o in refusals) and len(refusals) == 7,
                f"outcomes {outcomes}; tracks held (control API) {held.get('grower')}", A,
                ["STARLING_LIMITS_TRACKS_PER_PARTICIPANT"])

        # Fill the room: six more publishers of eight tracks; the room stops at limits.tracksPerRoom.
        room_outcomes = []
        for n in range(6):
            p = await participant(f"filler{n}", source=f"127.5.1.{1 + n}")
            r = await p.publish(offer(track_sections(f"f{n}m", 8)), track_list(track_sections(f"f{n}m", 8)))
            room_outcomes.append(error_code(r) or "ok")
        status, info = A.api("getRoom", {"room": room})
        count = info.get("result", {}).get("room", {}).get("trackCount")
        s.check(f"4c /rtc: publishes that would take the room over limits.tracksPerRoom ({TRACKS_PER_ROOM}) are "
                "refused with limit_exceeded", count is not None and count <= TRACKS_PER_ROOM
                and "limit_exceeded" in room_outcomes,
                f"six publishes of 8 tracks: {room_outcomes}; the room holds {count} tracks", A,
                ["STARLING_LIMITS_TRACKS_PER_ROOM"])

        late = await participant("late-subscriber", answer=True, source="127.5.0.5")
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline:
            await asyncio.sleep(0.3)
            settled = all(len(p.answers) == len(p.offers) and p.offers for p in (early, late))
            if settled and time.monotonic() > deadline - 9:
                break
        detail, ok = [], True
        for p in (early, late):
            sizes = [o[0] for o in p.offers]
            sections_max = max((o[1] for o in p.offers), default=0)
            answered = [a for a in p.answers if a[1] == "response"]
            bad = [a for a in p.answers if a[1] != "response"]
            ok = ok and p.offers and max(sizes) <= MAX_MESSAGE and not bad and len(answered) == len(p.offers) \
                and sections_max <= TRACKS_PER_ROOM
            detail.append(f"{p.label}: {len(p.offers)} offers, largest {max(sizes, default=0)} bytes with up to "
                          f"{sections_max} m-sections; {len(answered)} answers accepted"
                          + (f", refused: {[(a[0], a[2]) for a in bad][:3]}" if bad else "")
                          + f" (largest answer {max((a[0] for a in p.answers), default=0)} bytes)")
        s.check(f"4d /rtc: subscribers of that room get offers of at most {TRACKS_PER_ROOM} m-sections that fit "
                f"signaling.maxMessageBytes ({MAX_MESSAGE}), and their browser-sized answers are accepted",
                ok, "; ".join(detail), A, ["STARLING_LIMITS_TRACKS_PER_ROOM"])
        print(f"     RSS during case 4: {rss0:.1f} MB -> {A.rss_mb():.1f} MB", flush=True)
    finally:
        await asyncio.gather(*(p.close() for p in people), return_exceptions=True)


# ------------------------------------------------------------------------------------------------------------
# 10: resume

async def case10_resume(s):
    A = s.A
    url = f"ws://127.0.0.1:{A.port}/rtc"
    room = "adv-resume"
    token = A.dev_token(room, "alice")
    people = []

    async def connect(label, source):
        c = await RTC(label).open(url, source=source)
        people.append(c)
        return c

    try:
        first = await connect("alice-1", "127.6.0.1")
        joined = await first.join(token)
        resume_token = (joined.get("result") or {}).get("resumeToken")
        pid = (joined.get("result") or {}).get("participant", {}).get("id")

        async def takeover(label, source, extra):
            c = await connect(label, source)
            reply = await c.join(token, reconnect=True, **extra)
            return c, reply

        results = []
        previous = first
        for label, extra, source in (("no resumeToken", {}, "127.6.0.2"),
                                     ("a wrong resumeToken", {"resumeToken": "adversarial-wrong-resume-token"},
                                      "127.6.0.3")):
            c, reply = await takeover(label, source, extra)
            result = reply.get("result") or {}
            removed = await previous.wait_for(lambda m: m.get("type") == "removed", 3)
            try:
                await asyncio.wait_for(previous.closed.wait(), 3)
            except asyncio.TimeoutError:
                pass
            results.append((label, result.get("resumed"), result.get("participant", {}).get("id"),
                            (removed or {}).get("reason"), previous.closed.is_set()))
            previous = c
        for i, (label, resumed, new_id, reason, closed) in enumerate(results):
            s.check(f"10{'ab'[i]} /rtc: join {{reconnect: true}} with {label} does not resume the connected participant; "
                    "it replaces it (removed duplicate_identity)",
                    resumed is False and reason == "duplicate_identity" and closed,
                    f"resumed {resumed} (participant {new_id}, first was {pid}); the old connection got removed "
                    f"{reason!r} and {'was' if closed else 'was not'} closed; the first join carried "
                    f"resumeToken: {resume_token is not None}")

        # The right resumeToken, with a token downgraded to publish: false.
        current = previous
        own = (current.join_result or {}).get("resumeToken")
        status, minted = A.api("createToken", {"room": room, "identity": "alice",
                                               "grants": {"publish": False, "subscribe": True, "publishData": False}})
        weak = (minted.get("result") or {}).get("token")
        current.abort()
        await asyncio.sleep(0.3)
        c = await connect("alice-resumed", "127.6.0.4")
        extra = {"resumeToken": own} if own else {}
        reply = await c.join(weak, reconnect=True, **extra)
        resumed = (reply.get("result") or {}).get("resumed")
        pub = await c.publish(offer(track_sections("w", 2)), track_list(track_sections("w", 2)))
        s.check("10c /rtc: the right resumeToken resumes; with a token now granting publish: false, publish is "
                "forbidden", own is not None and resumed is True and error_code(pub) == "forbidden",
                f"resumeToken in the join response: {own is not None}; createToken {status}; resumed {resumed}; "
                f"publish answered {pub.get('type')} {error_code(pub) or ''}")
    finally:
        await asyncio.gather(*(p.close() for p in people), return_exceptions=True)


# ------------------------------------------------------------------------------------------------------------
# 13: floods

async def case13_flood(s):
    A = s.A
    c = await RTC("flood").open(f"ws://127.0.0.1:{A.port}/rtc", source="127.7.0.1")
    control = None
    try:
        reply = await c.join(A.dev_token("adv-flood", "flood"))
        if reply.get("type") != "response":
            raise RuntimeError(f"join refused: {reply}")
        skip = len(c.messages)
        pad = "x" * 60000
        messages = [json.dumps({"type": "ping", "id": f"f{i}", "pad": pad}) if i % 2 == 0 else "{" + pad
                    for i in range(500)]
        cpu0, t0 = attack.cpu_seconds(A.pid), time.monotonic()
        for m in messages:
            await c.ws.send(m)
        sent_in = time.monotonic() - t0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(c.messages) - skip < 500 and not c.closed.is_set():
            await asyncio.sleep(0.1)
        took = time.monotonic() - t0
        cpu = attack.cpu_seconds(A.pid) - cpu0
        replies = [m for _, m in c.messages[skip:] if m.get("type") in ("response", "error")]
        limited = [m for m in replies if error_code(m) == "rate_limited"]
        with_id = [m for m in limited if "id" in m]
        codes = collections.Counter(error_code(m) or m.get("type") for m in replies)
        await asyncio.sleep(2.5)
        alive = not c.closed.is_set()
        pong = None
        if alive:
            try:
                pong = await c.request({"type": "ping"}, timeout=5)
            except Exception as e:
                pong = {"failed": str(e)}
        s.check("13a /rtc: 500 messages of 60 KB sent at once: the excess gets rate_limited without an id, every one "
                "is answered, and the connection stays",
                len(limited) >= 100 and not with_id and len(replies) == 500 and alive
                and (pong or {}).get("type") == "response",
                f"sent in {sent_in:.1f} s, answered within {took:.1f} s: {dict(codes)}; rate_limited carrying an id: "
                f"{len(with_id)}; server CPU {cpu:.2f} s; connection {'up' if alive else 'closed'}, "
                f"ping afterwards: {(pong or {}).get('type')}")

        control = await WSClient("control-flood").open(f"ws://127.0.0.1:{A.port}/control", source="127.7.0.2",
                                                       headers={"Authorization": f"Bearer {API_KEY}"})
        skip = len(control.messages)
        for i in range(400):
            await control.send({"jsonrpc": "2.0", "id": i + 1, "method": "listRooms"})
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(control.messages) - skip < 400 and not control.closed.is_set():
            await asyncio.sleep(0.1)
        replies = [m for _, m in control.messages[skip:]]
        limited = [m for m in replies if isinstance(m.get("error"), dict) and m["error"].get("code") == -32029]
        with_id = [m for m in limited if m.get("id") is not None]
        await asyncio.sleep(2.5)
        try:
            after = await control.request({"jsonrpc": "2.0", "id": "after", "method": "listRooms"}, timeout=5)
        except Exception as e:
            after = {"failed": str(e)}
        s.check("13b /control: 400 requests at once: the excess gets -32029 rate_limited with id null; the "
                "connection stays", len(limited) >= 100 and not with_id and "result" in after,
                f"{len(replies)} replies, {len(limited)} rate_limited, {len(with_id)} of them with the request's id; "
                f"a call 2.5 s later: {'answered' if 'result' in after else after}")
    finally:
        await c.close()
        if control is not None:
            await control.close()


# ------------------------------------------------------------------------------------------------------------
# 11: zero-length two-byte audio-level extension through /v1/echo

async def case11_audio_level(s):
    A = s.A
    peer = EchoPeer(A.port, "127.8.0.1", bad_audio_level=True, seconds=6)
    try:
        posted = await peer.wait(lambda e: e.get("event") == "posted", 20)
        connected = await peer.wait(lambda e: e.get("event") == "connected", 10)
        await asyncio.sleep(3)
        audio = (peer.last("frames") or {}).get("audio", 0)
        alive = A.alive
        health = None
        if alive:
            try:
                health = http_request(A.port, "GET", "/healthz", timeout=3)[0]
            except OSError as e:
                health = str(e)
        negotiated = bool(posted and posted.get("audioLevel"))
        malformed = bool(posted and posted.get("malformed"))
        s.check("11 /v1/echo: RTP with a zero-length two-byte audio-level extension element does not kill the server",
                alive and health == 200 and connected is not None and negotiated and malformed,
                f"answer negotiated ssrc-audio-level: {negotiated}; the peer's packets carry the zero-length "
                f"two-byte element: {malformed}; peer connected: {connected is not None} "
                f"({audio} audio frames echoed back in 3 s); server {'alive' if alive else f'died ({A.proc.returncode})'}, "
                f"/healthz {health}")
    finally:
        peer.kill()


# ------------------------------------------------------------------------------------------------------------
# B: echo token, a killed echo peer (12), SIGTERM (9)

def caseB_echo_token(s):
    B = s.B
    none = echo_post(B.port, plain_echo_offer(), "127.9.0.1")[0]
    wrong = echo_post(B.port, plain_echo_offer(), "127.9.0.2", token="not-the-echo-token")[0]
    status, headers, _ = echo_post(B.port, plain_echo_offer(), "127.9.0.3", token=ECHO_TOKEN)
    if status == 201:
        echo_delete(B.port, headers["Location"], token=ECHO_TOKEN)
    s.check("3f echo: with echo.token set, no bearer and a wrong bearer get 401; the right one 201",
            none == 401 and wrong == 401 and status == 201,
            f"no Authorization: {none}; wrong bearer: {wrong}; right bearer: {status}", B, ["STARLING_ECHO_TOKEN"])


async def case12_start(s):
    """Starts an aiortc echo peer on B, SIGKILLs it once media flows, and arms the probe 40 s later."""
    B = s.B
    peer = EchoPeer(B.port, "127.9.1.1", token=ECHO_TOKEN, seconds=120)
    posted = await peer.wait(lambda e: e.get("event") == "posted", 20)
    flowing = await peer.wait(lambda e: e.get("event") == "frames" and e["video"] >= 20, 15)
    peer.kill()
    killed_at = time.monotonic()
    frames = (peer.last("frames") or {}).get("video", 0)
    state = {"posted": posted, "frames": frames, "killed_at": killed_at, "rss_kill": B.rss_mb()}
    wait = CONSENT_SECONDS + DISCONNECTED_TIMEOUT + 7

    def probe():
        state["probed_after"] = time.monotonic() - killed_at
        state["rss_probe"] = B.rss_mb() if B.alive else None
        state["fds"] = fd_count(B.pid) if B.alive else None
        try:
            state["delete"] = echo_delete(B.port, posted["location"], token=ECHO_TOKEN) if posted and posted.get(
                "location") else None
        except OSError as e:
            state["delete"] = str(e)

    timer = threading.Timer(wait, probe)
    timer.daemon = True
    timer.start()
    state["timer"] = timer
    state["flowing"] = flowing is not None
    print(f"     case 12: echo peer SIGKILLed after {frames} video frames echoed; probing in {wait} s", flush=True)
    return state


def case12_finish(s, state):
    state["timer"].join(CONSENT_SECONDS + 60)
    posted = state["posted"]
    s.check(f"12 echo: a session whose peer was SIGKILLed ends after consent expiry ({CONSENT_SECONDS} s) + "
            f"media.disconnectedTimeoutSeconds ({DISCONNECTED_TIMEOUT} s)",
            bool(posted) and posted.get("status") == 201 and state["flowing"] and state.get("delete") in GONE,
            f"session {posted and posted.get('location')} ({posted and posted.get('status')}), {state['frames']} frames "
            f"echoed before the kill; DELETE {state.get('probed_after', 0):.0f} s after the kill: {state.get('delete')} "
            f"(404 = already ended); RSS {state['rss_kill']:.1f} MB at the kill, {state.get('rss_probe') or 0:.1f} MB "
            "at the probe", s.B, ["STARLING_MEDIA_DISCONNECTED_TIMEOUT_SECONDS"])


async def case9_shutdown(s):
    B = s.B
    room = "adv-shutdown"
    rtc = await RTC("stayer").open(f"ws://127.0.0.1:{B.port}/rtc", source="127.9.2.1")
    other = await RTC("publisher").open(f"ws://127.0.0.1:{B.port}/rtc", source="127.9.2.2")
    control = await WSClient("watcher").open(f"ws://127.0.0.1:{B.port}/control", source="127.9.2.3",
                                             headers={"Authorization": f"Bearer {API_KEY}"})
    await rtc.join(B.dev_token(room, "stayer"))
    await other.join(B.dev_token(room, "publisher"))
    # A third participant that stops reading once joined: it will not answer the server's close frame.
    stalled = await asyncio.to_thread(RawWebSocket, B.port, "/rtc", "127.9.2.6")
    stalled.send_text(json.dumps({"type": "join", "id": "stalled-1", "token": B.dev_token(room, "stalled")}))
    await asyncio.to_thread(stalled.read_until, b'"stalled-1"', 5)
    await other.publish(offer(track_sections("s", 2)), track_list(track_sections("s", 2)))
    sub = await control.request({"jsonrpc": "2.0", "method": "subscribe", "params": {"room": room}})
    health = []
    stop = threading.Event()

    def poll_fresh():
        """A new connection per request (a load balancer's health check)."""
        while not stop.is_set():
            t = time.monotonic()
            try:
                status, _, body = http_request(B.port, "GET", "/healthz", source="127.9.2.4", timeout=0.5)
                health.append((t, status, body[:80]))
            except OSError as e:
                health.append((t, None, type(e).__name__))
                time.sleep(0.01)

    def poll_kept():
        """One keep-alive connection opened before SIGTERM, asking again and again."""
        import http.client
        conn = None
        while not stop.is_set():
            t = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", B.port, timeout=0.5, source_address=("127.9.2.5", 0))
                conn.request("GET", "/healthz")
                r = conn.getresponse()
                health.append((t, r.status, r.read()[:80]))
            except (OSError, http.client.HTTPException) as e:
                health.append((t, None, type(e).__name__))
                conn = None
                time.sleep(0.01)

    pollers = [threading.Thread(target=poll_fresh, daemon=True), threading.Thread(target=poll_kept, daemon=True)]
    for poller in pollers:
        poller.start()
    await asyncio.sleep(0.2)
    sent = time.monotonic()
    B.proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(rtc.closed.wait(), SHUTDOWN_GRACE + 3)
    except asyncio.TimeoutError:
        pass
    try:
        await asyncio.wait_for(control.closed.wait(), 3)
    except asyncio.TimeoutError:
        pass
    exit_deadline = time.monotonic() + SHUTDOWN_GRACE + 5
    while B.alive and time.monotonic() < exit_deadline:
        await asyncio.sleep(0.05)
    exited_after = time.monotonic() - sent if not B.alive else None
    stop.set()
    for poller in pollers:
        poller.join(2)

    closed_event = next(((t, m) for t, m in rtc.messages if m.get("type") == "roomClosed"), None)
    ok = (closed_event is not None and closed_event[1].get("reason") == "server_shutdown"
          and rtc.closed_at is not None and closed_event[0] <= rtc.closed_at and rtc.close_code == 1001)
    s.check("9a SIGTERM: a participant gets roomClosed {reason: server_shutdown} before its socket closes with 1001",
            ok, f"roomClosed: {closed_event[1] if closed_event else None}; socket closed "
            f"{'never' if rtc.closed_at is None else f'{rtc.closed_at - sent:.2f} s after SIGTERM'} with code "
            f"{rtc.close_code}; last messages {[m.get('type') for _, m in rtc.messages[-3:]]}")
    event = next((m for _, m in control.messages if m.get("method") == "event"
                  and m.get("params", {}).get("type") == "roomClosed"), None)
    s.check("9b SIGTERM: the control subscriber of the room gets the roomClosed event before its socket closes",
            event is not None and "result" in (sub or {}) and control.close_code == 1001,
            f"subscribe {'ok' if 'result' in (sub or {}) else sub}; event {event and event.get('params')}; socket closed with "
            f"{control.close_code}")
    after = [(t - sent, st, body) for t, st, body in health if t >= sent]
    draining = [x for x in after if x[1] == 503 and b"draining" in (x[2] if isinstance(x[2], bytes) else b"")]
    answers = collections.Counter(x[1] for x in after)
    s.check("9c SIGTERM: /healthz answers 503 {\"status\": \"draining\"} while the server drains",
            len(draining) > 0,
            f"{len(after)} polls after SIGTERM: {dict(answers)}; first 503 "
            f"{f'{draining[0][0]:.3f} s after' if draining else 'never'}; "
            f"the process exited {'not within the grace period' if exited_after is None else f'{exited_after:.2f} s after'}")
    for c in (rtc, other, control):
        await c.close()
    stalled.close()


# ------------------------------------------------------------------------------------------------------------
# C: echo off, total connections

def caseC(s):
    C = s.C
    status = echo_post(C.port, plain_echo_offer(), "127.10.0.1")[0]
    s.check("3g echo: with echo.enabled false, POST /v1/echo gets 404", status == 404, f"status {status}", C,
            ["STARLING_ECHO_ENABLED"])
    time.sleep(0.2)
    start = time.monotonic()
    socks, bad = [], 0
    for i in range(30):
        got, refused_now = open_tcp(C.port, f"127.10.1.{1 + i}", 1, b"")
        socks += got
        bad += refused_now
    closed = watch_closed(socks, 1.0, start)
    s.check("6d 30 connections from 30 addresses with http.maxConnections 20: the 10 over it are closed at once",
            bad + len(closed) >= 10 and len(socks) - len(closed) >= 16,
            f"{bad} refused at connect, {len(closed)} closed within 1 s, {len(socks) - len(closed)} still open", C,
            ["STARLING_HTTP_MAX_CONNECTIONS"])
    close_all(socks)


# ------------------------------------------------------------------------------------------------------------

async def run_case(s, name, fn, seconds, sync=False):
    t0 = time.monotonic()
    try:
        if sync:
            await asyncio.wait_for(asyncio.to_thread(fn, s), seconds)
        else:
            await asyncio.wait_for(fn(s), seconds)
    except Exception as e:
        s.failed(f"{name} completed", e)
    print(f"     ({name}: {time.monotonic() - t0:.1f} s)", flush=True)


async def run_all(s, binary):
    s.B = Server(binary, ENV_B, "B", stop_seconds=SHUTDOWN_GRACE + 5)
    s.servers.append(s.B)
    print(f"B: port {s.B.port}, unsupported settings {s.B.unsupported or 'none'}"
          f"{' (minimal config file)' if s.B.minimal_config else ''}", flush=True)
    await run_case(s, "case 8", case8_ice_tcp, 30, sync=True)
    await run_case(s, "3f echo token", caseB_echo_token, 20, sync=True)
    state12 = None
    try:
        state12 = await asyncio.wait_for(case12_start(s), 45)
    except Exception as e:
        s.failed("12 echo peer killed: setup", e)

    s.A = Server(binary, ENV_A, "A", stop_seconds=5)
    s.servers.append(s.A)
    print(f"A: port {s.A.port}, tcp {s.A.tcp_ports}, RSS {s.A.rss_mb():.1f} MB, unsupported settings "
          f"{s.A.unsupported or 'none'}{' (minimal config file)' if s.A.minimal_config else ''}", flush=True)
    await run_case(s, "case 3", case3_echo_sessions, 70)  # first: a fresh heap shows what sessions cost
    await run_case(s, "case 1", case1_simulcast, 30, sync=True)
    await run_case(s, "case 2", case2_mlines, 30, sync=True)
    await run_case(s, "case 7", case7_origin, 20, sync=True)
    await run_case(s, "case 5", case5_idle_sockets, 40)
    await run_case(s, "case 6", case6_http, 40, sync=True)
    await run_case(s, "case 4", case4_tracks, 60)
    await run_case(s, "case 10", case10_resume, 30)
    await run_case(s, "case 13", case13_flood, 60)
    for report in s.background:
        await asyncio.to_thread(report)
    await run_case(s, "case 11", case11_audio_level, 40)
    print(f"A: RSS at the end {s.A.rss_mb() if s.A.alive else 0:.1f} MB, fds {fd_count(s.A.pid) if s.A.alive else -1}",
          flush=True)
    s.A.stop()

    if state12 is not None:
        await asyncio.to_thread(case12_finish, s, state12)
    if s.B.alive:
        await run_case(s, "case 9", case9_shutdown, 30)
    else:
        s.check("9 SIGTERM", False, f"server B died before the shutdown case ({s.B.proc.returncode})")
    s.B.stop()

    s.C = Server(binary, ENV_C, "C", stop_seconds=5)
    s.servers.append(s.C)
    await run_case(s, "C", caseC, 20, sync=True)
    s.C.stop()


def run_inner(binary):
    started = time.monotonic()
    attack.raise_fd_limit()
    checks = Checks()
    s = Suite(checks)
    try:
        asyncio.run(asyncio.wait_for(run_all(s, binary), TOTAL_SECONDS))
    except Exception as e:
        s.failed("the suite completed", e)
    finally:
        EchoPeer.kill_all()
        for server in s.servers:
            server.stop()
    main = s.A or s.B
    if main is None:
        print(f"{len(checks.results) - checks.failed} passed, {checks.failed} failed")
        return 1
    if checks.failed:
        for server in s.servers:
            if server is not main:
                print(f"--- starling {server.label} log (tail), kept: {server.log.name} ---\n" + server.tail(15))
        print(f"--- starling {main.label} log ---")
    else:
        for server in s.servers:
            if server is not main:
                os.unlink(server.log.name)
    return finish(main, checks, started)


if __name__ == "__main__":
    sys.exit(isolated_main(__file__, __doc__, run_inner))
