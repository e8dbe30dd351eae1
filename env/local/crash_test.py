#!/usr/bin/env python3
"""Crash test: every kind of public write, with the replica that applies it killed
after the write took effect and before it answered.

Against a running local stack (env/local/stack.sh) with two replicas of each service.
For each kind of write, both replicas of the service that serves it are restarted with
CRASH_AFTER_WRITES=1 (common/src/fault.rs): whichever gets the request applies it and
aborts before answering, as a process killed at that moment would. The gateway then
retries the request on the other replica with the same idempotency key (its request
id); that replica finds the write's record and answers it without applying it again,
so it does not crash. The test checks that the client got the right 2xx, that exactly
one replica died, and, reading the state back through the gateway and the service's
Redis, that the write took effect exactly once. Then the replicas are restarted as
they were.

    env/local/crash_test.py        (GATEWAY, RUN_DIR, PORT_OFFSET as for stack.sh)

Prints one line per check and ends with "N passed, M failed"; exit 1 on a failure.
"""

import os
import subprocess
import sys
import time

from harness import OFFSET, REDIS_BASE_PORT, RUN_DIR, call, check, require_gateway, stack, summary

REDIS_NODES = int(os.environ.get("REDIS_MASTERS", "3")) * (1 + int(os.environ.get("REDIS_REPLICAS", "1")))


def alive(name):
    try:
        with open(os.path.join(RUN_DIR, "pids", f"{name}.pid")) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    with open(f"/proc/{pid}/status") as f:
        return "\nState:\tZ" not in f.read()


def masters(service):
    """Ports of the nodes of the service's cluster that are masters now (every key is on
    exactly one of them)."""
    ports = []
    for n in range(REDIS_NODES):
        port = str(REDIS_BASE_PORT[service] + n + OFFSET)
        out = subprocess.run(["redis-cli", "-p", port, "ROLE"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.startswith("master"):
            ports.append(port)
    if not ports:
        raise SystemExit(f"no master of the {service} cluster answers")
    return ports


def count_keys(service, pattern):
    n = 0
    for port in masters(service):
        out = subprocess.run(["redis-cli", "-p", port, "--scan", "--pattern", pattern],
                             check=True, capture_output=True)
        n += len(out.stdout.decode().split())
    return n


def armed(service):
    """Both replicas of `service`, restarted to abort after their first applied write."""
    for replica in (f"{service}-1", f"{service}-2"):
        stack("kill", replica)
        stack("start", replica, env={"CRASH_AFTER_WRITES": "1"})


def crash_write(service, method, path, what):
    """Sends one write with both replicas armed; checks a 2xx and one dead replica,
    restores the replicas, and returns the answer."""
    armed(service)
    start = time.monotonic()
    status, body = call(method, path)
    took = time.monotonic() - start
    dead = [r for r in (f"{service}-1", f"{service}-2") if not alive(r)]
    check(200 <= status < 300, f"{what}: answered {status} ({took:.2f} s) {body}")
    check(len(dead) == 1, f"{what}: exactly one {service} replica died after applying it ({dead})")
    for replica in (f"{service}-1", f"{service}-2"):
        stack("restart", replica)
    return status, body


def stock_of(item):
    return call("GET", f"/stock/find/{item}")[1]["stock"]


def credit_of(user):
    return call("GET", f"/payment/find_user/{user}")[1]["credit"]


def main():
    require_gateway()
    for service in ("stock", "payment", "order"):
        for replica in (f"{service}-1", f"{service}-2"):
            if not alive(replica):
                print(f"{replica} is not running: the crash test needs two replicas of each")
                return 2

    # stock
    items = count_keys("stock", "item:*")
    _, body = crash_write("stock", "POST", "/stock/item/create/3", "stock create")
    item = body["item_id"]
    check(count_keys("stock", "item:*") == items + 1, "stock create: one item more, not two")
    check(call("GET", f"/stock/find/{item}")[1] == {"stock": 0, "price": 3},
          "stock create: the answered id is the item")
    crash_write("stock", "POST", f"/stock/add/{item}/10", "stock add")
    check(stock_of(item) == 10, "stock add: applied once")
    crash_write("stock", "POST", f"/stock/subtract/{item}/4", "stock subtract")
    check(stock_of(item) == 6, "stock subtract: applied once")
    crash_write("stock", "POST", "/stock/batch_init/5/7/2", "stock batch_init")
    check(call("GET", "/stock/find/4")[1] == {"stock": 7, "price": 2}, "stock batch_init: applied")

    # payment
    users = count_keys("payment", "user:*")
    _, body = crash_write("payment", "POST", "/payment/create_user", "payment create_user")
    user = body["user_id"]
    check(count_keys("payment", "user:*") == users + 1, "payment create_user: one user more")
    crash_write("payment", "POST", f"/payment/add_funds/{user}/20", "payment add_funds")
    check(credit_of(user) == 20, "payment add_funds: applied once")
    crash_write("payment", "POST", f"/payment/pay/{user}/5", "payment pay")
    check(credit_of(user) == 15, "payment pay: applied once")
    crash_write("payment", "POST", "/payment/batch_init/5/9", "payment batch_init")
    check(credit_of("4") == 9, "payment batch_init: applied")

    # orders
    orders = count_keys("order", "order:*[^s]")
    _, body = crash_write("order", "POST", f"/orders/create/{user}", "order create")
    order = body["order_id"]
    check(count_keys("order", "order:*[^s]") == orders + 1, "order create: one order more")
    crash_write("order", "POST", f"/orders/addItem/{order}/{item}/2", "order addItem")
    found = call("GET", f"/orders/find/{order}")[1]
    check(found["items"] == [[item, 2]] and found["total_cost"] == 6,
          f"order addItem: one line ({found})")
    call("POST", f"/orders/addItem/{order}/4/1")
    crash_write("order", "DELETE", f"/orders/removeItem/{order}/4", "order removeItem")
    found = call("GET", f"/orders/find/{order}")[1]
    check(found["items"] == [[item, 2]] and found["total_cost"] == 6,
          f"order removeItem: applied once ({found})")
    crash_write("order", "POST", f"/orders/checkout/{order}", "order checkout")
    found = call("GET", f"/orders/find/{order}")[1]
    check(found["paid"] and credit_of(user) == 9 and stock_of(item) == 4,
          f"order checkout: charged and taken once (credit {credit_of(user)}, stock {stock_of(item)})")
    crash_write("order", "POST", "/orders/batch_init/5/5/5/1", "order batch_init")
    found = call("GET", "/orders/find/4")[1]
    check(found["total_cost"] == 2 and not found["paid"], "order batch_init: applied")

    return summary()


if __name__ == "__main__":
    sys.exit(main())
