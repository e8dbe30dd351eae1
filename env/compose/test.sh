#!/usr/bin/env bash
# The compose stack for real (make compose-test):
#
#   1. env/compose/images.sh (unless SKIP_IMAGES=1), then `up -d` and wait until every
#      container is healthy
#   2. the consistency test through the gateway
#   3. Redis durability: acknowledged writes (a raw key and a stock update through the API)
#      survive `docker kill` of the Redis container (AOF, appendfsync always, named volume)
#   4. the graders' failure test: during the checkout phase of a larger consistency run
#      (FAILURE_USERS orders), `docker kill` one container at a time, `docker start` it, wait
#      until it is healthy, next: stock, payment, order-1, redis-order, redis-stock,
#      redis-payment. A run whose checkouts are all answered before the list is done is
#      verified and another run takes the rest. Then the gateway (last, between runs: killing
#      it drops client connections, which the verifier counts as unanswered checkouts), and
#      a final consistency run through the restarted gateway.
#   5. `down -v` for this project only (always, also on failure or Ctrl-C)
#
# Environment: PROJECT (wdm-ci), GATEWAY_PORT (8000), WAIT_TIMEOUT (180 s per wait),
# RUN_TIMEOUT (600 s per consistency run), FAILURE_USERS (10000), FAILURE_IN_FLIGHT (64),
# SKIP_IMAGES, KEEP_UP=1 (do not tear down), CARGO_TARGET_DIR.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
PROJECT="${PROJECT:-wdm-ci}"
export GATEWAY_PORT="${GATEWAY_PORT:-8000}"
GATEWAY="http://127.0.0.1:$GATEWAY_PORT"
WAIT_TIMEOUT="${WAIT_TIMEOUT:-180}"
RUN_TIMEOUT="${RUN_TIMEOUT:-600}"
FAILURE_USERS="${FAILURE_USERS:-10000}"
FAILURE_IN_FLIGHT="${FAILURE_IN_FLIGHT:-64}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$REPO/$TARGET_DIR" ;; esac
CT="$TARGET_DIR/release/consistency-test"
LOG_DIR="${LOG_DIR:-$REPO/run/compose-test}"
mkdir -p "$LOG_DIR"

if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi
compose() { "${COMPOSE[@]}" -p "$PROJECT" -f "$REPO/docker-compose.yml" "$@"; }

T0=$SECONDS
log() { printf '[compose-test %4ds] %s\n' "$((SECONDS - T0))" "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

teardown() {
    local rc=$?
    if [ "$rc" != 0 ]; then
        log "exit $rc: container states and log tails"
        compose ps || true
        for c in $(compose ps -q 2>/dev/null); do
            echo "----- $(docker inspect -f '{{.Name}}' "$c")" >&2
            docker logs --tail 15 "$c" 2>&1 | cut -c1-300 >&2 || true
        done
    fi
    if [ -z "${KEEP_UP:-}" ]; then
        log "down -v (project $PROJECT only)"
        timeout 180 "${COMPOSE[@]}" -p "$PROJECT" -f "$REPO/docker-compose.yml" down -v --remove-orphans -t 10 >&2 || true
    fi
    log "finished in $((SECONDS - T0))s, exit $rc"
    exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

cid() { compose ps -q "$1"; }

# "running healthy" (or "running" for a container without a health check).
state() { docker inspect -f '{{.State.Status}}{{if .State.Health}} {{.State.Health.Status}}{{end}}' "$1" 2>/dev/null || echo missing; }

# Waits until the named services (default: all) are running and healthy.
wait_healthy() {
    local deadline=$((SECONDS + WAIT_TIMEOUT)) svc pending last=""
    local services=("$@")
    [ ${#services[@]} -gt 0 ] || mapfile -t services < <(compose config --services)
    while :; do
        pending=""
        for svc in "${services[@]}"; do
            local id
            id="$(cid "$svc")"
            case "$([ -n "$id" ] && state "$id" || echo missing)" in
                "running healthy" | running) ;;
                *) pending="$pending $svc" ;;
            esac
        done
        [ -z "$pending" ] && return 0
        [ "$SECONDS" -lt "$deadline" ] || fail "not healthy after ${WAIT_TIMEOUT}s:$pending"
        if [ "$pending" != "$last" ]; then log "waiting for:$pending"; last="$pending"; fi
        sleep 1
    done
}

# Runs the consistency test in the foreground (bounded), its output also in a log file.
consistency() {
    local name="$1"; shift
    log "consistency run '$name': $*"
    local rc=0
    timeout "$RUN_TIMEOUT" "$CT" --url "$GATEWAY" "$@" >"$LOG_DIR/$name.log" 2>&1 || rc=$?
    grep -vE '^  (setup|\[)' "$LOG_DIR/$name.log" >&2 || true
    [ "$rc" = 0 ] || fail "consistency run '$name' exit $rc (log $LOG_DIR/$name.log)"
    log "consistency run '$name' passed"
}

kill_and_restart() {
    local svc="$1" id
    id="$(cid "$svc")"
    [ -n "$id" ] || fail "no container for $svc"
    log "docker kill $svc"
    docker kill "$id" >/dev/null
    sleep 1
    log "docker start $svc"
    docker start "$id" >/dev/null
    wait_healthy "$svc"
    # Its dependants too (a service whose Redis came back must be ready again).
    wait_healthy
    log "$svc is back and every container is healthy"
}

redis_cli() { docker exec "$(cid "$1")" redis-cli "${@:2}"; }

durability() {
    local key="wdm:durability:$RANDOM$RANDOM" item stock=""
    log "durability: raw key in redis-stock and a stock update through the gateway"
    [ "$(redis_cli redis-stock SET "$key" acknowledged)" = OK ] || fail "SET in redis-stock"
    item="$(curl -fsS -m 10 -X POST "$GATEWAY/stock/item/create/3" | python3 -c 'import json,sys; print(json.load(sys.stdin)["item_id"])')"
    curl -fsS -m 10 -X POST -o /dev/null "$GATEWAY/stock/add/$item/7" || fail "stock/add"
    kill_and_restart redis-stock
    [ "$(redis_cli redis-stock GET "$key")" = acknowledged ] || fail "key $key lost by the redis-stock kill"
    # A 5xx only means "could not answer now" (e.g. a pooled connection to the old Redis
    # process): retried for a while; a wrong stock value fails at once.
    local i
    for i in $(seq 1 20); do
        if stock="$(curl -fsS -m 10 "$GATEWAY/stock/find/$item" | python3 -c 'import json,sys; print(json.load(sys.stdin)["stock"])')"; then
            break
        fi
        log "stock/find failed (attempt $i), retrying"
        sleep 1
    done
    [ "$stock" = 7 ] || fail "stock of $item is '$stock' after the kill, expected 7"
    log "durability: passed (key and stock 7 survived the kill)"
}

# Has the run's checkout phase ended (every checkout answered)?
checkouts_done() {
    grep -q '^answers:' "$1" && return 0
    grep -E '^  \[' "$1" | tail -n 1 | grep -qE 'answered ([0-9]+)/\1,'
}

# Kills from the queue while a consistency run is in its checkout phase.
failure_test() {
    local queue=(stock payment order-1 redis-order redis-stock redis-payment) run=0 pid logf rc
    while [ ${#queue[@]} -gt 0 ]; do
        run=$((run + 1))
        [ "$run" -le 6 ] || fail "kills left after 6 runs: ${queue[*]}"
        logf="$LOG_DIR/failure-$run.log"
        log "failure run $run: $FAILURE_USERS orders, $FAILURE_IN_FLIGHT checkouts in flight; kills left: ${queue[*]}"
        timeout "$RUN_TIMEOUT" "$CT" --url "$GATEWAY" --users "$FAILURE_USERS" \
            --max-in-flight "$FAILURE_IN_FLIGHT" --settle-secs 12 --recovery-secs 60 >"$logf" 2>&1 &
        pid=$!
        local deadline=$((SECONDS + WAIT_TIMEOUT))
        until grep -q '^checkout: firing' "$logf"; do
            kill -0 "$pid" 2>/dev/null || { cat "$logf" >&2; fail "run $run ended before its checkouts"; }
            [ "$SECONDS" -lt "$deadline" ] || { kill "$pid" 2>/dev/null; fail "run $run: no checkout phase after ${WAIT_TIMEOUT}s"; }
            sleep 0.5
        done
        sleep 2
        while [ ${#queue[@]} -gt 0 ] && ! checkouts_done "$logf"; do
            kill_and_restart "${queue[0]}"
            queue=("${queue[@]:1}")
            grep -E '^  \[' "$logf" | tail -n 1 >&2 || true
        done
        rc=0
        wait "$pid" || rc=$?
        grep -vE '^  (setup|\[)' "$logf" >&2 || true
        [ "$rc" = 0 ] || fail "failure run $run exit $rc (log $logf)"
        log "failure run $run passed"
    done
    kill_and_restart gateway
    consistency after-gateway-kill
}

[ -x "$CT" ] || fail "$CT not found: cargo build --release --bins"
if [ -z "${SKIP_IMAGES:-}" ]; then
    log "making images"
    "$REPO/env/compose/images.sh"
fi
if compose ps -q 2>/dev/null | grep -q .; then
    log "project $PROJECT has containers from an earlier run: removing them"
    timeout 180 "${COMPOSE[@]}" -p "$PROJECT" -f "$REPO/docker-compose.yml" down -v --remove-orphans -t 5 >&2
fi
log "up -d (project $PROJECT, gateway $GATEWAY)"
timeout 300 "${COMPOSE[@]}" -p "$PROJECT" -f "$REPO/docker-compose.yml" up -d --no-build >&2 || fail "up"
wait_healthy
log "all containers healthy"
consistency plain
durability
failure_test
log "PASSED: consistency, durability, failure test"
