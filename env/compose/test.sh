#!/usr/bin/env bash
# The compose stack for real (make compose-test):
#
#   1. env/compose/images.sh (unless SKIP_IMAGES=1), then `up -d` and wait until every
#      container is healthy
#   2. the consistency test through the gateway (the course's scenario)
#   3. Redis: every node of each service's Redis Cluster (redis-<svc>-1 .. 6) runs with
#      cluster mode, AOF and `appendfsync always`, and every cluster is whole
#   4. the gateway's policy in compose: the services' /metrics and /health/... are its JSON
#      404; with both stock replicas killed and one started a second later, a request in
#      flight waits for it (its retry passes) and gets a 200, not a 502
#   5. the consistency test with --chaos-docker: one container at a time (never the
#      gateway: service replicas, and each service's Redis masters and replicas chosen by
#      their role at kill time) killed and started again during every phase of the run:
#      set-up writes, checkouts, the reads; every answer judged, every write checked to be
#      there once; after a Redis node is back its cluster must be whole before the next kill
#   6. durability (env/local/durability_test.py --docker): acknowledged stock/add and
#      add_funds, each with its own Idempotency-Key and retried with it until answered,
#      while the master owning the item's (the user's) slot is SIGKILLed, then a replica
#      of it: each write there exactly once, the victims back as replicas
#   7. the graders' failure test: during the checkout phase of a larger consistency run
#      (FAILURE_USERS orders over FAILURE_ITEMS items, most of them paid, so every checkout
#      runs a whole saga), `docker kill` one container at a time, `docker start` it, wait until
#      every container is healthy (and a Redis node's cluster whole), go on to the next:
#      stock-1, payment-1, order-1, stock-2, payment-2, order-2, then a master of order's,
#      stock's, payment's Redis Cluster, then a replica of each (chosen by role when killed;
#      while a replica is down its twin serves). A run whose checkouts are all answered before the list is
#      done is verified and another run takes the rest. A restarted container must keep its
#      address (the gateway resolves its upstreams when it starts; docker-compose.yml gives
#      every container a fixed one). Then the gateway, last and
#      between runs (killing it drops the clients' connections, which the verifier rightly
#      counts as unanswered checkouts), and a final consistency run through the new gateway.
#   8. `down -v` for this project only (always, also on failure or Ctrl-C), then a check that
#      no container, volume or network of the project is left.
#
# Environment: PROJECT (wdm-ci), GATEWAY_PORT (8000), WDM_NET (10.213.7: the first three
# octets of the project's network, docker-compose.yml; another value for a second project
# running at once), WAIT_TIMEOUT (120 s per wait), RUN_TIMEOUT (600 s per consistency run),
# FAILURE_USERS (20000), FAILURE_ITEMS (20), FAILURE_STOCK (900 per item), FAILURE_IN_FLIGHT
# (64), SKIP_IMAGES, KEEP_UP=1 (do not tear down), LOG_DIR (run/compose-test),
# CARGO_TARGET_DIR.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
PROJECT="${PROJECT:-wdm-ci}"
export GATEWAY_PORT="${GATEWAY_PORT:-8000}"
GATEWAY="http://127.0.0.1:$GATEWAY_PORT"
WAIT_TIMEOUT="${WAIT_TIMEOUT:-120}"
RUN_TIMEOUT="${RUN_TIMEOUT:-600}"
FAILURE_USERS="${FAILURE_USERS:-20000}"
FAILURE_ITEMS="${FAILURE_ITEMS:-20}"
FAILURE_STOCK="${FAILURE_STOCK:-900}"
FAILURE_IN_FLIGHT="${FAILURE_IN_FLIGHT:-64}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$REPO/$TARGET_DIR" ;; esac
CT="$TARGET_DIR/release/consistency-test"
LOG_DIR="${LOG_DIR:-$REPO/run/compose-test}"
mkdir -p "$LOG_DIR"
rm -f "$LOG_DIR"/*.log
LABEL="label=com.docker.compose.project=$PROJECT"

if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi
compose() { "${COMPOSE[@]}" -p "$PROJECT" -f "$REPO/docker-compose.yml" "$@"; }

T0=$SECONDS
log() { printf '[compose-test %4ds] %s\n' "$((SECONDS - T0))" "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

# What `down -v` must have removed: every container, volume and network of the project.
leftovers() {
    {
        docker ps -aq --filter "$LABEL" | sed 's/^/container /'
        docker volume ls -q --filter "$LABEL" | sed 's/^/volume /'
        docker network ls -q --filter "$LABEL" | sed 's/^/network /'
    } 2>/dev/null
}

teardown() {
    local rc=$?
    trap - EXIT INT TERM
    [ -z "${CT_PID:-}" ] || kill "$CT_PID" 2>/dev/null || true
    if [ "$rc" != 0 ]; then
        log "exit $rc: container states and log tails"
        docker ps -a --filter "$LABEL" --format '{{.Names}}: {{.Status}}' >&2 || true
        for c in $(docker ps -aq --filter "$LABEL" 2>/dev/null); do
            echo "----- $(docker inspect -f '{{.Name}}' "$c")" >&2
            docker logs --tail 15 "$c" 2>&1 | cut -c1-300 >&2 || true
        done
    fi
    if [ -z "${KEEP_UP:-}" ]; then
        log "down -v (project $PROJECT only)"
        timeout 180 "${COMPOSE[@]}" -p "$PROJECT" -f "$REPO/docker-compose.yml" down -v --remove-orphans -t 10 >&2 || rc=1
        local left
        left="$(leftovers)"
        if [ -n "$left" ]; then
            log "FAILED: left behind by down -v: $(echo "$left" | tr '\n' ' ')"
            rc=1
        fi
    fi
    log "finished in $((SECONDS - T0))s, exit $rc"
    exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# Container ids by compose service, read from the labels (much faster than `compose ps`).
# The ids stay the same across `docker kill` and `docker start`.
declare -A CID=()
read_ids() {
    CID=()
    local svc id
    while read -r svc id; do CID[$svc]="$id"; done < <(
        docker ps -a --filter "$LABEL" --format '{{.Label "com.docker.compose.service"}} {{.ID}}')
}
cid() { [ -n "${CID[$1]:-}" ] || read_ids; [ -n "${CID[$1]:-}" ] || fail "no container for $1"; echo "${CID[$1]}"; }

# "service status health" for every container of the project (read_ids first).
states() {
    [ ${#CID[@]} -gt 0 ] || return 0
    docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "${CID[@]}"
}

# Waits until every container of the project is running and healthy.
wait_healthy() {
    local deadline=$((SECONDS + WAIT_TIMEOUT)) pending last="" expected
    expected="$(compose config --services | wc -l)"
    while :; do
        read_ids
        pending="$(states | awk '!($2 == "running" && ($3 == "healthy" || $3 == "none")) {printf " %s(%s/%s)", $1, $2, $3}')"
        [ "${#CID[@]}" -ge "$expected" ] || pending="$pending (${#CID[@]} of $expected containers)"
        [ -z "$pending" ] && return 0
        [ "$SECONDS" -lt "$deadline" ] || fail "not healthy after ${WAIT_TIMEOUT}s:$pending"
        if [ "$pending" != "$last" ]; then log "waiting for:$pending"; last="$pending"; fi
        sleep 0.5
    done
}

address() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$1"; }

# Kills one container (a compose service, or ROLE:SVC: the node of SVC's Redis Cluster that
# is in ROLE, master or replica, right now), starts it again and waits until every container
# is healthy and, for a Redis node, its cluster whole again.
kill_and_restart() {
    local svc="$1" id before after cluster="" what pause=1
    case "$svc" in
        master:* | replica:*)
            cluster="${svc#*:}"
            svc="$(pick_node "$cluster" "${1%%:*}")"
            what="$svc (${1%%:*})"
            # Long enough for the cluster to notice (node timeout) and fail a master over.
            pause=3
            ;;
        *) what="$svc" ;;
    esac
    id="$(cid "$svc")"
    before="$(address "$id")"
    log "docker kill $what"
    docker kill "$id" >/dev/null
    sleep "$pause"
    log "docker start $svc"
    docker start "$id" >/dev/null
    # Its dependants too: a service whose Redis came back must be ready again.
    wait_healthy
    [ -z "$cluster" ] || wait_cluster "$cluster"
    after="$(address "$id")"
    # nginx resolved the upstream names when it started; a new address would strand it.
    [ "$before" = "$after" ] || fail "$svc came back with address '$after' instead of '$before'"
    log "$what is back (same address), every container healthy${cluster:+, redis-$cluster whole}"
}

redis_cli() { docker exec -e REDISCLI_AUTH="${REDIS_PASSWORD:-wdm-redis-password}" "$(cid "$1")" redis-cli "${@:2}"; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }

# The compose services of SVC's Redis Cluster nodes (redis-SVC-1 .. redis-SVC-6).
redis_nodes() {
    [ ${#CID[@]} -gt 0 ] || read_ids
    printf '%s\n' "${!CID[@]}" | grep -E "^redis-$1-[0-9]+\$" | sort -t- -k3 -n
}
redis_all() { local s; for s in order stock payment; do redis_nodes "$s"; done; }

# The name of one node of SVC's cluster that is in ROLE (master or replica) right now.
pick_node() {
    local svc="$1" want="$2" node role
    [ "$want" = replica ] && want=slave
    for node in $(redis_nodes "$svc" | shuf); do
        role="$(redis_cli "$node" role 2>/dev/null | head -n 1)" || continue
        [ "$role" = "$want" ] && { echo "$node"; return 0; }
    done
    fail "no node of redis-$svc is a $2"
}

# Why SVC's cluster is not whole (stack.sh's rule: every node answers, cluster_state:ok with
# every slot, no node failing in any view, every master with a replica, every replica's
# link up); nothing when it is.
cluster_not_whole() {
    local node out
    for node in $(redis_nodes "$1"); do
        [ "$(redis_cli "$node" ping 2>/dev/null)" = PONG ] || { echo "$node does not answer"; return; }
        out="$(redis_cli "$node" cluster info 2>/dev/null | tr -d '\r')"
        grep -qx 'cluster_state:ok' <<<"$out" && grep -qx 'cluster_slots_ok:16384' <<<"$out" ||
            { echo "$node: $(grep cluster_state <<<"$out")"; return; }
        out="$(redis_cli "$node" cluster nodes 2>/dev/null)"
        awk '$3 ~ /fail|noaddr|handshake/ || $8 != "connected" {bad = bad " " $2} END {if (bad) {print "sees" bad " failing"; exit 1}}' <<<"$out" >/dev/null ||
            { echo "$node sees a node failing"; return; }
        awk '$3 ~ /master/ && NF > 8 {m[$1] = $2} $3 ~ /slave/ {r[$4] = 1; s = 1}
             END {if (s) for (id in m) if (!(id in r)) {print m[id]; exit 1}}' <<<"$out" >/dev/null ||
            { echo "$node: a master has no replica"; return; }
        out="$(redis_cli "$node" info replication 2>/dev/null | tr -d '\r')"
        if grep -qx 'role:slave' <<<"$out" && ! grep -qx 'master_link_status:up' <<<"$out"; then
            echo "$node: replica link not up"; return
        fi
    done
}

wait_cluster() {
    local deadline=$((SECONDS + WAIT_TIMEOUT)) why
    while why="$(cluster_not_whole "$1")" && [ -n "$why" ]; do
        [ "$SECONDS" -lt "$deadline" ] || fail "redis-$1's cluster not whole after ${WAIT_TIMEOUT}s: $why"
        sleep 0.5
    done
}

# Every Redis node runs in cluster mode with AOF and an fsync per write.
redis_config() {
    local r nodes
    nodes="$(redis_all)"
    [ -n "$nodes" ] || fail "no Redis Cluster nodes (redis-<svc>-<n>) in project $PROJECT"
    for r in $nodes; do
        [ "$(redis_cli "$r" CONFIG GET appendonly | tail -n 1)" = yes ] || fail "$r: appendonly is not yes"
        [ "$(redis_cli "$r" CONFIG GET appendfsync | tail -n 1)" = always ] || fail "$r: appendfsync is not always"
        [ "$(redis_cli "$r" CONFIG GET cluster-enabled | tail -n 1)" = yes ] || fail "$r: cluster-enabled is not yes"
    done
    for r in order stock payment; do wait_cluster "$r"; done
    log "redis: $(wc -w <<<"$nodes") cluster nodes with AOF, appendfsync always; every cluster whole"
}

# No acknowledged write is lost when the master (then a replica) that holds it is
# SIGKILLed: env/local/durability_test.py through the gateway, victims by docker kill.
durability() {
    log "durability: acknowledged stock/add and add_funds across docker kill of the owning masters, then replicas"
    local rc=0
    GATEWAY="$GATEWAY" timeout "$RUN_TIMEOUT" "$REPO/env/local/durability_test.py" --docker "$PROJECT" \
        >"$LOG_DIR/durability.log" 2>&1 || rc=$?
    grep -vE '^\[durability .*\]   ' "$LOG_DIR/durability.log" >&2 || true
    [ "$rc" = 0 ] || fail "durability test exit $rc (log $LOG_DIR/durability.log)"
    read_ids
    for r in order stock payment; do wait_cluster "$r"; done
    log "durability: passed (every acknowledged write there exactly once, victims back as replicas)"
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

# Has the run's checkout phase ended (every checkout answered)?
checkouts_done() {
    grep -q '^answers:' "$1" && return 0
    grep -E '^  \[' "$1" | tail -n 1 | grep -qE 'answered ([0-9]+)/\1,'
}

# Kills from the queue while a consistency run is in its checkout phase.
failure_test() {
    local queue=(stock-1 payment-1 order-1 stock-2 payment-2 order-2
        master:order master:stock master:payment replica:order replica:stock replica:payment)
    local run=0 logf rc
    while [ ${#queue[@]} -gt 0 ]; do
        run=$((run + 1))
        [ "$run" -le 6 ] || fail "kills left after 6 runs: ${queue[*]}"
        logf="$LOG_DIR/failure-$run.log"
        log "failure run $run: $FAILURE_USERS orders over $FAILURE_ITEMS items ($FAILURE_STOCK stock each), $FAILURE_IN_FLIGHT checkouts in flight; kills left: ${queue[*]}"
        timeout "$RUN_TIMEOUT" "$CT" --url "$GATEWAY" --users "$FAILURE_USERS" --items "$FAILURE_ITEMS" \
            --stock-per-item "$FAILURE_STOCK" --max-in-flight "$FAILURE_IN_FLIGHT" --settle-secs 12 \
            >"$logf" 2>&1 &
        CT_PID=$!
        local deadline=$((SECONDS + WAIT_TIMEOUT))
        until grep -q '^checkout: firing' "$logf"; do
            kill -0 "$CT_PID" 2>/dev/null || { cat "$logf" >&2; fail "run $run ended before its checkouts"; }
            [ "$SECONDS" -lt "$deadline" ] || fail "run $run: no checkout phase after ${WAIT_TIMEOUT}s"
            sleep 0.5
        done
        log "run $run: checkouts firing"
        sleep 2
        while [ ${#queue[@]} -gt 0 ] && ! checkouts_done "$logf"; do
            kill_and_restart "${queue[0]}"
            queue=("${queue[@]:1}")
            grep -E '^  \[' "$logf" | tail -n 1 >&2 || true
            sleep 1
        done
        rc=0
        wait "$CT_PID" || rc=$?
        CT_PID=""
        grep -vE '^  (setup|\[)' "$logf" >&2 || true
        [ "$rc" = 0 ] || fail "failure run $run exit $rc (log $logf)"
        log "failure run $run passed"
    done
    kill_and_restart gateway
    consistency after-gateway-kill
}

# The gateway answers only the public API, and a restart of every replica of a service is a
# pause for the requests in flight, not a 502 (env/nginx/routes.conf).
gateway_policy() {
    local path out code item took before1 before2
    for path in /stock/metrics /stock/health/ready /payment/health/live /orders/metrics; do
        out="$(curl -sS -m 10 -w '\n%{http_code}' "$GATEWAY$path" 2>&1)" || true
        code="${out##*$'\n'}"
        if [ "$code" != 404 ] || ! grep -q '"error"' <<<"${out%$'\n'*}"; then
            fail "GET $path through the gateway answered $code (expected its JSON 404): ${out%$'\n'*}"
        fi
    done
    log "gateway: /metrics and /health/... are not routed (JSON 404)"
    item="$(curl -fsS -m 10 -X POST "$GATEWAY/stock/item/create/4" | json_field item_id)"
    before1="$(address "$(cid stock-1)")"
    before2="$(address "$(cid stock-2)")"
    log "gateway: docker kill stock-1 stock-2, a request in flight, docker start stock-1 1 s later"
    docker kill "$(cid stock-1)" "$(cid stock-2)" >/dev/null
    curl -sS -m 60 -o "$LOG_DIR/gateway-wait.out" -w '%{http_code} %{time_total}' "$GATEWAY/stock/find/$item" \
        >"$LOG_DIR/gateway-wait.code" 2>&1 &
    local curl_pid=$!
    sleep 1
    docker start "$(cid stock-1)" >/dev/null
    wait "$curl_pid" || true
    read -r code took <"$LOG_DIR/gateway-wait.code" || true
    [ "$code" = 200 ] || fail "the request in flight answered $code after ${took}s (expected 200): $(cat "$LOG_DIR/gateway-wait.out")"
    log "gateway: the request waited ${took}s for stock-1 and got 200"
    docker start "$(cid stock-2)" >/dev/null
    wait_healthy
    if [ "$(address "$(cid stock-1)")" != "$before1" ] || [ "$(address "$(cid stock-2)")" != "$before2" ]; then
        fail "a stock replica came back with another address"
    fi
}

[ -x "$CT" ] || fail "$CT not found: cargo build --release --bins"
if [ -z "${SKIP_IMAGES:-}" ]; then
    log "making images"
    "$REPO/env/compose/images.sh"
fi
if [ -n "$(leftovers)" ]; then
    log "project $PROJECT has containers, volumes or networks from an earlier run: removing them"
    timeout 180 "${COMPOSE[@]}" -p "$PROJECT" -f "$REPO/docker-compose.yml" down -v --remove-orphans -t 5 >&2
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "up -d (project $PROJECT, gateway $GATEWAY)"
timeout 300 "${COMPOSE[@]}" -p "$PROJECT" -f "$REPO/docker-compose.yml" up -d --no-build >&2 || fail "up"
wait_healthy
log "all containers healthy"
consistency plain
redis_config
gateway_policy
# The consistency test's own chaos with `docker kill` / `docker start`: one container at a
# time (never the gateway), during every phase of the run: set-up writes, checkouts, reads.
consistency chaos-every-phase --chaos-docker --docker-project "$PROJECT"
durability
failure_test
log "PASSED: consistency, Redis config, gateway policy, chaos in every phase, durability, failure test"
