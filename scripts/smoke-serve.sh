#!/usr/bin/env bash
# Starts the built `starling serve` with the shipped config on a free port, checks /healthz, then sends
# SIGTERM and expects a graceful exit (status 0) within the grace period. Also checks that
# `starling check-config` accepts the shipped file and rejects a broken one. Bounded in time.
set -euo pipefail
. "$(dirname "$0")/wait-healthz.sh"
BIN=${1:-.build/debug/starling}
PORT=${SMOKE_PORT:-18080}
LOG=$(mktemp)
trap 'rm -f "$LOG" "$BAD"; kill "$PID" 2>/dev/null || true' EXIT

"$BIN" check-config config/starling.yaml
BAD=$(mktemp --suffix=.yaml)
printf 'http:\n  port: -1\n  hots: x\nlog:\n  level: loud\n' > "$BAD"
if "$BIN" check-config "$BAD" 2>"$LOG"; then echo "check-config accepted a broken file" >&2; exit 1; fi
for field in http.port http.hots log.level; do
    grep -q "$field" "$LOG" || { echo "check-config did not report $field" >&2; cat "$LOG" >&2; exit 1; }
done

STARLING_HTTP_PORT=$PORT "$BIN" serve --config config/starling.yaml >"$LOG" 2>&1 &
PID=$!
wait_healthz "$PORT" "$PID" "$LOG"
body=$(curl -fsS "http://127.0.0.1:$PORT/healthz")
echo "healthz: $body"
echo "$body" | grep -q '"status":"ok"'
kill -TERM "$PID"
for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$PID" 2>/dev/null; then echo "starling did not stop on SIGTERM" >&2; exit 1; fi
status=0; wait "$PID" || status=$?
[ "$status" -eq 0 ] || { echo "starling exited with $status" >&2; cat "$LOG" >&2; exit 1; }
grep -q "starling stopped" "$LOG" || { echo "no graceful-stop log line" >&2; cat "$LOG" >&2; exit 1; }
echo "smoke-serve: ok (healthz answered, SIGTERM gave a graceful exit)"
