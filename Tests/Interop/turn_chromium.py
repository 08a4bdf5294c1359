#!/usr/bin/env python3
"""TURN through coturn: a relay-only Chromium participant, and coturn refusing bad credentials.

Inside a network namespace holding only `lo` (re-executes itself under `unshare --net`; nothing leaves it):
  * coturn (`turnserver`, Debian `coturn`) on 127.0.0.1 with use-auth-secret, a static-auth-secret made for
    this run, allow-loopback-peers (Starling is a loopback peer; coturn refuses it otherwise) and no-cli;
  * `starling serve` on 127.0.0.1 with development tokens, STARLING_TURN_URLS = turn:127.0.0.1:PORT?transport=udp
    and ?transport=tcp, and STARLING_TURN_SECRET = the same secret.
Then it checks:
  1. a join on /rtc (Python client, docs/schemas) gets iceServers listing exactly the configured URLs, with
     username `<expiry>:<identity>` (expiry = now + turn.credentialSeconds) and credential
     base64(HMAC-SHA1(secret, username));
  2. coturn grants a TURN Allocate (RFC 8656, long-term credentials) with those credentials, over UDP and TCP;
     it refuses with 401 a username whose expiry is past (its password correctly computed with the secret), and
     a current username with a forged password;
  3. two headless Chromium sessions join one room through the web app. ann opens it with `?relay=1`, so both of
     her RTCPeerConnections use iceTransportPolicy "relay" and the join response's iceServers: the selected
     candidate pair of each (getStats: transport.selectedCandidatePairId -> candidate-pair -> local-candidate)
     is of type relay; ann decodes ben's camera (framesDecoded rising) and ben decodes ann's (sent through the
     relay); her page uses her own join response's credentials; ben, without the parameter, connects over host
     candidates; coturn's log shows ann's allocations binding channels (CHANNEL_BIND) to Starling.
  4. then UDP to coturn's port is dropped (nftables) and a third page, cal, relay-only, joins: both its
     connections allocate over turn:...?transport=tcp (relayProtocol tcp) and it decodes ben's camera;
  5. then TCP to coturn's plain port is dropped too, leaving only TURN over TLS (turns:, a self-signed
     certificate made for the run): a fourth relay-only page, dee, allocates over TLS and decodes ben's camera.
Prints 'N passed, N failed'; exits non-zero on any failure. Bounded: every wait has a timeout and the whole run
is stopped after TOTAL_SECONDS; coturn, Starling and the browsers are stopped on exit.

Topology: everything on 127.0.0.1 in the one namespace. Chromium (with --allow-loopback-in-peer-connection)
relays through a TURN server on 127.0.0.1, and coturn relays to a 127.0.0.1 peer with allow-loopback-peers.

    python3 Tests/Interop/turn_chromium.py [--binary .build/debug/starling]
"""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from conference_chromium import Browser, Failure, Starling, wait_for  # noqa: E402
from harness import Checks, free_port, isolated_main  # noqa: E402

ROOM = "turn-relay"
TOTAL_SECONDS = 110
CREDENTIAL_SECONDS = 600
FRAMES_WANTED = 30
REALM = "starling.test"
RELAY_PORTS = (49160, 49200)

# Before the web app's script runs: remember every RTCPeerConnection the page makes, for getStats below.
# Per live peer connection: its role, its configuration, and its selected candidate pair's two ends.
SELECTED_PAIRS = """
const out = [];
for (const pc of window.__pcs || []) {
  if (pc.connectionState === "closed") continue;
  const report = await pc.getStats();
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  let pair = null;
  report.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId);
  });
  const end = (id) => {
    const c = id && byId.get(id);
    return c ? {candidateType: c.candidateType, address: c.address, port: c.port, protocol: c.protocol,
                relayProtocol: c.relayProtocol || null, url: c.url || null} : null;
  };
  const config = pc.getConfiguration();
  out.push({
    role: pc.getTransceivers().some((t) => t.direction === "sendonly") ? "publishing" : "subscribing",
    connectionState: pc.connectionState,
    iceTransportPolicy: config.iceTransportPolicy,
    iceServerUrls: (config.iceServers || []).flatMap((s) => [].concat(s.urls)),
    local: pair ? end(pair.localCandidateId) : null,
    remote: pair ? end(pair.remoteCandidateId) : null,
    bytesReceived: pair ? pair.bytesReceived : 0,
  });
}
return out;
"""


# ------------------------------------------------------------------------------------------------------------
# A TURN client, just enough for Allocate with long-term credentials (RFC 8489 §9.2, RFC 8656 §7).

MAGIC = 0x2112A442
ALLOCATE, REFRESH = 0x0003, 0x0004
SUCCESS, ERROR = 0x0100, 0x0110
A_USERNAME, A_MESSAGE_INTEGRITY, A_ERROR_CODE, A_LIFETIME = 0x0006, 0x0008, 0x0009, 0x000D
A_REALM, A_NONCE, A_XOR_RELAYED_ADDRESS, A_REQUESTED_TRANSPORT, A_FINGERPRINT = 0x0014, 0x0015, 0x0016, 0x0019, 0x8028


def stun_attr(kind, value):
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def stun_message(method, txid, attrs, key=None):
    """A STUN request ending in FINGERPRINT; with `key`, MESSAGE-INTEGRITY before it (HMAC-SHA1 over the message
    so far, its header's length already covering the MESSAGE-INTEGRITY attribute: RFC 8489 §14.5)."""
    body = b"".join(stun_attr(k, v) for k, v in attrs)
    if key is not None:
        header = struct.pack("!HHI", method, len(body) + 24, MAGIC) + txid
        body += stun_attr(A_MESSAGE_INTEGRITY, hmac.new(key, header + body, hashlib.sha1).digest())
    header = struct.pack("!HHI", method, len(body) + 8, MAGIC) + txid
    crc = (zlib.crc32(header + body) ^ 0x5354554E) & 0xFFFFFFFF
    body += stun_attr(A_FINGERPRINT, struct.pack("!I", crc))
    return struct.pack("!HHI", method, len(body), MAGIC) + txid + body


def stun_parse(data):
    """(message type, transaction id, [(attr type, value, offset of the attribute)])."""
    kind, length, magic = struct.unpack("!HHI", data[:8])
    if magic != MAGIC or len(data) < 20 + length:
        raise ValueError("not a STUN message")
    attrs, at = [], 20
    while at + 4 <= 20 + length:
        t, n = struct.unpack("!HH", data[at:at + 4])
        attrs.append((t, data[at + 4:at + 4 + n], at))
        at += 4 + n + (-n % 4)
    return kind, data[8:20], attrs


def integrity_ok(data, attrs, key):
    """Whether the response's MESSAGE-INTEGRITY checks out with `key` (proof coturn derived the same key)."""
    for t, value, at in attrs:
        if t == A_MESSAGE_INTEGRITY:
            header = data[:2] + struct.pack("!H", at - 20 + 24) + data[4:20]
            return hmac.compare_digest(hmac.new(key, header + data[20:at], hashlib.sha1).digest(), value)
    return False


class TURNClient:
    """One transport to coturn: UDP datagrams or a TCP stream (RFC 8656 §3.1: STUN messages back to back)."""

    def __init__(self, host, port, transport):
        self.transport = transport
        if transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.connect((host, port))
        else:
            self.sock = socket.create_connection((host, port), timeout=5)
        self.sock.settimeout(2)

    def close(self):
        self.sock.close()

    def request(self, message):
        txid = message[8:20]
        for _ in range(3):
            self.sock.sendall(message) if self.transport == "tcp" else self.sock.send(message)
            try:
                data = self._receive()
            except socket.timeout:
                if self.transport == "tcp":
                    break
                continue
            kind, got_txid, attrs = stun_parse(data)
            if got_txid == txid:
                return kind, attrs, data
        raise Failure("coturn did not answer")

    def _receive(self):
        if self.transport == "udp":
            return self.sock.recv(65535)
        header = self._exactly(20)
        return header + self._exactly(struct.unpack("!H", header[2:4])[0])

    def _exactly(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise Failure("coturn closed the TCP connection")
            data += chunk
        return data


def error_code(attrs):
    for t, value, _ in attrs:
        if t == A_ERROR_CODE:
            return (value[2] & 7) * 100 + value[3], value[4:].decode(errors="replace")
    return None, ""


def xor_address(value):
    port = struct.unpack("!H", value[2:4])[0] ^ (MAGIC >> 16)
    addr = struct.unpack("!I", value[4:8])[0] ^ MAGIC
    return f"{socket.inet_ntoa(struct.pack('!I', addr))}:{port}"


def turn_allocate(host, port, transport, username, password):
    """Allocate (UDP relay) with long-term credentials: the unauthenticated request's 401 brings realm and nonce,
    the authenticated retry is granted or refused. Returns {outcome: "allocated" | "refused", code, reason,
    relayed, integrity, realm}. A granted allocation is released again (Refresh, lifetime 0)."""
    client = TURNClient(host, port, transport)
    try:
        transport_attr = (A_REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))
        kind, attrs, _ = client.request(stun_message(ALLOCATE, os.urandom(12), [transport_attr]))
        code, reason = error_code(attrs)
        if kind != ALLOCATE | ERROR or code != 401:
            raise Failure(f"unauthenticated Allocate: expected 401, got type {kind:#06x} {code} {reason}")
        values = {t: v for t, v, _ in attrs}
        realm, nonce = values.get(A_REALM), values.get(A_NONCE)
        if realm is None or nonce is None:
            raise Failure("coturn's 401 carries no REALM or NONCE")
        key = hashlib.md5(f"{username}:{realm.decode()}:{password}".encode()).digest()
        auth = [(A_USERNAME, username.encode()), (A_REALM, realm), (A_NONCE, nonce)]
        kind, attrs, data = client.request(stun_message(ALLOCATE, os.urandom(12), [transport_attr] + auth, key))
        result = {"realm": realm.decode()}
        if kind == ALLOCATE | SUCCESS:
            relayed = next((xor_address(v) for t, v, _ in attrs if t == A_XOR_RELAYED_ADDRESS), None)
            result.update(outcome="allocated", code=None, reason="", relayed=relayed,
                          integrity=integrity_ok(data, attrs, key))
            client.request(stun_message(REFRESH, os.urandom(12), [(A_LIFETIME, struct.pack("!I", 0))] + auth, key))
        else:
            code, reason = error_code(attrs)
            result.update(outcome="refused", code=code, reason=reason, relayed=None, integrity=None)
        return result
    finally:
        client.close()


def refused_401(got):
    """(whether coturn refused with 401, what it said) for a turn_allocate result."""
    return got["outcome"] == "refused" and got["code"] == 401, f"{got['outcome']} {got['code'] or ''} {got['reason']}"


def rest_credentials(secret, username):
    """coturn's TURN REST password for `username` (draft-uberti-behave-turn-rest-00 §2.2)."""
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


# ------------------------------------------------------------------------------------------------------------
# coturn

class Coturn:
    """`turnserver` on 127.0.0.1:PORT (UDP and TCP) with use-auth-secret; returns once it answers a Binding."""

    def __init__(self, secret, host="127.0.0.1"):
        self.host = host
        self.port = free_port()
        self.tls_port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="starling-turn-coturn-", suffix=".log", delete=False)
        # TURN over TLS (turns:) needs a certificate: a self-signed ECDSA P-256 one for this run.
        self.certs = tempfile.mkdtemp(prefix="starling-turn-tls-")
        cert, key = os.path.join(self.certs, "cert.pem"), os.path.join(self.certs, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-subj", "/CN=localhost", "-days", "1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=20)
        args = [
            "turnserver", "-n",  # -n: no configuration file, only these options
            f"--listening-ip={host}", f"--relay-ip={host}", f"--listening-port={self.port}",
            f"--min-port={RELAY_PORTS[0]}", f"--max-port={RELAY_PORTS[1]}", f"--realm={REALM}",
            "--use-auth-secret", f"--static-auth-secret={secret}",
            f"--tls-listening-port={self.tls_port}", f"--cert={cert}", f"--pkey={key}",
            "--allow-loopback-peers", "--no-cli", "--no-dtls", "--fingerprint", "--no-multicast-peers",
            "--log-file=stdout", "--simple-log", "--verbose",
            f"--pidfile={tempfile.gettempdir()}/starling-turn-coturn-{os.getpid()}.pid",
        ]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            if self._answers():
                return
            time.sleep(0.1)
        self.stop()
        raise Failure("coturn did not start:\n" + self.tail())

    def _answers(self):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(0.3)
                s.sendto(stun_message(0x0001, os.urandom(12), []), (self.host, self.port))
                return stun_parse(s.recv(2048))[0] == 0x0101
        except OSError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            os.unlink(f"{tempfile.gettempdir()}/starling-turn-coturn-{os.getpid()}.pid")
        except OSError:
            pass
        shutil.rmtree(self.certs, ignore_errors=True)

    def text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def tail(self, lines=40):
        return "".join(self.text().splitlines(keepends=True)[-lines:])


# ------------------------------------------------------------------------------------------------------------
# The web app in Chromium

class RelayBrowser(Browser):
    """A Browser whose pages record their RTCPeerConnections (window.__pcs) and that opens the web app with a
    query string (`?relay=1`)."""

    def __init__(self, name, query="", extra_flags=()):
        super().__init__(name, extra_flags)
        self.query = query
        self.record_peer_connections()

    def selected_pairs(self):
        pairs = self.js_async(SELECTED_PAIRS)
        if isinstance(pairs, dict) and "error" in pairs:
            raise Failure(f"{self.name}: getStats failed: {pairs['error']}")
        return pairs

    def camera_frames(self, participant_id):
        return max((s["framesDecoded"] for s in self.stats().values()
                    if s.get("participantId") == participant_id and s.get("kind") == "video"), default=0)


def join_with_python(server, identity):
    """Joins ROOM on /rtc as `identity` with the Python client (every message checked against docs/schemas) and
    returns the join result; the participant leaves again."""
    import starling_rtc

    token = server.token(ROOM, identity)

    async def go():
        p = starling_rtc.Participant(identity, log=lambda text: None)
        try:
            await p.connect(server.rtc_url)
            result = await p.join(token)
            await p.leave()
            p.check_violations()
            return result
        finally:
            await p.close()

    return asyncio.run(asyncio.wait_for(go(), 20))


# ------------------------------------------------------------------------------------------------------------

def run_inner(binary):
    started = time.time()
    checks = Checks()
    secret = secrets.token_hex(16)
    coturn = server = None
    browsers = []

    def cleanup():
        for b in browsers:
            b.quit()
        for p in (server, coturn):
            if p is not None:
                p.stop()

    signal.signal(signal.SIGTERM, lambda *_: (cleanup(), sys.exit(1)))
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(Failure(f"the run exceeded {TOTAL_SECONDS} s")))
    signal.alarm(TOTAL_SECONDS)
    try:
        coturn = Coturn(secret)
        urls = [f"turn:{coturn.host}:{coturn.port}?transport=udp", f"turn:{coturn.host}:{coturn.port}?transport=tcp",
                f"turns:{coturn.host}:{coturn.tls_port}?transport=tcp"]
        server = Starling(binary, log_prefix="starling-turn-", extra_env={
            "STARLING_TURN_URLS": ",".join(urls),
            "STARLING_TURN_SECRET": secret,
            "STARLING_TURN_CREDENTIAL_SECONDS": str(CREDENTIAL_SECONDS),
        })
        print(f"coturn {turnserver_version()} on {coturn.host}:{coturn.port} (udp, tcp), relay ports "
              f"{RELAY_PORTS[0]}-{RELAY_PORTS[1]}; starling on {server.url} ({time.time() - started:.1f} s)",
              flush=True)

        # 1. The join response's ICE servers.
        identity = "turn-probe"
        joined_at = time.time()
        result = join_with_python(server, identity)
        servers = result.get("iceServers") or []
        first = servers[0] if servers else {}
        username, credential = first.get("username", ""), first.get("credential", "")
        checks.check("join response: iceServers lists exactly the configured TURN URLs",
                     len(servers) == 1 and first.get("urls") == urls, json.dumps(servers))
        expiry, _, named = username.partition(":")
        checks.check(f"join response: username is <now + {CREDENTIAL_SECONDS} s>:<identity>",
                     expiry.isdigit() and abs(int(expiry) - (joined_at + CREDENTIAL_SECONDS)) <= 5
                     and named == identity,
                     f"{username!r}, {int(expiry) - int(joined_at) if expiry.isdigit() else '?'} s ahead")
        checks.check("join response: credential is base64(HMAC-SHA1(secret, username))",
                     credential == rest_credentials(secret, username))

        # 2. coturn accepts those credentials and refuses expired and forged ones.
        for transport in ("udp", "tcp"):
            got = turn_allocate(coturn.host, coturn.port, transport, username, credential)
            checks.check(f"coturn grants an Allocate over {transport.upper()} with the join response's credentials",
                         got["outcome"] == "allocated" and got["integrity"] and got["relayed"],
                         f"relayed address {got['relayed']}, response integrity checked with our key: "
                         f"{got['integrity']}"
                         if got["outcome"] == "allocated" else f"refused: {got['code']} {got['reason']}")
        expired = f"{int(time.time()) - 60}:{identity}"
        got = turn_allocate(coturn.host, coturn.port, "udp", expired, rest_credentials(secret, expired))
        checks.check("coturn refuses an expired username (expiry 60 s ago, password made with the secret): 401",
                     *refused_401(got))
        forged = rest_credentials("not-the-secret", username)
        got = turn_allocate(coturn.host, coturn.port, "udp", username, forged)
        checks.check("coturn refuses a current username with a forged password: 401",
                     *refused_401(got))
        # A later expiry than Starling gave, with Starling's password: not what the secret signed.
        later = f"{(int(expiry) if expiry.isdigit() else int(time.time())) + 3600}:{identity}"
        got = turn_allocate(coturn.host, coturn.port, "udp", later, credential)
        checks.check("coturn refuses another username with the join response's password: 401",
                     *refused_401(got))

        # 3. Chromium: ann relay-only, ben as usual.
        ann, ben = RelayBrowser("ann", "?relay=1"), RelayBrowser("ben")
        browsers += [ann, ben]
        for b in (ann, ben):
            b.open_and_join(server.url, ROOM)
        ids = {}
        for b in (ann, ben):
            st = wait_for(f"{b.name} to join",
                          lambda: (s := b.state) and s.get("phase") == "joined" and s.get("me") and s, 20)
            ids[b.name] = st["me"]["id"]
        print(f"joined: {json.dumps(ids)} ({time.time() - started:.1f} s)", flush=True)
        try:
            wait_for("both to decode the other's camera", lambda: ann.camera_frames(ids["ben"]) >= FRAMES_WANTED
                     and ben.camera_frames(ids["ann"]) >= FRAMES_WANTED, 40)
        except Failure as e:
            print(e)
        first_ann, first_ben = ann.camera_frames(ids["ben"]), ben.camera_frames(ids["ann"])
        time.sleep(3)
        now_ann, now_ben = ann.camera_frames(ids["ben"]), ben.camera_frames(ids["ann"])
        pairs = {b.name: b.selected_pairs() for b in (ann, ben)}
        for name, ps in pairs.items():
            for p in ps:
                print(f"{name} {p['role']}: {p['connectionState']}, policy {p['iceTransportPolicy']}, selected pair "
                      f"{describe(p['local'])} -> {describe(p['remote'])}")
        ann_pairs = pairs["ann"]
        checks.check("ann's two connections: iceTransportPolicy relay, iceServers from the join response",
                     len(ann_pairs) == 2
                     and all(p["iceTransportPolicy"] == "relay" and p["iceServerUrls"] == urls for p in ann_pairs),
                     "; ".join(f"{p['role']} {p['iceTransportPolicy']} {p['iceServerUrls']}" for p in ann_pairs))
        for role in ("publishing", "subscribing"):
            p = next((p for p in ann_pairs if p["role"] == role), None)
            local = (p or {}).get("local") or {}
            checks.check(f"ann's {role} connection: selected pair's local candidate is relay (through coturn)",
                         local.get("candidateType") == "relay" and local.get("port") is not None
                         and RELAY_PORTS[0] <= local["port"] <= RELAY_PORTS[1],
                         f"{describe(local)} -> {describe((p or {}).get('remote'))}")
        checks.check("ann (relay only) decodes ben's camera, framesDecoded rising",
                     first_ann >= FRAMES_WANTED and now_ann > first_ann, f"{first_ann} -> {now_ann} frames in 3 s")
        checks.check("ben decodes ann's camera (sent through the relay), framesDecoded rising",
                     first_ben >= FRAMES_WANTED and now_ben > first_ben, f"{first_ben} -> {now_ben} frames in 3 s")
        ben_types = sorted({(p.get("local") or {}).get("candidateType") for p in pairs["ben"]}, key=str)
        checks.check("ben (no ?relay) connects over host candidates", ben_types == ["host"], f"{ben_types}")
        ann_server = ann.js("const s = window.__pcs[0].getConfiguration().iceServers[0] || {};"
                            "return {username: s.username || '', credential: s.credential || ''}")
        ann_user = ann_server["username"]
        checks.check("ann's page uses its own join response's credentials (<expiry>:<ann's identity>, HMAC correct)",
                     ann_user.partition(":")[2].startswith("ann-")
                     and ann_server["credential"] == rest_credentials(secret, ann_user), repr(ann_user))
        # coturn's side: ann's allocations (one per connection at least) bound a channel to a peer (Starling).
        pattern = re.compile(rf"session (\d+): realm <[^>]*> user <{re.escape(ann_user)}>: incoming packet "
                             r"CHANNEL_BIND processed, success")
        try:
            wait_for("coturn to log ann's channel bindings", lambda: len(set(pattern.findall(coturn.text()))) >= 2, 10)
        except Failure as e:
            print(e)
        bound = set(pattern.findall(coturn.text()))
        checks.check("coturn's log: ann's allocations bound channels to Starling (CHANNEL_BIND success)",
                     len(bound) >= 2,
                     f"{len(bound)} sessions of {ann_user!r}; bytes on ann's selected pairs: "
                     + ", ".join(f"{p['role']} {p['bytesReceived']} received" for p in ann_pairs))

        def relay_only_page(name, protocol, what, flags=()):
            """A relay-only page joins; both its connections must allocate over `protocol` and it decodes ben."""
            page = RelayBrowser(name, "?relay=1", flags)
            browsers.append(page)
            page.open_and_join(server.url, ROOM)
            wait_for(f"{name} to join", lambda: (s := page.state) and s.get("phase") == "joined", 20)
            try:
                wait_for(f"{name} to decode ben's camera over {what}",
                         lambda: page.camera_frames(ids["ben"]) >= FRAMES_WANTED, 40)
            except Failure as e:
                print(e)
            page_pairs = page.selected_pairs()
            relays = [p for p in page_pairs if (p.get("local") or {}).get("candidateType") == "relay"
                      and (p.get("local") or {}).get("relayProtocol") == protocol]
            frames = page.camera_frames(ids["ben"])
            return len(relays) == 2 and frames >= FRAMES_WANTED, (
                f"{frames} frames; " + "; ".join(f"{p['role']}: {describe(p.get('local'))}" for p in page_pairs))

        # 4. TURN over TCP: UDP to coturn's port is dropped (nftables), as on a network that lets only TCP out;
        # cal, relay-only, must allocate over turn:...?transport=tcp and still decode ben's camera.
        subprocess.run(["nft", "-f", "-"], check=True, text=True, input=f"""
table inet starling_turn_tcp {{
  chain output {{ type filter hook output priority 0; policy accept; udp dport {coturn.port} counter drop; }}
}}
""")
        checks.check("with UDP to coturn dropped, relay-only cal allocates over TURN/TCP on both connections and "
                     "decodes ben's camera", *relay_only_page("cal", "tcp", "TURN/TCP"))

        # 5. TURN over TLS: TCP to coturn's plain port is dropped too, so only turns: is left (as on a network
        # that lets out nothing but TLS). The certificate is self-signed for this run, so dee's Chromium is told
        # to accept it (--ignore-certificate-errors); a deployment uses a certificate for the TURN host's name.
        subprocess.run(["nft", "add", "rule", "inet", "starling_turn_tcp", "output", "tcp", "dport", str(coturn.port),
                        "counter", "drop"], check=True)
        checks.check("with only TLS to coturn left, relay-only dee allocates over turns: (TURN/TLS) on both connections "
                     "and decodes ben's camera",
                     *relay_only_page("dee", "tls", "TURN/TLS", ["--ignore-certificate-errors"]))
    except Exception as e:
        checks.check("the run completed", False, f"{type(e).__name__}: {e}")
    finally:
        signal.alarm(0)
        if checks.failed:
            for b in browsers:
                try:
                    print(f"--- {b.name}'s page log (tail)\n{b.log_tail(25)}")
                except Exception:
                    pass
            if server is not None:
                print(f"--- starling log (tail)\n{server.tail()}")
            if coturn is not None:
                print(f"--- coturn log (tail)\n{coturn.tail()}")
        cleanup()
    for what, process in (("coturn", coturn), ("starling", server)):  # whole logs kept for a failed run only
        if process is not None:
            if checks.failed:
                print(f"{what}'s whole log: {process.log.name}")
            else:
                os.unlink(process.log.name)
    print(f"elapsed {time.time() - started:.1f} s")
    print(f"{len(checks.results) - checks.failed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


def describe(candidate):
    """'relay 127.0.0.1:49170 (udp to turn:...)' or 'host 127.0.0.1:40000' for a candidate from SELECTED_PAIRS."""
    if not candidate:
        return "none"
    text = f"{candidate['candidateType']} {candidate['address']}:{candidate['port']}"
    if candidate.get("relayProtocol"):
        text += f" ({candidate['relayProtocol']} to {candidate.get('url')})"
    return text


def turnserver_version():
    out = subprocess.run(["turnserver", "--version"], capture_output=True, text=True, timeout=5)
    return (out.stdout or out.stderr).strip().splitlines()[-1] if (out.stdout or out.stderr).strip() else "?"


if __name__ == "__main__":
    if not shutil.which("turnserver"):
        raise SystemExit("turnserver not found: install Debian's coturn (make test-deps)")
    sys.exit(isolated_main(__file__, __doc__, run_inner))
