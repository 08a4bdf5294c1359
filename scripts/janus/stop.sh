#!/usr/bin/env bash
# Stops the Janus started by start.sh <workdir>: SIGINT (clean shutdown), then SIGKILL after 5 s.
#   stop.sh <workdir>
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 <workdir>" >&2; exit 2; }
PIDF="$1/janus.pid"
[ -f "$PIDF" ] || exit 0
PID=$(cat "$PIDF")
if kill -0 "$PID" 2>/dev/null; then
  kill -INT "$PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$PID" 2>/dev/null && kill -KILL "$PID" 2>/dev/null || true
fi
rm -f "$PIDF"
