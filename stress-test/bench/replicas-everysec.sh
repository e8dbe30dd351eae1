#!/usr/bin/env bash
# An experiment for ab.sh (AB_HOOK=stress-test/bench/replicas-everysec.sh): sets
# `appendfsync everysec` on every node of the local stack that is a replica now. This is
# not a setting of the stack. It weakens what survives (docs/design.md, "Storage": every node runs
# `appendfsync always`), and it is here to measure what the replicas' fsyncs cost
# (stress-test/README.md, "What bounds the ratio").
# Environment: PORT_OFFSET (0), as the stack's.
set -euo pipefail

OFF="${PORT_OFFSET:-0}"
changed=0
for base in 6400 6410 6420; do
    for i in $(seq 0 9); do
        port=$((base + OFF + i))
        role="$(redis-cli -p "$port" role 2>/dev/null | head -1)" || continue
        if [ "$role" = slave ]; then
            redis-cli -p "$port" config set appendfsync everysec >/dev/null
            changed=$((changed + 1))
        fi
    done
done
echo "[replicas-everysec] appendfsync everysec on $changed replicas" >&2
