"""The API contract (the "API" section of the repository's README.md) as checks on one
request: given the entities' states before, the parameters and the answer, what the states
after must be.

- Any answer but a 2xx changes nothing, and a refusal must have a reason in the state
  before (a 404 names something missing, a 409 a real shortage or a paid order) or in the
  input (a 400 for a parameter the document does not allow, or an overflow).
- A 2xx changes exactly what the operation says, and its body agrees with the state.
- Running totals of money and stock follow every change, so that the totals can be checked
  again after the fuzzing (`Ledger`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from world import I64_MAX, World, batch_of, expect

State = dict[tuple[str, str], Any]


@dataclass
class Ledger:
    """Money and stock that must be somewhere: on users and items, or in paid orders."""

    money: int = 0  # sum of the credits of every user seen, as it must be
    stock: int = 0  # sum of the stock of every item seen, as it must be
    charged: int = 0  # what checkouts took from users
    taken: int = 0  # what checkouts took from items
    paid_orders: set[str] = field(default_factory=set)

    def admit(self, before: State, world: World) -> None:
        """Entities seen for the first time enter the books with what they hold."""
        self.reset({}, {key: state for key, state in before.items() if key not in world.seen})

    def reset(self, before: State, after: State) -> None:
        """Entities set to new values (create, batch_init): the totals move by the difference."""
        for key in after:
            old, new = before.get(key), after[key]
            if key[0] == "user":
                self.money += (new or {}).get("credit", 0) - (old or {}).get("credit", 0)
            if key[0] == "item":
                self.stock += (new or {}).get("stock", 0) - (old or {}).get("stock", 0)


@dataclass
class Call:
    """One request of the fuzzer: what was asked, what was there, what came back."""

    method: str
    path: str  # the template, with the gateway prefix
    params: dict[str, str]  # each path parameter as the server receives it (decoded)
    valid: bool  # the path has the template's shape and every parameter is one the document allows
    status: int
    body: Any
    before: State
    after: State

    @property
    def operation(self) -> str:
        return f"{self.method} {self.path}"

    def int(self, name: str) -> int:
        return int(self.params[name])

    def entity(self, kind: str, name: str) -> tuple[str, str]:
        return (kind, self.params[name])

    def state(self, kind: str, name: str) -> dict[str, Any]:
        """The entity before the request; empty when it did not exist."""
        return self.before.get(self.entity(kind, name)) or {}

    def unchanged(self) -> None:
        for key, state in self.before.items():
            expect(self.after[key] == state, f"{key}: {state} -> {self.after[key]}")

    def changed_only(self, expected: State) -> None:
        """`expected` for the keys it names, the state before for every other key."""
        for key, state in self.before.items():
            want = expected.get(key, state)
            expect(self.after[key] == want, f"{key}: {state} -> {self.after[key]}, want {want}")


def check(world: World, ledger: Ledger, call: Call) -> None:
    handler = OPERATIONS.get((call.method, call.path))
    if handler is None:
        # A method the document does not list for this path (the fuzzer tries them all).
        expect(call.status in (404, 405), f"{call.method} {call.path} answered {call.status}")
        call.valid = False
    if not 200 <= call.status < 300:
        call.unchanged()
        expect(
            isinstance(call.body, dict) and isinstance(call.body.get("error"), str),
            f"a {call.status} without a JSON error body: {call.body}",
        )
        justify_refusal(call)
        world.count(f"{call.status}", call.operation)
        return
    expect(call.valid, f"{call.method} {call.path} accepted invalid {call.params}")
    handler(world, ledger, call)
    world.count(f"{call.status}", call.operation)


def justify_refusal(call: Call) -> None:
    """A refusal of valid input must be explained by the state before."""
    if call.status >= 500 or not call.valid:
        return
    reasons: Callable[[Call], bool] | None = REFUSALS.get((call.method, call.path, call.status))
    expect(
        reasons is not None and reasons(call),
        f"{call.method} {call.path} {call.params} refused with {call.status} {call.body} "
        f"although the state was {call.before}",
    )


# -- what each operation must do on success --------------------------------------------


def read_only(body_matches: Callable[[Call], bool] | None = None):
    def handler(world: World, ledger: Ledger, call: Call) -> None:
        call.unchanged()
        if body_matches:
            expect(body_matches(call), f"the answer {call.body} disagrees with {call.before}")

    return handler


def created(kind: str, id_field: str, state: Callable[[Call], Any]):
    def handler(world: World, ledger: Ledger, call: Call) -> None:
        call.unchanged()
        ident = call.body[id_field]
        key = (kind, ident)
        expect(key not in world.seen or world.seen[key] is None, f"{key} existed already")
        now = world.read(kind, ident)
        expect(now == state(call), f"new {key} is {now}, want {state(call)}")
        ledger.reset({}, {key: now})
        world.seen[key] = now
        world.remember(kind, ident)

    return handler


def adjust(kind: str, name: str, field_: str, sign: int):
    """add / subtract / add_funds / pay: one number moves by exactly the amount."""

    def handler(world: World, ledger: Ledger, call: Call) -> None:
        key = call.entity(kind, name)
        old = call.before[key]
        expect(old is not None, f"{key} did not exist")
        want = dict(old, **{field_: old[field_] + sign * call.int("amount")})
        call.changed_only({key: want})
        if field_ in call.body:
            expect(call.body[field_] == want[field_], f"answer {call.body}, state {want}")
        if kind == "user":
            ledger.money += sign * call.int("amount")
        else:
            ledger.stock += sign * call.int("amount")

    return handler


def batch(check_entity: Callable[[Call, Any], bool]):
    def handler(world: World, ledger: Ledger, call: Call) -> None:
        found = batch_of(call.path, call.params)
        expect(found is not None, f"a batch_init of {call.params} was not capped")
        kind, n = found
        for i in range(n):
            key = (kind, str(i))
            expect(check_entity(call, call.after[key]), f"{key} is {call.after[key]}")
            world.remember(kind, str(i))
        ledger.reset(call.before, call.after)
        for key in call.after:
            if key[0] == "order":
                ledger.paid_orders.discard(key[1])

    return handler


def add_item(world: World, ledger: Ledger, call: Call) -> None:
    order_key, item_key = call.entity("order", "order_id"), call.entity("item", "item_id")
    order, item = call.before[order_key], call.before[item_key]
    expect(order is not None and item is not None and not order["paid"], f"{call.before}")
    qty = call.int("quantity") if "quantity" in call.params else 1
    want = dict(
        order,
        items=order["items"] + [(item_key[1], qty)],
        total_cost=order["total_cost"] + item["price"] * qty,
    )
    call.changed_only({order_key: want})


def remove_item(world: World, ledger: Ledger, call: Call) -> None:
    order_key, item = call.entity("order", "order_id"), call.params["item_id"]
    order = call.before[order_key]
    expect(order is not None and not order["paid"], f"{call.before}")
    expect(any(i == item for i, _ in order["items"]), f"{item} was not in {order}")
    kept = [line for line in order["items"] if line[0] != item]
    after = call.after[order_key]
    # What the removed lines cost is not shown by the API: it went down, and to 0 when empty.
    expect(after["items"] == kept, f"lines after removing {item}: {after}")
    expect(0 <= after["total_cost"] <= order["total_cost"], f"{order} -> {after}")
    expect(kept or after["total_cost"] == 0, f"an empty order costs {after['total_cost']}")
    call.changed_only({order_key: dict(order, items=kept, total_cost=after["total_cost"])})


def checkout(world: World, ledger: Ledger, call: Call) -> None:
    order_key = call.entity("order", "order_id")
    order = call.before[order_key]
    expect(order is not None, f"{order_key} did not exist")
    if order["paid"]:
        call.unchanged()  # a paid order answers 2xx again and charges nothing
        world.count("checkout of a paid order", call.operation)
        return
    user_key = ("user", order["user_id"])
    user = call.before[user_key]
    expect(user is not None, f"{user_key} does not exist but the checkout succeeded")
    want = {
        order_key: dict(order, paid=True),
        user_key: {"credit": user["credit"] - order["total_cost"]},
    }
    quantities = summed(order)
    for item, qty in quantities.items():
        old = call.before[("item", item)]
        expect(old is not None, f"item {item} does not exist but the checkout succeeded")
        want[("item", item)] = dict(old, stock=old["stock"] - qty)
    call.changed_only(want)
    ledger.money -= order["total_cost"]
    ledger.charged += order["total_cost"]
    ledger.stock -= sum(quantities.values())
    ledger.taken += sum(quantities.values())
    ledger.paid_orders.add(order_key[1])
    world.count("checkout that paid", call.operation)


def summed(order: Any) -> dict[str, int]:
    quantities: dict[str, int] = {}
    for item, qty in order["items"]:
        quantities[item] = quantities.get(item, 0) + qty
    return quantities


# -- why a refusal of valid input may happen -------------------------------------------


def missing(*keys: tuple[str, str]) -> Callable[[Call], bool]:
    """A 404: one of the named parameters' entities did not exist."""
    return lambda call: any(call.before.get(call.entity(kind, name)) is None for kind, name in keys)


def short(kind: str, field_: str) -> Callable[[Call], bool]:
    name = "item_id" if kind == "item" else "user_id"
    return lambda call: call.state(kind, name).get(field_, I64_MAX) < call.int("amount")


def overflows(kind: str, field_: str) -> Callable[[Call], bool]:
    name = "item_id" if kind == "item" else "user_id"
    return lambda call: call.state(kind, name).get(field_, 0) + call.int("amount") > I64_MAX


def order_locked(call: Call) -> bool:
    return call.state("order", "order_id").get("paid") is True


def add_overflows(call: Call) -> bool:
    """The line's cost (checked first), or the order's new total, exceeds 2^63-1."""
    order, item = call.state("order", "order_id"), call.state("item", "item_id")
    qty = call.int("quantity") if "quantity" in call.params else 1
    if not item:
        return False
    cost = item["price"] * qty
    return cost > I64_MAX or bool(order) and order["total_cost"] + cost > I64_MAX


def not_in_order(call: Call) -> bool:
    order = call.state("order", "order_id")
    return not order or all(i != call.params["item_id"] for i, _ in order["items"])


def checkout_cannot_pay(call: Call) -> bool:
    order = call.state("order", "order_id")
    if not order or order["paid"]:
        return False
    user = call.before[("user", order["user_id"])]
    if user is None or user["credit"] < order["total_cost"]:
        return True
    for item, qty in summed(order).items():
        state = call.before[("item", item)]
        if state is None or state["stock"] < qty:
            return True
    return False


def checkout_overflows(call: Call) -> bool:
    order = call.state("order", "order_id")
    return bool(order) and any(qty > I64_MAX for qty in summed(order).values())


ORDER, ITEM, USER = ("order", "order_id"), ("item", "item_id"), ("user", "user_id")

OPERATIONS: dict[tuple[str, str], Callable[[World, Ledger, Call], None]] = {
    ("POST", "/stock/item/create/{price}"): created(
        "item", "item_id", lambda c: {"stock": 0, "price": c.int("price")}
    ),
    ("GET", "/stock/find/{item_id}"): read_only(lambda c: c.before[c.entity(*ITEM)] == c.body),
    ("POST", "/stock/add/{item_id}/{amount}"): adjust("item", "item_id", "stock", +1),
    ("POST", "/stock/subtract/{item_id}/{amount}"): adjust("item", "item_id", "stock", -1),
    ("POST", "/stock/batch_init/{n}/{starting_stock}/{item_price}"): batch(
        lambda c, s: s == {"stock": c.int("starting_stock"), "price": c.int("item_price")}
    ),
    ("POST", "/payment/create_user"): created("user", "user_id", lambda c: {"credit": 0}),
    ("GET", "/payment/find_user/{user_id}"): read_only(
        lambda c: c.before[c.entity(*USER)] == {"credit": c.body["credit"]}
        and c.body["user_id"] == c.params["user_id"]
    ),
    ("POST", "/payment/add_funds/{user_id}/{amount}"): adjust("user", "user_id", "credit", +1),
    ("POST", "/payment/pay/{user_id}/{amount}"): adjust("user", "user_id", "credit", -1),
    ("POST", "/payment/batch_init/{n}/{starting_money}"): batch(
        lambda c, s: s == {"credit": c.int("starting_money")}
    ),
    ("POST", "/orders/create/{user_id}"): created(
        "order",
        "order_id",
        lambda c: {"paid": False, "items": [], "user_id": c.params["user_id"], "total_cost": 0},
    ),
    ("GET", "/orders/find/{order_id}"): read_only(
        lambda c: c.before[c.entity(*ORDER)]
        == dict(
            {k: c.body[k] for k in ("paid", "user_id", "total_cost")},
            items=[tuple(line) for line in c.body["items"]],
        )
    ),
    ("POST", "/orders/addItem/{order_id}/{item_id}"): add_item,
    ("POST", "/orders/addItem/{order_id}/{item_id}/{quantity}"): add_item,
    ("DELETE", "/orders/removeItem/{order_id}/{item_id}"): remove_item,
    ("POST", "/orders/checkout/{order_id}"): checkout,
    ("POST", "/orders/batch_init/{n}/{n_items}/{n_users}/{item_price}"): batch(
        lambda c, s: s is not None
        and s["paid"] is False
        and len(s["items"]) == 2
        and all(q == 1 and 0 <= int(i) < c.int("n_items") for i, q in s["items"])
        and 0 <= int(s["user_id"]) < c.int("n_users")
        and s["total_cost"] == 2 * c.int("item_price")
    ),
    ("GET", "/orders/saga/{order_id}"): read_only(
        lambda c: c.body["order_id"] == c.params["order_id"]
    ),
}
# (The health endpoints are not routed through the gateway: the document does not list them.)

REFUSALS: dict[tuple[str, str, int], Callable[[Call], bool]] = {
    ("GET", "/stock/find/{item_id}", 404): missing(ITEM),
    ("POST", "/stock/add/{item_id}/{amount}", 404): missing(ITEM),
    ("POST", "/stock/add/{item_id}/{amount}", 409): overflows("item", "stock"),
    ("POST", "/stock/subtract/{item_id}/{amount}", 404): missing(ITEM),
    ("POST", "/stock/subtract/{item_id}/{amount}", 409): short("item", "stock"),
    ("GET", "/payment/find_user/{user_id}", 404): missing(USER),
    ("POST", "/payment/add_funds/{user_id}/{amount}", 404): missing(USER),
    ("POST", "/payment/add_funds/{user_id}/{amount}", 409): overflows("user", "credit"),
    ("POST", "/payment/pay/{user_id}/{amount}", 404): missing(USER),
    ("POST", "/payment/pay/{user_id}/{amount}", 409): short("user", "credit"),
    ("GET", "/orders/find/{order_id}", 404): missing(ORDER),
    ("GET", "/orders/saga/{order_id}", 404): missing(ORDER),
    ("POST", "/orders/addItem/{order_id}/{item_id}", 404): missing(ORDER, ITEM),
    ("POST", "/orders/addItem/{order_id}/{item_id}", 409): order_locked,
    ("POST", "/orders/addItem/{order_id}/{item_id}", 400): add_overflows,
    ("POST", "/orders/addItem/{order_id}/{item_id}/{quantity}", 404): missing(ORDER, ITEM),
    ("POST", "/orders/addItem/{order_id}/{item_id}/{quantity}", 409): order_locked,
    ("POST", "/orders/addItem/{order_id}/{item_id}/{quantity}", 400): add_overflows,
    ("DELETE", "/orders/removeItem/{order_id}/{item_id}", 404): not_in_order,
    ("DELETE", "/orders/removeItem/{order_id}/{item_id}", 409): order_locked,
    ("POST", "/orders/checkout/{order_id}", 404): missing(ORDER),
    ("POST", "/orders/checkout/{order_id}", 409): checkout_cannot_pay,
    ("POST", "/orders/checkout/{order_id}", 400): checkout_overflows,
    ("POST", "/orders/batch_init/{n}/{n_items}/{n_users}/{item_price}", 400): lambda c: 2
    * c.int("item_price")
    > I64_MAX,
}


def parse_body(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None
