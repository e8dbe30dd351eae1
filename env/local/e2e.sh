#!/usr/bin/env bash
# End-to-end test of the public API through the gateway (the course template's flow).
#
#   env/local/e2e.sh            against GATEWAY (default http://127.0.0.1:8000)
#
# Needs bash, curl and python3. Prints one line per check and ends with
# "N passed, M failed"; exits non-zero when any check failed.
set -uo pipefail

GATEWAY="${GATEWAY:-http://127.0.0.1:8000}"
GATEWAY="${GATEWAY%/}"
PASSED=0
FAILED=0
STATUS=000
BODY=""

# req METHOD PATH: sets STATUS and BODY.
req() {
    local out
    out="$(curl -sS -m 330 -X "$1" -w '\n%{http_code}' "$GATEWAY$2" 2>&1)" || true
    STATUS="${out##*$'\n'}"
    BODY="${out%$'\n'*}"
    [[ "$STATUS" =~ ^[0-9]{3}$ ]] || STATUS=000
}

# json EXPR: evaluates a Python expression over the last BODY bound to `d` (empty on error).
json() {
    python3 -c '
import json, sys
try:
    d = json.loads(sys.argv[2])
    v = eval(sys.argv[1], {"d": d})
except Exception:
    sys.exit(1)
print(json.dumps(v) if isinstance(v, (bool, list, dict)) or v is None else v)
' "$1" "$BODY" 2>/dev/null
}

pass() {
    PASSED=$((PASSED + 1))
    printf 'PASS  %s\n' "$1"
}

fail() {
    FAILED=$((FAILED + 1))
    printf 'FAIL  %s\n' "$1"
    [ -z "${2:-}" ] || printf '      %s\n' "$2"
}

# check DESCRIPTION CONDITION...: the condition is a command (usually `[ ... ]`).
check() {
    local desc="$1"
    shift
    if "$@"; then pass "$desc"; else fail "$desc" "last answer: $STATUS $BODY"; fi
}

is_2xx() { [[ "$STATUS" == 2?? ]]; }
is_4xx() { [[ "$STATUS" == 4?? ]]; }
has_error() { [ -n "$(json 'd["error"]')" ]; }

stock_of() { req GET "/stock/find/$1"; json 'd["stock"]'; }
credit_of() { req GET "/payment/find_user/$1"; json 'd["credit"]'; }

echo "e2e against $GATEWAY"
if ! curl -s -o /dev/null -m 5 "$GATEWAY/"; then
    echo "gateway $GATEWAY is unreachable"
    echo "0 passed, 1 failed"
    exit 1
fi

# --- stock ---------------------------------------------------------------------------
req POST /stock/item/create/5
ITEM1="$(json 'd["item_id"]')"
check "create item (price 5) returns an item_id" eval 'is_2xx && [ -n "$ITEM1" ]'

req POST "/stock/add/$ITEM1/10"
ADD_STATUS="$STATUS"
req GET "/stock/find/$ITEM1"
check "add 10 stock: find shows stock 10, price 5" \
    eval '[[ "$ADD_STATUS" == 2?? ]] && [ "$(json "d[\"stock\"]")" = 10 ] && [ "$(json "d[\"price\"]")" = 5 ]'

req POST "/stock/subtract/$ITEM1/11"
check "subtracting 11 of 10 is a 4xx with a JSON error" eval 'is_4xx && has_error'
check "stock is still 10 after the refused subtract" eval '[ "$(stock_of "$ITEM1")" = 10 ]'

req POST "/stock/subtract/$ITEM1/3"
SUB_STATUS="$STATUS"
check "subtracting 3 works and leaves 7" eval '[[ "$SUB_STATUS" == 2?? ]] && [ "$(stock_of "$ITEM1")" = 7 ]'

# --- payment -------------------------------------------------------------------------
req POST /payment/create_user
USER="$(json 'd["user_id"]')"
check "create user returns a user_id" eval 'is_2xx && [ -n "$USER" ]'

req POST "/payment/add_funds/$USER/100"
check "add funds 100 answers done: true" eval 'is_2xx && [ "$(json "d[\"done\"]")" = true ]'
check "credit is 100" eval '[ "$(credit_of "$USER")" = 100 ]'

req POST "/payment/pay/$USER/10"
PAY_STATUS="$STATUS"
check "paying 10 works and leaves 90" eval '[[ "$PAY_STATUS" == 2?? ]] && [ "$(credit_of "$USER")" = 90 ]'

req POST "/payment/pay/$USER/1000"
check "paying more than the credit is a 4xx with a JSON error" eval 'is_4xx && has_error'

# --- orders --------------------------------------------------------------------------
req POST /stock/item/create/7
ITEM2="$(json 'd["item_id"]')"
check "create a second item (price 7, stock 0)" eval 'is_2xx && [ -n "$ITEM2" ] && [ "$(stock_of "$ITEM2")" = 0 ]'

req POST "/orders/create/$USER"
ORDER="$(json 'd["order_id"]')"
check "create order returns an order_id" eval 'is_2xx && [ -n "$ORDER" ]'

req POST "/orders/addItem/$ORDER/$ITEM1/1"
A1="$STATUS"
req POST "/orders/addItem/$ORDER/$ITEM2/1"
A2="$STATUS"
req GET "/orders/find/$ORDER"
TOTAL="$(json 'd["total_cost"]')"
check "add both items: total_cost is 5 + 7" \
    eval '[[ "$A1" == 2?? && "$A2" == 2?? ]] && [ "$TOTAL" = 12 ] && [ "$(json "d[\"paid\"]")" = false ]'

req POST "/orders/checkout/$ORDER"
check "checkout with an item out of stock is a 4xx" is_4xx
check "the failed checkout changed nothing (stock 7 and 0, credit 90)" \
    eval '[ "$(stock_of "$ITEM1")" = 7 ] && [ "$(stock_of "$ITEM2")" = 0 ] && [ "$(credit_of "$USER")" = 90 ]'
req GET "/orders/find/$ORDER"
check "the order is still unpaid" eval '[ "$(json "d[\"paid\"]")" = false ]'

req POST "/stock/add/$ITEM2/5"
check "add 5 stock to the second item" is_2xx

req POST "/orders/checkout/$ORDER"
check "checkout succeeds" is_2xx
check "each item's stock went down by exactly 1 (6 and 4)" \
    eval '[ "$(stock_of "$ITEM1")" = 6 ] && [ "$(stock_of "$ITEM2")" = 4 ]'
check "credit went down by exactly total_cost (90 - 12 = 78)" eval '[ "$(credit_of "$USER")" = $((90 - TOTAL)) ]'

req POST "/orders/checkout/$ORDER"
check "a second checkout of the paid order is a 2xx" is_2xx
check "the second checkout charged nothing" \
    eval '[ "$(credit_of "$USER")" = 78 ] && [ "$(stock_of "$ITEM1")" = 6 ] && [ "$(stock_of "$ITEM2")" = 4 ]'

req GET "/orders/find/$ORDER"
check "find order shows paid: true, the user and both items" \
    eval '[ "$(json "d[\"paid\"]")" = true ] && [ "$(json "d[\"user_id\"]")" = "$USER" ] && [ "$(json "len(d[\"items\"])")" = 2 ]'

req POST "/orders/addItem/$ORDER/$ITEM1/1"
check "adding an item to a paid order is a 4xx" is_4xx

# --- bad input -----------------------------------------------------------------------
req POST /stock/item/create/-3
check "create item with price -3 is a 400 with a JSON error" eval '[ "$STATUS" = 400 ] && has_error'

req POST /stock/item/create/5.83
check "create item with price 5.83 is a 400 with a JSON error" eval '[ "$STATUS" = 400 ] && has_error'

req GET /stock/find/no-such-item
check "finding an unknown item is a 4xx with a JSON error" eval 'is_4xx && has_error'

req GET /no/such/path
check "an unknown path is a 404 with a JSON error (gateway)" eval '[ "$STATUS" = 404 ] && has_error'

req GET /stock/no/such/path
check "an unknown path is a 404 with a JSON error (service)" eval '[ "$STATUS" = 404 ] && has_error'

# --- not public ----------------------------------------------------------------------
for path in /stock/metrics /payment/health/ready /orders/health/live; do
    req GET "$path"
    check "GET $path is not routed by the gateway (its JSON 404)" \
        eval '[ "$STATUS" = 404 ] && [ "$(json "d[\"error\"]")" = "no route for this path" ]'
done

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
