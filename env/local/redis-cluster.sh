# shellcheck shell=bash
# The Redis Clusters of the local stack: one per service (order, stock, payment), sourced by
# env/local/stack.sh, which owns the processes (pid files, logs, down). This file only builds
# a node's command line and reads the nodes' names and ports from `ops cluster nodes`; the
# layout, the creation of a cluster and the rule of when it is whole are in ops/src/cluster
# and ops/src/stack/local.rs.
#
# REDIS_MASTERS (1) data masters per cluster with REDIS_REPLICAS (2) replicas each, and with
# replicas and fewer than 3 data masters the witness masters that make 3 voters (no data, no
# replica; ops::cluster::rules::Topology): nodes redis-<svc>-1 .. redis-<svc>-N, N <= 10,
# nodes 1..MASTERS the initial data masters, the witnesses last. Ports: order 6400 + n - 1,
# stock 6410 + n - 1, payment 6420 + n - 1, all
# + PORT_OFFSET; the cluster bus is port + 10000. REDIS_NODE_TIMEOUT_MS (500) is each node's
# cluster-node-timeout: how long a master may be unreachable before its replica takes over.

REDIS_MASTERS="${REDIS_MASTERS:-1}"
REDIS_REPLICAS="${REDIS_REPLICAS:-2}"
REDIS_NODE_TIMEOUT_MS="${REDIS_NODE_TIMEOUT_MS:-500}"

whole_numbers REDIS_NODE_TIMEOUT_MS # (stack.sh's)

# ops on this stack (its run folder, ports and topology).
ops() {
    STACK_SH="$REPO/env/local/stack.sh" "$BIN_DIR/ops" --run-dir "$RUN_DIR" --port-offset "$PORT_OFFSET" \
        --masters "$REDIS_MASTERS" --replicas "$REDIS_REPLICAS" "$@"
}

# "redis-order-1 127.0.0.1:6400" per node of every cluster (ops checks the topology).
# `down` (it stops what the pid files name) and commands naming only the gateway need no
# table, so they work before the first release build (make gateway-test runs before it).
needs_no_nodes() {
    case "${STACK_CMD:-}" in
        down) return 0 ;;
        start | restart) [ "${STACK_ARGS:-}" = gateway ] ;;
        *) return 1 ;;
    esac
}
if [ -x "$BIN_DIR/ops" ]; then
    NODE_TABLE="$(ops cluster nodes)" || exit 2
elif needs_no_nodes; then
    NODE_TABLE=""
else
    echo "missing $BIN_DIR/ops (run 'cargo build --release --bins' or 'make up')" >&2
    exit 1
fi

# The nodes of one service's cluster, or of all three.
nodes_of() { awk -v p="redis-$1-" 'index($1, p) == 1 { print $1 }' <<<"$NODE_TABLE"; }
all_nodes() { awk '{ print $1 }' <<<"$NODE_TABLE"; }
node_port() { awk -v n="$1" '$1 == n { sub(/.*:/, "", $2); print $2 }' <<<"$NODE_TABLE"; }
node_svc() { local s="${1#redis-}"; echo "${s%-*}"; }

# Is NAME a node of this stack's configuration?
is_node() { awk -v n="$1" '$1 == n { found = 1 } END { exit !found }' <<<"$NODE_TABLE"; }

# A service's REDIS_URL: every node of its cluster as a seed.
redis_urls() {
    local n urls=""
    for n in $(nodes_of "$1"); do urls="$urls${urls:+,}redis://127.0.0.1:$(node_port "$n")"; done
    echo "$urls"
}

rcli() { timeout 5 redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }

# Each node runs in a cgroup of its own, under one per stack, so that `ops fault isolate`
# can cut it off its cluster with iptables' cgroup match (docs/testing.md, "Durability";
# a socket belongs to the cgroup its process was in when the socket was made, so the node
# must start in it). Empty (the node runs where stack.sh does, and isolate says SKIP)
# without a writable cgroup v2 hierarchy.
NODE_CGROUPS="$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts 2>/dev/null)"
if [ -n "$NODE_CGROUPS" ]; then
    NODE_CGROUPS="$NODE_CGROUPS/wdm-redis-$(printf '%s' "$RUN_DIR" | cksum | cut -d' ' -f1)"
    [ -w "${NODE_CGROUPS%/*}" ] || NODE_CGROUPS=""
fi

# The cgroup NODE starts in (made if missing), or nothing.
node_cgroup() {
    [ -n "$NODE_CGROUPS" ] && mkdir -p "$NODE_CGROUPS/$1" 2>/dev/null && echo "$NODE_CGROUPS/$1"
}

# Removes the stack's node cgroups (each empty once its node stopped).
remove_node_cgroups() {
    [ -n "$NODE_CGROUPS" ] && [ -d "$NODE_CGROUPS" ] || return 0
    rmdir "$NODE_CGROUPS"/*/ "$NODE_CGROUPS" 2>/dev/null || true
}

# The command line of a node in NODE_CMD (the contract's settings; nodes.conf lives in the
# data dir, so a restarted node knows its cluster and its place in it). The acknowledgement
# rule (docs/design.md, "Storage"): a master with replicas refuses writes while no replica
# has acknowledged within 10 s (min-replicas-to-write 1, min-replicas-max-lag 10), the
# services answer a write only once WAIT counted a replica, and a replica whose link has
# been down longer than 10 s (the ping period) + 1 x cluster-node-timeout, or that never
# synchronised since it started, is never promoted (cluster-replica-validity-factor 1).
node_command() {
    local port="$1" dir="$2"
    # shellcheck disable=SC2034 # used by stack.sh
    NODE_CMD=(redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --daemonize no
        --cluster-enabled yes --cluster-config-file nodes.conf
        --cluster-node-timeout "$REDIS_NODE_TIMEOUT_MS"
        --cluster-require-full-coverage no --cluster-replica-validity-factor 1
        --cluster-allow-replica-migration no
        --min-replicas-to-write "$((REDIS_REPLICAS > 0 ? 1 : 0))" --min-replicas-max-lag 10
        --appendonly yes --appendfsync "$REDIS_FSYNC" --save ''
        # Nothing to gain from waiting for more replicas before a full sync.
        --repl-diskless-sync-delay 0)
}
