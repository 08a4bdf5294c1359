#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ (AddressSanitizer, leak detection) and runs each from the committed seed
# corpus (Fuzz/seeds/<target>/, copied so the tree is not modified). Fails on the first crash or leak, leaving the
# input in Fuzz/crash-*.
#   scripts/fuzz.sh [SECONDS]              every target for SECONDS (default 20): what `make test` runs
#   scripts/fuzz.sh --runs N [TARGET...]   the long run: N executions per target (e.g. 10000000), printing one
#                                          Markdown table row per target for Fuzz/RESULTS.md
set -euo pipefail
# libFuzzer reports crashes itself; the Swift backtracer under AddressSanitizer can stall or crash after it.
export SWIFT_BACKTRACE=enable=no
cd "$(dirname "$0")/.."
RUNS=""
SECONDS_PER_TARGET=20
if [ "${1:-}" = "--runs" ]; then
    RUNS=${2:?--runs needs a count}
    shift 2
elif [ $# -gt 0 ]; then
    SECONDS_PER_TARGET=$1
    shift
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! swift build -c release --package-path Fuzz --scratch-path Fuzz/.build \
    -Xswiftc -sanitize=fuzzer,address >"$work/build.log" 2>&1; then
    grep -v -E "warning: .*(asan|sancov)" "$work/build.log" | tail -40 >&2
    echo "fuzz build failed" >&2
    exit 1
fi
targets=${*:-$(ls Fuzz/Sources)}
if [ -n "$RUNS" ]; then
    echo "| target | executions | seconds | exec/s | corpus | peak RSS MB | crashes |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
else
    printf '%-12s %12s %10s %s\n' target executions exec/s result
fi
for t in $targets; do
    mkdir -p "$work/$t"
    [ -d "Fuzz/seeds/$t" ] && cp -r "Fuzz/seeds/$t/." "$work/$t/"
    log="$work/$t.log"
    if [ -n "$RUNS" ]; then limit=(-runs="$RUNS" -max_len=8192); else limit=(-max_total_time="$SECONDS_PER_TARGET"); fi
    start=$(date +%s)
    if ! "Fuzz/.build/release/$t" "$work/$t" "${limit[@]}" -rss_limit_mb=2048 \
        -artifact_prefix="Fuzz/crash-$t-" -print_final_stats=1 >"$log" 2>&1; then
        tail -60 "$log" >&2
        echo "FUZZ FAILURE in $t: input saved as Fuzz/crash-$t-*" >&2
        exit 1
    fi
    elapsed=$(( $(date +%s) - start ))
    elapsed=$(( elapsed > 0 ? elapsed : 1 ))
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    if [ -n "$RUNS" ]; then
        rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
        printf '| %s | %s | %s | %s | %s | %s | 0 |\n' "$t" "$runs" "$elapsed" "$(( runs / elapsed ))" "$(ls "$work/$t" | wc -l)" "$rss"
    else
        printf '%-12s %12s %10s %s\n' "$t" "$runs" "$(( runs / elapsed ))" "no crash"
    fi
done
