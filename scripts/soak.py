#!/usr/bin/env python3
"""Soak test (`make soak`, not part of `make test`): churn against one `starling serve` for a long time, then
check that the server gave back what the churn took.

- Starts `starling serve --config config/starling.yaml` on free ports of 127.0.0.1, inside a network namespace
  holding only `lo` (re-executed under `unshare --net`, as the interop tests do; `--isolate no` runs on the
  host's loopback instead). Environment: a control API key, a JWT secret, `rooms.emptyTimeoutSeconds` and
  `signaling.reconnectWindowSeconds` small (so that clean-up is quick), and, when the binary knows them,
  `http.maxConnectionsPerAddress` raised (all the load comes from 127.0.0.1) and `media.disconnectedTimeoutSeconds`
  small. A binary that refuses one of these last two as an unknown setting is started again without it.
- Churn: `--concurrency` slots (default 2), each running `starling-load` again and again: short runs (8-30 s)
  of a few publishers and subscribers in 1-3 rooms, so that rooms are created and closed, participants join and
  leave and transports come and go. Room names recur from run to run (a new run may find its room still
  waiting out its empty timeout, or closed). starling-load names rooms after its scenario
  (`load-<scenario>-<n>`) and participants `pub-<n>`/`sub-<n>`, so each slot owns scenario names of its own:
  two runs at once never share a room (they would replace each other's identities). A share of the runs
  (`--kill-share`) is killed (SIGKILL) part-way, as clients that vanish: the server must notice and clean up
  (reconnect window, ICE consent). Some runs get their tokens from the control API (`createToken`). The first
  run of every slot is the largest shape the churn makes, all at once, so that the warm-up reaches the peak
  load (and the memory allocator's high-water mark) that the churn can reach.
- Every `--sample-seconds` (10): the server's RSS (VmRSS), peak RSS (VmHWM), threads, open descriptors (and how
  many are sockets) from /proc, its CPU time, and from the control API the rooms (listRooms), participants and
  tracks (their counts in listRooms) and the peer connections of each room (getStats: each participant's
  `publisher`/`subscriber`). The trace goes to Benchmarks/results/soak-<date>.csv.
- Phases: warm-up churn (`--warmup-minutes`, 2), stop, wait until the server holds no room and has been quiet
  for a while: the baseline. Churn again (`--minutes`, 30), stop, wait the same way: the final figures. The churn
  also pauses every `--checkpoint-minutes` (10) for an idle figure the same way, so that the report shows whether
  idle memory keeps growing or levels off.
- The server tunes glibc's malloc itself (two arenas, 128 KiB mmap threshold, malloc_trim after rooms close;
  docs/OPERATIONS.md, "Memory"): with glibc's defaults the idle RSS after churn keeps the heap's high-water mark
  (53 -> 84 MiB in a 30-minute run with nothing leaked: 23 MB of the arenas' 30 MB free), which would hide a leak or fail the RSS check without one. `--malloc-arena-max` and
  `--server-env MALLOC_MMAP_THRESHOLD_=...` override it for experiments.
- Checks (exit 1 when one fails): final RSS at most 5 % above the baseline; open descriptors back to the
  baseline; no room, participant, track, transport, producer, consumer, media peer or session held
  (listRooms, getServerStats); every transport the server logged as created has its `room transport ended`
  line; the server still
  running; most load runs succeeded. Prints a table and writes Benchmarks/results/soak-<date>.md with the commit.

    python3 scripts/soak.py [--binary .build/release/starling] [--load .build/release/starling-load]
                            [--minutes 30] [--warmup-minutes 2] [--concurrency 2] [--isolate auto|yes|no]
Python standard library only.
"""
import argparse
import collections
import csv
import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API_KEY = "soak-control-key-0123456789abcdef"
JWT_SECRET = "soak-jwt-secret-0123456789abcdef0123456789"
# Settings the soak wants but a binary may not know yet: dropped (and said so) if it refuses them.
OPTIONAL_ENV = {
    "STARLING_HTTP_MAX_CONNECTIONS_PER_ADDRESS": "100000",
    "STARLING_MEDIA_DISCONNECTED_TIMEOUT_SECONDS": "10",
}
# starling-load scenario names (hence room-name prefixes) and the shapes the soak gives them.
SCENARIOS = ["smoke", "rooms10", "room4", "fanout50"]


def shape(name, rng, largest=False):
    """Rooms, publishers per room, subscribers per room, whether publishers watch each other: kept small.
    `largest`: the upper end of every range."""
    pick = (lambda lo, hi: hi) if largest else rng.randint
    if name == "smoke":
        return 1, 2, pick(1, 2), False
    if name == "room4":
        return 1, pick(2, 3), 0, True
    if name == "rooms10":
        return pick(1, 3), 2, pick(0, 1), True
    return 1, 1, pick(2, 4), False  # fanout50


def peer_connections(s):
    rooms, pubs, subs, watch = s
    return rooms * (pubs * (2 if watch else 1) + subs)


# ---------------------------------------------------------------------------------------------------------------
# Network namespace


def is_isolated():
    try:
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return False
    names = [line.split(":")[1].strip().split("@")[0] for line in links.splitlines() if line.strip()]
    return names == ["lo"]


def can_unshare():
    try:
        return subprocess.run(["unshare", "--net", "ip", "link", "set", "lo", "up"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def reexec_isolated(argv):
    """Runs `argv` in a new network namespace with only `lo` up; returns its exit code."""
    quoted = " ".join("'" + a.replace("'", "'\"'\"'") + "'" for a in argv)
    proc = subprocess.Popen(["unshare", "--net", "bash", "-c", f"ip link set lo up; exec {quoted}"])
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        return proc.wait()


# ---------------------------------------------------------------------------------------------------------------
# The server


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, config, log_path, empty_timeout, reconnect_window, extra_env):
        self.binary = binary
        self.config = config
        self.log_path = log_path
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STARLING_")}
        self.env.update({
            "STARLING_HTTP_PORT": str(self.port),
            "STARLING_MEDIA_UDP_PORT": "0",
            "STARLING_MEDIA_TCP_PORT": "0",
            "STARLING_CONTROL_API_KEY": API_KEY,
            "STARLING_AUTH_JWT_SECRET": JWT_SECRET,
            "STARLING_ROOMS_EMPTY_TIMEOUT_SECONDS": str(empty_timeout),
            "STARLING_SIGNALING_RECONNECT_WINDOW_SECONDS": str(reconnect_window),
            "STARLING_LOG_LEVEL": "info",  # the transport lines are at info
        })
        self.env.update(OPTIONAL_ENV)
        self.env.update(extra_env)
        self.dropped = []  # optional settings the binary refused
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        while True:
            with open(self.log_path, "w") as log:
                self.proc = subprocess.Popen([self.binary, "serve", "--config", self.config],
                                             env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
            if self._wait_healthy(60):
                return
            text = open(self.log_path, errors="replace").read()
            unknown = set(re.findall(r"^\s*- (\S+): unknown setting", text, re.M))
            refused = [name for name in unknown if name in OPTIONAL_ENV and name in self.env]
            if not refused or len(refused) != len(unknown):
                raise RuntimeError("starling did not start:\n" + tail(self.log_path))
            for name in refused:
                del self.env[name]
                self.dropped.append(name)
                print(f"soak: this binary does not know {name} (unknown setting); starting it without", flush=True)

    def _wait_healthy(self, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1).read()
                return True
            except OSError:
                if self.proc.poll() is not None:
                    return False
                time.sleep(0.1)
        self.stop()
        return False

    def api(self, method, params=None):
        req = urllib.request.Request(f"{self.url}/api/{method}", data=json.dumps(params or {}).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())["result"]

    def stop(self, seconds=30):
        """SIGTERM; returns (exit status, seconds it took), killing it after `seconds`."""
        if self.proc is None or self.proc.poll() is not None:
            return (self.proc.returncode if self.proc else None), 0.0
        start = time.monotonic()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode, time.monotonic() - start


def tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------------------------
# Sampling


def proc_figures(pid):
    """RSS, peak RSS (KiB), threads, open descriptors by kind, CPU seconds of process `pid` (None once it is gone)."""
    try:
        status = open(f"/proc/{pid}/status").read()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        kinds = collections.Counter()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:"):
                kinds["socket"] += 1
            elif target.startswith("anon_inode:"):
                kinds[target[len("anon_inode:"):].strip("[]")] += 1
            elif target.startswith("pipe:"):
                kinds["pipe"] += 1
            elif target.startswith("/dev/"):
                kinds["dev"] += 1
            else:
                kinds["file"] += 1
        stat = open(f"/proc/{pid}/stat").read()
        after = stat[stat.rindex(")") + 2:].split()
        cpu = (int(after[11]) + int(after[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    return {
        "rss_kib": int(fields["VmRSS"].split()[0]),
        "rss_anon_kib": int(fields["RssAnon"].split()[0]),
        "rss_file_kib": int(fields["RssFile"].split()[0]),
        "hwm_kib": int(fields["VmHWM"].split()[0]),
        "threads": int(fields["Threads"]),
        "fds": sum(kinds.values()),
        "fd_sockets": kinds["socket"],
        "fd_kinds": dict(kinds),
        "cpu_s": round(cpu, 2),
    }


def api_figures(server):
    """Rooms, participants, tracks (listRooms), peer connections (getStats per room), and what the whole server
    holds (getServerStats: rooms, transports, producers, consumers, media peers, echo sessions, /rtc sessions);
    None when the API fails."""
    try:
        rooms = server.api("listRooms")["rooms"]
    except (OSError, ValueError, KeyError):
        return None
    out = {"rooms": len(rooms), "participants": sum(r.get("participantCount", 0) for r in rooms),
           "tracks": sum(r.get("trackCount", 0) for r in rooms), "peer_connections": 0, "peers_connected": 0}
    try:
        held = server.api("getServerStats")
        out.update({"server_rooms": held["rooms"], "server_transports": held["transports"],
                    "server_producers": held["producers"], "server_consumers": held["consumers"],
                    "server_media_peers": sum(l["peers"] for l in held["mediaLoops"]),
                    "server_echo_sessions": held["echoSessions"], "server_rtc_sessions": held["signalingSessions"]})
    except (OSError, ValueError, KeyError):
        pass  # an older server without getServerStats
    for room in rooms:
        try:
            stats = server.api("getStats", {"room": room["name"]})
        except (OSError, ValueError, KeyError):
            continue  # closed in between
        for p in stats.get("participants", []):
            for side in ("publisher", "subscriber"):
                if p.get(side) is not None:
                    out["peer_connections"] += 1
                    out["peers_connected"] += 1 if p[side].get("connected") else 0
    return out


TRACE_FIELDS = ["t_s", "phase", "rss_kib", "rss_anon_kib", "rss_file_kib", "hwm_kib", "threads", "fds", "fd_sockets", "cpu_s", "rooms", "participants",
                "tracks", "peer_connections", "peers_connected", "server_rooms", "server_transports", "server_producers",
                "server_consumers", "server_media_peers", "server_echo_sessions", "server_rtc_sessions", "load_runs_active", "load_runs_started", "load_runs_failed",
                "log_transports_created", "log_transports_ended", "log_rooms_closed"]


# ---------------------------------------------------------------------------------------------------------------
# The server's log: transports and rooms


class LogCounter:
    """Follows the server log: `room transport created` (publishing connections only: subscribing connections are
    not logged when created), `room transport ended` (every kind) and `room closed`. A transport id is per room
    and restarts when the room is created again, so ids are kept per room incarnation."""

    LINE = re.compile(r"info starling: (.*?)\[StarlingServer\] (room transport created|room transport ended|room closed)")

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.created = 0
        self.ended = 0
        self.rooms_closed = 0
        self.open = {}  # room -> set of transport ids created and not ended in its current incarnation
        self.lost = []  # (room, transport) created, not ended, room closed

    def update(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return
        cut = data.rfind(b"\n") + 1
        self.offset += cut
        for line in data[:cut].decode(errors="replace").splitlines():
            m = self.LINE.search(line)
            if not m:
                continue
            meta = dict(re.findall(r"(\w+)=(\S+)", m.group(1)))
            room, transport = meta.get("room"), meta.get("transport")
            if m.group(2) == "room transport created":
                self.created += 1
                self.open.setdefault(room, set()).add(transport)
            elif m.group(2) == "room transport ended":
                self.ended += 1
                if transport in self.open.get(room, set()):
                    self.open[room].discard(transport)
                elif (room, transport) in self.lost:  # ended after its room's `room closed` line
                    self.lost.remove((room, transport))
            else:
                self.rooms_closed += 1
                self.lost += [(room, t) for t in sorted(self.open.pop(room, set()))]

    def held(self):
        return sum(len(s) for s in self.open.values()) + len(self.lost)


# ---------------------------------------------------------------------------------------------------------------
# Churn


class LoadRun:
    def __init__(self, args, scenario, rng, workdir, number, largest=False):
        self.scenario = scenario
        self.number = number
        rooms, pubs, subs, watch = shape(scenario, rng, largest)
        self.shape = (rooms, pubs, subs, watch)
        self.duration = args.run_max_seconds if largest else rng.randint(args.run_min_seconds, args.run_max_seconds)
        self.tokens = "control API" if rng.random() < 1 / 3 else "JWT secret"
        self.kill_at = None
        self.started = time.monotonic()
        if not largest and rng.random() < args.kill_share:
            # starling-load needs a few seconds to encode its clips and join before media flows
            self.kill_at = self.started + 4 + rng.uniform(0.2, 0.9) * self.duration
        self.deadline = self.started + self.duration + 90
        self.out_path = os.path.join(workdir, f"run-{number}.out")
        self.json_path = os.path.join(workdir, f"run-{number}.json")
        cmd = [args.load, "--server", args.server_url, "--scenario", scenario, "--rooms", str(rooms),
               "--publishers", str(pubs), "--subscribers", str(subs),
               "--publishers-subscribe" if watch else "--no-publishers-subscribe",
               "--duration", str(self.duration), "--decode", "0", "--quiet", "--json-file", self.json_path]
        cmd += ["--api-key", API_KEY] if self.tokens == "control API" else ["--jwt-secret", JWT_SECRET]
        self.cmd = cmd
        with open(self.out_path, "w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        self.outcome = None  # "ok", "killed", "failed (exit N)", "timed out"

    def describe(self):
        rooms, pubs, subs, watch = self.shape
        return (f"#{self.number} {self.scenario}: {rooms} room(s) x ({pubs} pub{', watching' if watch else ''}, {subs} sub), "
                f"{self.duration} s, tokens from {self.tokens}")


class Churn:
    def __init__(self, args, server, workdir):
        self.args = args
        self.server = server
        self.workdir = workdir
        self.rng = random.Random(args.seed)
        n = max(1, min(args.concurrency, len(SCENARIOS)))
        # each slot owns scenario names (room prefixes) of its own
        self.slots = [{"names": SCENARIOS[i::n], "run": None, "next": time.monotonic(), "turn": 0} for i in range(n)]
        self.runs = []
        self.warnings = collections.Counter()  # starling-load's own messages in runs that succeeded
        self.packets = 0
        self.streams_without_frames = 0
        self.peers_unconnected = 0

    @property
    def active(self):
        return sum(1 for s in self.slots if s["run"] is not None)

    @property
    def failed(self):
        return sum(1 for r in self.runs if r.outcome and r.outcome not in ("ok", "killed"))

    def step(self, starting):
        now = time.monotonic()
        for slot in self.slots:
            run = slot["run"]
            if run is not None:
                if run.proc.poll() is not None:
                    self._finish(run)
                    slot["run"] = None
                    slot["next"] = now + self.rng.uniform(0, 4)
                elif run.kill_at is not None and now >= run.kill_at and run.outcome is None:
                    run.proc.kill()
                    run.outcome = "killed"
                elif now >= run.deadline and run.outcome is None:
                    run.proc.kill()
                    run.outcome = "timed out"
            elif starting and now >= slot["next"]:
                if slot["turn"] == 0:
                    # The first runs, all slots at once, are the largest the churn makes: the warm-up reaches the
                    # peak load (and the allocator's high-water mark) that the churn can reach later.
                    name = max(slot["names"], key=lambda n: peer_connections(shape(n, None, largest=True)))
                    largest = True
                else:
                    name = slot["names"][slot["turn"] % len(slot["names"])]
                    largest = False
                slot["turn"] += 1
                run = LoadRun(self.args, name, self.rng, self.workdir, len(self.runs) + 1, largest)
                self.runs.append(run)
                slot["run"] = run

    def _finish(self, run):
        run.proc.wait()
        code = run.proc.returncode
        if run.outcome is None:
            run.outcome = "ok" if code == 0 else f"failed (exit {code})"
        text = open(run.out_path, errors="replace").read()
        run.tail = "\n".join(text.splitlines()[-12:])
        if run.outcome == "ok":
            for line in text.splitlines():
                if line.startswith("starling-load:"):
                    self.warnings[re.sub(r"\d+", "N", line)] += 1
            try:
                with open(run.json_path) as f:
                    report = json.load(f)
                self.packets += report["total"]["packetsReceived"]
                self.streams_without_frames += report.get("streamsWithoutFrames", 0)
                self.peers_unconnected += report["total"]["peerConnections"] - report["total"]["peersConnected"]
            except (OSError, ValueError, KeyError):
                pass
        if run.outcome in ("ok", "killed"):  # failed runs keep their output in the work directory
            for path in (run.out_path, run.json_path):
                try:
                    os.unlink(path)
                except OSError:
                    pass

    def stop_all(self):
        for slot in self.slots:
            run = slot["run"]
            if run is not None and run.proc.poll() is None:
                run.proc.kill()
                run.outcome = run.outcome or "killed"
                run.proc.wait()


# ---------------------------------------------------------------------------------------------------------------
# The soak


class Soak:
    def __init__(self, args):
        self.args = args
        self.workdir = tempfile.mkdtemp(prefix="starling-soak-")
        self.server = Server(args.binary, args.config, os.path.join(self.workdir, "starling.log"), args.empty_timeout,
                             args.reconnect_window, self.server_env())
        self.log = LogCounter(self.server.log_path)
        self.trace = []
        self.t0 = time.monotonic()
        self.next_sample = 0.0
        self.phase = "start"
        self.churn = None
        self.crashed = False
        self.stop_status = (None, 0.0)
        self.commit = git("rev-parse", "HEAD")  # at the start: `make soak` has just built it
        self.dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        self.idle = []  # (label, sample) once the server is idle: the baseline, checkpoints, the final one

    def server_env(self):
        env = {"MALLOC_ARENA_MAX": str(self.args.malloc_arena_max)} if self.args.malloc_arena_max > 0 else {}
        env.update(e.split("=", 1) for e in self.args.server_env)
        return env

    def sample(self):
        self.log.update()
        p = proc_figures(self.server.proc.pid)  # before the API calls, which open connections of their own
        if p is None or self.server.proc.poll() is not None:
            self.crashed = True
            return None
        a = api_figures(self.server) or {}
        row = {"t_s": round(time.monotonic() - self.t0, 1), "phase": self.phase, **{k: p[k] for k in p if k != "fd_kinds"},
               **a, "load_runs_active": self.churn.active if self.churn else 0,
               "load_runs_started": len(self.churn.runs) if self.churn else 0,
               "load_runs_failed": self.churn.failed if self.churn else 0,
               "log_transports_created": self.log.created, "log_transports_ended": self.log.ended,
               "log_rooms_closed": self.log.rooms_closed}
        row["_fd_kinds"] = p["fd_kinds"]
        self.trace.append(row)
        self.next_sample = time.monotonic() + self.args.sample_seconds
        print(f"soak: {row['t_s']:7.1f} s {self.phase:8} RSS {p['rss_kib'] / 1024:6.1f} MiB "
              f"(anon {p['rss_anon_kib'] / 1024:.1f})  fds {p['fds']:4} "
              f"(sockets {p['fd_sockets']})  threads {p['threads']:3}  rooms {a.get('rooms', '?')}  "
              f"participants {a.get('participants', '?')}  peer connections {a.get('peer_connections', '?')}  "
              f"load runs {row['load_runs_active']} running / {row['load_runs_started']} started / "
              f"{row['load_runs_failed']} failed", flush=True)
        return row

    def tick(self):
        if time.monotonic() >= self.next_sample:
            self.sample()
        if self.server.proc.poll() is not None:
            self.crashed = True
        return not self.crashed

    def churn_for(self, seconds, phase):
        self.phase = phase
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.churn.step(starting=True)
            if not self.tick():
                return False
            time.sleep(0.25)
        # let the runs in flight finish (they are bounded by their own duration, or killed)
        while self.churn.active:
            self.churn.step(starting=False)
            if not self.tick():
                return False
            time.sleep(0.25)
        return True

    def settle(self, phase):
        """Waits until the server holds no room and has had `--quiet-seconds` more; returns the sample then."""
        self.phase = phase
        deadline = time.monotonic() + self.args.settle_timeout
        empty_since = None
        while time.monotonic() < deadline:
            if not self.tick():
                return None
            a = api_figures(self.server)
            if a is not None and a["rooms"] == 0 and a["participants"] == 0:
                empty_since = empty_since or time.monotonic()
                if time.monotonic() - empty_since >= self.args.quiet_seconds:
                    break
            else:
                empty_since = None
            time.sleep(1)
        else:
            print(f"soak: the server still holds rooms after {self.args.settle_timeout} s", flush=True)
        time.sleep(3)  # the connection of the last API call is gone from the server's descriptors
        return self.sample()

    def run(self):
        print(f"soak: starting {self.args.binary} (log {self.server.log_path})", flush=True)
        self.server.start()
        self.args.server_url = self.server.url
        self.churn = Churn(self.args, self.server, self.workdir)
        time.sleep(2)
        start = self.sample()
        ok = self.churn_for(self.args.warmup_minutes * 60, "warmup")
        baseline = self.settle("baseline") if ok else None
        self.idle = [("baseline", baseline)]
        final = None
        remaining = self.args.minutes * 60
        while baseline is not None and remaining > 0:
            chunk = min(remaining, self.args.checkpoint_minutes * 60) if self.args.checkpoint_minutes > 0 else remaining
            remaining -= chunk
            if not self.churn_for(chunk, "churn"):
                break
            idle = self.settle("final" if remaining <= 0 else "idle")
            if idle is None:
                break
            self.idle.append((f"after {(self.args.minutes * 60 - remaining) / 60:g} min", idle))
            if remaining <= 0:
                final = idle
        self.log.update()
        self.phase = "stop"
        if self.server.proc.poll() is None:
            self.stop_status = self.server.stop(self.args.reconnect_window + 30)
        else:
            self.crashed = True
            self.stop_status = (self.server.proc.returncode, 0.0)
        return start, baseline, final


def checks(soak, start, baseline, final):
    """(name, baseline, final, limit, passed or None for information) rows."""
    a = soak.args
    rows = []
    if soak.crashed or baseline is None or final is None:
        rows.append(("server kept running", "", "exited" if soak.crashed else "no figures", "running", False))
        return rows
    mib = lambda kib: f"{kib / 1024:.1f}"
    limit = baseline["rss_kib"] * (1 + a.rss_tolerance)
    rows.append(("RSS MiB (VmRSS)", mib(baseline["rss_kib"]), mib(final["rss_kib"]),
                 f"<= {mib(limit)} (+{a.rss_tolerance:.0%})", final["rss_kib"] <= limit))
    rows.append(("  anonymous (RssAnon)", mib(baseline["rss_anon_kib"]), mib(final["rss_anon_kib"]), "(information)", None))
    rows.append(("  file-backed (RssFile)", mib(baseline["rss_file_kib"]), mib(final["rss_file_kib"]), "(information)", None))
    if len(soak.idle) > 2:
        rows.append(("idle RSS MiB at each checkpoint", "", " -> ".join(mib(s["rss_kib"]) for _, s in soak.idle),
                     "(information)", None))
    rows.append(("open fds", baseline["fds"], final["fds"], f"<= {baseline['fds']}", final["fds"] <= baseline["fds"]))
    rows.append(("  of which sockets", baseline["fd_sockets"], final["fd_sockets"], f"<= {baseline['fd_sockets']}",
                 final["fd_sockets"] <= baseline["fd_sockets"]))
    rows.append(("threads", baseline["threads"], final["threads"], "(information)", None))
    for key, name in (("rooms", "rooms held (listRooms)"), ("participants", "participants held (listRooms)"),
                      ("tracks", "tracks held (listRooms)"), ("peer_connections", "peer connections (getStats)"),
                      ("server_rooms", "rooms held (getServerStats)"), ("server_transports", "transports held (getServerStats)"),
                      ("server_producers", "producers held"), ("server_consumers", "consumers held"),
                      ("server_media_peers", "peers on the media loops"), ("server_echo_sessions", "echo sessions"),
                      ("server_rtc_sessions", "/rtc sessions open")):
        if key.startswith("server_") and key not in final:
            continue
        rows.append((name, baseline.get(key, "?"), final.get(key, "?"), "0", final.get(key) == 0))
    held = soak.log.held()
    rows.append(("transports held (server log)", "", held, "0", held == 0))
    churn = [r for r in soak.trace if r["phase"] == "churn"]
    if len(churn) >= 6:
        third = len(churn) // 3
        rows.append(("RSS MiB under churn, max of first / last third", "", f"{mib(max(r['rss_kib'] for r in churn[:third]))} / "
                     f"{mib(max(r['rss_kib'] for r in churn[-third:]))}", "(information)", None))
    rows.append(("peak RSS MiB (VmHWM)", mib(baseline["hwm_kib"]), mib(final["hwm_kib"]), "(information)", None))
    rows.append(("RSS MiB at start (idle)", "", mib(start["rss_kib"]) if start else "?", "(information)", None))
    runs = soak.churn.runs
    failed = soak.churn.failed
    rows.append(("load runs failed", "", f"{failed} of {len(runs)}", f"<= {a.max_failed_share:.0%}",
                 len(runs) > 0 and failed <= a.max_failed_share * len(runs)))
    code, seconds = soak.stop_status
    rows.append(("server stopped on SIGTERM", "", f"exit {code} in {seconds:.1f} s", "exit 0", code == 0))
    return rows


def table(rows):
    head = ("check", "baseline", "final", "limit", "result")
    body = [(str(n), str(b), str(f), str(l), "info" if ok is None else ("ok" if ok else "FAIL")) for n, b, f, l, ok in rows]
    widths = [max(len(r[i]) for r in [head] + body) for i in range(5)]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in body])


def git(*argv):
    try:
        return subprocess.run(["git", "-C", ROOT, *argv], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine():
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), {platform.platform()}"


def shown(path):
    """A path relative to the repository when it is inside it."""
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def write_results(soak, rows, start, baseline, final, passed):
    a = soak.args
    os.makedirs(a.results_dir, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    stem = os.path.join(a.results_dir, f"soak-{now:%Y-%m-%d}")
    if os.path.exists(stem + ".md"):
        stem += f"-{now:%H%M%S}"
    with open(stem + ".csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=TRACE_FIELDS, extrasaction="ignore")
        w.writeheader()
        for row in soak.trace:
            w.writerow(row)
    churn = soak.churn
    outcomes = collections.Counter(r.outcome for r in churn.runs)
    binary_time = datetime.datetime.fromtimestamp(os.path.getmtime(a.binary), datetime.timezone.utc)
    lines = [
        f"# Soak, {now:%Y-%m-%d %H:%M} UTC: {'passed' if passed else 'FAILED'}",
        "",
        f"- commit {soak.commit or '?'}{' (with uncommitted changes)' if soak.dirty else ''} when the soak started",
        f"- server: `{a.binary}` (built {binary_time:%Y-%m-%d %H:%M} UTC), `{shown(a.config)}`; "
        f"load: `{a.load}`",
        f"- machine: {machine()}; server and load tool share the cores; "
        f"{'network namespace holding only lo' if is_isolated() else 'host loopback'}",
        f"- {a.warmup_minutes:g} min warm-up churn, settle, {a.minutes:g} min churn, settle; "
        f"{len(churn.slots)} starling-load runs at a time, each {a.run_min_seconds}-{a.run_max_seconds} s, "
        f"{a.kill_share:.0%} killed part-way, a third with control-API tokens, nothing decoded; seed {a.seed}",
        f"- server settings: rooms.emptyTimeoutSeconds {a.empty_timeout}, signaling.reconnectWindowSeconds "
        f"{a.reconnect_window}" + "".join(f", {k} {v}" for k, v in OPTIONAL_ENV.items() if k not in soak.server.dropped)
        + "".join(f", {k}={v}" for k, v in soak.server_env().items())
        + (f"; not known to this binary, left out: {', '.join(soak.server.dropped)}" if soak.server.dropped else ""),
        f"- baseline: idle after the warm-up churn, once no room was held for {a.quiet_seconds:g} s; final: the same "
        f"after the churn" + (f", which pauses every {a.checkpoint_minutes:g} min for such an idle figure"
                              if 0 < a.checkpoint_minutes < a.minutes else ""),
        "",
        "| check | baseline | final | limit | result |",
        "|---|---|---|---|---|",
    ]
    for n, b, f, l, ok in rows:
        lines.append(f"| {n.strip()} | {b} | {f} | {l} | {'info' if ok is None else ('ok' if ok else 'FAIL')} |")
    lines += ["", "## Churn", "",
              f"- starling-load runs: {len(churn.runs)} ({', '.join(f'{n} {o}' for o, n in outcomes.most_common())})",
              f"- media packets the subscribers of the successful runs received: {churn.packets}; video streams "
              f"without a frame: {churn.streams_without_frames}; peer connections not connected at the end: "
              f"{churn.peers_unconnected}",
              f"- server log: {soak.log.created} publishing transports created, {soak.log.ended} transports ended "
              f"(subscribing transports are only logged when they end), {soak.log.rooms_closed} rooms closed"]
    peak = max((r for r in soak.trace if "rooms" in r), key=lambda r: r.get("peer_connections", 0), default=None)
    if peak:
        lines.append(f"- busiest sample: {peak['rooms']} rooms, {peak['participants']} participants, "
                     f"{peak['peer_connections']} peer connections, RSS {peak['rss_kib'] / 1024:.1f} MiB")
    if baseline and final:
        lines.append(f"- descriptors by kind, baseline: {baseline['_fd_kinds']}; final: {final['_fd_kinds']}")
    if soak.log.lost or soak.log.open:
        lines.append(f"- transports with no `room transport ended` line: "
                     f"{soak.log.lost + [(r, t) for r, s in soak.log.open.items() for t in s]}")
    if churn.warnings:
        lines += ["", "starling-load messages in successful runs:", ""]
        lines += [f"- {n} x `{w}`" for w, n in churn.warnings.most_common(10)]
    bad = [r for r in churn.runs if r.outcome not in ("ok", "killed")]
    if bad:
        lines += ["", "## Failed load runs", ""]
        for r in bad[:10]:
            lines += [f"- {r.describe()}: {r.outcome}", "", "```", getattr(r, "tail", ""), "```", ""]
    lines += ["", "## Not measured", "",
              "- Rooms, transports, producers, consumers, media peers and sessions held come from getServerStats; the "
              "server's `room transport created`/`ended` log lines are followed as well (only publishing transports "
              "are logged when created).",
              "", f"Trace (every {a.sample_seconds:g} s): `{shown(stem + '.csv')}`", ""]
    with open(stem + ".md", "w") as f:
        f.write("\n".join(lines))
    return stem


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/starling"))
    ap.add_argument("--load", default=os.path.join(ROOT, ".build/release/starling-load"))
    ap.add_argument("--config", default=os.path.join(ROOT, "config/starling.yaml"))
    ap.add_argument("--minutes", type=float, default=30, help="churn after the warm-up (default 30)")
    ap.add_argument("--warmup-minutes", type=float, default=2, help="churn before the baseline (default 2)")
    ap.add_argument("--concurrency", type=int, default=2, help="starling-load runs at a time, 1-4 (default 2)")
    ap.add_argument("--run-min-seconds", type=int, default=8)
    ap.add_argument("--run-max-seconds", type=int, default=30)
    ap.add_argument("--kill-share", type=float, default=0.2, help="share of runs killed part-way (default 0.2)")
    ap.add_argument("--sample-seconds", type=float, default=10)
    ap.add_argument("--checkpoint-minutes", type=float, default=10,
                    help="pause the churn this often for an idle figure (0: only at the end; default 10)")
    ap.add_argument("--malloc-arena-max", type=int, default=0,
                    help="MALLOC_ARENA_MAX for the server (default 0: the server's own setting, 2)")
    ap.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                    help="more environment for the server (e.g. MALLOC_ARENA_MAX=2), repeatable")
    ap.add_argument("--empty-timeout", type=float, default=5, help="rooms.emptyTimeoutSeconds (default 5)")
    ap.add_argument("--reconnect-window", type=float, default=5, help="signaling.reconnectWindowSeconds (default 5)")
    ap.add_argument("--quiet-seconds", type=float, default=20, help="idle time with no room before a baseline/final figure")
    ap.add_argument("--settle-timeout", type=float, default=180, help="longest wait for the server to hold no room")
    ap.add_argument("--rss-tolerance", type=float, default=0.05)
    ap.add_argument("--max-failed-share", type=float, default=0.1, help="load runs that may fail (default 0.1)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--results-dir", default=os.path.join(ROOT, "Benchmarks/results"))
    ap.add_argument("--isolate", choices=["auto", "yes", "no"], default="auto",
                    help="run in a network namespace holding only lo (auto: when unshare works)")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    for name in ("binary", "load", "config", "results_dir"):
        setattr(args, name, os.path.abspath(getattr(args, name)))
    for path in (args.binary, args.load):
        if not os.access(path, os.X_OK):
            raise SystemExit(f"soak: {path} is not an executable (make soak builds it)")

    if not args.inner and args.isolate != "no" and not is_isolated():
        if can_unshare():
            return reexec_isolated([sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--inner"])
        if args.isolate == "yes":
            raise SystemExit("soak: unshare --net failed (needs root or user namespaces)")
        print("soak: unshare --net does not work here; running on the host's 127.0.0.1", flush=True)

    soak = Soak(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    start = baseline = final = None
    try:
        start, baseline, final = soak.run()
    except KeyboardInterrupt:
        print("soak: interrupted", flush=True)
        return 130
    except RuntimeError as e:
        print(f"soak: {e}", flush=True)
        return 2
    finally:
        if soak.churn:
            soak.churn.stop_all()
        soak.server.stop(5)
    rows = checks(soak, start, baseline, final)
    passed = all(ok is not False for *_, ok in rows)
    print("\n" + table(rows) + "\n", flush=True)
    stem = write_results(soak, rows, start, baseline, final, passed)
    print(f"soak: {'passed' if passed else 'FAILED'}; results {stem}.md, trace {stem}.csv", flush=True)
    if passed:
        shutil.rmtree(soak.workdir, ignore_errors=True)
    else:
        print(f"soak: server log kept: {soak.server.log_path}\n--- starling log (tail) ---\n{tail(soak.server.log_path)}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
