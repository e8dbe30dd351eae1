#!/usr/bin/env bash
# The local stack: a Redis Cluster per service (by default one data master with 2 replicas
# and 2 witness masters), two replicas each (by default) of stock, payment and order, and
# the nginx gateway on
# 127.0.0.1:8000, all as plain background processes.
#
#   stack.sh up [--redis-only]  start whatever is not running (creating each Redis Cluster
#                           the first time), then wait until all are healthy and every
#                           cluster is whole; --redis-only: the clusters alone
#   stack.sh down           stop everything this script started (SIGTERM, wait, SIGKILL)
#   stack.sh start NAME     start one component (if not running) and wait for its health
#                           (a Redis node: until it has rejoined and its cluster is whole)
#   stack.sh launch NAME    start one component and do not wait (a fault sequence's restart)
#   stack.sh kill NAME      SIGKILL one component (chaos testing)
#   stack.sh restart NAME   kill, then start
#   stack.sh wait           wait until every component is healthy and every cluster whole
#   stack.sh status         one line per component (a Redis node's current role)
#   stack.sh pick SVC master|replica
#                           the name of one node of SVC's cluster in that role now (random;
#                           the same as ops cluster pick)
#   stack.sh logs [NAME]    tail the logs
#
# NAMEs: redis-order-1 .. redis-order-N, redis-stock-1 .., redis-payment-1 .. (N =
#        REDIS_MASTERS * (1 + REDIS_REPLICAS) + witnesses, default 5), stock-1 stock-2 payment-1
#        payment-2 order-1 order-2 gateway
#
# The clusters are created, judged whole, and their nodes picked by role by the ops binary
# ($BIN_DIR/ops cluster create|wait|status|pick, ops/src/cluster), which also kills
# (ops fault kill). A killed master's replica takes over (within about two
# REDIS_NODE_TIMEOUT_MS); the killed node, started again, rejoins as a replica.
# Node settings: env/local/redis-cluster.sh.
#
# Replicas of a service share its Redis Cluster (REDIS_URL lists every node of it). The
# gateway balances over them and retries a
# request on another replica (env/nginx/routes.conf); order's STOCK_URL and PAYMENT_URL
# list the participants' internal URLs, and order fails over between them itself.
#
# Only processes whose pid is in $RUN_DIR/pids/NAME.pid (and whose command line still
# matches) are ever signalled: nothing is killed by name.
#
# Environment: RUN_DIR (default <repo>/run), ORDER_REPLICAS, STOCK_REPLICAS and
# PAYMENT_REPLICAS (1 or 2, default 2), REDIS_MASTERS (1) and REDIS_REPLICAS (2) per
# cluster (at most 10 nodes with the witnesses; REDIS_REPLICAS=0 is the light option),
# REDIS_NODE_TIMEOUT_MS (500: cluster-node-timeout), REDIS_FSYNC (no: see docs/design.md),
# PORT_OFFSET (0: added to every port, e.g. 1000 puts the gateway on 9000 so that a second
# stack with its own RUN_DIR can run next to the first), BIN_DIR (the service binaries,
# default $CARGO_TARGET_DIR/release), NGINX_ECHO_MODULE (the echo module the gateway loads,
# default /usr/lib/nginx/modules/ngx_http_echo_module.so; `builtin` for an nginx that has
# it compiled in),
# WAIT_TIMEOUT (60 s), STOP_TIMEOUT (20 s), CARGO_TARGET_DIR (<repo>/target), WORKERS (1:
# actix workers per server; every process of the stack shares the same cores, and on a
# 2-core machine one worker each spends ~20 % less CPU per checkout than one per core), and
# the services' own variables (RUST_LOG, LOG_FORMAT, REDIS_TIMEOUT_MS, ...) which are
# passed through.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN_DIR="${RUN_DIR:-$REPO/run}"
mkdir -p "$RUN_DIR"
RUN_DIR="$(cd "$RUN_DIR" && pwd)"
ORDER_REPLICAS="${ORDER_REPLICAS:-2}"
STOCK_REPLICAS="${STOCK_REPLICAS:-2}"
PAYMENT_REPLICAS="${PAYMENT_REPLICAS:-2}"
NGINX_ECHO_MODULE="${NGINX_ECHO_MODULE:-/usr/lib/nginx/modules/ngx_http_echo_module.so}"
REDIS_FSYNC="${REDIS_FSYNC:-no}"
export WORKERS="${WORKERS:-1}"
WAIT_TIMEOUT="${WAIT_TIMEOUT:-60}"
STOP_TIMEOUT="${STOP_TIMEOUT:-20}"
# shellcheck source=env/target-dir.sh
. "$REPO/env/target-dir.sh"
BIN_DIR="${BIN_DIR:-$TARGET_DIR/release}"
NGINX_DIR="$RUN_DIR/nginx"
PORT_OFFSET="${PORT_OFFSET:-0}"
# Exits with 2 unless every setting named is a whole number.
whole_numbers() {
    local name
    for name in "$@"; do
        case "${!name}" in
            '' | *[!0-9]*) echo "$name must be a whole number (got ${!name})" >&2; exit 2 ;;
        esac
    done
}
whole_numbers PORT_OFFSET
# What this run was asked to do (redis-cluster.sh lets `down` and the gateway alone run
# without the ops binary).
STACK_CMD="${1:-}"
STACK_ARGS="${*:2}"
# shellcheck source=env/local/redis-cluster.sh
. "$REPO/env/local/redis-cluster.sh"
GATEWAY_ADDR="127.0.0.1:$((8000 + PORT_OFFSET))"

# Thousands of concurrent checkouts need more than the usual 1024 descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true

PID_DIR="$RUN_DIR/pids"
LOG_DIR="$RUN_DIR/logs"
DATA_DIR="$RUN_DIR/data"

for var in ORDER_REPLICAS STOCK_REPLICAS PAYMENT_REPLICAS; do
    case "${!var}" in
        1 | 2) ;;
        *) echo "$var must be 1 or 2 (got ${!var})" >&2; exit 2 ;;
    esac
done

# How many replicas of a service (order, stock, payment) this stack runs.
replicas_of() {
    case "$1" in
        order) echo "$ORDER_REPLICAS" ;;
        stock) echo "$STOCK_REPLICAS" ;;
        payment) echo "$PAYMENT_REPLICAS" ;;
    esac
}

# The replicas of a service: "stock-1 stock-2".
replicas() {
    local i
    for i in $(seq 1 "$(replicas_of "$1")"); do echo "$1-$i"; done
}

# Is NAME part of this stack's configuration (stock-2 is not with STOCK_REPLICAS=1)?
configured() {
    case "$1" in
        redis-*) is_node "$1" ;;
        *-2) [ "$(replicas_of "${1%-2}")" = 2 ] ;;
        *) return 0 ;;
    esac
}

# Start order: stores, then participants, then the orchestrator, then the gateway.
services() {
    replicas stock
    replicas payment
    replicas order
    echo gateway
}
components() {
    all_nodes
    services
}

ALL_NAMES="$(all_nodes | tr '\n' ' ')stock-1 stock-2 payment-1 payment-2 order-1 order-2 gateway"

known() {
    local n
    for n in $ALL_NAMES; do [ "$n" = "$1" ] && return 0; done
    return 1
}

# Public and internal port of a service replica.
public_port() {
    case "$1" in
        order-1) echo $((8100 + PORT_OFFSET)) ;;
        order-2) echo $((8110 + PORT_OFFSET)) ;;
        stock-1) echo $((8200 + PORT_OFFSET)) ;;
        stock-2) echo $((8210 + PORT_OFFSET)) ;;
        payment-1) echo $((8300 + PORT_OFFSET)) ;;
        payment-2) echo $((8310 + PORT_OFFSET)) ;;
    esac
}
internal_port() { echo $(($(public_port "$1") + 1)); }

# The internal URLs of a participant's replicas, comma-separated (order's STOCK_URL and
# PAYMENT_URL): http://127.0.0.1:8201,http://127.0.0.1:8211
internal_urls() {
    local r urls=""
    for r in $(replicas "$1"); do urls="$urls${urls:+,}http://127.0.0.1:$(internal_port "$r")"; done
    echo "$urls"
}

# What the command line of a component's process must contain (guards against pid reuse).
cmd_marker() {
    case "$1" in
        redis-*) echo "redis-server" ;;
        gateway) echo "nginx" ;;
        *) echo "${1%-*}" ;; # the binary: order, stock, payment
    esac
}

pid_file() { echo "$PID_DIR/$1.pid"; }
log_file() { echo "$LOG_DIR/$1.log"; }

# Prints the pid of NAME if it is running (and is still our process), else fails.
running_pid() {
    local name="$1" file pid
    file="$(pid_file "$name")"
    [ -f "$file" ] || return 1
    pid="$(tr -dc '0-9' <"$file")"
    [ -n "$pid" ] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    if [ -r "/proc/$pid/cmdline" ]; then
        # A zombie or a recycled pid does not count.
        if grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then return 1; fi
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$(cmd_marker "$name")" || return 1
    fi
    echo "$pid"
}

log() { printf '[stack] %s\n' "$*" >&2; }

tail_log() {
    local file
    file="$(log_file "$1")"
    if [ -f "$file" ]; then
        echo "----- last lines of $file -----" >&2
        tail -n "${2:-30}" "$file" >&2
        echo "-----" >&2
    else
        echo "(no log file $file)" >&2
    fi
}

require_binary() {
    if [ ! -x "$1" ]; then
        log "missing $1 (run 'cargo build --release --bins' or 'make up')"
        return 1
    fi
}

# Adds PORT_OFFSET to every 127.0.0.1:PORT of a config file.
shift_ports() {
    awk -v off="$PORT_OFFSET" '{
        out = ""
        while (match($0, /127\.0\.0\.1:[0-9]+/)) {
            out = out substr($0, 1, RSTART - 1) "127.0.0.1:" (substr($0, RSTART + 10, RLENGTH - 10) + off)
            $0 = substr($0, RSTART + RLENGTH)
        }
        print out $0
    }'
}

# The gateway's load_module line, pointed at NGINX_ECHO_MODULE (dropped for `builtin`).
echo_module() {
    local line='^load_module .*ngx_http_echo_module[.]so;'
    if [ "$NGINX_ECHO_MODULE" = builtin ]; then
        grep -v "$line"
    elif [ -f "$NGINX_ECHO_MODULE" ]; then
        awk -v re="$line" -v m="$NGINX_ECHO_MODULE" '$0 ~ re { $0 = "load_module " m ";" } { print }'
    else
        log "the gateway needs nginx's echo module (the pauses between its retries): $NGINX_ECHO_MODULE"
        log "is missing. Debian/Ubuntu: apt-get install libnginx-mod-http-echo (nginx-light depends"
        log "on it); elsewhere set NGINX_ECHO_MODULE to the module's .so, or to 'builtin'."
        return 1
    fi
}

# Renders the gateway's configuration into $NGINX_DIR/conf: the ports moved by PORT_OFFSET,
# the echo module's path, and the upstreams without the replicas this stack does not run.
render_nginx() {
    mkdir -p "$NGINX_DIR/conf" "$NGINX_DIR/temp"
    local main
    main="$(echo_module <"$REPO/env/nginx/gateway.conf")" || return 1
    shift_ports <<<"$main" >"$NGINX_DIR/conf/gateway.conf"
    cp "$REPO/env/nginx/routes.conf" "$NGINX_DIR/conf/routes.conf"
    local svc drop=""
    for svc in order stock payment; do
        configured "$svc-2" || drop="$drop $svc-2"
    done
    awk -v drop="$drop" 'BEGIN { n = split(drop, d, " ") }
        $1 == "server" { for (i = 1; i <= n; i++) if (index($0, "# " d[i])) next } { print }' \
        "$REPO/env/nginx/upstreams-local.conf" | shift_ports >"$NGINX_DIR/conf/upstreams.conf"
}

nginx_args() {
    echo -p "$NGINX_DIR/" -c conf/gateway.conf -e stderr
}

# Launches NAME in the background and records its pid. Does not wait for health.
launch() {
    local name="$1" log pid port svc
    log="$(log_file "$name")"
    mkdir -p "$PID_DIR" "$LOG_DIR"
    printf '\n===== %s starting %s =====\n' "$(date '+%F %T')" "$name" >>"$log"
    case "$name" in
        redis-*)
            mkdir -p "$DATA_DIR/$name"
            node_command "$(node_port "$name")" "$DATA_DIR/$name"
            # Joins its cgroup (redis-cluster.sh), then becomes the node: the same pid.
            # shellcheck disable=SC2016 # $$ and $1 are the inner shell's
            nohup sh -c '[ -z "$1" ] || echo $$ >"$1/cgroup.procs"; shift; exec "$@"' \
                node "$(node_cgroup "$name")" "${NODE_CMD[@]}" </dev/null >>"$log" 2>&1 &
            pid=$!
            ;;
        stock-* | payment-*)
            svc="${name%-*}"
            require_binary "$BIN_DIR/$svc"
            port="$(public_port "$name")"
            nohup env \
                LISTEN_ADDR="127.0.0.1:$port" \
                INTERNAL_LISTEN_ADDR="127.0.0.1:$((port + 1))" \
                REDIS_URL="$(redis_urls "$svc")" \
                REPLICA_ID="$name" \
                RUST_LOG="${RUST_LOG:-info}" \
                "$BIN_DIR/$svc" </dev/null >>"$log" 2>&1 &
            pid=$!
            ;;
        order-*)
            require_binary "$BIN_DIR/order"
            port="$(public_port "$name")"
            nohup env \
                LISTEN_ADDR="127.0.0.1:$port" \
                INTERNAL_LISTEN_ADDR="127.0.0.1:$((port + 1))" \
                REDIS_URL="$(redis_urls order)" \
                STOCK_URL="$(internal_urls stock)" \
                PAYMENT_URL="$(internal_urls payment)" \
                REPLICA_ID="$name" \
                RUST_LOG="${RUST_LOG:-info}" \
                "$BIN_DIR/order" </dev/null >>"$log" 2>&1 &
            pid=$!
            ;;
        gateway)
            render_nginx || return 1
            # shellcheck disable=SC2046
            if ! nginx -t $(nginx_args) >>"$log" 2>&1; then
                log "nginx configuration is invalid"
                tail_log gateway
                return 1
            fi
            # shellcheck disable=SC2046
            nohup nginx $(nginx_args) -g 'daemon off;' </dev/null >>"$log" 2>&1 &
            pid=$!
            ;;
        *)
            log "unknown component $name"
            return 2
            ;;
    esac
    echo "$pid" >"$(pid_file "$name")"
    log "started $name (pid $pid, log $log)"
}

# The ports a component listens on.
ports_of() {
    case "$1" in
        redis-*) echo "$(node_port "$1") $(($(node_port "$1") + 10000))" ;;
        gateway) echo "${GATEWAY_ADDR##*:}" ;;
        *) echo "$(public_port "$1") $(internal_port "$1")" ;;
    esac
}

# Fails when something that is not ours (another stack, another RUN_DIR) holds NAME's port.
ports_free() {
    local port
    for port in $(ports_of "$1"); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            log "cannot start $1: port $port is already in use by a process not in $PID_DIR"
            log "(another stack? stop it with RUN_DIR=<its run dir> $0 down)"
            return 1
        fi
    done
}

start_one() {
    local name="$1" pid
    if pid="$(running_pid "$name")"; then
        log "$name already running (pid $pid)"
        return 0
    fi
    ports_free "$name"
    rm -f "$(pid_file "$name")"
    launch "$name"
}

# Is NAME answering? Redis: PING; services: /health/ready on every port; gateway: its own route.
healthy() {
    local name="$1" port
    case "$name" in
        redis-*)
            port="$(node_port "$name")"
            [ "$(rcli "$port" ping 2>/dev/null)" = PONG ]
            ;;
        stock-* | payment-*)
            curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$(public_port "$name")/health/ready" 2>/dev/null &&
                curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$(internal_port "$name")/health/ready" 2>/dev/null
            ;;
        order-*)
            curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$(public_port "$name")/health/ready" 2>/dev/null
            ;;
        gateway)
            curl -fsS -m 2 -o /dev/null "http://$GATEWAY_ADDR/gateway/health" 2>/dev/null
            ;;
    esac
}

# Waits (bounded by WAIT_TIMEOUT) until every named component is running and healthy.
# Fails at once when a process died, with its log tail.
wait_for() {
    local deadline=$((SECONDS + WAIT_TIMEOUT)) pending name next last_report=""
    pending="$*"
    while :; do
        next=""
        for name in $pending; do
            if ! running_pid "$name" >/dev/null; then
                if just_forked "$name"; then
                    next="$next $name"
                    continue
                fi
                log "$name is not running"
                tail_log "$name"
                return 1
            fi
            healthy "$name" || next="$next $name"
        done
        pending="${next# }"
        if [ -z "$pending" ]; then
            log "healthy: $*"
            return 0
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "not healthy after ${WAIT_TIMEOUT}s: $pending"
            for name in $pending; do tail_log "$name"; done
            return 1
        fi
        if [ "$SECONDS" != "${last_report:-}" ]; then
            last_report="$SECONDS"
            log "waiting for: $pending ($((deadline - SECONDS))s left)"
        fi
        sleep 0.1
    done
}

# A process we just started may not have exec'd its program yet (its command line is
# still this script's): alive and not a zombie counts as starting, not as dead.
just_forked() {
    local pid
    pid="$(tr -dc '0-9' 2>/dev/null <"$(pid_file "$1")")" || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
        ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}

# Waits (bounded by WAIT_TIMEOUT) until each named cluster (default: all) is whole.
wait_clusters() { ops cluster wait --timeout "$WAIT_TIMEOUT" "$@"; }

# SIGKILL of NAME and its children (ops fault kill, which removes its pid file).
kill_one() {
    if running_pid "$1" >/dev/null; then
        ops fault kill "$1" >/dev/null && log "killed $1"
    else
        log "$1 is not running"
        rm -f "$(pid_file "$1")"
    fi
}

# SIGTERM every named component, wait up to STOP_TIMEOUT, then SIGKILL what is left.
stop_group() {
    local name pid pids="" names="" deadline
    for name in "$@"; do
        if pid="$(running_pid "$name")"; then
            kill -TERM "$pid" 2>/dev/null || true
            pids="$pids $pid"
            names="$names $name"
        else
            rm -f "$(pid_file "$name")"
        fi
    done
    [ -n "$names" ] || return 0
    log "stopping:$names"
    deadline=$((SECONDS + STOP_TIMEOUT))
    for name in $names; do
        while running_pid "$name" >/dev/null; do
            if [ "$SECONDS" -ge "$deadline" ]; then
                log "$name did not stop within ${STOP_TIMEOUT}s, sending SIGKILL"
                kill_one "$name"
                break
            fi
            sleep 0.1
        done
        rm -f "$(pid_file "$name")"
    done
}

# Nodes first; each cluster is created once its nodes answer (only when they are all
# fresh) and must be whole before the services start.
cmd_up() {
    local name only="${1:-}" names
    case "$only" in '' | --redis-only) ;; *) echo "usage: $0 up [--redis-only]" >&2; exit 2 ;; esac
    if [ -n "$only" ]; then names="$(all_nodes)"; else names="$(components)"; fi
    for name in $names; do
        running_pid "$name" >/dev/null || ports_free "$name"
    done
    for name in $(all_nodes); do start_one "$name"; done
    # shellcheck disable=SC2046
    wait_for $(all_nodes)
    ops cluster create | while read -r line; do log "$line"; done
    wait_clusters
    if [ -n "$only" ]; then
        log "Redis Clusters are up"
        return 0
    fi
    for name in $(services); do start_one "$name"; done
    # shellcheck disable=SC2046
    wait_for $(components)
    wait_clusters
    log "stack is up: gateway http://$GATEWAY_ADDR"
}

# Every Redis node with a pid file, also of another configuration (more nodes, old names).
recorded_nodes() {
    local f
    for f in "$PID_DIR"/redis-*.pid; do
        [ -f "$f" ] || continue
        f="${f##*/}"
        echo "${f%.pid}"
    done
}

cmd_down() {
    # The gateway first (no new requests), then the orchestrators, then the participants,
    # then the stores, so that in-flight requests can finish.
    stop_group gateway
    stop_group order-1 order-2
    stop_group stock-1 stock-2 payment-1 payment-2
    # A node still cut off (`ops fault isolate|split`, its rules listed in cuts/) is healed:
    # its iptables rules would hold the ports for the next stack.
    local cut
    for cut in "$RUN_DIR"/cuts/*; do
        if [ -f "$cut" ]; then ops fault heal "${cut##*/}"; fi
    done
    # shellcheck disable=SC2046
    stop_group $(recorded_nodes)
    remove_node_cgroups
    log "stack is down"
}

cmd_status() {
    local name pid state rc=0
    for name in $ALL_NAMES; do
        if pid="$(running_pid "$name")"; then
            if healthy "$name"; then state="healthy"; else state="unhealthy"; rc=1; fi
            printf '%-16s %-10s pid %s\n' "$name" "$state" "$pid"
        elif [ -f "$(pid_file "$name")" ]; then
            printf '%-16s %-10s (stale pid file)\n' "$name" "dead"
            rc=1
        else
            configured "$name" || continue
            printf '%-16s %-10s\n' "$name" "stopped"
            rc=1
        fi
    done
    # Each node's role, each cluster whole or not.
    ops cluster status || rc=1
    return "$rc"
}

cmd_logs() {
    if [ $# -gt 0 ]; then
        tail -n "${LINES_SHOWN:-50}" "$(log_file "$1")"
    else
        local f
        for f in "$LOG_DIR"/*.log; do
            [ -f "$f" ] || continue
            echo "===== $f"
            tail -n "${LINES_SHOWN:-20}" "$f"
        done
    fi
}

# start NAME: it, and its cluster whole when it is a Redis node.
start_and_wait() {
    start_one "$1"
    wait_for "$1"
    case "$1" in redis-*) wait_clusters "$(node_svc "$1")" ;; esac
}

need_name() {
    if [ $# -lt 1 ] || ! known "$1"; then
        echo "usage: $0 $CMD NAME   (NAME: $ALL_NAMES)" >&2
        exit 2
    fi
}

# start and restart only what the gateway routes to (kill of a replica this stack does not
# run just says it is not running).
need_configured() {
    need_name "$@"
    if ! configured "$1"; then
        local svc="${1%-2}"
        echo "$1 is not part of this stack (${svc^^}_REPLICAS=$(replicas_of "$svc"))" >&2
        exit 2
    fi
}

CMD="${1:-}"
shift || true
case "$CMD" in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    start) need_configured "$@"; start_and_wait "$1" ;;
    launch) need_configured "$@"; start_one "$1" ;;
    kill) need_name "$@"; kill_one "$1" ;;
    restart) need_configured "$@"; kill_one "$1"; start_and_wait "$1" ;;
    wait) # shellcheck disable=SC2046
        wait_for $(components); wait_clusters ;;
    pick) ops cluster pick "$@" ;;
    status) cmd_status ;;
    logs) cmd_logs "$@" ;;
    *)
        sed -n '2,50p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
