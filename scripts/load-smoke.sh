#!/usr/bin/env bash
# The starling-load smoke run of `make test`: starts the built `starling serve` on free ports of 127.0.0.1,
# runs starling-load's `smoke` scenario against it (1 room, 2 publishers of VP8 3-layer simulcast + Opus,
# 2 subscribers decoding everything) for a few seconds, and fails unless every video stream decoded frames
# with no loss after NACK recovery, no decoder errors and no failed connection (--expect-clean). Also checks
# that a wrong secret ends the run with a clear message and a non-zero exit. Bounded in time.
#   scripts/load-smoke.sh [starling binary] [starling-load binary]
set -euo pipefail
. "$(dirname "$0")/wait-healthz.sh"
BIN=${1:-.build/debug/starling}
LOAD=${2:-.build/debug/starling-load}
SECRET=load-smoke-secret-0123456789abcdef0123
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
UDP=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LOG=$(mktemp)
OUT=$(mktemp)
trap 'rm -f "$LOG" "$OUT"; kill "$PID" 2>/dev/null || true' EXIT

STARLING_HTTP_PORT=$PORT STARLING_MEDIA_UDP_PORT=$UDP STARLING_MEDIA_TCP_PORT=0 STARLING_MEDIA_EVENT_LOOPS=1 STARLING_AUTH_JWT_SECRET=$SECRET \
    "$BIN" serve --config config/starling.yaml >"$LOG" 2>&1 &
PID=$!
wait_healthz "$PORT" "$PID" "$LOG"

# A wrong secret: Starling refuses the join, and starling-load says so and exits non-zero.
if timeout 60 "$LOAD" --server "http://127.0.0.1:$PORT" --jwt-secret wrong-secret-wrong-secret-wrong-secret \
    --duration 2 --quiet >"$OUT" 2>&1; then
    echo "starling-load succeeded with a wrong secret" >&2; cat "$OUT" >&2; exit 1
fi
grep -q "refused" "$OUT" || { echo "no clear message for a refused join:" >&2; cat "$OUT" >&2; exit 1; }

timeout 120 "$LOAD" --server "http://127.0.0.1:$PORT" --jwt-secret "$SECRET" --scenario smoke --duration 5 --warmup 1 \
    --decode 1 --server-pid "$PID" --expect-clean --json-file "$OUT" || { echo "load smoke run failed" >&2; exit 1; }
python3 - "$OUT" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = r["total"]
assert r["subscriberStreams"] == 8, r["subscriberStreams"]
assert t["framesDecoded"] >= 4 * 30 * 3, t["framesDecoded"]  # 4 video streams, ~4 s at 30 frames/s
assert t["audioFramesDecoded"] > 0 and t["lostAfterRecovery"] == 0 and t["decoderErrors"] == 0
assert t["delaySamples"] > 0 and t["delayP99Milliseconds"] is not None
print(f"load-smoke: ok ({t['framesDecoded']} video and {t['audioFramesDecoded']} audio frames decoded, "
      f"lost {t['lostBeforeRecovery']}/{t['lostAfterRecovery']} before/after NACK, "
      f"delay p50 {t['delayP50Milliseconds']} ms, p99 {t['delayP99Milliseconds']} ms)")
PY
kill -TERM "$PID"
