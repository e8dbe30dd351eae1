#!/usr/bin/env bash
# The closed-loop checkout benchmark against a running local stack: `ops bench run`
# (ops/src/bench), under the name that make bench and stress-test/ab.sh call. What it does,
# its options and their environment variables (GATEWAY, BENCH_SECONDS, BENCH_CONNECTIONS,
# BENCH_PROFILE, BENCH_OUT, ...): `target/release/ops bench run --help`, docs/testing.md.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OPS="${CARGO_TARGET_DIR:-$REPO/target}/release/ops"
[ -x "$OPS" ] || { echo "[bench] missing $OPS (cargo build --release -p ops)" >&2; exit 1; }
exec "$OPS" --run-dir "${RUN_DIR:-$REPO/run}" bench run "$@"
