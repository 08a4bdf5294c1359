#!/usr/bin/env bash
# Starts Janus with the generated minimal config, in the CURRENT network namespace
# (run it as `ip netns exec starling-janus scripts/janus/start.sh ...` or inside `unshare --net`).
#   start.sh <workdir> <iface>          background: writes <workdir>/janus.pid, waits for GET /janus/info,
#                                       prints the PID on stdout; log in <workdir>/janus.log
#   JANUS_FOREGROUND=1 start.sh ...     exec janus in the foreground instead
# Knobs: see gen-config.sh (JANUS_HTTP_IP, JANUS_HTTP_PORT, JANUS_EVENT_LOOPS, ...), JANUS_START_TIMEOUT [15] s.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 <workdir> <iface>" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
"$HERE/install.sh"
WORK=$(mkdir -p "$1" && cd "$1" && pwd); IFACE=$2
ip link show "$IFACE" >/dev/null 2>&1 || { echo "interface $IFACE not in this network namespace (run scripts/janus/netns.sh up, then ip netns exec)" >&2; exit 1; }
JANUS_LOG_FILE=${JANUS_LOG_FILE:-$WORK/janus.log} "$HERE/gen-config.sh" "$WORK/conf" "$IFACE" >/dev/null
URL="http://${JANUS_HTTP_IP:-127.0.0.1}:${JANUS_HTTP_PORT:-8088}/janus/info"
if [ "${JANUS_FOREGROUND:-0}" = 1 ]; then
  exec janus -C "$WORK/conf/janus.jcfg" -F "$WORK/conf"
fi
if [ -f "$WORK/janus.pid" ] && kill -0 "$(cat "$WORK/janus.pid")" 2>/dev/null; then
  echo "janus already running with PID $(cat "$WORK/janus.pid")" >&2; exit 1
fi
: > "$WORK/janus.log"
setsid janus -C "$WORK/conf/janus.jcfg" -F "$WORK/conf" >"$WORK/janus.stdout" 2>&1 </dev/null &
PID=$!
echo "$PID" > "$WORK/janus.pid"
deadline=$(( $(date +%s) + ${JANUS_START_TIMEOUT:-15} ))
until curl -sf -m 1 "$URL" >/dev/null 2>&1; do
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "janus exited during startup; see $WORK/janus.log and $WORK/janus.stdout" >&2
    tail -20 "$WORK/janus.log" "$WORK/janus.stdout" >&2 || true; rm -f "$WORK/janus.pid"; exit 1
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "janus did not answer $URL in time" >&2; kill "$PID" 2>/dev/null || true; rm -f "$WORK/janus.pid"; exit 1
  fi
  sleep 0.2
done
echo "$PID"
