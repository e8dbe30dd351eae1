#!/usr/bin/env bash
# The compose stack for real (make compose-test):
#
#   1. env/compose/images.sh (unless SKIP_IMAGES=1), then `up -d` and wait until every
#      container is healthy
#   2. the consistency test through the gateway (the course's scenario), and `ops probe
#      e2e`: the course's flow, bad input, and the services' /metrics and /health/... not
#      routed by the gateway (its JSON 404)
#   3. `ops probe durability`: every Redis node in cluster mode with AOF and `appendfsync
#      no`; in each cluster a burst of replica-acknowledged writes (WAIT 1) survives the
#      SIGKILL of the master holding them; keyed stock/add and add_funds through the
#      gateway survive the SIGKILL of the master owning their slot, then of a replica of
#      it; each victim comes back as a replica of its whole cluster
#   4. `ops probe gateway-wait`: with both stock replicas killed and one started a second
#      later, a request in flight waits for it (the gateway's retry passes) and gets a 200
#   5. the consistency test with its own docker chaos (--chaos-docker): one container at a
#      time (never the gateway) killed and started again (a Redis master once one of its
#      replicas took over), every answer judged, every write checked to be there once:
#      during every phase of the default scenario, then as the graders' failure test: one
#      pass over the victims (every service replica, a master and a replica of each cluster,
#      each once; --chaos-passes 1) during the checkouts (--chaos-phases checkout) of
#      FAILURE_USERS orders over FAILURE_ITEMS items, most of them paid, so that every
#      checkout runs a saga
#   6. the gateway killed and started again, between runs (killing it drops the clients'
#      connections), and a last consistency run through the new gateway
#   7. after every step that kills: every container still has the address it started with
#      (the gateway resolved its upstreams when it started; docker-compose.yml gives every
#      container a fixed one)
#   8. every container's log saved to LOG_DIR/containers/, then `down -v` for this project
#      only (always, also on failure or Ctrl-C), then a check that
#      no container, volume or network of the project is left.
#
# Every kill, start and cluster rule is `ops`'s (ops/src/fault, ops/src/cluster); this script
# only starts, watches and stops the compose project.
#
# Environment: PROJECT (wdm-ci), GATEWAY_PORT (8000), WDM_NET (10.213.7: the first three
# octets of the project's network, docker-compose.yml; another value for a second project
# running at once), WAIT_TIMEOUT (120 s per wait), RUN_TIMEOUT (900 s per run; the failure
# test took 410 s on a slow day),
# FAILURE_USERS (20000), FAILURE_ITEMS (20), FAILURE_STOCK (900 per item), FAILURE_IN_FLIGHT
# (64), SKIP_IMAGES, KEEP_UP=1 (do not tear down), LOG_DIR (run/compose-test),
# CARGO_TARGET_DIR. REDIS_REPLICAS is not read: docker-compose.yml's is used (below).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
PROJECT="${PROJECT:-wdm-ci}"
export GATEWAY_PORT="${GATEWAY_PORT:-8000}"
GATEWAY="http://127.0.0.1:$GATEWAY_PORT"
WAIT_TIMEOUT="${WAIT_TIMEOUT:-120}"
RUN_TIMEOUT="${RUN_TIMEOUT:-900}"
FAILURE_USERS="${FAILURE_USERS:-20000}"
FAILURE_ITEMS="${FAILURE_ITEMS:-20}"
FAILURE_STOCK="${FAILURE_STOCK:-900}"
FAILURE_IN_FLIGHT="${FAILURE_IN_FLIGHT:-64}"
# shellcheck source=env/target-dir.sh
. "$REPO/env/target-dir.sh"
CT="$TARGET_DIR/release/consistency-test"
OPS="$TARGET_DIR/release/ops"
LOG_DIR="${LOG_DIR:-$REPO/run/compose-test}"
mkdir -p "$LOG_DIR"
rm -f "$LOG_DIR"/*.log "$LOG_DIR"/containers/*.log
LABEL="label=com.docker.compose.project=$PROJECT"

if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi
compose() { "${COMPOSE[@]}" -p "$PROJECT" -f "$REPO/docker-compose.yml" "$@"; }

T0=$SECONDS
log() { printf '[compose-test %4ds] %s\n' "$((SECONDS - T0))" "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

# ops and the consistency test tell masters from replicas by the replicas per master of the
# clusters they work on: the compose file's (redis-cluster-init's REDIS_REPLICAS, 2), not
# the local stack's REDIS_REPLICAS, which `make` exports to every recipe.
REDIS_REPLICAS="$(compose config | sed -n "s/^ *REDIS_REPLICAS: *[\"']\{0,1\}\([0-9][0-9]*\).*/\1/p")"
[ -n "$REDIS_REPLICAS" ] || fail "docker-compose.yml: redis-cluster-init has no REDIS_REPLICAS"
export REDIS_REPLICAS

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

# Every container's whole log, with timestamps, into $LOG_DIR/containers/ (`down -v` takes
# them with it): a gap or a failure read later against what each service and node said.
save_logs() {
    local c name
    mkdir -p "$LOG_DIR/containers"
    for c in $(docker ps -aq --filter "$LABEL" 2>/dev/null); do
        name="$(docker inspect -f '{{.Name}}' "$c" 2>/dev/null)" || continue
        docker logs -t "$c" >"$LOG_DIR/containers/${name#/}.log" 2>&1 || true
    done
    log "container logs in $LOG_DIR/containers/"
}

teardown() {
    local rc=$?
    trap - EXIT INT TERM
    save_logs
    if [ "$rc" != 0 ]; then
        log "exit $rc: container states and log tails"
        docker ps -a --filter "$LABEL" --format '{{.Names}}: {{.Status}}' >&2 || true
        local f
        for f in "$LOG_DIR"/containers/*.log; do
            [ -e "$f" ] || continue
            echo "----- /$(basename "$f" .log)" >&2
            # Without the timestamp `docker logs -t` put in front of each line.
            tail -n 15 "$f" | cut -d' ' -f2- | cut -c1-300 >&2 || true
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

# "service status health exit-code" of every container of the project.
states() {
    local ids
    ids="$(docker ps -aq --filter "$LABEL")"
    [ -n "$ids" ] || return 0
    # shellcheck disable=SC2086
    docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}}' $ids
}

# Waits until every container of the project is running and healthy (the one-shot: exited 0,
# or already removed).
wait_healthy() {
    local deadline=$((SECONDS + WAIT_TIMEOUT)) pending last="" expected now
    expected="$(compose config --services | grep -cvx "$ONE_SHOT")"
    while :; do
        now="$(states)"
        pending="$(awk -v one="$ONE_SHOT" '
            $1 == one { if (!($2 == "exited" && $4 == 0)) printf " %s(%s/exit %s)", $1, $2, $4; next }
            !($2 == "running" && ($3 == "healthy" || $3 == "none")) {printf " %s(%s/%s)", $1, $2, $3}' <<<"$now")"
        [ "$(grep -cv "^$ONE_SHOT " <<<"$now")" -ge "$expected" ] ||
            pending="$pending ($(grep -cv "^$ONE_SHOT " <<<"$now") of $expected containers)"
        [ -z "$pending" ] && return 0
        [ "$SECONDS" -lt "$deadline" ] || fail "not healthy after ${WAIT_TIMEOUT}s:$pending"
        if [ "$pending" != "$last" ]; then log "waiting for:$pending"; last="$pending"; fi
        sleep 0.5
    done
}

# "service address" of every container: nginx resolved its upstreams' names when it
# started, so a container that came back with a new address would strand it.
addresses() {
    # shellcheck disable=SC2046
    docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' \
        $(docker ps -aq --filter "$LABEL") | sort
}
ADDRESSES=""
same_addresses() {
    local now
    now="$(addresses)"
    [ "$now" = "$ADDRESSES" ] || fail "after $1 a container has another address: $(diff <(echo "$ADDRESSES") <(echo "$now") | grep '^[<>]' | tr '\n' ' ')"
    log "after $1: every container has the address it started with"
}

OPS_ON=("$OPS" --docker "$PROJECT")

# Runs one bounded step in the foreground, its output also in a log file; the lines of its
# progress are left out of the terminal.
step() {
    local name="$1"; shift
    log "$name: $*"
    local rc=0
    GATEWAY="$GATEWAY" timeout "$RUN_TIMEOUT" "$@" >"$LOG_DIR/$name.log" 2>&1 || rc=$?
    grep -vE '^  (setup|\[)|^\[durability .*\]   ' "$LOG_DIR/$name.log" >&2 || true
    [ "$rc" = 0 ] || fail "$name exit $rc (log $LOG_DIR/$name.log)"
    log "$name passed"
}

[ -x "$CT" ] || fail "$CT not found: cargo build --release --bins"
[ -x "$OPS" ] || fail "$OPS not found: cargo build --release --bins"
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
# victims: remove it, so that no fault driver, which lists the project's containers, ever
# tries to kill an exited one. `-v`: with the anonymous /data volume its image declares,
# which `down -v` no longer sees once the container is gone.
docker rm -v "$(docker ps -aq --filter "$LABEL" --filter "label=com.docker.compose.service=$ONE_SHOT")" >/dev/null
ADDRESSES="$(addresses)"

step plain "$CT" --url "$GATEWAY"
step e2e "${OPS_ON[@]}" probe e2e --gateway "$GATEWAY"
step durability "${OPS_ON[@]}" probe durability --gateway "$GATEWAY"
wait_healthy
same_addresses durability
step gateway-wait "${OPS_ON[@]}" probe gateway-wait --gateway "$GATEWAY"
wait_healthy
same_addresses gateway-wait
step chaos-every-phase "$CT" --url "$GATEWAY" --chaos-docker --docker-project "$PROJECT"
wait_healthy
same_addresses chaos-every-phase
step failure "$CT" --url "$GATEWAY" --chaos-docker --docker-project "$PROJECT" --chaos-phases checkout --chaos-passes 1 \
    --users "$FAILURE_USERS" --items "$FAILURE_ITEMS" --stock-per-item "$FAILURE_STOCK" \
    --max-in-flight "$FAILURE_IN_FLIGHT" --settle-secs 12
wait_healthy
same_addresses failure
log "gateway: $("${OPS_ON[@]}" fault kill gateway) killed, $("${OPS_ON[@]}" fault start gateway) started again"
wait_healthy
same_addresses "the gateway's kill"
step after-gateway-kill "$CT" --url "$GATEWAY"
log "PASSED: consistency, e2e, durability, gateway wait, chaos in every phase, failure test, gateway kill"
