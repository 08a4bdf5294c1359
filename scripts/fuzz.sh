#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ and runs each for $1 seconds (default 20) from the committed seed
# corpus (Fuzz/seeds/<target>/, copied so the tree is not modified). Prints executions per target and fails
# on the first crash, leaving the crashing input in Fuzz/crash-*.
set -euo pipefail
SECONDS_PER_TARGET=${1:-20}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! swift build -c release --package-path Fuzz --scratch-path Fuzz/.build \
    -Xswiftc -sanitize=fuzzer,address >"$work/build.log" 2>&1; then
    grep -v -E "warning: .*(asan|sancov)" "$work/build.log" | tail -40 >&2
    echo "fuzz build failed" >&2
    exit 1
fi
targets=$(ls Fuzz/Sources)
printf '%-10s %12s %10s %s\n' target executions exec/s result
for t in $targets; do
    mkdir -p "$work/$t"
    [ -d "Fuzz/seeds/$t" ] && cp -r "Fuzz/seeds/$t/." "$work/$t/"
    log="$work/$t.log"
    if ! "Fuzz/.build/release/$t" "$work/$t" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 \
        -artifact_prefix="Fuzz/crash-$t-" -print_final_stats=1 >"$log" 2>&1; then
        tail -40 "$log" >&2
        echo "FUZZ FAILURE in $t: input saved as Fuzz/crash-$t-*" >&2
        exit 1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    rate=$(( runs / (SECONDS_PER_TARGET > 0 ? SECONDS_PER_TARGET : 1) ))
    printf '%-10s %12s %10s %s\n' "$t" "$runs" "$rate" "no crash"
done
