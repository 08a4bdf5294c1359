# Sourced by the smoke scripts: wait_healthz PORT PID LOG waits (up to 10 s) until the Starling process PID
# answers /healthz on 127.0.0.1:PORT; it fails, printing LOG, if the process exits first.
wait_healthz() {
    local port=$1 pid=$2 log=$3
    for _ in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then return 0; fi
        kill -0 "$pid" 2>/dev/null || { echo "starling exited early" >&2; cat "$log" >&2; return 1; }
        sleep 0.1
    done
    echo "starling did not answer /healthz on port $port" >&2
    return 1
}
