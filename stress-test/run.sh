#!/usr/bin/env bash
# Runs locust headless against a gateway for a fixed time and prints its summary.
#
#   stress-test/run.sh GATEWAY USERS SECONDS [course|checkout]
#
#   course    (default) the course's six scenarios, weights 5/30/25/20/10/10, 1-3 s wait
#   checkout  `ops bench populate` (the three batch_init calls; skip with SKIP_POPULATE=1), then
#             checkouts of random order ids "0".."99999" with no wait
#
# Creates stress-test/.venv on first use (pip install -r requirements.txt). Exits non-zero
# if any request failed (a must-fail checkout that succeeded counts as failed).
# Environment: SPAWN_RATE (users started per second, default USERS/5 at least 1),
# LOCUST_ARGS (extra arguments), SKIP_POPULATE=1.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ $# -lt 3 ]; then
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
GATEWAY="${1%/}" USERS="$2" SECONDS_="$3" SCENARIO="${4:-course}"
case "$SCENARIO" in
    course) CLASS=CourseUser ;;
    checkout) CLASS=CheckoutUser ;;
    *) echo "unknown scenario $SCENARIO (course or checkout)" >&2; exit 2 ;;
esac
SPAWN_RATE="${SPAWN_RATE:-$(( USERS / 5 > 0 ? USERS / 5 : 1 ))}"

VENV="$HERE/.venv"
if [ ! -x "$VENV/bin/locust" ] || ! cmp -s "$HERE/requirements.txt" "$VENV/.requirements.txt"; then
    echo "[run] creating $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -r "$HERE/requirements.txt"
    cp "$HERE/requirements.txt" "$VENV/.requirements.txt"
fi

if [ "$SCENARIO" = checkout ] && [ "${SKIP_POPULATE:-0}" != 1 ]; then
    ops="${CARGO_TARGET_DIR:-$HERE/../target}/release/ops"
    [ -x "$ops" ] || { echo "[run] missing $ops (cargo build --release -p ops)" >&2; exit 1; }
    "$ops" bench populate "$GATEWAY"
fi

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "[run] locust $CLASS: $USERS users for ${SECONDS_}s against $GATEWAY" >&2
# --exit-code-on-error 1: locust exits 1 when any request failed.
# shellcheck disable=SC2086
exec "$VENV/bin/locust" -f "$HERE/locustfile.py" "$CLASS" --headless \
    --host "$GATEWAY" -u "$USERS" -r "$SPAWN_RATE" --run-time "${SECONDS_}s" \
    --stop-timeout 10 --only-summary --exit-code-on-error 1 ${LOCUST_ARGS:-}
