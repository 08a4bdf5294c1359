#!/usr/bin/env python3
"""Starling against Janus on the same machine, in the same run, with the same workload (`make bench-vs-janus`).

For each scenario it starts one server, runs `starling-load` against it with the server's pid (so the load
tool reads the server's CPU and memory from /proc), stops it, then does the same with the other server. Both
run in a network namespace of our own (unshare --net) holding loopback and a veth pair (10.99.0.1/24 on v0,
10.99.0.2/24 on v1): Janus skips loopback interfaces when it gathers candidates, so both servers and the load
tool use 10.99.0.1, and nothing leaves the namespace.

Writes Benchmarks/results/vs-janus-<date>.md (the table, the machine, the commit) and .json (every report).
"""
import argparse
import datetime
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADDRESS = "10.99.0.1"
SECRET = "bench-vs-janus-secret-0123456789abcdef"

# name, starling-load arguments, what it is
SCENARIOS = [
    ("room4", ["--scenario", "room4"], "1 room: 4 publishers, each watching the other 3"),
    ("fanout50", ["--scenario", "fanout50", "--decode", "0.1"], "1 publisher watched by 50 subscribers (10% decoded)"),
    ("rooms10", ["--scenario", "rooms10", "--decode", "0.2"], "10 rooms of 3 participants, each watching the other 2 (20% decoded)"),
]


def in_namespace():
    return os.environ.get("STARLING_BENCH_NETNS") == "1"


def reexec_in_namespace():
    env = dict(os.environ, STARLING_BENCH_NETNS="1")
    cmd = ["unshare", "--net", sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
    sys.exit(subprocess.call(cmd, env=env))


def setup_links():
    subprocess.check_call([os.path.join(ROOT, "scripts/janus/netns.sh"), "inline"])


def wait_http(url, timeout=20):
    import urllib.request
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Starling:
    kind = "starling"

    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = workdir

    def start(self):
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("STARLING_")}
        env.update({
            "STARLING_HTTP_PORT": str(self.port),
            "STARLING_MEDIA_LISTEN_ADDRESS": ADDRESS,
            "STARLING_AUTH_JWT_SECRET": SECRET,
            "STARLING_LOG_LEVEL": "warning",
            "STARLING_ROOMS_MAX_PARTICIPANTS": "500",
        })
        self.log = open(os.path.join(self.workdir, "starling.log"), "w")
        self.proc = subprocess.Popen([self.binary, "serve", "--config", os.path.join(ROOT, "config/starling.yaml")],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_http(f"http://127.0.0.1:{self.port}/healthz")
        return self.proc.pid

    def load_args(self):
        return ["--sfu", "starling", "--server", f"http://127.0.0.1:{self.port}", "--jwt-secret", SECRET]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class Janus:
    kind = "janus"

    def __init__(self, workdir, event_loops):
        self.workdir = os.path.join(workdir, "janus")
        self.event_loops = event_loops

    def start(self):
        env = dict(os.environ, JANUS_EVENT_LOOPS=str(self.event_loops), JANUS_HTTP_PORT="8088")
        out = subprocess.check_output([os.path.join(ROOT, "scripts/janus/start.sh"), self.workdir, "v0"], env=env, text=True)
        with open(os.path.join(self.workdir, "janus.pid")) as f:
            return int(f.read().strip())

    def load_args(self):
        return ["--sfu", "janus", "--server", "http://127.0.0.1:8088"]

    def stop(self):
        subprocess.call([os.path.join(ROOT, "scripts/janus/stop.sh"), self.workdir], stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)


def run_scenario(server, load, name, args, duration, warmup, workdir):
    pid = server.start()
    try:
        time.sleep(0.5)
        out = os.path.join(workdir, f"{name}-{server.kind}.json")
        cmd = [load] + server.load_args() + args + [
            "--bind", ADDRESS, "--duration", str(duration), "--warmup", str(warmup), "--server-pid", str(pid),
            "--json-file", out, "--quiet", "--connect-timeout", "30"]
        print(f"  {server.kind}: {' '.join(cmd[1:])}", flush=True)
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=duration + 120)
        if done.returncode != 0:
            raise RuntimeError(f"starling-load against {server.kind} failed ({done.returncode}): {done.stderr.strip()}")
        with open(out) as f:
            return json.load(f)
    finally:
        server.stop()


def fmt(v, f="{:.4f}"):
    return "-" if v is None else f.format(v)


def row(name, report):
    t, s = report["total"], report["server"]
    return {
        "scenario": name,
        "server": s["kind"],
        "packets": t["packetsReceived"],
        "cpuPer1000": s.get("cpuSecondsPer1000Packets"),
        "serverCores": t.get("serverCPU"),
        "peakRSSMiB": (s.get("peakRSSKiB") or 0) / 1024,
        "kibPerStream": s.get("kibPerSubscriberStream"),
        "lostAfter": t["lostAfterRecovery"],
        "freezes": t["freezes"],
        "p50": t.get("delayP50Milliseconds"),
        "p99": t.get("delayP99Milliseconds"),
        "toolCores": t.get("loadToolCPU"),
        "heights": t.get("videoStreamsByHeight"),
        "framesDecoded": t["framesDecoded"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starling", default=os.path.join(ROOT, ".build/release/starling"))
    parser.add_argument("--load", default=os.path.join(ROOT, ".build/release/starling-load"))
    parser.add_argument("--duration", type=float, default=25)
    parser.add_argument("--warmup", type=float, default=8)
    parser.add_argument("--janus-event-loops", type=int, default=2)
    parser.add_argument("--scenarios", default=",".join(s[0] for s in SCENARIOS))
    parser.add_argument("--out", default=os.path.join(ROOT, "Benchmarks/results"))
    args = parser.parse_args()
    if not in_namespace():
        if os.geteuid() != 0:
            sys.exit("bench-vs-janus needs root (network namespace, veth pair)")
        reexec_in_namespace()
    setup_links()
    workdir = "/tmp/starling-bench-vs-janus"
    os.makedirs(workdir, exist_ok=True)
    chosen = [s for s in SCENARIOS if s[0] in args.scenarios.split(",")]
    servers = [Starling(args.starling, workdir), Janus(workdir, args.janus_event_loops)]
    results, rows = [], []
    for name, load_args, what in chosen:
        print(f"{name}: {what}", flush=True)
        for server in servers:
            report = run_scenario(server, args.load, name, load_args, args.duration, args.warmup, workdir)
            results.append(report)
            rows.append(row(name, report))
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True).stdout.strip()
    janus_version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "janus"], capture_output=True, text=True).stdout
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    now = datetime.datetime.now(datetime.timezone.utc)
    lines = [
        f"# Starling vs Janus, {now:%Y-%m-%d %H:%M} UTC",
        "",
        f"- commit {commit}{' (with uncommitted changes)' if dirty else ''}; Janus {janus_version} from Debian "
        f"(VideoRoom, HTTP transport, ICE-lite, event_loops = {args.janus_event_loops})",
        f"- machine: {os.cpu_count()} cores ({cpu}), {platform.platform()}; server and load tool share the cores",
        f"- each run {args.duration:g} s of media, the first {args.warmup:g} s left out of the totals; both servers "
        "release builds / packages, one at a time, same starling-load workload (VP8 3-layer simulcast 1280x720 "
        "1.4 Mbit/s + 640x360 + 320x180, Opus 32 kbit/s, replayed)",
        "- CPU: the server's user+system seconds from /proc per 1000 media packets its subscribers received "
        "(retransmissions and probes not counted)",
        "",
        "| scenario | server | packets | CPU-s / 1000 pkt | server cores | peak RSS MiB | KiB / sub stream | lost after NACK | freezes | delay p50 / p99 ms | load tool cores | layers (streams by height) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['server']} | {r['packets']} | {fmt(r['cpuPer1000'])} | {fmt(r['serverCores'], '{:.2f}')} | "
            f"{r['peakRSSMiB']:.1f} | {fmt(r['kibPerStream'], '{:.1f}')} | {r['lostAfter']} | {r['freezes']} | "
            f"{fmt(r['p50'], '{:.3f}')} / {fmt(r['p99'], '{:.3f}')} | {fmt(r['toolCores'], '{:.2f}')} | {r['heights']} |")
    lines += ["", "| scenario | Starling/Janus CPU per packet | Starling/Janus peak RSS | goal (<= 0.5 CPU) |", "|---|---|---|---|"]
    for name, _, _ in chosen:
        s = next(r for r in rows if r["scenario"] == name and r["server"] == "starling")
        j = next(r for r in rows if r["scenario"] == name and r["server"] == "janus")
        ratio = s["cpuPer1000"] / j["cpuPer1000"] if s["cpuPer1000"] and j["cpuPer1000"] else None
        mem = s["peakRSSMiB"] / j["peakRSSMiB"] if j["peakRSSMiB"] else None
        lines.append(f"| {name} | {fmt(ratio, '{:.2f}')} | {fmt(mem, '{:.2f}')} | {'met' if ratio and ratio <= 0.5 else 'not met'} |")
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, f"vs-janus-{now:%Y-%m-%d}")
    with open(stem + ".md", "w") as f:
        f.write(text)
    with open(stem + ".json", "w") as f:
        json.dump({"commit": commit, "date": now.isoformat(), "janus": janus_version, "rows": rows, "reports": results}, f,
                  indent=1, sort_keys=True)
    print(f"wrote {stem}.md and .json")


if __name__ == "__main__":
    main()
