"""What the local stack's Python tests share (crash_test.py, durability_test.py): where
the stack is, one request through its gateway, stack.sh, and the tally of checks."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
STACK = os.path.join(HERE, "stack.sh")
REPO = os.path.dirname(os.path.dirname(HERE))
RUN_DIR = os.environ.get("RUN_DIR", os.path.join(REPO, "run"))
OFFSET = int(os.environ.get("PORT_OFFSET", "0"))
GATEWAY = os.environ.get("GATEWAY", f"http://127.0.0.1:{8000 + OFFSET}").rstrip("/")
# The first port of each service's Redis Cluster nodes as stack.sh runs them (node n is
# base + n - 1, before PORT_OFFSET; env/local/redis-cluster.sh).
REDIS_BASE_PORT = {"order": 6400, "stock": 6410, "payment": 6420}

passed = failed = 0


def check(ok, what):
    """Prints PASS or FAIL for one check and counts it; returns `ok`."""
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {what}", flush=True)
    else:
        failed += 1
        print(f"FAIL {what}", flush=True)
    return ok


def summary():
    """Prints "N passed, M failed" and returns the exit code: 1 when a check failed."""
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def call(method, path, key=None, timeout=60):
    """(status, JSON body or None) of one request through the gateway, sent once, with
    `key` as its Idempotency-Key when given; status 0 (and the error) when no answer came."""
    req = urllib.request.Request(GATEWAY + path, method=method)
    if key is not None:
        req.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except (OSError, urllib.error.URLError) as e:
        return 0, str(e)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


def require_gateway():
    """Exits 2 (the stack under test is not there) unless the gateway answers below 500."""
    status, _ = call("GET", "/stock/find/none", timeout=15)
    if status == 0 or status >= 500:
        print(f"the gateway at {GATEWAY} does not answer ({status})", file=sys.stderr, flush=True)
        raise SystemExit(2)


def stack(*args, env=None):
    """Runs stack.sh quietly (this RUN_DIR and PORT_OFFSET, plus `env`); its output is
    shown only when it fails."""
    full = dict(os.environ, RUN_DIR=RUN_DIR, PORT_OFFSET=str(OFFSET), **(env or {}))
    done = subprocess.run([STACK, *args], env=full, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout + done.stderr, file=sys.stderr)
        raise SystemExit(f"stack.sh {' '.join(args)} failed ({done.returncode})")
