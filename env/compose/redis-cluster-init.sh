#!/usr/bin/env bash
# One-shot of docker-compose.yml (service redis-cluster-init, in the Redis image): makes each
# service's Redis Cluster exist and be whole, then exits 0; the services start only then.
#
#   CLUSTERS="order=redis-order-1,...,redis-order-6 stock=... payment=..."
#
# Per cluster: waits until every node answers PING; when all of them are fresh (they know
# only themselves and hold no slot: new volumes) creates the cluster with
# `redis-cli --cluster create` (the first MASTERS nodes become the masters), when none is it
# changes nothing (the clusters survive `down` and `up` with their volumes), and when only
# some are it fails (a volume was removed by hand). Then waits until the cluster is whole:
# every node says cluster_state:ok, sees all 16384 slots served and knows every node, and
# every master has REDIS_REPLICAS connected replicas whose link is up.
#
# Environment: CLUSTERS, REDIS_REPLICAS (1), REDISCLI_AUTH (the password), INIT_TIMEOUT (120 s
# per cluster). It never restarts, kills or reconfigures a node of a created cluster.
set -euo pipefail

REPLICAS="${REDIS_REPLICAS:-1}"
TIMEOUT="${INIT_TIMEOUT:-120}"

log() { printf '[redis-cluster-init %s] %s\n' "$(date +%T)" "$*" >&2; }
cli() { timeout 5 redis-cli -h "$1" -p 6379 "${@:2}" 2>/dev/null | tr -d '\r'; }
# A field of a node's CLUSTER INFO or INFO replication.
field() { cli "$1" "${@:3}" | awk -F: -v k="$2" '$1 == k { print $2 }'; }

# Prints why the cluster of these node addresses is not whole and fails, else succeeds.
whole() {
    local n=$# ip masters=0 info repl
    local expected=$((n / (1 + REPLICAS)))
    for ip in "$@"; do
        info="$(cli "$ip" CLUSTER INFO)"
        grep -q '^cluster_state:ok$' <<<"$info" || { echo "$ip: cluster_state not ok"; return 1; }
        grep -q '^cluster_slots_ok:16384$' <<<"$info" || { echo "$ip: not all slots served"; return 1; }
        grep -q "^cluster_known_nodes:$n\$" <<<"$info" || { echo "$ip does not know all $n nodes"; return 1; }
        repl="$(cli "$ip" INFO replication)"
        if grep -q '^role:master$' <<<"$repl"; then
            masters=$((masters + 1))
            local up
            up="$(grep -c '^slave[0-9]*:.*state=online' <<<"$repl" || true)"
            [ "$up" -ge "$REPLICAS" ] || { echo "master $ip has $up of $REPLICAS replicas online"; return 1; }
        else
            grep -q '^master_link_status:up$' <<<"$repl" || { echo "replica $ip: link to its master down"; return 1; }
        fi
    done
    [ "$masters" = "$expected" ] || { echo "$masters of $expected masters"; return 1; }
}

# ensure SVC NAME...: the cluster of these nodes exists and is whole.
ensure() {
    local svc="$1" name ip ips=() addrs=() fresh=0 deadline=$((SECONDS + TIMEOUT)) why
    shift
    for name in "$@"; do
        # CLUSTER MEET takes addresses, not names.
        until ip="$(getent hosts "$name" | awk '{ print $1; exit }')" && [ -n "$ip" ] &&
            [ "$(cli "$ip" PING)" = PONG ]; do
            [ "$SECONDS" -lt "$deadline" ] || { log "$svc: $name does not answer after ${TIMEOUT}s"; return 1; }
            sleep 0.5
        done
        ips+=("$ip")
        addrs+=("$ip:6379")
        if [ "$(field "$ip" cluster_known_nodes CLUSTER INFO)" = 1 ] &&
            [ "$(field "$ip" cluster_slots_assigned CLUSTER INFO)" = 0 ]; then
            fresh=$((fresh + 1))
        fi
    done
    if [ "$fresh" = "$#" ]; then
        log "$svc: creating the cluster of ${addrs[*]} with $REPLICAS replica(s) per master"
        redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$REPLICAS" --cluster-yes >&2
    elif [ "$fresh" != 0 ]; then
        log "$svc: $fresh of its $# nodes are fresh and the others are not: not creating it"
        log "(a volume was removed? 'docker compose down -v' starts every cluster afresh)"
        return 1
    else
        log "$svc: the cluster exists"
    fi
    until why="$(whole "${ips[@]}")"; do
        [ "$SECONDS" -lt "$deadline" ] || { log "$svc: not whole after ${TIMEOUT}s: $why"; return 1; }
        sleep 0.5
    done
    log "$svc: whole (${ips[*]})"
}

[ -n "${CLUSTERS:-}" ] || { log "CLUSTERS is empty"; exit 2; }
for entry in $CLUSTERS; do
    IFS=, read -r -a names <<<"${entry#*=}"
    ensure "${entry%%=*}" "${names[@]}"
done
log "every cluster is whole"
