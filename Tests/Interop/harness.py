"""What the interop tests share: a free port on 127.0.0.1 and `starling serve` as a child process there."""

import argparse
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import sdppeers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StarlingProcess:
    """`starling serve --config config/starling.yaml` on a free HTTP port of 127.0.0.1 with `env` on top of the
    environment (`clean_env` drops every inherited STARLING_ variable first); returns once /healthz answers,
    raises RuntimeError with the log's tail if it does not start."""

    def __init__(self, binary, env, log_prefix="starling-", clean_env=False, startup_seconds=20, stop_seconds=10):
        self.port = free_port()
        self.stop_seconds = stop_seconds
        full = {k: v for k, v in os.environ.items() if not (clean_env and k.startswith("STARLING_"))}
        full["STARLING_HTTP_PORT"] = str(self.port)
        full["STARLING_MEDIA_TCP_PORT"] = "0"  # a free ICE-TCP port unless `env` names one
        full.update(env)
        self.log = tempfile.NamedTemporaryFile(prefix=log_prefix, suffix=".log", delete=False)
        self.proc = subprocess.Popen([binary, "serve", "--config", os.path.join(ROOT, "config/starling.yaml")],
                                     env=full, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.time() + startup_seconds
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1).read()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("starling did not start:\n" + self.tail())

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=self.stop_seconds)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, lines=40):
        with open(self.log.name, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    @property
    def rtc_url(self):
        return f"ws://127.0.0.1:{self.port}/rtc"

    def token(self, room, identity, name=None):
        """A participant token from GET /dev/token (the server must run with development tokens on)."""
        query = urllib.parse.urlencode({"room": room, "identity": identity, "name": name or identity})
        with urllib.request.urlopen(f"{self.url}/dev/token?{query}", timeout=5) as r:
            return json.loads(r.read())["token"]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_token(secret, claims, alg="HS256"):
    """A JWT over `claims` signed with `secret` (HS256; alg "none" leaves the signature out)."""
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    if alg == "none":
        return f"{header}.{payload}."
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def participant_token(secret, room, identity, seconds=600):
    """A participant token with every grant for `room`, as an application would mint it."""
    return mint_token(secret, {"sub": identity, "name": identity, "room": room, "exp": int(time.time()) + seconds,
                               "grants": {"publish": True, "subscribe": True, "publishData": True}})


class Checks:
    """Named pass/fail results, printed as they come."""

    def __init__(self):
        self.results = []

    def check(self, name, ok, detail=""):
        self.results.append((name, bool(ok), detail))
        print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
        return ok

    @property
    def failed(self):
        return sum(1 for _, ok, _ in self.results if not ok)


def finish(server, checks, started):
    """The end of a run against `server`: on failure the server log's tail (and the log is kept), the elapsed
    time since `started` (time.monotonic()), 'N passed, N failed'; returns the exit status."""
    if checks.failed:
        print("--- starling log (tail) ---\n" + server.tail())
        print(f"elapsed {time.monotonic() - started:.1f} s; server log kept: {server.log.name}")
    else:
        print(f"elapsed {time.monotonic() - started:.1f} s")
        os.unlink(server.log.name)
    print(f"{len(checks.results) - checks.failed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


def isolated_main(script, doc, run_inner):
    """The `main` of a test that takes only `--binary` (default $STARLING_BINARY or the debug build): runs
    `run_inner(binary)` inside a network namespace holding only `lo`, re-executing `script` under `unshare --net`
    when this one has other interfaces."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.environ.get("STARLING_BINARY", os.path.join(ROOT, ".build/debug/starling")))
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner or sdppeers.is_isolated():
        if not sdppeers.is_isolated():
            raise SystemExit("refusing to run: interfaces other than lo exist")
        return run_inner(os.path.abspath(args.binary))
    return sdppeers.reexec_isolated([sys.executable, os.path.abspath(script), "--inner",
                                     "--binary", os.path.abspath(args.binary)])
