#!/usr/bin/env bash
# Closed-loop checkout benchmark with wrk, against a running local stack (make bench starts it).
#
#   stress-test/bench.sh
#
# 1. populate (the three batch_init calls), then one more orders batch_init so that fresh
#    runs have enough never-checked-out orders (ids BENCH_ORDERS .. FRESH_ORDERS-1);
# 2. for each connection count: the gateway-alone ceiling, the one-hop ceiling (a separate
#    tiny nginx on 127.0.0.1:8900/8901, stress-test/bench/ceiling.conf), fresh checkouts
#    (each wrk thread walks its own ids, every request is a first checkout) and random
#    checkouts (ids "0".."BENCH_ORDERS-1", repeats included);
# 3. waits for in-flight sagas, then checks the invariants exactly (Lua over SCAN on every
#    master of each service's Redis Cluster, summed) and on a sample through the API; exits
#    non-zero if one broke;
# 4. prints the table and writes it to stress-test/results/bench.md (BENCH_OUT).
#
# Environment (defaults): GATEWAY (http://127.0.0.1:8000), RUN_DIR (<repo>/run),
# BENCH_SECONDS (10), BENCH_CONNECTIONS ("16 64 256"), BENCH_MODES ("fresh random"),
# BENCH_THREADS (2, wrk -t), BENCH_ITEMS / BENCH_USERS / BENCH_ORDERS (100000),
# BENCH_STOCK / BENCH_CREDIT (1000000), BENCH_FRESH_RATE (8000: checkouts/s assumed when
# sizing the fresh orders), FRESH_ORDERS (computed), BENCH_CEILINGS (1; 0 skips them),
# BENCH_SAMPLE (50 users and items checked through the API), REDIS_FSYNC (label only: the
# stack's setting), BENCH_OUT, PORT_OFFSET (0), REDIS_MASTERS (3) and REDIS_REPLICAS (1), as
# for the stack.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
GATEWAY="${GATEWAY:-http://127.0.0.1:8000}"
GATEWAY="${GATEWAY%/}"
RUN_DIR="${RUN_DIR:-$REPO/run}"
SECS="${BENCH_SECONDS:-10}"
CONNS="${BENCH_CONNECTIONS:-16 64 256}"
MODES="${BENCH_MODES:-fresh random}"
THREADS="${BENCH_THREADS:-2}"
ITEMS="${BENCH_ITEMS:-100000}"
USERS="${BENCH_USERS:-100000}"
ORDERS="${BENCH_ORDERS:-100000}"
STOCK="${BENCH_STOCK:-1000000}"
CREDIT="${BENCH_CREDIT:-1000000}"
FRESH_RATE="${BENCH_FRESH_RATE:-8000}"
CEILINGS="${BENCH_CEILINGS:-1}"
SAMPLE="${BENCH_SAMPLE:-50}"
FSYNC="${REDIS_FSYNC:-always}"
OUT="${BENCH_OUT:-$HERE/results/bench.md}"
OFF="${PORT_OFFSET:-0}" # the stack's PORT_OFFSET (env/local/stack.sh) moves these ports too
# Each service's Redis Cluster as the stack runs it (env/local/redis-cluster.sh): nodes on
# base + 0 .. NODES-1 (+ OFF).
REDIS_NODES=$((${REDIS_MASTERS:-3} * (1 + ${REDIS_REPLICAS:-1})))
declare -A REDIS_BASE=([order]=$((6400 + OFF)) [stock]=$((6410 + OFF)) [payment]=$((6420 + OFF)))
CEIL_PORT=$((8900 + OFF)) CEIL_UP_PORT=$((8901 + OFF))
# The service processes of the stack (env/local/stack.sh names; a replica the stack does not
# run shows as "-" in the RSS columns).
SERVICES="order-1 order-2 stock-1 stock-2 payment-1 payment-2"
SERVICES_HEADER="${SERVICES// / \/ }"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] FAILED: %s\n' "$*" >&2; exit 1; }

for t in wrk curl redis-cli nginx python3; do command -v "$t" >/dev/null || die "$t not found"; done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

curl -fsS -m 5 -o /dev/null "$GATEWAY/gateway/health" || die "no gateway at $GATEWAY (make up)"
# The ports of every node of a service's cluster, and of those that are masters now.
nodes_of() { seq "${REDIS_BASE[$1]}" $((REDIS_BASE[$1] + REDIS_NODES - 1)); }
masters_of() {
    local p
    for p in $(nodes_of "$1"); do
        [ "$(redis-cli -p "$p" role 2>/dev/null | head -n 1)" = master ] && echo "$p"
    done
    return 0
}
for svc in order stock payment; do
    for p in $(nodes_of "$svc"); do
        [ "$(redis-cli -p "$p" ping 2>/dev/null)" = PONG ] || die "no Redis node on 127.0.0.1:$p ($svc)"
    done
done

n_fresh_runs=0
for m in $MODES; do [ "$m" = fresh ] && n_fresh_runs=$(wc -w <<<"$CONNS"); done
FRESH_ORDERS="${FRESH_ORDERS:-$((ORDERS + FRESH_RATE * SECS * n_fresh_runs))}"

## 1. populate ---------------------------------------------------------------
python3 "$HERE/populate.py" "$GATEWAY" --items "$ITEMS" --users "$USERS" --orders "$ORDERS" \
    --stock "$STOCK" --credit "$CREDIT" --price 1 || die "populate"
if [ "$FRESH_ORDERS" -gt "$ORDERS" ]; then
    log "fresh orders: batch_init of $FRESH_ORDERS orders (ids $ORDERS.. are for fresh runs)"
    t0=$(date +%s.%N)
    code=$(curl -sS -m 900 -o /dev/null -w '%{http_code}' -X POST \
        "$GATEWAY/orders/batch_init/$FRESH_ORDERS/$ITEMS/$USERS/1")
    [ "$code" = 200 ] || die "orders batch_init $FRESH_ORDERS answered $code"
    log "  done in $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)")s"
fi

# Populating grows each AOF far past its last rewrite, so Redis would start an automatic
# rewrite (a forked child serialising every key) in the middle of a measured run. Compact
# now and wait, so that the runs measure checkouts, not the aftermath of populating.
log "compacting the AOFs after populating (BGREWRITEAOF)"
ALL_NODES="$(nodes_of order) $(nodes_of stock) $(nodes_of payment)"
for p in $ALL_NODES; do
    redis-cli -p "$p" bgrewriteaof >/dev/null 2>&1 || true
done
for p in $ALL_NODES; do
    for _ in $(seq 1 600); do
        info="$(redis-cli -p "$p" info persistence 2>/dev/null)"
        grep -q '^aof_rewrite_in_progress:0' <<<"$info" && grep -q '^aof_rewrite_scheduled:0' <<<"$info" && break
        sleep 0.5
    done
done

## helpers -------------------------------------------------------------------
pid_of() { local f="$RUN_DIR/pids/$1.pid"; [ -f "$f" ] && tr -dc '0-9' <"$f" || true; }
# VmHWM (peak RSS) or VmRSS of a component in MiB, "-" when not running.
mem_mib() {
    local pid; pid="$(pid_of "$1")"
    if [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; then
        awk -v k="$2:" '$1 == k { printf "%.0f", $2 / 1024 }' "/proc/$pid/status"
    else
        echo "-"
    fi
}
# Peak RSS of a service's Redis Cluster: the sum over its nodes (stack.sh names).
cluster_mib() {
    local n sum=0 v
    for n in $(seq 1 "$REDIS_NODES"); do
        v="$(mem_mib "redis-$1-$n" VmHWM)"
        [ "$v" = - ] || sum=$((sum + v))
    done
    echo "$sum"
}
peaks() { local s out=""; for s in $SERVICES; do out="$out${out:+ / }$(mem_mib "$s" VmHWM)"; done; echo "$out"; }

# One command on a service's cluster (-c: redis-cli follows the redirect to the key's master).
rcli() { redis-cli -c -p "${REDIS_BASE[$1]}" "${@:2}"; }
# Lua over every key of a service's cluster (bench/exact.lua prepended: exact sums past
# 2^53): run on each master, whose keys are its own, and the replies added up value by value
# (every value of these scripts is a count or a sum); prints them, one per line.
reval() {
    local svc="$1" file="$2" p outs=()
    shift 2
    # A script over many keys touches many slots, which a cluster node allows only with
    # this flag (the keys are all the node's own: SCAN lists only those).
    { echo '#!lua flags=allow-cross-slot-keys'; cat "$HERE/bench/exact.lua" "$file"; } >"$TMP/eval.lua"
    for p in $(masters_of "$svc"); do
        redis-cli -p "$p" --raw --eval "$TMP/eval.lua" , "$@" >"$TMP/eval-$p.out"
        outs+=("$TMP/eval-$p.out")
    done
    [ ${#outs[@]} -gt 0 ] || die "no master of the $svc cluster answers"
    python3 -c '
import sys
rows = [open(f).read().split() for f in sys.argv[1:]]
print("\n".join(str(sum(map(int, col))) for col in zip(*rows)))' "${outs[@]}"
}
# Exact integer arithmetic on decimal strings (sums of stock may pass 2^63).
bigsub() { python3 -c 'import sys; print(int(sys.argv[1]) - int(sys.argv[2]))' "$1" "$2"; }
sum_is() { python3 -c 'import sys; a, b, c = map(int, sys.argv[1:]); sys.exit(a + b != c)' "$1" "$2" "$3"; }

SAMPLE_USERS=() SAMPLE_ITEMS=()
for _ in $(seq "$SAMPLE"); do
    SAMPLE_USERS+=("$((RANDOM * 32768 % USERS + RANDOM % USERS))")
    SAMPLE_ITEMS+=("$((RANDOM * 32768 % ITEMS + RANDOM % ITEMS))")
done
for i in "${!SAMPLE_USERS[@]}"; do SAMPLE_USERS[i]=$((SAMPLE_USERS[i] % USERS)); SAMPLE_ITEMS[i]=$((SAMPLE_ITEMS[i] % ITEMS)); done

json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# Writes a snapshot to $1: totals, then per sampled user/item the API value and the
# Redis sums of paid orders.
snapshot() {
    local f="$1" u i
    {
        echo "credit $(reval payment "$HERE/bench/field_sum.lua" 'user:*' credit | tr '\n' ' ')"
        echo "stock $(reval stock "$HERE/bench/field_sum.lua" 'item:*' stock | tr '\n' ' ')"
        echo "orders $(reval order "$HERE/bench/order_sums.lua" "$SAMPLE" "${SAMPLE_USERS[@]}" "${SAMPLE_ITEMS[@]}" | tr '\n' ' ')"
        for u in "${SAMPLE_USERS[@]}"; do
            echo "user $u $(curl -fsS -m 10 "$GATEWAY/payment/find_user/$u" | json_field credit) $(rcli payment --raw hget "user:{$u}" credit)"
        done
        for i in "${SAMPLE_ITEMS[@]}"; do
            echo "item $i $(curl -fsS -m 10 "$GATEWAY/stock/find/$i" | json_field stock) $(rcli stock --raw hget "item:{$i}" stock)"
        done
    } >"$f"
}

TMP="$(mktemp -d)"
CEIL_PID=""
cleanup() {
    if [ -n "$CEIL_PID" ] && kill -0 "$CEIL_PID" 2>/dev/null; then
        kill -TERM "$CEIL_PID" 2>/dev/null || true
        wait "$CEIL_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

log "snapshot before the runs (exact sums in Redis, $SAMPLE users and items through the API)"
snapshot "$TMP/before"
PEAK_AFTER_POPULATE="$(peaks)"

## 2. ceiling nginx ------------------------------------------------------------
if [ "$CEILINGS" = 1 ]; then
    for p in $CEIL_PORT $CEIL_UP_PORT; do
        if ss -ltn | grep -q "127.0.0.1:$p "; then die "port $p is in use (ceiling nginx)"; fi
    done
    CEIL_DIR="$RUN_DIR/bench-ceiling"
    mkdir -p "$CEIL_DIR/conf" "$CEIL_DIR/temp" "$CEIL_DIR/logs"
    sed -e "s/127\.0\.0\.1:8900/127.0.0.1:$CEIL_PORT/g" -e "s/127\.0\.0\.1:8901/127.0.0.1:$CEIL_UP_PORT/g" \
        "$HERE/bench/ceiling.conf" >"$CEIL_DIR/conf/ceiling.conf"
    nginx -t -p "$CEIL_DIR/" -c conf/ceiling.conf -e stderr 2>"$TMP/ceil-t.log" || { cat "$TMP/ceil-t.log" >&2; die "ceiling nginx config"; }
    nginx -p "$CEIL_DIR/" -c conf/ceiling.conf -e stderr -g 'daemon off;' </dev/null >>"$CEIL_DIR/ceiling.log" 2>&1 &
    CEIL_PID=$!
    for _ in $(seq 50); do curl -fsS -m 1 -o /dev/null -X POST "http://127.0.0.1:$CEIL_PORT/hop/1" 2>/dev/null && break; sleep 0.1; done
    curl -fsS -m 1 -o /dev/null -X POST "http://127.0.0.1:$CEIL_PORT/hop/1" || die "ceiling nginx did not start (see $CEIL_DIR/ceiling.log)"
    log "ceiling nginx pid $CEIL_PID on 127.0.0.1:$CEIL_PORT (upstream :$CEIL_UP_PORT)"
fi

# run_wrk NAME CONNS URL MODE PREFIX BASE COUNT -> sets R_* from wrk's RESULT line
run_wrk() {
    local name="$1" c="$2" url="$3" mode="$4" prefix="$5" base="$6" count="$7" t line
    t=$((THREADS < c ? THREADS : c))
    if [ -n "${BENCH_PROFILE:-}" ] && [ "$mode" = fresh ]; then profile_begin; fi
    R_busy0="$(busy_jiffies)"
    wrk -t"$t" -c"$c" -d"${SECS}s" --timeout 30s -s "$HERE/bench/checkout.lua" "$url" \
        -- "$mode" "$prefix" "$base" "$count" "$t" >"$TMP/wrk-$name-$c.out" 2>&1 ||
        { cat "$TMP/wrk-$name-$c.out" >&2; die "wrk $name $c"; }
    R_busy1="$(busy_jiffies)"
    line="$(grep '^RESULT ' "$TMP/wrk-$name-$c.out")" || { cat "$TMP/wrk-$name-$c.out" >&2; die "no RESULT from wrk"; }
    local kv
    for kv in ${line#RESULT }; do printf -v "R_${kv%%=*}" '%s' "${kv#*=}"; done
    if [ -n "${BENCH_PROFILE:-}" ] && [ "$mode" = fresh ]; then
        profile_end "fresh checkouts at $c connections" "$(awk -v r="$R_rate" -v s="$SECS" 'BEGIN { printf "%.0f", r * s }')"
    fi
}
# shellcheck source=stress-test/bench/profile.sh
if [ -n "${BENCH_PROFILE:-}" ]; then . "$HERE/bench/profile.sh"; fi

ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }
# CPU time the whole machine was busy (user, nice, system, irq, softirq, steal), in jiffies.
busy_jiffies() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
HZ="$(getconf CLK_TCK)"

ROWS=()
declare -A CEIL_DIRECT CEIL_HOP
FRESH_BASE="$ORDERS"
ANY_5XX=0
RAN_OUT=""
for c in $CONNS; do
    if [ "$CEILINGS" = 1 ]; then
        log "ceiling: gateway alone, $c connections, ${SECS}s"
        run_wrk direct "$c" "http://127.0.0.1:$CEIL_PORT" random /direct/ 0 100000
        CEIL_DIRECT[$c]="$R_rate"
        log "  $R_rate/s"
        log "ceiling: one proxied hop, $c connections, ${SECS}s"
        run_wrk hop "$c" "http://127.0.0.1:$CEIL_PORT" random /hop/ 0 100000
        CEIL_HOP[$c]="$R_rate"
        log "  $R_rate/s"
    fi
    for m in $MODES; do
        if [ "$m" = fresh ]; then
            log "fresh checkouts, $c connections, ${SECS}s (order ids from $FRESH_BASE)"
            run_wrk fresh "$c" "$GATEWAY" fresh /orders/checkout/ "$FRESH_BASE" 0
            if [ "$R_next_base" -gt "$FRESH_ORDERS" ]; then
                RAN_OUT="$RAN_OUT fresh/$c"
                log "  WARNING: ran past the $FRESH_ORDERS fresh orders (raise BENCH_FRESH_RATE)"
            fi
            FRESH_BASE="$R_next_base"
        else
            log "random checkouts, $c connections, ${SECS}s (order ids 0..$((ORDERS - 1)))"
            run_wrk random "$c" "$GATEWAY" random /orders/checkout/ 0 "$ORDERS"
        fi
        # Machine CPU per successful checkout: everything on it (wrk, gateway, services,
        # Redis) over the run, so it compares builds more steadily than the rate does.
        cpu="$(awk -v j="$((R_busy1 - R_busy0))" -v hz="$HZ" -v r="$R_rate" -v s="$SECS" \
            'BEGIN { if (r > 0) printf "%.2f", j * 1000 / hz / (r * s); else print "-" }')"
        [ "$R_s5xx" = 0 ] || ANY_5XX=1
        fd="-" fh="-"
        if [ "$CEILINGS" = 1 ]; then
            fd="$(awk -v a="$R_rate" -v b="${CEIL_DIRECT[$c]}" 'BEGIN { printf "%.1f %%", 100 * a / b }')"
            fh="$(awk -v a="$R_rate" -v b="${CEIL_HOP[$c]}" 'BEGIN { printf "%.1f %%", 100 * a / b }')"
        fi
        row="| $m | $c | $(printf '%.0f' "$R_rate") | $(ms "$R_p50") | $(ms "$R_p99") | $(ms "$R_p999") | $R_non2xx | $R_s5xx | $R_sockerr | $cpu | $fd | $fh | $(peaks) |"
        ROWS+=("$row")
        log "  $row"
    done
done

if [ -n "$CEIL_PID" ]; then
    kill -TERM "$CEIL_PID" 2>/dev/null || true
    wait "$CEIL_PID" 2>/dev/null || true
    CEIL_PID=""
fi

## 3. invariants ---------------------------------------------------------------
log "waiting for in-flight sagas to finish"
for i in $(seq 240); do
    active="$(reval order "$HERE/bench/active_sagas.lua")"
    [ "$active" = 0 ] && break
    sleep 0.5
done
[ "$active" = 0 ] || die "$active sagas still active after 120 s"

log "snapshot after the runs"
snapshot "$TMP/after"
PROBLEMS=()
read -r _ _ credit_b <<<"$(grep '^credit ' "$TMP/before")"
read -r _ _ credit_a <<<"$(grep '^credit ' "$TMP/after")"
read -r _ _ stock_b <<<"$(grep '^stock ' "$TMP/before")"
read -r _ _ stock_a <<<"$(grep '^stock ' "$TMP/after")"
read -r -a ob <<<"$(grep '^orders ' "$TMP/before" | cut -d' ' -f2-)"
read -r -a oa <<<"$(grep '^orders ' "$TMP/after" | cut -d' ' -f2-)"
paid_new=$((oa[1] - ob[1]))
cost_new="$(bigsub "${oa[2]}" "${ob[2]}")" units_new="$(bigsub "${oa[3]}" "${ob[3]}")"
[ "${oa[4]}" = 0 ] || PROBLEMS+=("${oa[4]} orders still marked busy")
sum_is "$credit_a" "$cost_new" "$credit_b" ||
    PROBLEMS+=("money: credit after $credit_a + cost of newly paid orders $cost_new != credit before $credit_b")
sum_is "$stock_a" "$units_new" "$stock_b" ||
    PROBLEMS+=("stock: stock after $stock_a + units of newly paid orders $units_new != stock before $stock_b")
for k in "${!SAMPLE_USERS[@]}"; do
    u="${SAMPLE_USERS[k]}"
    read -r _ _ api_b red_b <<<"$(grep "^user $u " "$TMP/before" | head -1)"
    read -r _ _ api_a red_a <<<"$(grep "^user $u " "$TMP/after" | head -1)"
    [ "$api_a" = "$red_a" ] || PROBLEMS+=("user $u: API credit $api_a, Redis $red_a")
    spent="$(bigsub "${oa[5 + k]}" "${ob[5 + k]}")"
    sum_is "$api_a" "$spent" "$api_b" || PROBLEMS+=("user $u: credit went $api_b -> $api_a but its newly paid orders cost $spent")
done
for k in "${!SAMPLE_ITEMS[@]}"; do
    it="${SAMPLE_ITEMS[k]}"
    read -r _ _ api_b red_b <<<"$(grep "^item $it " "$TMP/before" | head -1)"
    read -r _ _ api_a red_a <<<"$(grep "^item $it " "$TMP/after" | head -1)"
    [ "$api_a" = "$red_a" ] || PROBLEMS+=("item $it: API stock $api_a, Redis $red_a")
    sold="$(bigsub "${oa[5 + SAMPLE + k]}" "${ob[5 + SAMPLE + k]}")"
    sum_is "$api_a" "$sold" "$api_b" || PROBLEMS+=("item $it: stock went $api_b -> $api_a but newly paid orders hold $sold units")
done

## 4. table ----------------------------------------------------------------------
{
    echo "# Checkout benchmark"
    echo
    echo "$(date -u '+%F %T') UTC, $(nproc) CPUs, wrk -t$THREADS, ${SECS} s per run, gateway $GATEWAY."
    echo "Durability: Redis appendfsync **$FSYNC** (REDIS_FSYNC). Replicas: order ${ORDER_REPLICAS:-2}, stock ${STOCK_REPLICAS:-2}, payment ${PAYMENT_REPLICAS:-2}."
    echo "Populate: $ITEMS items (stock $STOCK, price 1), $USERS users (credit $CREDIT), $ORDERS orders;"
    echo "fresh runs use order ids $ORDERS..$((FRESH_ORDERS - 1)) (an extra batch_init of $FRESH_ORDERS orders)."
    echo
    echo "| mode | conns | checkouts/s (2xx) | p50 ms | p99 ms | p99.9 ms | non-2xx | 5xx | socket errors | machine CPU ms per checkout | of gateway-alone | of one-hop | peak RSS MiB $SERVICES_HEADER |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    if [ "$CEILINGS" = 1 ]; then
        echo "Ceilings (same wrk settings, tiny nginx on :$CEIL_PORT):"
        echo
        echo "| conns | gateway alone req/s | one proxied hop req/s |"
        echo "|---|---|---|"
        for c in $CONNS; do echo "| $c | $(printf '%.0f' "${CEIL_DIRECT[$c]}") | $(printf '%.0f' "${CEIL_HOP[$c]}") |"; done
        echo
    fi
    echo "Peak RSS (VmHWM, MiB) $SERVICES_HEADER right after populate: $PEAK_AFTER_POPULATE;"
    echo "RSS now: $(for s in $SERVICES; do printf '%s=%s ' "$s" "$(mem_mib "$s" VmRSS)"; done)"
    echo "Redis peak RSS MiB, summed over each cluster's nodes, order/stock/payment: $(cluster_mib order) / $(cluster_mib stock) / $(cluster_mib payment)."
    echo
    echo "Invariants: newly paid orders $paid_new (cost $cost_new, units $units_new); credit $credit_b -> $credit_a;"
    echo "stock $stock_b -> $stock_a; $SAMPLE users and $SAMPLE items checked through the API."
    if [ ${#PROBLEMS[@]} = 0 ]; then
        echo "**All invariants hold.**"
    else
        echo "**INVARIANTS BROKEN:**"
        printf -- '- %s\n' "${PROBLEMS[@]}"
    fi
    [ -z "$RAN_OUT" ] || echo "Warning: fresh runs ran out of fresh orders:$RAN_OUT (their extra requests were 4xx)."
} >"$TMP/table.md"
mkdir -p "$(dirname "$OUT")"
cp "$TMP/table.md" "$OUT"
echo
cat "$TMP/table.md"
echo
log "written to $OUT"
[ ${#PROBLEMS[@]} = 0 ] || die "invariants broken"
[ "$ANY_5XX" = 0 ] || die "some checkout answered 5xx"
log "ok"
