"""A small, dependency-free client for Firefox's Marionette protocol, and a headless Firefox ESR to drive with it.

Marionette is the remote protocol built into Firefox (what geckodriver talks to; Debian has no geckodriver). Started
with `--marionette`, Firefox listens on 127.0.0.1:`marionette.port` and, on connect, sends a hello
`LEN:{"applicationType": "gecko", "marionetteProtocol": 3}`. Every message after that is the length in decimal
bytes, a colon and JSON: commands `[0, id, "Name", {params}]`, answers `[1, id, error or null, result or null]`.
The commands are WebDriver's, prefixed `WebDriver:` (NewSession, Navigate, ExecuteScript, ExecuteAsyncScript,
FindElement, ElementClick, ElementClear, ElementSendKeys, TakeScreenshot, SetTimeouts, DeleteSession).

    with Firefox(prefs={...}) as ff:           # temporary profile, headless, fake media (see PREFS)
        ff.navigate("http://127.0.0.1:8080/")
        ff.js("return document.title")
        ff.js_async("return await navigator.mediaDevices.enumerateDevices()")
        ff.click("#join-button")
        open("page.png", "wb").write(ff.screenshot())

`Firefox.quit()` (also on `with` exit, on garbage collection and at interpreter exit) kills Firefox's whole process
group and removes the profile. Every wait is bounded: starting (startup_seconds), each command (its own timeout),
quitting.
"""

import atexit
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

# What INTEROP.md lists for a working call with fake camera and microphone, headless, in a loopback-only namespace,
# plus the usual quieting of first-run pages, updates and telemetry (nothing may try to leave the machine anyway).
PREFS = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "media.peerconnection.ice.default_address_only": False,
    "media.peerconnection.ice.no_host": False,
    "media.peerconnection.ice.force_interface": "lo",
    "permissions.default.camera": 1,
    "permissions.default.microphone": 1,
    "media.autoplay.default": 0,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.startup.page": 0,
    "browser.aboutwelcome.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.disabledForTesting": True,
    "app.normandy.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "extensions.update.enabled": False,
    "browser.safebrowsing.update.enabled": False,
}

ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"  # the W3C WebDriver element reference


class MarionetteError(Exception):
    """An error answer of Firefox (`error` is the WebDriver error code, e.g. "no such element"), or a broken
    connection or a timeout (error "connection")."""

    def __init__(self, error, message, stacktrace=""):
        super().__init__(f"{error}: {message}")
        self.error = error
        self.message = message
        self.stacktrace = stacktrace


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pref_literal(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))


class Marionette:
    """One connection to a Marionette port: `command(name, params, timeout)` returns the result or raises
    MarionetteError."""

    def __init__(self, port, host="127.0.0.1", connect_timeout=5):
        self.sock = socket.create_connection((host, port), timeout=connect_timeout)
        self.buffer = b""
        self.next_id = 1
        self.hello = self._read(connect_timeout)
        if not isinstance(self.hello, dict) or self.hello.get("marionetteProtocol") != 3:
            raise MarionetteError("connection", f"unexpected hello {self.hello!r}")

    def _read(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if b":" in self.buffer:
                head, rest = self.buffer.split(b":", 1)
                if not head.isdigit():
                    raise MarionetteError("connection", f"bad frame header {head[:20]!r}")
                n = int(head)
                if len(rest) >= n:
                    self.buffer = rest[n:]
                    return json.loads(rest[:n].decode("utf-8"))
            left = deadline - time.monotonic()
            if left <= 0:
                raise MarionetteError("connection", f"no answer from Firefox in {timeout} s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError as e:
                raise MarionetteError("connection", f"connection to Firefox lost: {e}")
            if not chunk:
                raise MarionetteError("connection", "Firefox closed the Marionette connection")
            self.buffer += chunk

    def command(self, name, params=None, timeout=30):
        msg_id = self.next_id
        self.next_id += 1
        body = json.dumps([0, msg_id, name, params or {}]).encode("utf-8")
        try:
            self.sock.sendall(str(len(body)).encode() + b":" + body)
        except OSError as e:
            raise MarionetteError("connection", f"sending {name}: {e}")
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(max(0.1, deadline - time.monotonic()))
            if not (isinstance(msg, list) and len(msg) == 4 and msg[0] == 1):
                continue  # not an answer (Marionette sends none other today)
            if msg[1] != msg_id:
                continue  # the late answer of an earlier command that timed out here
            if msg[2]:
                err = msg[2]
                raise MarionetteError(err.get("error", "unknown error"), err.get("message", ""), err.get("stacktrace", ""))
            return msg[3]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Firefox:
    """A headless `firefox-esr --marionette` on a temporary profile (prefs: PREFS updated with `prefs`), with one
    WebDriver session. Script, page-load and command timeouts are in seconds."""

    def __init__(self, prefs=None, binary="firefox-esr", startup_seconds=30, script_seconds=30, page_load_seconds=20,
                 extra_args=(), log_path=None):
        self.proc = None
        self.client = None
        self.script_seconds = script_seconds
        self.root = tempfile.mkdtemp(prefix="starling-firefox-")
        self.profile = os.path.join(self.root, "profile")
        os.makedirs(self.profile)
        self.port = _free_port()
        all_prefs = dict(PREFS)
        all_prefs.update(prefs or {})
        all_prefs["marionette.port"] = self.port
        with open(os.path.join(self.profile, "user.js"), "w") as f:
            for name, value in all_prefs.items():
                f.write(f"user_pref({json.dumps(name)}, {_pref_literal(value)});\n")
        self.log_path = log_path or os.path.join(self.root, "firefox.log")
        self._log = open(self.log_path, "wb")
        env = dict(os.environ)
        # Keep Firefox's caches and any dot-files inside the temporary directory too.
        env.update({"HOME": self.root, "XDG_CACHE_HOME": os.path.join(self.root, "cache"), "MOZ_HEADLESS": "1",
                    "MOZ_CRASHREPORTER_DISABLE": "1"})
        env.pop("DISPLAY", None)
        atexit.register(self.quit)
        try:
            # A process group of its own: quit() ends Firefox's content and media processes with it.
            self.proc = subprocess.Popen(
                [binary, "--headless", "--marionette", "--no-remote", "--profile", self.profile, *extra_args],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            self.client = self._connect(startup_seconds)
            self.session = self.client.command("WebDriver:NewSession", {"capabilities": {"alwaysMatch": {
                "acceptInsecureCerts": True, "pageLoadStrategy": "normal",
                "timeouts": {"script": int(script_seconds * 1000), "pageLoad": int(page_load_seconds * 1000), "implicit": 0},
            }}}, timeout=startup_seconds)
            self.page_load_seconds = page_load_seconds
        except BaseException:
            self.quit()
            raise

    def _connect(self, startup_seconds):
        deadline = time.monotonic() + startup_seconds
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise MarionetteError("connection", f"Firefox exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                return Marionette(self.port, connect_timeout=max(1, min(5, deadline - time.monotonic())))
            except (OSError, MarionetteError) as e:
                last = e
                time.sleep(0.2)
        raise MarionetteError("connection", f"Marionette did not answer on port {self.port} in {startup_seconds} s "
                                            f"({last}):\n{self.log_tail()}")

    @property
    def capabilities(self):
        return (self.session or {}).get("capabilities", {})

    def command(self, name, params=None, timeout=None):
        return self.client.command(name, params, timeout=timeout or self.script_seconds + 10)

    def navigate(self, url):
        self.command("WebDriver:Navigate", {"url": url}, timeout=self.page_load_seconds + 10)

    def js(self, script, *args):
        """Runs `script` (a function body: `arguments` are `args`, its `return` value comes back) in the page."""
        return self.command("WebDriver:ExecuteScript", {"script": script, "args": list(args)}).get("value")

    def js_async(self, script, *args):
        """Runs `script` as the body of an async function in the page and returns what it resolves to, or
        {"error": message} when it throws (bounded by the script timeout)."""
        wrapped = ("const done = arguments[arguments.length - 1];"
                   f"(async (...args) => {{ {script} }})(...Array.from(arguments).slice(0, -1))"
                   ".then((r) => done(r === undefined ? null : r), (e) => done({error: String(e && e.message || e)}));")
        return self.command("WebDriver:ExecuteAsyncScript", {"script": wrapped, "args": list(args)}).get("value")

    def find(self, css):
        return self.command("WebDriver:FindElement", {"using": "css selector", "value": css})["value"][ELEMENT_KEY]

    def click(self, css):
        self.command("WebDriver:ElementClick", {"id": self.find(css)})

    def type(self, css, text):
        """Clears the field and types `text` into it, as keystrokes."""
        el = self.find(css)
        self.command("WebDriver:ElementClear", {"id": el})
        self.command("WebDriver:ElementSendKeys", {"id": el, "text": text})

    def screenshot(self):
        """A PNG of the page's viewport."""
        return base64.b64decode(self.command("WebDriver:TakeScreenshot", {"full": False, "hash": False})["value"])

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def quit(self):
        """Ends the session, kills Firefox's process group and removes the profile; safe to call more than once."""
        if self.client is not None:
            try:
                self.client.command("WebDriver:DeleteSession", timeout=3)
            except Exception:
                pass
            self.client.close()
            self.client = None
        if self.proc is not None:
            if self.proc.poll() is None:
                for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 5)):
                    try:
                        os.killpg(self.proc.pid, sig)
                    except ProcessLookupError:
                        break
                    try:
                        self.proc.wait(timeout=wait)
                        break
                    except subprocess.TimeoutExpired:
                        continue
            # Firefox's children may outlive the parent briefly: end what is left of the group.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc = None
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None
        if self.root and os.path.isdir(self.root):
            shutil.rmtree(self.root, ignore_errors=True)
        self.root = None
        try:
            atexit.unregister(self.quit)
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.quit()

    def __del__(self):
        try:
            self.quit()
        except Exception:
            pass
