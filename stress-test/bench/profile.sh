# Where a checkout's cost goes, for the projection in stress-test/README.md: sourced by
# bench.sh when BENCH_PROFILE is set (a file the tables are appended to). Around each fresh
# run, profile_begin resets every Redis node's command statistics and reads every stack
# process's CPU time; profile_end divides what they spent by the checkouts answered.
#
# Needs: RUN_DIR (the stack's pid files), REDIS_BASE (service -> first port) and
# REDIS_NODES, as bench.sh sets them.

# utime + stime (clock ticks) of a pid and its children (nginx's workers), 0 if gone.
proc_ticks() {
    local pid total=0 t
    for pid in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
        t="$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null)" || t=0
        total=$((total + ${t:-0}))
    done
    echo "$total"
}

declare -A PROF_T0

profile_begin() {
    local f name svc i
    for f in "$RUN_DIR"/pids/*.pid; do
        name="$(basename "$f" .pid)"
        PROF_T0[$name]="$(proc_ticks "$(tr -dc 0-9 <"$f")")"
    done
    for svc in order stock payment; do
        for i in $(seq 0 $((REDIS_NODES - 1))); do
            redis-cli -p $((REDIS_BASE[$svc] + i)) config resetstat >/dev/null 2>&1 || true
        done
    done
}

# profile_end LABEL CHECKOUTS: appends two tables to $BENCH_PROFILE.
profile_end() {
    local label="$1" n="$2" f name pid role group hz svc i port
    hz="$(getconf CLK_TCK)"
    declare -A cpu=()
    for f in "$RUN_DIR"/pids/*.pid; do
        name="$(basename "$f" .pid)"
        pid="$(tr -dc 0-9 <"$f")"
        group="${name%-*}"
        case "$name" in
            redis-*)
                role="$(redis-cli -p "$(node_port "$name")" role 2>/dev/null | head -1)"
                group="$group ${role:-down}"
                ;;
        esac
        cpu[$group]=$((${cpu[$group]:-0} + $(proc_ticks "$pid") - ${PROF_T0[$name]:-0}))
    done
    {
        echo
        echo "Profile of $label: $n checkouts. CPU ms per checkout by component:"
        echo
        echo "| component | CPU ms per checkout |"
        echo "|---|---|"
        for group in $(printf '%s\n' "${!cpu[@]}" | sed 's/ /_/' | sort); do
            awk -v t="${cpu[${group/_/ }]}" -v hz="$hz" -v n="$n" -v g="${group/_/ }" \
                'BEGIN { printf "| %s | %.3f |\n", g, t * 1000 / hz / n }'
        done
        echo
        echo "Redis commands per checkout, summed over each cluster's masters (INFO commandstats):"
        echo
        echo "| cluster | command | calls per checkout | us per call | us per checkout |"
        echo "|---|---|---|---|---|"
        for svc in order stock payment; do
            for i in $(seq 0 $((REDIS_NODES - 1))); do
                port=$((REDIS_BASE[$svc] + i))
                [ "$(redis-cli -p "$port" role 2>/dev/null | head -1)" = master ] || continue
                redis-cli -p "$port" info commandstats 2>/dev/null | tr -d '\r' | grep '^cmdstat_'
            done | awk -F'[:=,]' -v svc="$svc" -v n="$n" '
                # cmdstat_evalsha:calls=N,usec=N,usec_per_call=N,...
                { calls[$1] += $3; usec[$1] += $5 }
                END {
                    for (c in calls) if (calls[c] / n >= 0.01)
                        printf "| %s | %s | %.2f | %.1f | %.1f |\n", svc, substr(c, 9), calls[c] / n, usec[c] / calls[c], usec[c] / n
                }' | sort -t'|' -k6 -gr
        done
    } >>"$BENCH_PROFILE"
}

# The port of a Redis node of the stack (redis-<svc>-<n>, n from 1).
node_port() {
    local name="$1" svc n
    n="${name##*-}"
    svc="${name#redis-}"
    svc="${svc%-*}"
    echo $((REDIS_BASE[$svc] + n - 1))
}
