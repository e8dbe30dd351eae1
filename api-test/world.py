"""What the fuzzer's requests may change, and the check that they changed exactly that.

`World` reads every entity a request can touch (items, users, orders) through the gateway
before and after the request, and compares the "after" with what the API contract says the
request must have done given its answer: a refusal (4xx) changes nothing, `add_funds` adds
exactly its amount, a checkout that answered 2xx took exactly the order's quantities and
cost, ... It also keeps the last state it saw of every entity, so that anything that changes
between requests (a saga finishing late, a double charge) is caught, and so that the money
and stock totals can be checked again after the fuzzing.

It never changes anything itself, except through `seed`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import requests

ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Path parameter name -> the kind of entity it names.
KINDS = {"item_id": "item", "user_id": "user", "order_id": "order"}
READ = {"item": "/stock/find/{}", "user": "/payment/find_user/{}", "order": "/orders/find/{}"}
# How many entities a batch_init may create during fuzzing (every one of them is checked).
MAX_FUZZ_BATCH = 20
I64_MAX = 2**63 - 1


class ContractViolation(AssertionError):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise ContractViolation(message)


@dataclass
class World:
    gateway: str
    timeout: float = 60.0
    session: requests.Session = field(default_factory=requests.Session)
    # (kind, id) -> last state seen: a dict, or None for "does not exist".
    seen: dict[tuple[str, str], Any] = field(default_factory=dict)
    # Ids known to exist, per kind, for the fuzzer to pick from.
    pool: dict[str, list[str]] = field(default_factory=lambda: {"item": [], "user": [], "order": []})
    # Stocked and funded orders offered to checkout only (edits by other operations would
    # soon make every pooled order fail its checkout).
    ready_orders: list[str] = field(default_factory=list)
    # What the fuzzing did, for the summary.
    stats: dict[str, int] = field(default_factory=dict)
    per_operation: dict[str, dict[str, int]] = field(default_factory=dict)

    # -- reading -------------------------------------------------------------------------

    def read(self, kind: str, ident: str) -> Any:
        """The entity as the API shows it now, or None when it does not exist."""
        url = self.gateway + READ[kind].format(ident)
        resp = self.session.get(url, timeout=self.timeout)
        if resp.status_code == 404:
            return None
        expect(resp.status_code == 200, f"GET {url}: {resp.status_code} {resp.text}")
        body = resp.json()
        if kind == "item":
            state = {"stock": body["stock"], "price": body["price"]}
            expect(state["stock"] >= 0 and state["price"] >= 0, f"item {ident}: {state}")
        elif kind == "user":
            state = {"credit": body["credit"]}
            expect(state["credit"] >= 0, f"user {ident}: {state}")
        else:
            state = {k: body[k] for k in ("paid", "items", "user_id", "total_cost")}
            state["items"] = [tuple(line) for line in state["items"]]
            expect(state["total_cost"] >= 0, f"order {ident}: {state}")
        return state

    def snapshot(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        return {key: self.read(*key) for key in sorted(keys)}

    # -- seeding -------------------------------------------------------------------------

    def post(self, path: str) -> Any:
        resp = self.session.post(self.gateway + path, timeout=self.timeout)
        expect(resp.status_code in (200, 201), f"POST {path}: {resp.status_code} {resp.text}")
        return resp.json()

    def seed(self, n: int = 10) -> None:
        """Entities for the fuzzer to pick from: "0".."n-1" of each kind (which batch_inits
        will reset), and items, users and orders with new ids, stocked and funded so that
        their checkouts can succeed."""
        self.post(f"/stock/batch_init/{n}/50/3")
        self.post(f"/payment/batch_init/{n}/100")
        self.post(f"/orders/batch_init/{n}/{n}/{n}/3")
        for kind in self.pool:
            self.pool[kind] = [str(i) for i in range(n)]
        items = [self.post(f"/stock/item/create/{price}")["item_id"] for price in range(1, 6)]
        users = [self.post("/payment/create_user")["user_id"] for _ in range(5)]
        for item in items:
            self.post(f"/stock/add/{item}/1000000")
        for user in users:
            self.post(f"/payment/add_funds/{user}/1000000000")
        for i in range(40):
            order = self.post(f"/orders/create/{users[i % 5]}")["order_id"]
            for j in range(1 + i % 3):
                self.post(f"/orders/addItem/{order}/{items[(i + j) % 5]}/{1 + j}")
            (self.pool["order"] if i < 15 else self.ready_orders).append(order)
        self.pool["item"] += items
        self.pool["user"] += users
        for kind, ids in dict(self.pool, ready=self.ready_orders).items():
            for ident in ids:
                kind = "order" if kind == "ready" else kind
                self.seen[(kind, ident)] = self.read(kind, ident)

    def remember(self, kind: str, ident: str) -> None:
        if ident not in self.pool[kind]:
            self.pool[kind].append(ident)
            del self.pool[kind][:-60]  # the most recent 60 are enough to pick from

    # -- one request -----------------------------------------------------------------------

    def touched(self, path: str, params: dict[str, str]) -> set[tuple[str, str]]:
        """Every entity the request may change, as far as it can be known beforehand."""
        keys = set()
        for name, value in params.items():
            kind = KINDS.get(name)
            if kind and ID.match(value):
                keys.add((kind, value))
        for kind, ident in list(keys):
            if kind == "order":
                order = self.read("order", ident)
                if order is not None:
                    keys.add(("user", order["user_id"]))
                    keys.update(("item", item) for item, _ in order["items"])
        batch = batch_of(path, params)
        if batch is not None:
            kind, n = batch
            keys.update((kind, str(i)) for i in range(n))
        return keys

    def check_unchanged_since_seen(self, before: dict[tuple[str, str], Any]) -> None:
        for key, state in before.items():
            if key in self.seen:
                expect(
                    self.seen[key] == state,
                    f"{key} changed between requests: {self.seen[key]} -> {state}",
                )

    def count(self, what: str, operation: str) -> None:
        self.stats[what] = self.stats.get(what, 0) + 1
        per_operation = self.per_operation.setdefault(operation, {})
        per_operation[what] = per_operation.get(what, 0) + 1


def wire_parameters(template: str, path: str) -> dict[str, str] | None:
    """The path parameters as the server receives them (decoded), or None when the path does
    not have the template's shape (a parameter with a '/' in it, an empty one, ...)."""
    names, parts = template.split("/"), path.split("/")
    if len(names) != len(parts):
        return None
    params = {}
    for name, part in zip(names, parts):
        if name.startswith("{"):
            value = unquote(part)
            if not value or "/" in value:
                return None
            params[name[1:-1]] = value
        elif name != part:
            return None
    return params


def valid(schema: dict[str, Any], raw: str) -> bool:
    """Whether a path segment is a value the parameter's documented schema allows."""
    if schema.get("type") == "integer":
        return bool(re.fullmatch(r"[0-9]+", raw)) and schema["minimum"] <= int(raw) <= schema["maximum"]
    return (
        schema.get("minLength", 0) <= len(raw) <= schema.get("maxLength", len(raw))
        and re.fullmatch(schema["pattern"], raw) is not None
    )


def batch_of(path: str, params: dict[str, str]) -> tuple[str, int] | None:
    """`(kind, n)` for a batch_init whose n is valid and small enough to check entirely."""
    raw = params.get("n", "")
    if "/batch_init/" not in path or not re.fullmatch(r"[0-9]{1,9}", raw):
        return None
    n = int(raw)
    if not 1 <= n <= MAX_FUZZ_BATCH:
        return None
    kind = {"/stock": "item", "/payment": "user", "/orders": "order"}[path[: path.index("/", 1)]]
    return kind, n
