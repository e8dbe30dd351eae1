#!/usr/bin/env bash
# The compose stack for real (make compose-test):
#
#   1. env/compose/images.sh (unless SKIP_IMAGES=1), then `up -d` and wait until every
#      container is healthy
#   2. the consistency test through the gateway (the course's scenario)
#   3. Redis durability and failover: every node of the three Redis Clusters runs in cluster
#      mode with AOF and `appendfsync always`; in each cluster a burst of writes, each
#      acknowledged by a replica (WAIT 1), survives `docker kill` of the master holding them
#      (its replica takes over; the killed node, started again, rejoins as a replica), and
#      stock updates acknowledged by the stock service through the gateway survive the kill
#      of every stock master in turn
#   4. the gateway's policy in compose: the services' /metrics and /health/... are its JSON
#      404; with both stock replicas killed and one started a second later, a request in
#      flight waits for it (its retry passes) and gets a 200, not a 502
#   5. the consistency test with --chaos-docker: one container at a time (never the
#      gateway) killed and started again during every phase of the run: set-up writes,
#      checkouts, the reads; every answer judged, every write checked to be there once
#   5b. durability through the gateway (env/local/durability_test.py --docker): keyed
#      stock/add and add_funds, each retried with its Idempotency-Key until answered 2xx,
#      while the Redis master owning the item's (the user's) slot is SIGKILLed, then a
#      replica of it: every acknowledged write there exactly once, the victims back as
#      replicas of their whole cluster
#   6. the graders' failure test: during the checkout phase of a larger consistency run
#      (FAILURE_USERS orders over FAILURE_ITEMS items, most of them paid, so every checkout
#      runs a whole saga), `docker kill` one container at a time, `docker start` it, wait until
#      every container is healthy, go on to the next: stock-1, payment-1, order-1, stock-2,
#      payment-2, order-2, then a master of the order, stock and payment clusters, each
#      started again only after its replica took over (while a replica is down its twin
#      serves). A run whose checkouts are all answered before the list is
#      done is verified and another run takes the rest. A restarted container must keep its
#      address (the gateway resolves its upstreams when it starts; docker-compose.yml gives
#      every container a fixed one). Then the gateway, last and
#      between runs (killing it drops the clients' connections, which the verifier rightly
#      counts as unanswered checkouts), and a final consistency run through the new gateway.
#   7. `down -v` for this project only (always, also on failure or Ctrl-C), then a check that
#      no container, volume or network of the project is left.
#
# Environment: PROJECT (wdm-ci), GATEWAY_PORT (8000), WDM_NET (10.213.7: the first three
# octets of the project's network, docker-compose.yml; another value for a second project
# running at once), WAIT_TIMEOUT (120 s per wait), SETUP_TIMEOUT (360 s: a failure run's
# set-up before its checkouts), RUN_TIMEOUT (600 s per consistency run),
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
SETUP_TIMEOUT="${SETUP_TIMEOUT:-360}"
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

# The volumes the project's containers mount (anonymous ones carry no project label).
project_volumes() {
    local c
    for c in $(docker ps -aq --filter "$LABEL" 2>/dev/null); do
        docker inspect -f '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}' "$c" 2>/dev/null
    done | tr ' ' '\n' | grep . | sort -u || true
}
SEEN_VOLUMES=""

# What `down -v` must have removed: every container, volume and network of the project,
# and every volume its containers were seen to mount.
leftovers() {
    local v
    {
        docker ps -aq --filter "$LABEL" | sed 's/^/container /'
        docker volume ls -q --filter "$LABEL" | sed 's/^/volume /'
        docker network ls -q --filter "$LABEL" | sed 's/^/network /'
        for v in $SEEN_VOLUMES; do
            if docker volume inspect "$v" >/dev/null 2>&1; then echo "volume $v"; fi
        done
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
            # Reported; now gone too, so that the next run starts clean.
            for v in $SEEN_VOLUMES; do docker volume rm "$v" >/dev/null 2>&1 || true; done
        fi
    fi
    log "finished in $((SECONDS - T0))s, exit $rc"
    exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# The one-shot that creates the Redis Clusters: exited 0 counts as healthy.
ONE_SHOT=redis-cluster-init

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

# "service status health exit-code" for every container of the project (read_ids first).
states() {
    [ ${#CID[@]} -gt 0 ] || return 0
    docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}}' "${CID[@]}"
}

# Waits until every container of the project is running and healthy (the one-shot: exited 0,
# or already removed).
wait_healthy() {
    local deadline=$((SECONDS + WAIT_TIMEOUT)) pending last="" expected
    expected="$(compose config --services | grep -cvx "$ONE_SHOT")"
    while :; do
        read_ids
        pending="$(states | awk -v one="$ONE_SHOT" '
            $1 == one { if (!($2 == "exited" && $4 == 0)) printf " %s(%s/exit %s)", $1, $2, $4; next }
            !($2 == "running" && ($3 == "healthy" || $3 == "none")) {printf " %s(%s/%s)", $1, $2, $3}')"
        [ "$(printf '%s\n' "${!CID[@]}" | grep -cvx "$ONE_SHOT")" -ge "$expected" ] ||
            pending="$pending (${#CID[@]} of $expected containers)"
        [ -z "$pending" ] && return 0
        [ "$SECONDS" -lt "$deadline" ] || fail "not healthy after ${WAIT_TIMEOUT}s:$pending"
        if [ "$pending" != "$last" ]; then log "waiting for:$pending"; last="$pending"; fi
        sleep 0.5
    done
}

address() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$1"; }

# The nodes of a service's Redis Cluster (compose services redis-SVC-N).
SERVICE_NAMES=""
cluster_nodes() {
    [ -n "$SERVICE_NAMES" ] || SERVICE_NAMES="$(compose config --services)"
    grep -E "^redis-$1-[0-9]+\$" <<<"$SERVICE_NAMES" | sort -t- -k3 -n
}
redis_role() { redis_cli "$1" ROLE | head -n 1; }
# A node of the cluster that is a master now (the first one found).
current_master() {
    local n
    for n in $(cluster_nodes "$1"); do
        [ "$(redis_role "$n")" = master ] && { echo "$n"; return 0; }
    done
    fail "no master in the $1 cluster"
}
# The node holding a key's slot now (its master).
master_of_key() {
    local svc="$1" key="$2" slot ip n
    slot="$(redis_cli "redis-$svc-1" CLUSTER KEYSLOT "$key")"
    ip="$(redis_cli "redis-$svc-1" CLUSTER NODES | tr -d '\r' | awk -v s="$slot" '
        $3 ~ /master/ && $3 !~ /fail/ {
            for (i = 9; i <= NF; i++) {
                n = split($i, r, "-"); lo = r[1] + 0; hi = (n > 1 ? r[2] : r[1]) + 0
                if (s >= lo && s <= hi) { split($2, a, ":"); print a[1]; exit }
            }
        }')"
    for n in $(cluster_nodes "$svc"); do
        [ "$(address "$(cid "$n")" | xargs)" = "$ip" ] && { echo "$n"; return 0; }
    done
    fail "no node of the $svc cluster serves slot $slot of $key (address '$ip')"
}
# After a master of a cluster was killed: waits until another node sees it failed and all
# slots served again (its replica took over), and says how long that took.
wait_failover() {
    local node="$1" ip="$2" svc other t0=$SECONDS info
    svc="${node#redis-}"
    svc="${svc%-*}"
    other="$(cluster_nodes "$svc" | grep -vx "$node" | head -n 1)"
    while :; do
        info="$(redis_cli "$other" CLUSTER INFO 2>/dev/null | tr -d '\r')" || info=""
        if grep -q '^cluster_slots_ok:16384$' <<<"$info" &&
            redis_cli "$other" CLUSTER NODES | awk -v ip="$ip" 'index($2, ip ":") == 1 && $3 ~ /fail($|,)/ { f = 1 } END { exit !f }'; then
            log "$node: its replica took over within $((SECONDS - t0 + 1))s of the kill"
            return 0
        fi
        [ $((SECONDS - t0)) -lt 30 ] || fail "no replica took over from $node within 30s"
        sleep 0.2
    done
}

kill_and_restart() {
    local svc="$1" id before after master=""
    id="$(cid "$svc")"
    before="$(address "$id")"
    case "$svc" in redis-*) [ "$(redis_role "$svc")" = master ] && master=1 ;; esac
    log "docker kill $svc${master:+ (a master)}"
    docker kill "$id" >/dev/null
    sleep 1
    # A killed master comes back only after its replica took over, so that the failover,
    # not the AOF alone, is what keeps the acknowledged writes.
    [ -z "$master" ] || wait_failover "$svc" "$(xargs <<<"$before")"
    log "docker start $svc"
    docker start "$id" >/dev/null
    # Its dependants too: a service whose Redis came back must be ready again.
    wait_healthy
    after="$(address "$id")"
    # nginx resolved the upstream names when it started; a new address would strand it.
    [ "$before" = "$after" ] || fail "$svc came back with address '$after' instead of '$before'"
    log "$svc is back (same address) and every container is healthy"
}

redis_cli() { docker exec "$(cid "$1")" redis-cli "${@:2}"; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }

# A GET through the gateway, retried for a while on a 5xx or connection error: a service
# answers 503 ("broken pipe") once for each pooled connection to a Redis that was killed,
# even after its /health/ready answered 200 again (see the README of the compose test).
get_field() {
    local path="$1" field="$2" i out code
    for i in $(seq 1 20); do
        out="$(curl -sS -m 10 -w '\n%{http_code}' "$GATEWAY$path" 2>&1)" || true
        code="${out##*$'\n'}"
        out="${out%$'\n'*}"
        case "$code" in
            200) json_field "$field" <<<"$out"; return 0 ;;
            4??) fail "GET $path answered $code: $out" ;;
        esac
        log "GET $path answered ${code:-nothing}: $out (attempt $i), retrying"
        sleep 1
    done
    fail "GET $path kept failing"
}

durability() {
    local svc r key count=300 i item stock master got
    for svc in order stock payment; do
        for r in $(cluster_nodes "$svc"); do
            [ "$(redis_cli "$r" CONFIG GET cluster-enabled | tail -n 1)" = yes ] || fail "$r: cluster-enabled is not yes"
            [ "$(redis_cli "$r" CONFIG GET appendonly | tail -n 1)" = yes ] || fail "$r: appendonly is not yes"
            [ "$(redis_cli "$r" CONFIG GET appendfsync | tail -n 1)" = always ] || fail "$r: appendfsync is not always"
        done
    done
    item="$(curl -fsS -m 10 -X POST "$GATEWAY/stock/item/create/3" | json_field item_id)"
    for svc in order stock payment; do
        key="wdm:durability:$RANDOM$RANDOM"
        master="$(master_of_key "$svc" "$key")"
        log "durability: $count INCRs in the $svc cluster, each acknowledged by a replica (WAIT 1), then docker kill of their master $master"
        # One session, each command answered before the next: INCR, then WAIT for a replica.
        got="$(for i in $(seq 1 "$count"); do printf 'INCR %s\nWAIT 1 5000\n' "$key"; done |
            docker exec -i "$(cid "$master")" redis-cli | awk 'NR % 2 == 0 && $0 != "1" { bad++ } END { print bad + 0 }')"
        [ "$got" = 0 ] || fail "$svc: $got of the $count writes were not acknowledged by a replica"
        kill_and_restart "$master"
        got="$(redis_cli "redis-$svc-1" -c GET "$key")"
        [ "$got" = "$count" ] || fail "the $svc cluster lost acknowledged writes: $key is '$got', expected $count"
        redis_cli "redis-$svc-1" -c DEL "$key" >/dev/null
    done
    # Acknowledged by the stock service (2xx), then every stock master killed in turn: one of
    # them held the item.
    for i in $(seq 1 20); do
        curl -fsS -m 10 -X POST -o /dev/null "$GATEWAY/stock/add/$item/$i" || fail "stock/add"
    done
    local masters=()
    for r in $(cluster_nodes stock); do [ "$(redis_role "$r")" = master ] && masters+=("$r"); done
    for r in "${masters[@]}"; do kill_and_restart "$r"; done
    stock="$(get_field "/stock/find/$item" stock)"
    [ "$stock" = 210 ] || fail "stock of $item is '$stock' after the kills, expected 210 (1 + 2 + ... + 20)"
    log "durability: passed (every acknowledged write survived the kills and failovers)"
}

# No acknowledged write is lost when the master (then a replica) of its key's slot is
# SIGKILLed: env/local/durability_test.py through the gateway, victims by docker kill.
durability_gateway() {
    log "durability through the gateway: keyed writes across docker kill of the owning masters, then replicas"
    local rc=0
    GATEWAY="$GATEWAY" timeout "$RUN_TIMEOUT" "$REPO/env/local/durability_test.py" --docker "$PROJECT" \
        >"$LOG_DIR/durability-gateway.log" 2>&1 || rc=$?
    grep -vE '^\[durability .*\]   ' "$LOG_DIR/durability-gateway.log" >&2 || true
    [ "$rc" = 0 ] || fail "durability test exit $rc (log $LOG_DIR/durability-gateway.log)"
    wait_healthy
    log "durability through the gateway: passed"
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
    # master:SVC is whichever node of that cluster is a master when its turn comes.
    local queue=(stock-1 payment-1 order-1 stock-2 payment-2 order-2 master:order master:stock master:payment)
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
        # Its set-up (4 x FAILURE_USERS writes, each acknowledged by a replica too) comes first.
        local deadline=$((SECONDS + SETUP_TIMEOUT))
        until grep -q '^checkout: firing' "$logf"; do
            kill -0 "$CT_PID" 2>/dev/null || { cat "$logf" >&2; fail "run $run ended before its checkouts"; }
            [ "$SECONDS" -lt "$deadline" ] || fail "run $run: no checkout phase after ${SETUP_TIMEOUT}s"
            sleep 0.5
        done
        log "run $run: checkouts firing"
        sleep 2
        while [ ${#queue[@]} -gt 0 ] && ! checkouts_done "$logf"; do
            case "${queue[0]}" in
                master:*) kill_and_restart "$(current_master "${queue[0]#master:}")" ;;
                *) kill_and_restart "${queue[0]}" ;;
            esac
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
SEEN_VOLUMES="$(project_volumes)"
# The one-shot has done its work (the clusters exist) and only the running containers are
# chaos victims: remove it, so that the chaos driver, which lists the project's containers,
# never tries to kill an exited one. `-v`: with the anonymous /data volume its image
# declares, which `down -v` no longer sees once the container is gone.
docker rm -v "$(cid "$ONE_SHOT")" >/dev/null
read_ids
consistency plain
durability
gateway_policy
# The consistency test's own chaos with `docker kill` / `docker start`: one container at a
# time (never the gateway), during every phase of the run: set-up writes, checkouts, reads.
consistency chaos-every-phase --chaos-docker --docker-project "$PROJECT"
durability_gateway
failure_test
log "PASSED: consistency, durability, gateway policy, chaos in every phase, durability through the gateway, failure test"
