#!/usr/bin/env bash
# Interleaved A/B of builds or settings: fresh checkouts at one connection count, each run
# on a freshly started stack with its own data, variants alternating round by round so
# that the machine's drift hits them alike. Needs the ports of `make up` free.
#
#   stress-test/ab.sh 'LABEL BIN_DIR [VAR=VALUE ...]' 'LABEL BIN_DIR [VAR=VALUE ...]' ...
#   e.g. stress-test/ab.sh 'before /tmp/bin-main' 'after target/release PEER_BATCHES_IN_FLIGHT=4'
#
# BIN_DIR holds the order, stock and payment binaries to run. AB_REPO=PATH among the
# variables runs that variant with another checkout's env/local/stack.sh and
# stress-test/bench.sh (an older build whose stack differs, e.g. the single-Redis one:
# 'single /work/old/target/release AB_REPO=/work/old'). AB_HOOK=SCRIPT runs SCRIPT (bash,
# with RUN_DIR) once that variant's stack is up; AB_OPS=ARG,ARG,... runs this checkout's
# `ops ARG ARG ...` on it then, e.g. to change a Redis setting for an experiment
# (AB_OPS=bench,redis-config,replica,appendfsync,everysec). Environment (defaults):
# AB_ROUNDS (3), AB_CONNECTIONS (64), AB_SECONDS (10), AB_SIZE (20000 items, users and
# orders). Prints every run (with the mean number of sagas per batched reserve request,
# from order-1's /metrics), then per variant the median checkouts/s, p99 and machine CPU
# per checkout (see bench.sh; the steadier measure on a shared VM).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
STACK="$REPO/env/local/stack.sh"
OPS="${CARGO_TARGET_DIR:-$REPO/target}/release/ops"
ROUNDS="${AB_ROUNDS:-3}"
CONNS="${AB_CONNECTIONS:-64}"
SECS="${AB_SECONDS:-10}"
SIZE="${AB_SIZE:-20000}"

log() { printf '[ab] %s\n' "$*" >&2; }
[ $# -ge 1 ] || { sed -n '2,19p' "$0" >&2; exit 2; }
if "$STACK" status >/dev/null 2>&1; then log "a stack is running: stop it first (make down)"; exit 1; fi

WORK="$(mktemp -d)"
RUN=""
STACK_USED="$STACK"
cleanup() {
    if [ -n "$RUN" ]; then RUN_DIR="$RUN" "$STACK_USED" down >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

declare -A RESULTS
for round in $(seq "$ROUNDS"); do
    for variant in "$@"; do
        read -r label bin vars <<<"$variant"
        log "round $round/$ROUNDS: $label"
        repo="$REPO"
        for kv in $vars; do
            case "$kv" in AB_REPO=*) repo="${kv#AB_REPO=}" ;; esac
        done
        stack="$repo/env/local/stack.sh"
        RUN="$WORK/run"
        STACK_USED="$stack"
        rm -rf "$RUN"
        # shellcheck disable=SC2086 # VAR=VALUE words
        env $vars RUN_DIR="$RUN" BIN_DIR="$(cd "$bin" && pwd)" "$stack" up >"$WORK/up.log" 2>&1 ||
            { cat "$WORK/up.log" >&2; exit 1; }
        # AB_HOOK=SCRIPT, AB_OPS=ARG,... among the variables: run them once the stack is up.
        for kv in $vars; do
            case "$kv" in
                AB_HOOK=*) RUN_DIR="$RUN" bash "${kv#AB_HOOK=}" ;;
                # shellcheck disable=SC2086 # VAR=VALUE words; the commas split the arguments
                AB_OPS=*) a="${kv#AB_OPS=}" && env $vars RUN_DIR="$RUN" "$OPS" ${a//,/ } ;;
            esac
        done
        # shellcheck disable=SC2086 # VAR=VALUE words (the stack's own, e.g. REDIS_MASTERS)
        env $vars RUN_DIR="$RUN" BENCH_MODES=fresh BENCH_CONNECTIONS="$CONNS" BENCH_SECONDS="$SECS" \
            BENCH_CEILINGS=0 BENCH_SAMPLE=5 BENCH_ITEMS="$SIZE" BENCH_USERS="$SIZE" \
            BENCH_ORDERS="$SIZE" BENCH_OUT="$WORK/table.md" \
            "$repo/stress-test/bench.sh" >"$WORK/bench.log" 2>&1 || { tail -30 "$WORK/bench.log" >&2; exit 1; }
        # Sagas per batched reserve request at order-1 (builds without batching: "-").
        batch="$(curl -fsS -m 5 http://127.0.0.1:8100/metrics | awk '
            /^participant_batch_calls_sum\{.*call="reserve"/ { s = $NF }
            /^participant_batch_calls_count\{.*call="reserve"/ { n = $NF }
            END { if (n > 0) printf "%.1f", s / n; else print "-" }')"
        RUN_DIR="$RUN" "$stack" down >/dev/null 2>&1
        RUN=""
        # | fresh | conns | rate | p50 | p99 | p99.9 | non2xx | 5xx | sockerr | cpu | ...
        row="$(grep '^| fresh |' "$WORK/table.md")"
        read -r rate p99 cpu <<<"$(awk -F'|' '{ gsub(/ /, ""); print $4, $6, $11 }' <<<"$row")"
        log "  $rate checkouts/s, p99 $p99 ms, $cpu ms CPU per checkout, $batch sagas per reserve batch"
        RESULTS[$label]="${RESULTS[$label]:-} $rate/$p99/$cpu/$batch"
    done
done

echo
echo "| variant | runs (checkouts/s / p99 ms / CPU ms / sagas per batch) | median checkouts/s | median p99 ms | median CPU ms per checkout |"
echo "|---|---|---|---|---|"
for variant in "$@"; do
    read -r label _ <<<"$variant"
    runs="${RESULTS[$label]}"
    median() { tr ' ' '\n' <<<"$runs" | grep . | cut -d/ -f"$1" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
    echo "| $label |$runs | $(median 1) | $(median 2) | $(median 3) |"
done
