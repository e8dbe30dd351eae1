# shellcheck shell=bash
# The Redis Clusters of the local stack: one per service (order, stock, payment), sourced by
# env/local/stack.sh, which owns the processes (pid files, logs, kill, down). This file only
# names the nodes, builds their command lines, creates a cluster once and judges whether a
# cluster is whole; it never signals a process.
#
# REDIS_MASTERS (3) masters per cluster with REDIS_REPLICAS (1) replicas each: nodes
# redis-<svc>-1 .. redis-<svc>-N, N = MASTERS * (1 + REPLICAS) <= 10, nodes 1..MASTERS the
# initial masters. Ports: order 6400 + n - 1, stock 6410 + n - 1, payment 6420 + n - 1, all
# + PORT_OFFSET; the cluster bus is port + 10000. REDIS_NODE_TIMEOUT_MS (1000) is each node's
# cluster-node-timeout: how long a master may be unreachable before its replica takes over.

REDIS_MASTERS="${REDIS_MASTERS:-3}"
REDIS_REPLICAS="${REDIS_REPLICAS:-1}"
REDIS_NODE_TIMEOUT_MS="${REDIS_NODE_TIMEOUT_MS:-1000}"
REDIS_SERVICES="order stock payment"
REDIS_SLOTS=16384

for var in REDIS_MASTERS REDIS_REPLICAS REDIS_NODE_TIMEOUT_MS; do
    case "${!var}" in
        '' | *[!0-9]*) echo "$var must be a whole number (got ${!var})" >&2; exit 2 ;;
    esac
done
if [ "$REDIS_MASTERS" -lt 1 ] || [ $((REDIS_MASTERS * (1 + REDIS_REPLICAS))) -gt 10 ]; then
    echo "need REDIS_MASTERS >= 1 and REDIS_MASTERS * (1 + REDIS_REPLICAS) <= 10" \
        "(got $REDIS_MASTERS and $REDIS_REPLICAS)" >&2
    exit 2
fi
REDIS_NODES=$((REDIS_MASTERS * (1 + REDIS_REPLICAS)))

redis_base_port() {
    case "$1" in
        order) echo 6400 ;;
        stock) echo 6410 ;;
        payment) echo 6420 ;;
    esac
}

# redis-stock-3 -> stock, 3
node_svc() { local s="${1#redis-}"; echo "${s%-*}"; }
node_index() { echo "${1##*-}"; }
node_port() { echo $(($(redis_base_port "$(node_svc "$1")") + $(node_index "$1") - 1 + PORT_OFFSET)); }
port_node() { echo "redis-$1-$(($2 - $(redis_base_port "$1") - PORT_OFFSET + 1))"; }

# The nodes of one service's cluster, or of all three.
nodes_of() {
    local i
    for i in $(seq 1 "$REDIS_NODES"); do echo "redis-$1-$i"; done
}
all_nodes() {
    local svc
    for svc in $REDIS_SERVICES; do nodes_of "$svc"; done
}

# Is NAME a node of this stack's configuration?
is_node() {
    [[ "$1" =~ ^redis-(order|stock|payment)-([0-9]+)$ ]] &&
        [ "${BASH_REMATCH[2]}" -ge 1 ] && [ "${BASH_REMATCH[2]}" -le "$REDIS_NODES" ]
}

# A service's REDIS_URL: every node of its cluster as a seed.
redis_urls() {
    local n urls=""
    for n in $(nodes_of "$1"); do urls="$urls${urls:+,}redis://127.0.0.1:$(node_port "$n")"; done
    echo "$urls"
}

rcli() { timeout 5 redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }

# The command line of a node in NODE_CMD (the contract's settings; nodes.conf lives in the
# data dir, so a restarted node knows its cluster and its place in it).
node_command() {
    local port="$1" dir="$2"
    # shellcheck disable=SC2034 # used by stack.sh
    NODE_CMD=(redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --daemonize no
        --cluster-enabled yes --cluster-config-file nodes.conf
        --cluster-node-timeout "$REDIS_NODE_TIMEOUT_MS"
        --cluster-require-full-coverage no --cluster-replica-validity-factor 0
        --cluster-allow-replica-migration no
        --appendonly yes --appendfsync "$REDIS_FSYNC" --save ''
        # One replica per master: nothing to gain from waiting for others before a full sync.
        --repl-diskless-sync-delay 0)
}

# One line about the node on PORT, from a single redis-cli session:
#   pong state slots_ok known_nodes role master_port link has_slots failing_nodes
# pong is 1 when it answered PING; "-" for what it did not say.
node_probe() {
    printf 'PING\nCLUSTER INFO\nINFO replication\nCLUSTER NODES\n' |
        timeout 3 redis-cli -h 127.0.0.1 -p "$1" 2>/dev/null | tr -d '\r' | awk '
        $0 == "PONG" { pong = 1 }
        /^cluster_state:/ { state = substr($0, 15) }
        /^cluster_slots_ok:/ { ok = substr($0, 18) }
        /^cluster_known_nodes:/ { known = substr($0, 21) }
        /^role:/ { role = substr($0, 6) }
        /^master_port:/ { mport = substr($0, 13) }
        /^master_link_status:/ { link = substr($0, 20) }
        # CLUSTER NODES: id addr flags master ping pong epoch link [slot ...]
        length($1) == 40 && NF >= 8 {
            if ($3 ~ /myself/) slots = (NF >= 9) ? 1 : 0
            if ($3 ~ /fail/) fails++
        }
        END {
            printf "%d %s %s %s %s %s %s %s %d\n", pong, (state ? state : "-"), (ok ? ok : "-"),
                (known ? known : "-"), (role ? role : "-"), (mport ? mport : "-"),
                (link ? link : "-"), (slots ? slots : 0), fails
        }'
}

# Prints what keeps SVC's cluster from being whole and fails, or succeeds silently. Whole:
# every node answers, says cluster_state:ok, sees all slots served, knows every node and
# flags none as failing; REDIS_MASTERS masters hold the slots, each with REDIS_REPLICAS
# replicas whose link to it is up.
cluster_whole() {
    local svc="$1" name port pong state ok known role mport link slots fails
    local masters=() m
    local -A replicas=()
    for name in $(nodes_of "$svc"); do
        port="$(node_port "$name")"
        read -r pong state ok known role mport link slots fails <<<"$(node_probe "$port")"
        [ "$pong" = 1 ] || { echo "$name does not answer"; return 1; }
        [ "$state" = ok ] || { echo "$name: cluster_state $state"; return 1; }
        [ "$ok" = "$REDIS_SLOTS" ] || { echo "$name: $ok of $REDIS_SLOTS slots served"; return 1; }
        [ "$known" = "$REDIS_NODES" ] || { echo "$name knows $known of $REDIS_NODES nodes"; return 1; }
        [ "$fails" = 0 ] || { echo "$name flags $fails node(s) as failing"; return 1; }
        case "$role" in
            master)
                [ "$slots" = 1 ] || { echo "$name is a master without slots"; return 1; }
                masters+=("$port")
                ;;
            slave)
                [ "$link" = up ] || { echo "$name: link to $(port_node "$svc" "$mport") $link"; return 1; }
                replicas[$mport]=$((${replicas[$mport]:-0} + 1))
                ;;
            *) echo "$name: role $role"; return 1 ;;
        esac
    done
    [ "${#masters[@]}" = "$REDIS_MASTERS" ] || { echo "$svc: ${#masters[@]} of $REDIS_MASTERS masters"; return 1; }
    for m in "${masters[@]}"; do
        if [ "${replicas[$m]:-0}" -lt "$REDIS_REPLICAS" ]; then
            echo "$(port_node "$svc" "$m") has ${replicas[$m]:-0} of $REDIS_REPLICAS replicas"
            return 1
        fi
    done
}

# The current role of a node: master, replica, or "-" when it does not answer.
node_role() {
    local pong role
    read -r pong _ _ _ role _ _ _ _ <<<"$(node_probe "$(node_port "$1")")"
    if [ "$pong" != 1 ]; then echo "-"; elif [ "$role" = slave ]; then echo replica; else echo "$role"; fi
}

# One line for `status`: role, slots or master, link.
node_summary() {
    local name="$1" svc port pong role mport link
    svc="$(node_svc "$name")"
    port="$(node_port "$name")"
    read -r pong _ _ _ role mport link _ _ <<<"$(node_probe "$port")"
    if [ "$pong" != 1 ]; then
        echo "not answering"
    elif [ "$role" = slave ]; then
        echo "replica of $(port_node "$svc" "$mport") (link $link)"
    else
        local slots
        slots="$(rcli "$port" CLUSTER NODES 2>/dev/null | awk '$3 ~ /myself/ { $1 = $2 = $3 = $4 = $5 = $6 = $7 = $8 = ""; print }' | xargs)"
        echo "master, slots ${slots:-none}"
    fi
}

# How many nodes of SVC are fresh (know only themselves and hold no slot).
fresh_nodes() {
    local name n=0 pong known slots
    for name in $(nodes_of "$1"); do
        read -r pong _ _ known _ _ _ slots _ <<<"$(node_probe "$(node_port "$name")")"
        [ "$pong" = 1 ] && [ "$known" = 1 ] && [ "$slots" = 0 ] && n=$((n + 1))
    done
    echo "$n"
}

# Creates SVC's cluster when all its nodes are fresh (they must all answer); does nothing
# when none is; fails when only some are (a data dir was removed: start over with `down`
# and an empty $RUN_DIR/data, or mend it by hand).
ensure_cluster() {
    local svc="$1" fresh
    fresh="$(fresh_nodes "$svc")"
    if [ "$fresh" = 0 ]; then
        return 0
    elif [ "$fresh" != "$REDIS_NODES" ]; then
        log "cluster $svc: $fresh of its $REDIS_NODES nodes are fresh and the others are not;"
        log "cannot create it. Remove its data dirs ($DATA_DIR/redis-$svc-*) after 'down' to start over."
        return 1
    fi
    local t0=$SECONDS addrs=() name
    for name in $(nodes_of "$svc"); do addrs+=("127.0.0.1:$(node_port "$name")"); done
    log "creating cluster $svc: $REDIS_MASTERS masters x $REDIS_REPLICAS replicas (${addrs[*]})"
    if [ "$REDIS_MASTERS" -ge 3 ]; then
        # redis-cli makes the first MASTERS addresses the masters (one host: no reordering).
        redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$REDIS_REPLICAS" --cluster-yes \
            >>"$(log_file "cluster-$svc")" 2>&1 ||
            { log "redis-cli --cluster create failed"; tail_log "cluster-$svc"; return 1; }
    else
        # redis-cli --cluster create refuses fewer than three masters: the same by hand.
        create_small_cluster "$svc" >>"$(log_file "cluster-$svc")" 2>&1 ||
            { log "creating cluster $svc failed"; tail_log "cluster-$svc"; return 1; }
    fi
    log "created cluster $svc in $((SECONDS - t0))s"
}

create_small_cluster() {
    local svc="$1" m n first port start end ids=() i
    first="$(node_port "redis-$svc-1")"
    for m in $(seq 1 "$REDIS_MASTERS"); do
        port="$(node_port "redis-$svc-$m")"
        start=$(((m - 1) * REDIS_SLOTS / REDIS_MASTERS))
        end=$((m * REDIS_SLOTS / REDIS_MASTERS - 1))
        rcli "$port" CLUSTER ADDSLOTSRANGE "$start" "$end"
        ids+=("$(rcli "$port" CLUSTER MYID)")
    done
    for n in $(seq 2 "$REDIS_NODES"); do
        rcli "$(node_port "redis-$svc-$n")" CLUSTER MEET 127.0.0.1 "$first"
    done
    # A replica can only follow a master it knows about.
    for i in $(seq 1 100); do
        [ "$(node_probe "$first" | cut -d' ' -f4)" = "$REDIS_NODES" ] && break
        sleep 0.1
    done
    for n in $(seq $((REDIS_MASTERS + 1)) "$REDIS_NODES"); do
        m=$(((n - REDIS_MASTERS - 1) % REDIS_MASTERS))
        port="$(node_port "redis-$svc-$n")"
        for i in $(seq 1 100); do
            rcli "$port" CLUSTER REPLICATE "${ids[$m]}" | grep -q '^OK' && break
            sleep 0.1
        done
    done
}
