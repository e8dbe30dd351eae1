#!/usr/bin/env python3
"""The stress test's populate step: the three batch_init calls, with progress.

  populate.py [GATEWAY] [--items N] [--users N] [--orders N] [--stock N] [--credit N] [--price N]

Defaults are the course's: 100000 items with 1000000 stock at price 1, 100000 users with
1000000 credit, 100000 orders (two random items each, a random user). Only the standard
library is used, so it runs without the venv.
"""

import argparse
import sys
import time
import urllib.error
import urllib.request


def post(url, timeout):
    req = urllib.request.Request(url, method="POST", data=b"")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("gateway", nargs="?", default="http://127.0.0.1:8000")
    p.add_argument("--items", type=int, default=100000)
    p.add_argument("--users", type=int, default=100000)
    p.add_argument("--orders", type=int, default=100000)
    p.add_argument("--stock", type=int, default=1000000)
    p.add_argument("--credit", type=int, default=1000000)
    p.add_argument("--price", type=int, default=1)
    p.add_argument("--timeout", type=float, default=600)
    a = p.parse_args()
    gw = a.gateway.rstrip("/")
    steps = [
        (f"{a.items} items, stock {a.stock}, price {a.price}",
         f"{gw}/stock/batch_init/{a.items}/{a.stock}/{a.price}"),
        (f"{a.users} users, credit {a.credit}",
         f"{gw}/payment/batch_init/{a.users}/{a.credit}"),
        (f"{a.orders} orders of 2 random items",
         f"{gw}/orders/batch_init/{a.orders}/{a.items}/{a.users}/{a.price}"),
    ]
    t0 = time.monotonic()
    for i, (what, url) in enumerate(steps, 1):
        print(f"[populate {i}/{len(steps)}] {what} ...", end=" ", flush=True)
        t = time.monotonic()
        try:
            status, body = post(url, a.timeout)
        except Exception as e:  # noqa: BLE001
            print(f"FAILED: {e}")
            return 1
        if not 200 <= status < 300:
            print(f"FAILED: {status} {body}")
            return 1
        print(f"ok in {time.monotonic() - t:.1f}s")
    print(f"[populate] done in {time.monotonic() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
