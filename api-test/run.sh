#!/usr/bin/env bash
# The API contract tests against a running stack (make api-test):
#   test_fuzz.py       schemathesis fuzzing of every operation of /docs/openapi.json, with the
#                      contract's state checks and the money and stock invariants afterwards
#   test_docs_page.py  the Swagger UI page at /docs/ rendered by headless Chromium
#
# Environment: GATEWAY (http://127.0.0.1:8000), FUZZ_EXAMPLES (100 generated requests per operation, valid and invalid),
# API_TEST_OUT (<RUN_DIR>/api-test: screenshot, rendered DOM, JUnit report),
# API_VENV (~/.cache/wdm-api-test/venv, made from requirements.txt when missing or stale),
# API_TEST_TIMEOUT (900 s for the whole pytest run).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
export GATEWAY="${GATEWAY:-http://127.0.0.1:8000}"
GATEWAY="${GATEWAY%/}"
RUN_DIR="${RUN_DIR:-$REPO/run}"
export API_TEST_OUT="${API_TEST_OUT:-$RUN_DIR/api-test}"
export FUZZ_EXAMPLES="${FUZZ_EXAMPLES:-100}"
VENV="${API_VENV:-$HOME/.cache/wdm-api-test/venv}"
TIMEOUT="${API_TEST_TIMEOUT:-900}"

T0=$SECONDS
log() { printf '[api-test %3ds] %s\n' "$((SECONDS - T0))" "$*" >&2; }

stamp="$VENV/.wdm-requirements"
if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$HERE/requirements.txt" "$stamp"; then
    log "creating $VENV from api-test/requirements.txt"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    timeout 900 "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
    cp "$HERE/requirements.txt" "$stamp"
fi

log "waiting for $GATEWAY/docs/openapi.json"
for _ in $(seq 1 60); do
    if curl -fsS -m 5 -o /dev/null "$GATEWAY/docs/openapi.json"; then break; fi
    sleep 1
done
curl -fsS -m 5 -o /dev/null "$GATEWAY/docs/openapi.json" || { log "the gateway does not serve the document"; exit 1; }

mkdir -p "$API_TEST_OUT"
log "pytest: fuzzing every operation ($FUZZ_EXAMPLES examples each), then the /docs/ page in Chromium"
cd "$HERE"
status=0
timeout "$TIMEOUT" "$VENV/bin/python" -m pytest -v -p no:cacheprovider -rA --color=no \
    --junitxml="$API_TEST_OUT/junit.xml" test_fuzz.py test_docs_page.py || status=$?
if [ "$status" = 124 ]; then log "pytest did not finish within ${TIMEOUT}s"; fi
log "done (exit $status); output in $API_TEST_OUT"
exit "$status"
