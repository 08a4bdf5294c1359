"""What Tests/Interop/adversarial.py attacks with: a `starling serve` that survives settings its binary does not
know yet, measurements from /proc, hand-made SDP offers and answers, raw HTTP and WebSocket clients bound to a
chosen 127.x.y.z source address (every limit per client address is tested from fresh addresses), a light /rtc and
/control client without schema checks (the replies to attacks are what is measured), and an aiortc echo peer run
as a child process (`python3 attack.py echo-peer ...`) so that it can be SIGKILLed like a crashed client.

Everything here talks to 127.0.0.0/8 only; adversarial.py runs it inside a namespace holding only `lo`.
"""

import argparse
import asyncio
import base64
import http.client
import json
import os
import re
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import StarlingProcess, free_port  # noqa: E402

API_KEY = "adversarial-control-key-0123456789"
JWT_SECRET = "adversarial-jwt-secret-0123456789-abcdefghij"
ECHO_TOKEN = "adversarial-echo-token-0123456789"
FINGERPRINT = "sha-256 " + ":".join(["AB"] * 32)


# ------------------------------------------------------------------------------------------------------------
# The server

class Server(StarlingProcess):
    """`starling serve` on a free port of 127.0.0.1 with `env` (inherited STARLING_ variables dropped).

    The repository's config/starling.yaml is used when the binary accepts it; a binary older than the file (it
    refuses keys it does not know) gets a minimal file instead, every value then coming from `env`. Settings of
    `env` the binary refuses as unknown are dropped and listed in `unsupported`: the checks that depend on them
    say so."""

    def __init__(self, binary, env, label, startup_seconds=20, stop_seconds=10):
        self.label = label
        self.stop_seconds = stop_seconds
        self.unsupported = []
        self.config = os.path.join(ROOT, "config", "starling.yaml")
        self.minimal_config = False
        env = dict(env)
        for _ in range(4):
            try:
                self._start(binary, env, startup_seconds)
                break
            except RuntimeError:
                text = self.tail(400)
                unknown_env = sorted(set(re.findall(r"(STARLING_[A-Z0-9_]+): unknown setting", text)) & set(env))
                unknown_file = re.findall(r"^\s*- ([a-z][A-Za-z0-9.]*): unknown setting\s*$", text, re.M)
                if unknown_env or (unknown_file and not self.minimal_config):
                    os.unlink(self.log.name)  # a refused start: only its reasons matter, and they are used below
                if unknown_env:
                    self.unsupported += unknown_env
                    for name in unknown_env:
                        env.pop(name)
                elif unknown_file and not self.minimal_config:
                    self.minimal_config = True
                    handle = tempfile.NamedTemporaryFile("w", prefix="starling-adv-", suffix=".yaml", delete=False)
                    handle.write("http:\n  host: 127.0.0.1\n")
                    handle.close()
                    self.config = handle.name
                else:
                    raise
        else:
            raise RuntimeError(f"{label}: starling did not start:\n" + self.tail())
        self.env = env
        self.tcp_ports = []
        for _ in range(40):
            m = re.search(r"tcpPorts=\[([0-9, ]*)\]", self.tail(400))
            if m:
                self.tcp_ports = [int(p) for p in m.group(1).split(",") if p.strip()]
                break
            time.sleep(0.05)

    def _start(self, binary, env, startup_seconds):
        self.port = free_port()
        full = {k: v for k, v in os.environ.items() if not k.startswith("STARLING_")}
        full["STARLING_HTTP_PORT"] = str(self.port)
        full["STARLING_MEDIA_TCP_PORT"] = "0"
        full["STARLING_MEDIA_UDP_PORT"] = "0"
        full.update(env)
        self.log = tempfile.NamedTemporaryFile(prefix=f"starling-adv-{self.label}-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([binary, "serve", "--config", self.config], env=full, stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.time() + startup_seconds
        while time.time() < deadline:
            try:
                status, _, _ = http_request(self.port, "GET", "/healthz", timeout=1)
                if status == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        StarlingProcess.stop(self)  # keeps the config file for the next attempt
        raise RuntimeError("starling did not start:\n" + self.tail())

    def stop(self):
        super().stop()
        if self.minimal_config and os.path.exists(self.config):
            os.unlink(self.config)

    def missing(self, *names):
        """The settings among `names` this binary refused (empty: all supported)."""
        return [n for n in names if n in self.unsupported]

    @property
    def pid(self):
        return self.proc.pid

    @property
    def alive(self):
        return self.proc.poll() is None

    def rss_mb(self):
        return rss_kb(self.pid) / 1024.0

    def api(self, method, params=None, timeout=10):
        """POST /api/<method> with the API key; returns (status, decoded body)."""
        status, _, body = http_request(self.port, "POST", f"/api/{method}", json.dumps(params or {}).encode(),
                                       {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
                                       timeout=timeout)
        try:
            return status, json.loads(body)
        except ValueError:
            return status, {"raw": body[:200].decode(errors="replace")}

    def dev_token(self, room, identity):
        status, _, body = http_request(self.port, "GET", f"/dev/token?room={room}&identity={identity}")
        if status != 200:
            raise RuntimeError(f"/dev/token answered {status}: {body[:200]!r}")
        return json.loads(body)["token"]


# ------------------------------------------------------------------------------------------------------------
# /proc

def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def socket_inodes(pid):
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def tcp_connections(pid, local_port):
    """TCP connections the process holds on `local_port` (listening sockets excluded), from /proc/PID/net/tcp*
    matched with the process's socket inodes."""
    try:
        inodes = socket_inodes(pid)
    except OSError:
        return -1
    count = 0
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{name}") as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            port = int(fields[1].split(":")[1], 16)
            if port == local_port and fields[3] != "0A" and fields[9] in inodes:
                count += 1
    return count


def raise_fd_limit():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, 16384):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 16384), hard))


# ------------------------------------------------------------------------------------------------------------
# HTTP from a chosen source address

def http_request(port, method, path, body=b"", headers=None, source="127.0.0.1", timeout=10):
    """One request on a new connection from `source`; returns (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def echo_post(port, sdp, source, token=None, timeout=15):
    """POST /v1/echo; returns (status, headers, body text)."""
    headers = {"Content-Type": "application/sdp"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = sdp.encode() if isinstance(sdp, str) else sdp
    status, h, body = http_request(port, "POST", "/v1/echo", data, headers, source=source, timeout=timeout)
    return status, h, body.decode(errors="replace")


def echo_delete(port, location, token=None, source="127.0.0.1"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, _, _ = http_request(port, "DELETE", location, b"", headers, source=source)
    return status


def ws_upgrade_status(port, path, origin=None, host=None, source="127.0.0.1", timeout=5):
    """Sends a WebSocket upgrade request and returns the status code of the reply (closes the connection)."""
    s = socket.create_connection(("127.0.0.1", port), timeout, source_address=(source, 0))
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host or f'127.0.0.1:{port}'}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if origin is not None:
            lines.append(f"Origin: {origin}")
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return None
            data += chunk
        return int(data.split(b" ", 2)[1])
    finally:
        s.close()


class RawWebSocket:
    """A blocking WebSocket client that writes text frames and reads only when asked: once it stops reading it
    never answers a close frame either (a stalled client)."""

    def __init__(self, port, path, source, timeout=5):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout, source_address=(source, 0))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           ).encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the upgrade")
            data += chunk
        if data.split(b" ", 2)[1] != b"101":
            raise ConnectionError(f"upgrade refused: {data[:60]!r}")
        self.buffer = data.split(b"\r\n\r\n", 1)[1]

    def send_text(self, text):
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = bytes([0x81, 0x80 | n])
        elif n < 65536:
            header = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            header = bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def read_until(self, needle, timeout):
        """Reads (raw frame bytes) until `needle` appears; returns whether it did."""
        deadline = time.monotonic() + timeout
        while needle not in self.buffer and time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            self.buffer += chunk
        return needle in self.buffer

    def close(self):
        self.sock.close()


def stun_like(length, sent):
    """An RFC 4571 frame header announcing `length` bytes, then `sent` bytes of a STUN Binding Request header
    (RFC 5389: type 1, the magic cookie) padded with zeros: a frame that looks right until it is complete."""
    body = (1).to_bytes(2, "big") + max(0, length - 20).to_bytes(2, "big") + (0x2112A442).to_bytes(4, "big") + os.urandom(12)
    return length.to_bytes(2, "big") + (body + b"\x00" * sent)[:sent]


def open_tcp(port, source, count, payload=b"", timeout=3):
    """`count` TCP connections from `source` to 127.0.0.1:port, each sending `payload` (may be empty); returns
    the sockets (non-blocking) and the ones whose connect or send failed outright (refused at once)."""
    socks, failed = [], 0
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((source, 0))
            s.settimeout(timeout)
            s.connect(("127.0.0.1", port))
            if payload:
                s.sendall(payload)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            failed += 1
            s.close()
    return socks, failed


def watch_closed(socks, seconds, start=None, trickle=None):
    """Waits up to `seconds` (from `start`, default now) and returns {socket: seconds after start when the peer
    closed it (EOF or reset)}; a socket still open is absent. `trickle`: (sockets, bytes, interval): sends that
    much on each of those sockets still open at that interval (a slowloris request)."""
    start = start or time.monotonic()
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    closed = {}
    next_trickle = time.monotonic() + (trickle[2] if trickle else 1e9)
    while len(closed) < len(socks):
        now = time.monotonic()
        if now - start >= seconds:
            break
        if trickle and now >= next_trickle:
            next_trickle = now + trickle[2]
            for s in trickle[0]:
                if s not in closed:
                    try:
                        s.send(trickle[1])
                    except BlockingIOError:
                        pass
                    except OSError:
                        closed[s] = time.monotonic() - start
                        try:
                            sel.unregister(s)
                        except (KeyError, ValueError):
                            pass
        timeout = max(0.0, min(seconds - (now - start), 0.1))
        for key, _ in sel.select(timeout):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                closed[s] = time.monotonic() - start
                sel.unregister(s)
    sel.close()
    return closed


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


# ------------------------------------------------------------------------------------------------------------
# SDP

def ice():
    return {"ufrag": secrets.token_hex(4), "pwd": secrets.token_hex(12)}


def session(mids, origin=None, extra=""):
    """The session part; `origin`: (session id, version), as a renegotiating client keeps the id and counts up."""
    sess, version = origin or (secrets.randbelow(1 << 60), 2)
    return ("v=0\r\n"
            f"o=- {sess} {version} IN IP4 127.0.0.1\r\n"
            "s=-\r\nt=0 0\r\n"
            f"a=group:BUNDLE {' '.join(mids)}\r\n" + extra +
            "a=msid-semantic:WMS *\r\n")


def section(kind, mid, direction, creds, ssrc=None, rids=None, simulcast=None, rid_lines=None, sim_ssrcs=None,
            rich=False, msid=True):
    """One m-section of an offer. `rids`: a=rid:<id> send lines plus `a=simulcast:send` of them (override either
    with `rid_lines` / `simulcast`); `sim_ssrcs`: SSRCs of an a=ssrc-group:SIM; `rich`: the attributes a browser
    adds (extmaps, rtcp-fb, RTX), so that answers and subscriber offers have realistic sizes."""
    out = []
    if kind == "audio":
        out.append("m=audio 9 UDP/TLS/RTP/SAVPF 111")
    else:
        out.append("m=video 9 UDP/TLS/RTP/SAVPF 96 97")
    out += ["c=IN IP4 0.0.0.0", f"a=mid:{mid}", f"a={direction}", "a=rtcp-mux",
            f"a=ice-ufrag:{creds['ufrag']}", f"a=ice-pwd:{creds['pwd']}", f"a=fingerprint:{FINGERPRINT}",
            "a=setup:actpass", "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid"]
    if rich or rids or rid_lines:
        out += ["a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
                "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"]
    if rich:
        out += ["a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
                "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"]
        if kind == "audio":
            out.append("a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level")
    if kind == "audio":
        out.append("a=rtpmap:111 opus/48000/2")
        if rich:
            out += ["a=rtcp-fb:111 transport-cc", "a=fmtp:111 minptime=10;useinbandfec=1"]
    else:
        out += ["a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 nack", "a=rtcp-fb:96 nack pli", "a=rtcp-fb:96 ccm fir",
                "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96"]
        if rich:
            out += ["a=rtcp-fb:96 goog-remb", "a=rtcp-fb:96 transport-cc"]
    if rid_lines is not None:
        out += rid_lines
    elif rids:
        out += [f"a=rid:{r} send" for r in rids]
    if simulcast is not None:
        out.append(simulcast)
    elif rids:
        out.append("a=simulcast:send " + ";".join(rids))
    if msid and direction in ("sendonly", "sendrecv"):
        out.append(f"a=msid:adv-stream adv-{kind}-{mid}")
    if sim_ssrcs:
        out.append("a=ssrc-group:SIM " + " ".join(str(s) for s in sim_ssrcs))
        out += [f"a=ssrc:{s} cname:adversarial" for s in sim_ssrcs]
    elif not (rids or rid_lines) and direction in ("sendonly", "sendrecv"):
        out.append(f"a=ssrc:{ssrc or secrets.randbelow(1 << 31) + 1} cname:adversarial")
    return "\r\n".join(out) + "\r\n"


def offer(sections, creds=None, pad_to=0, origin=None):
    """An offer of `sections`: list of (kind, mid, direction, **options). `pad_to`: grow it with a=x-pad session
    lines to at least that many bytes; `origin`: see `session`."""
    creds = creds or ice()
    mids = [s[1] for s in sections]
    body = "".join(section(kind, mid, direction, creds, **opts) for kind, mid, direction, opts in sections)
    head = session(mids, origin)
    if pad_to:
        missing = pad_to - len(head) - len(body)
        line = "a=x-pad:" + "p" * 990 + "\r\n"
        head += line * (max(0, missing) // len(line) + 1)
    return head + body


def plain_echo_offer():
    return offer([("audio", "0", "sendrecv", {}), ("video", "1", "sendrecv", {})])


def largest_echo_offer(sending=8, layers=4):
    """The largest offer the default limits allow: 8 sending video m-lines of 4 simulcast layers each."""
    return offer([("video", str(i), "sendrecv", {"rids": ["q", "h", "f", "x"][:layers], "rich": True})
                  for i in range(sending)])


def sdp_sections(sdp):
    """(session lines, [m-section lines]) of an SDP."""
    head, sections = [], []
    for line in sdp.replace("\r\n", "\n").split("\n"):
        if not line:
            continue
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        else:
            head.append(line)
    return head, sections


def count_simulcast_layers(sdp):
    """Simulcast layers an SDP holds: the a=rid lines, or the rids of its a=simulcast lines."""
    rids = sum(1 for line in sdp.splitlines() if line.startswith("a=rid:"))
    listed = 0
    for line in sdp.splitlines():
        if line.startswith("a=simulcast:"):
            words = line[len("a=simulcast:"):].split()
            for i in range(0, len(words) - 1, 2):
                listed += len(re.split(r"[;,]", words[i + 1]))
    return max(rids, listed)


def answer_for(offer_sdp):
    """A browser-sized answer to a subscriber offer: every m-section mirrored as recvonly (inactive stays
    inactive, port 0 stays rejected) with all the offered codecs, rtcp-fb and extmaps, and our ICE credentials
    and fingerprint in every section (as Chromium writes them)."""
    creds = ice()
    head, sections = sdp_sections(offer_sdp)
    mids, body = [], []
    for lines in sections:
        m = lines[0].split()
        mid = next((l[6:] for l in lines if l.startswith("a=mid:")), None)
        rejected = m[1] == "0"
        direction = next((l[2:] for l in lines if l in ("a=sendonly", "a=sendrecv", "a=recvonly", "a=inactive")),
                         "sendrecv")
        out = [f"m={m[0][2:]} {'0' if rejected else '9'} {' '.join(m[2:])}", "c=IN IP4 0.0.0.0"]
        if mid is not None:
            out.append(f"a=mid:{mid}")
            if not rejected:
                mids.append(mid)
        if not rejected:
            out += [f"a=ice-ufrag:{creds['ufrag']}", f"a=ice-pwd:{creds['pwd']}", f"a=fingerprint:{FINGERPRINT}",
                    "a=setup:active"]
        if m[0] == "m=application":
            out += [l for l in lines if l.startswith(("a=sctp-port", "a=max-message-size"))]
        else:
            out.append("a=" + {"sendonly": "recvonly", "sendrecv": "recvonly"}.get(direction, "inactive"))
            out.append("a=rtcp-mux")
            out += [l for l in lines if l.startswith(("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:", "a=extmap:"))]
            out.append(f"a=ssrc:{secrets.randbelow(1 << 31) + 1} cname:adversarial-subscriber")
        body.append("\r\n".join(out) + "\r\n")
    return session(mids) + "".join(body)


# ------------------------------------------------------------------------------------------------------------
# /rtc and /control clients (websockets; no schema checks: replies to attacks are what we measure)

class WSClient:
    """One WebSocket with a reader task: `messages` in arrival order with their times; replies matched by `id`
    through `request`; `closed_at`, `close_code` when the server closes."""

    def __init__(self, label):
        self.label = label
        self.ws = None
        self.messages = []
        self.arrived = asyncio.Event()
        self.closed = asyncio.Event()
        self.closed_at = None
        self.opened_at = None
        self.pending = {}
        self.ids = 0
        self.reader = None
        self.on_message = None

    async def open(self, url, source="127.0.0.1", origin=None, headers=None, timeout=8):
        import inspect
        from websockets.asyncio.client import connect
        extra = {"proxy": None} if "proxy" in inspect.signature(connect).parameters else {}  # websockets >= 15
        self.ws = await asyncio.wait_for(connect(
            url, origin=origin, additional_headers=headers, compression=None, max_size=None, ping_interval=None,
            open_timeout=timeout, close_timeout=2, local_addr=(source, 0), **extra), timeout + 1)
        self.opened_at = time.monotonic()
        self.reader = asyncio.ensure_future(self._read())
        return self

    async def _read(self):
        try:
            async for text in self.ws:
                try:
                    message = json.loads(text)
                except ValueError:
                    message = {"unparsable": text[:200]}
                self.messages.append((time.monotonic(), message))
                key = message.get("id") if isinstance(message, dict) else None
                if key is not None and key in self.pending and not self.pending[key].done():
                    self.pending.pop(key).set_result(message)
                if self.on_message is not None:
                    self.on_message(message)
                self.arrived.set()
        except Exception:
            pass
        finally:
            self.closed_at = time.monotonic()
            self.closed.set()
            self.arrived.set()
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"{self.label}: the WebSocket closed"))

    @property
    def close_code(self):
        if self.ws is None:
            return None
        code = getattr(self.ws, "close_code", None)
        if code is None and getattr(self.ws.protocol, "close_rcvd", None) is not None:
            code = self.ws.protocol.close_rcvd.code
        return code

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, (str, bytes)) else json.dumps(obj))

    async def request(self, message, timeout=10):
        """Sends `message` (an id is added when absent) and returns the reply with that id."""
        if "id" not in message and "jsonrpc" not in message:
            self.ids += 1
            message = {**message, "id": f"{self.label}-{self.ids}"}
        elif "jsonrpc" in message and "id" not in message:
            self.ids += 1
            message = {**message, "id": self.ids}
        future = asyncio.get_running_loop().create_future()
        self.pending[message["id"]] = future
        await self.send(message)
        return await asyncio.wait_for(future, timeout)

    async def wait_for(self, predicate, timeout):
        """The first message (already received or coming) that satisfies `predicate`, or None after `timeout`."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for _, m in self.messages[seen:]:
                if predicate(m):
                    return m
            seen = len(self.messages)
            left = deadline - time.monotonic()
            if left <= 0 or (self.closed.is_set() and seen == len(self.messages)):
                return None
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except asyncio.TimeoutError:
                return None

    def abort(self):
        """Drops the connection without a close handshake (a lost network)."""
        self.ws.transport.abort()

    async def close(self):
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 3)
            except Exception:
                self.ws.transport.abort()
        if self.reader is not None:
            self.reader.cancel()


class RTC(WSClient):
    """A /rtc participant without media: joins, publishes hand-made offers, and (with `answer=True`) answers every
    subscriberOffer with `answer_for`, recording sizes and outcomes."""

    def __init__(self, label, answer=False):
        super().__init__(label)
        self.answer = answer
        self.offers = []          # (message bytes, m-sections, revision)
        self.answers = []         # (answer message bytes, reply type, error code)
        self.join_result = None
        self._queue = asyncio.Queue()
        self._answerer = None

    async def open(self, url, **kw):
        await super().open(url, **kw)
        self.on_message = self._seen
        if self.answer:
            self._answerer = asyncio.ensure_future(self._answer_loop())
        return self

    def _seen(self, message):
        if message.get("type") == "subscriberOffer":
            sdp = message.get("sdp", "")
            self.offers.append((len(json.dumps(message)), sdp.count("\nm="), message.get("revision")))
            self._queue.put_nowait(message)

    async def _answer_loop(self):
        while True:
            offer_message = await self._queue.get()
            answer = answer_for(offer_message["sdp"])
            request = {"type": "subscriberAnswer", "sdp": answer, "revision": offer_message["revision"]}
            size = len(json.dumps({**request, "id": "x" * 12}))
            try:
                reply = await self.request(request, timeout=15)
                self.answers.append((size, reply.get("type"), (reply.get("error") or {}).get("code")))
            except Exception as e:
                self.answers.append((size, "failed", type(e).__name__))

    async def join(self, token, **extra):
        reply = await self.request({"type": "join", "token": token, **extra})
        if reply.get("type") == "response":
            self.join_result = reply["result"]
        return reply

    async def publish(self, sdp, tracks, timeout=20):
        return await self.request({"type": "publish", "sdp": sdp, "tracks": tracks}, timeout=timeout)

    async def close(self):
        if self._answerer is not None:
            self._answerer.cancel()
        await super().close()


def error_code(reply):
    return (reply or {}).get("error", {}).get("code") if isinstance(reply, dict) else None


# ------------------------------------------------------------------------------------------------------------
# The aiortc echo peer, as a child process

class EchoPeer:
    """`python3 attack.py echo-peer` in the background: POSTs an aiortc offer to /v1/echo from `source` and
    prints JSON lines (posted, connected, frames); `events` collects them."""

    running = []  # every peer started, so that the suite can kill what is left at its end

    def __init__(self, port, source, token=None, bad_audio_level=False, seconds=120):
        argv = [sys.executable, os.path.abspath(__file__), "echo-peer", "--port", str(port), "--source", source,
                "--seconds", str(seconds)]
        if token:
            argv += ["--token", token]
        if bad_audio_level:
            argv.append("--bad-audio-level")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        EchoPeer.running.append(self)
        self.events = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            event["t"] = time.monotonic()
            with self.lock:
                self.events.append(event)

    def last(self, kind):
        with self.lock:
            for e in reversed(self.events):
                if e.get("event") == kind:
                    return e
        return None

    async def wait(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for e in self.events:
                    if predicate(e):
                        return e
            if self.proc.poll() is not None and not self.thread.is_alive():
                return None
            await asyncio.sleep(0.05)
        return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    @classmethod
    def kill_all(cls):
        for peer in cls.running:
            peer.kill()


def echo_peer_main(args):
    """The child: one aiortc peer (VP8 moving pattern + Opus) against /v1/echo."""
    import aioice.ice
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    import starling_rtc
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, rtp
    from aiortc.mediastreams import AudioStreamTrack

    def say(**event):
        print(json.dumps(event), flush=True)

    if args.bad_audio_level:
        original = rtp.HeaderExtensionsMap.set

        def zero_length_audio_level(self, values):
            ids = self._HeaderExtensionsMap__ids
            if values.audio_level is None or not ids.audio_level:
                return original(self, values)
            extensions = []
            if values.mid is not None and ids.mid:
                extensions.append((ids.mid, values.mid.encode()))
            extensions.append((ids.audio_level, b""))  # zero length: only the two-byte form can carry it
            return rtp.pack_header_extensions(extensions)

        rtp.HeaderExtensionsMap.set = zero_length_audio_level

    def malformed_on_the_wire():
        """Serializes one packet as the sender will: is the audio level a zero-length two-byte-form element?"""
        from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
        m = rtp.HeaderExtensionsMap()
        m.configure(RTCRtpParameters(headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
            RTCRtpHeaderExtensionParameters(id=2, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level")]))
        packet = rtp.RtpPacket(payload_type=111, sequence_number=1, timestamp=1)
        packet.extensions.mid, packet.extensions.audio_level = "0", (False, 30)
        data = packet.serialize(m)
        return data[12:14] == b"\x10\x00" and b"\x02\x00" in data[16:]

    async def run():
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTrack(starling_rtc.moving_pattern_track())
        pc.addTrack(AudioStreamTrack())
        counts = {"video": 0, "audio": 0}

        async def consume(track):
            while True:
                try:
                    await track.recv()
                except Exception:
                    return
                counts[track.kind] += 1

        pc.on("track", lambda track: asyncio.ensure_future(consume(track)))

        @pc.on("connectionstatechange")
        def changed():
            say(event="state", state=pc.connectionState)
            if pc.connectionState == "connected":
                say(event="connected")

        await pc.setLocalDescription(await pc.createOffer())
        loop = asyncio.get_running_loop()
        status, headers, body = await loop.run_in_executor(
            None, lambda: echo_post(args.port, pc.localDescription.sdp, args.source, args.token))
        say(event="posted", status=status, location=headers.get("Location"),
            audioLevel="ssrc-audio-level" in body, malformed=malformed_on_the_wire())
        if status != 201:
            return
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            await asyncio.sleep(0.25)
            say(event="frames", video=counts["video"], audio=counts["audio"])
        await pc.close()

    asyncio.run(run())


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    peer = sub.add_parser("echo-peer")
    peer.add_argument("--port", type=int, required=True)
    peer.add_argument("--source", default="127.0.0.1")
    peer.add_argument("--token")
    peer.add_argument("--seconds", type=float, default=120)
    peer.add_argument("--bad-audio-level", action="store_true")
    args = ap.parse_args()
    if args.command == "echo-peer":
        echo_peer_main(args)
