"""Property-based fuzzing of the running stack, from the OpenAPI document it serves.

Every operation of `/docs/openapi.json` gets FUZZ_EXAMPLES generated requests, valid ones
and ones the document says are invalid (schemathesis' positive and negative modes), sent
one at a time through the gateway. Each answer must:

- not be a 5xx (Redis is up during this test),
- have a status, content type and body that the document lists for the operation
  (a 4xx/5xx body is `{"error": "..."}`), and refuse input the document calls invalid;
- have changed exactly what the contract says (`contract.py`), read back through the API:
  nothing for a refusal, exactly the amounts for a success.

Writes carry the `Idempotency-Key` header the document lists: a generated key that the
document allows is replaced by a fresh one (two generated requests must not share a key by
chance, or the second would be answered from the first's record), one it does not allow is
sent as generated and must be refused; and about a third of the writes are sent a second
time with the same key, which must get the same status and body and change nothing.

Ids are often drawn from entities that exist (seeded, or created by earlier requests) and
numbers often small, so that successes, shortages and checkouts happen, not only 404s.
`test_invariants_hold_after_fuzzing` then checks that nothing changed afterwards and that
the money and stock totals are what the successful requests imply.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

import contract
from world import KINDS, MAX_FUZZ_BATCH, World, valid, wire_parameters

GATEWAY = os.environ.get("GATEWAY", "http://127.0.0.1:8000").rstrip("/")
OUT_DIR = Path(os.environ.get("API_TEST_OUT", Path(__file__).resolve().parent.parent / "run" / "api-test"))
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
DOCUMENT = requests.get(f"{GATEWAY}/docs/openapi.json", timeout=30).json()
OPERATIONS = [f"{m.upper()} {p}" for p, item in DOCUMENT["paths"].items() for m in item]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
]

schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.config.update(base_url=GATEWAY, request_timeout=60)

WORLD = World(GATEWAY)
LEDGER = contract.Ledger()


@pytest.fixture(scope="module", autouse=True)
def seeded_world():
    WORLD.seed()
    LEDGER.admit(dict(WORLD.seen), World(GATEWAY))
    yield WORLD


def parameter_schemas(method: str, path: str) -> dict[str, dict]:
    op = DOCUMENT["paths"][path][method.lower()]
    return {p["name"]: p["schema"] for p in op.get("parameters", [])}


# An index into a list that changes as the fuzzing goes: the strategy's shape never depends
# on the state (Hypothesis would call that flaky), only the value the index picks does.
INDEX = st.integers(0, 2**16)


def pick(items: list, i: int, default):
    return items[i % len(items)] if items else default


def open_order_lines() -> list[dict[str, str]]:
    return [
        {"order_id": key[1], "item_id": item}
        for key, state in WORLD.seen.items()
        if key[0] == "order" and state and not state["paid"]
        for item, _ in state["items"]
    ]


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Valid ids often become ids that exist, valid numbers often small ones, and a batch
    is never bigger than MAX_FUZZ_BATCH; invalid values stay as they are."""
    if not path_parameters:
        return st.just(path_parameters)
    op = context.operation
    schemas = parameter_schemas(op.method, op.path)
    all_valid = True
    choices = {}
    for name, value in path_parameters.items():
        wire = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
        strategy = st.just(value)
        if wire is None or name not in schemas or not valid(schemas[name], wire):
            all_valid = False
        elif op.path == "/orders/checkout/{order_id}":
            strategy = st.just(value) | INDEX.map(
                lambda i, v=value: pick(WORLD.pool["order"] + WORLD.ready_orders, i, v)
            ) | INDEX.map(lambda i, v=value: pick(WORLD.ready_orders, i, v))
        elif name in KINDS:
            kind = KINDS[name]
            strategy = st.just(value) | INDEX.map(lambda i, k=kind, v=value: pick(WORLD.pool[k], i, v))
        elif name == "n":
            strategy = st.integers(1, MAX_FUZZ_BATCH)
        elif schemas[name]["type"] == "integer":
            low = schemas[name]["minimum"]
            strategy = st.integers(low, low + 30) | st.just(value)
        choices[name] = strategy
    strategy = st.fixed_dictionaries(choices)
    if op.path == "/orders/removeItem/{order_id}/{item_id}" and all_valid:
        # Often an item that is in the order, or the removal would only ever be a 404.
        strategy = strategy | INDEX.map(lambda i: pick(open_order_lines(), i, path_parameters))
    return strategy


def cap_batch(case) -> None:
    """A batch_init of millions would take minutes: a valid n becomes 1..MAX_FUZZ_BATCH (also
    for the boundary examples schemathesis adds without going through the hook above)."""
    n = (case.path_parameters or {}).get("n")
    schemas = parameter_schemas(case.operation.method, case.path)
    if "n" in schemas and n is not None and valid(schemas["n"], str(n)) and int(str(n)) > MAX_FUZZ_BATCH:
        case.path_parameters["n"] = int(str(n)) % MAX_FUZZ_BATCH + 1


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    # Requests change the state the ids are drawn from, so a failing example cannot be
    # replayed to shrink it: it is reported as it was sent.
    phases=[Phase.explicit, Phase.generate],
)
def test_operation(case):
    cap_batch(case)
    key_valid = fresh_idempotency_key(case)
    params = {k: str(v) for k, v in (case.path_parameters or {}).items()}
    wire = wire_parameters(case.path, case.formatted_path)
    schemas = parameter_schemas(case.operation.method, case.path)
    is_valid = wire is not None and all(valid(schemas[k], v) for k, v in wire.items()) and key_valid
    keys = WORLD.touched(case.path, wire or {}) if wire is not None else set()
    before = WORLD.snapshot(keys)
    WORLD.check_unchanged_since_seen(before)
    LEDGER.admit(before, WORLD)

    response = case.call(timeout=60)
    case.validate_response(response, checks=CHECKS)

    after = WORLD.snapshot(keys)
    call = contract.Call(
        method=case.method.upper(),
        path=case.path,
        params=wire if wire is not None else params,
        valid=is_valid,
        status=response.status_code,
        body=contract.parse_body(response.content),
        before=before,
        after=after,
    )
    contract.check(WORLD, LEDGER, call)
    WORLD.seen.update(after)
    if call.method in ("POST", "DELETE") and is_valid and random.random() < 0.35:
        repeat = case.call(timeout=60)
        first = (response.status_code, contract.parse_body(response.content))
        again = (repeat.status_code, contract.parse_body(repeat.content))
        assert again == first, f"{call.operation} repeated with its key: {first} then {again}"
        repeated = WORLD.snapshot(keys)
        assert repeated == after, f"{call.operation} repeated with its key changed {after} -> {repeated}"


def valid_idempotency_key(key) -> bool:
    """What the services accept (common/src/idempotency.rs): up to 128 visible ASCII
    characters (empty is no key)."""
    return isinstance(key, str) and len(key) <= 128 and all("!" <= c <= "~" for c in key)


def fresh_idempotency_key(case) -> bool:
    """Replaces a generated key the document allows with a fresh one; False when the case
    carries one it does not allow (it is sent as it is and must be refused)."""
    headers = case.headers or {}
    name = next((h for h in headers if h.lower() == "idempotency-key"), None)
    if name is None:
        return True
    if not valid_idempotency_key(headers[name]):
        return False
    if headers[name]:
        headers[name] = f"fuzz-{uuid.uuid4()}"
    return True


def test_invariants_hold_after_fuzzing():
    """Nothing changes once the requests have stopped (no saga finishing late), and the
    money and stock on users and items are what the successful requests imply."""
    time.sleep(1.5)  # longer than the order service's recovery interval
    now = WORLD.snapshot(set(WORLD.seen))
    changed = {k: (WORLD.seen[k], v) for k, v in now.items() if WORLD.seen[k] != v}
    assert not changed, f"changed after the fuzzing stopped: {changed}"
    money = sum(s["credit"] for (kind, _), s in now.items() if kind == "user" and s)
    stock = sum(s["stock"] for (kind, _), s in now.items() if kind == "item" and s)
    assert money == LEDGER.money, f"credits sum to {money}, the requests imply {LEDGER.money}"
    assert stock == LEDGER.stock, f"stock sums to {stock}, the requests imply {LEDGER.stock}"
    paid = sum(
        1 for (kind, ident), s in now.items() if kind == "order" and s and s["paid"] and ident in LEDGER.paid_orders
    )
    assert paid == len(LEDGER.paid_orders), "an order the fuzzing paid is no longer paid"
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "fuzz-answers.json").write_text(json.dumps(WORLD.per_operation, indent=1, sort_keys=True))
    print(
        f"\n{len(now)} entities checked; credits {money}, stock {stock}; "
        f"checkouts charged {LEDGER.charged} and took {LEDGER.taken} items; answers: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(WORLD.stats.items()))
        + f"; per operation in {OUT_DIR / 'fuzz-answers.json'}"
    )
    missed = [op for op in OPERATIONS if not any(s.startswith("2") for s in WORLD.per_operation.get(op, {}))]
    assert not missed, f"operations that never succeeded: {missed}"
    assert WORLD.stats.get("checkout that paid", 0) > 0, "no checkout succeeded: the fuzzing missed the point"
