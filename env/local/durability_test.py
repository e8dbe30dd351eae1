#!/usr/bin/env python3
"""Durability test: no acknowledged write is lost when the Redis node that holds it dies.

Against a running stack whose services keep their data in Redis Clusters (docs/design.md,
"Storage: a Redis Cluster per service"). Creates one stock item and one user through the gateway and finds the
master that owns each one's key slot (keys are hash-tagged, `item:{<id>}` in stock's
cluster, `user:{<id>}` in payment's: `CLUSTER KEYSLOT`, then the master serving that slot
in `CLUSTER NODES`). Then two passes, each of PER_PASS `POST /stock/add/<item>/1` and as
many `POST /payment/add_funds/<user>/1`, sent by WORKERS concurrent workers, every write
with its own Idempotency-Key and, when it fails (a 5xx, no answer), sent again with the same
key until it is answered 2xx (each write within RETRY_SECS, else the test fails):

  1. "master": once a third of the writes are acknowledged, the master owning the item's
     slot is SIGKILLed, at two thirds the user's; its replica takes over;
  2. "replica": the same with a replica of each owning master (the master then
     acknowledges with its own AOF only).

After every write of a pass is acknowledged: stock and credit must equal exactly the
writes acknowledged so far (each applied once), and a repeat of a few keys answers 2xx and
changes nothing; then the victims are started again, must have rejoined their cluster as
replicas (the cluster whole again), and the values are read again. Prints progress, a
summary table (acknowledged, retried, final value, expected, the longest pause without an
acknowledgement: the failover as the client saw it) and "N passed, M failed"; exit 1 when a
check failed, 2 when the stack is not there.

    env/local/durability_test.py                 local stack (GATEWAY, RUN_DIR, PORT_OFFSET
                                                 as for stack.sh; REDIS_PASSWORD if any)
    env/local/durability_test.py --docker PROJ   compose project PROJ (GATEWAY, REDIS_PASSWORD)

PER_PASS (400), WORKERS (8), RETRY_SECS (30), PASS_SECS (6: the writes of a pass are
paced over this long, so that the kills come while they run) from the environment.
"""

import os
import random
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid

from harness import OFFSET, REDIS_BASE_PORT, RUN_DIR, call, check, require_gateway, stack, summary

PASSWORD = os.environ.get("REDIS_PASSWORD", "")
PER_PASS = int(os.environ.get("PER_PASS", "400"))
WORKERS = int(os.environ.get("WORKERS", "8"))
RETRY_SECS = float(os.environ.get("RETRY_SECS", "30"))
PASS_SECS = float(os.environ.get("PASS_SECS", "6"))
WHOLE_SECS = 90


def unavailable(msg):
    """The stack under test is not there: exit 2."""
    print(msg, file=sys.stderr, flush=True)
    raise SystemExit(2)


def log(msg):
    print(f"[durability {time.monotonic() - T0:6.1f}s] {msg}", flush=True)


T0 = time.monotonic()

# ---- the gateway -------------------------------------------------------------------------


def acknowledged(method, path, key):
    """Sends the write until it is answered 2xx, always with the same key. Returns
    (attempts, status, body); a 4xx is final (a repeat would get the same answer)."""
    deadline = time.monotonic() + RETRY_SECS
    attempts = 0
    while True:
        attempts += 1
        status, body = call(method, path, key, timeout=15)
        if 200 <= status < 500 or time.monotonic() >= deadline:
            return attempts, status, body
        time.sleep(0.2)


def read(path, field):
    """A read through the gateway, retried for a while (a read has no effect)."""
    status, body = 0, None
    for _ in range(50):
        status, body = call("GET", path, timeout=15)
        if status == 200:
            return body[field]
        time.sleep(0.2)
    raise SystemExit(f"GET {path} kept failing: {status} {body}")


# ---- the clusters --------------------------------------------------------------------------


class Node:
    """One Redis node: its name (redis-stock-2), the command that runs a shell command line
    where redis-cli reaches it (`sh -c`, or `docker exec <container> sh -c`), the redis-cli
    words that address it, and how to kill and start it."""

    MARK = "--wdm-probe--"

    def __init__(self, name, shell, redis_cli, kill, start):
        self.name, self.shell, self.redis_cli = name, shell, redis_cli
        self.kill, self.start = kill, start

    def run(self, *commands):
        """The outputs of redis-cli commands (lists of words) run in one shell on the node
        (one docker exec), or None when it cannot be run."""
        line = f"; echo {self.MARK}; ".join(
            " ".join(shlex.quote(w) for w in self.redis_cli + list(c)) for c in commands)
        env = dict(os.environ, REDISCLI_AUTH=PASSWORD) if PASSWORD else None
        try:
            done = subprocess.run(self.shell + [line], capture_output=True, text=True, timeout=15, env=env)
        except subprocess.TimeoutExpired:
            return None
        if done.returncode != 0 and not done.stdout:
            return None
        return [part.strip() for part in done.stdout.split(self.MARK)]

    def cli(self, *args):
        """One redis-cli command's output, or None when the node does not answer it."""
        out = self.run(args)
        return out[0] if out and out[0] and not out[0].startswith(("Could not connect", "ERR", "NOAUTH",
                                                                   "LOADING", "Error")) else None


def local_nodes(service):
    pattern = re.compile(rf"^redis-{service}-([0-9]+)\.pid$")
    found = sorted((int(m.group(1)), m.group(0)[:-4]) for m in
                   map(pattern.match, os.listdir(os.path.join(RUN_DIR, "pids"))) if m)

    def kill(name):
        # The signal at once by its pid file (stack.sh kill takes seconds on a loaded
        # machine, and the kill must land while the writes run), then stack.sh's bookkeeping.
        with open(os.path.join(RUN_DIR, "pids", f"{name}.pid")) as f:
            os.kill(int(f.read().strip()), signal.SIGKILL)
        stack("kill", name)

    return [Node(name, ["sh", "-c"], ["redis-cli", "-h", "127.0.0.1", "-p", str(REDIS_BASE_PORT[service] + n - 1 + OFFSET)],
                 lambda name=name: kill(name), lambda name=name: stack("start", name))
            for n, name in found]


def docker_nodes(project, service):
    out = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={project}",
         "--format", '{{.Names}}\t{{.Label "com.docker.compose.service"}}'],
        check=True, capture_output=True, text=True).stdout
    pattern = re.compile(rf"^redis-{service}-([0-9]+)$")
    found = sorted((int(m.group(1)), svc, name) for name, svc in
                   (line.split("\t") for line in out.splitlines() if "\t" in line)
                   if (m := pattern.match(svc)))
    auth = ["-e", f"REDISCLI_AUTH={PASSWORD or 'wdm-redis-password'}"]

    def docker(*args):
        subprocess.run(["docker", *args], check=True, capture_output=True)

    return [Node(svc, ["docker", "exec", *auth, name, "sh", "-c"], ["redis-cli"],
                 lambda name=name: docker("kill", name), lambda name=name: docker("start", name))
            for _, svc, name in found]


def parse_nodes(text):
    """CLUSTER NODES as dicts: id, flags, master (id or None), connected, slots [(lo, hi)]."""
    nodes = []
    for line in (text or "").splitlines():
        f = line.split()
        if len(f) < 8:
            continue
        slots = []
        for s in f[8:]:
            if s.startswith("["):
                continue  # a slot being migrated
            lo, _, hi = s.partition("-")
            slots.append((int(lo), int(hi or lo)))
        nodes.append({"id": f[0], "addr": f[1], "flags": f[2].split(","),
                      "master": None if f[3] == "-" else f[3],
                      "connected": f[7] == "connected", "slots": slots})
    return nodes


def failing(n):
    return not n["connected"] or any(f in n["flags"] for f in ("fail", "fail?", "noaddr", "handshake"))


def info_field(text, field):
    for line in (text or "").splitlines():
        k, _, v = line.strip().partition(":")
        if k == field:
            return v
    return None


class Cluster:
    def __init__(self, service, nodes):
        if not nodes:
            unavailable(f"no Redis Cluster nodes of {service} found (is the stack up? does it run clusters?)")
        self.service, self.nodes = service, nodes
        self.ids = {}

    def first(self, *args):
        """The answer of the first node (in order) that answers the command."""
        for n in self.nodes:
            out = n.cli(*args)
            if out:
                return out
        raise SystemExit(f"no node of {self.service}'s cluster answers {' '.join(args)}")

    def node_of(self, node_id):
        """The node whose CLUSTER MYID is node_id (asked once per node)."""
        if node_id not in self.ids.values():
            for n in self.nodes:
                if self.ids.get(n.name) is None:
                    self.ids[n.name] = (n.cli("cluster", "myid") or "").strip() or None
        return next(n for n in self.nodes if self.ids.get(n.name) == node_id)

    def view(self):
        return parse_nodes(self.first("cluster", "nodes"))

    def slot(self, key):
        return int(self.first("cluster", "keyslot", key).strip())

    def owner(self, key):
        """The node that is master of key's slot now."""
        slot = self.slot(key)
        for n in self.view():
            if "master" in n["flags"] and not failing(n) and any(lo <= slot <= hi for lo, hi in n["slots"]):
                return self.node_of(n["id"])
        raise SystemExit(f"no live master of {self.service}'s cluster serves slot {slot}")

    def wait_failover(self, key, victim):
        """Waits until another node is master of key's slot (the victim was its master)."""
        deadline = time.monotonic() + WHOLE_SECS
        while True:
            try:
                if self.owner(key) is not victim:
                    return
            except SystemExit:
                pass  # no live master serves it yet
            if time.monotonic() > deadline:
                raise SystemExit(f"no failover of {victim.name} in {self.service}'s cluster after {WHOLE_SECS}s")
            time.sleep(0.2)

    def replica_of(self, master):
        master_id = self.ids[master.name]
        replicas = [n for n in self.view() if n["master"] == master_id and not failing(n)]
        if not replicas:
            raise SystemExit(f"{master.name} has no replica to kill")
        return self.node_of(random.choice(replicas)["id"])

    def not_whole(self):
        """Why the cluster is not whole (stack.sh's rule), or None."""
        for n in self.nodes:
            out = n.run(["ping"], ["cluster", "info"], ["cluster", "nodes"], ["info", "replication"])
            if not out or len(out) != 4 or out[0] != "PONG":
                return f"{n.name} does not answer"
            _, info, nodes, repl = out
            if info_field(info, "cluster_state") != "ok" or info_field(info, "cluster_slots_ok") != "16384":
                return f"{n.name}: cluster_state:{info_field(info, 'cluster_state')}"
            view = parse_nodes(nodes)
            bad = [v["addr"] for v in view if failing(v)]
            if bad:
                return f"{n.name} sees {bad} failing"
            if not all("master" in v["flags"] for v in view):
                for m in (v for v in view if "master" in v["flags"] and v["slots"]):
                    if not any(r["master"] == m["id"] for r in view):
                        return f"master {m['addr']} has no replica"
            if info_field(repl, "role") == "slave" and info_field(repl, "master_link_status") != "up":
                return f"{n.name}: master_link_status:{info_field(repl, 'master_link_status')}"
        return None

    def wait_whole(self):
        deadline = time.monotonic() + WHOLE_SECS
        while (why := self.not_whole()) is not None:
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.service}'s cluster not whole after {WHOLE_SECS}s: {why}")
            time.sleep(0.3)


# ---- the passes ----------------------------------------------------------------------------


class Stream:
    """One kind of write in one pass: its path, its keys, and what each got."""

    def __init__(self, what, path, count):
        self.what, self.path = what, path
        self.keys = [f"durability-{uuid.uuid4()}" for _ in range(count)]
        self.acks = []  # monotonic times of the acknowledgements
        self.retried = self.attempts = 0
        self.refused = []  # (key, status, body) of writes never answered 2xx
        self.lock = threading.Lock()
        self.victim = "-"

    def send(self, key):
        attempts, status, body = acknowledged("POST", self.path, key)
        with self.lock:
            self.attempts += attempts
            self.retried += attempts > 1
            if 200 <= status < 300:
                self.acks.append(time.monotonic())
            else:
                self.refused.append((key, status, body))

    def acked(self):
        with self.lock:
            return len(self.acks)

    def longest_pause(self, start):
        times = [start] + sorted(self.acks)
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)


def run_writes(streams, kills):
    """Sends every stream's writes from WORKERS threads, paced over PASS_SECS (a write
    whose time has come waits only for a free worker, so a backlog after a pause is sent at
    once); kills[i] = (stream, share, kill): once that share of the stream's writes is
    acknowledged, kill() runs (it returns the victim's description), while the writes go
    on. Returns the start time."""
    step = PASS_SECS / max(len(s.keys) for s in streams)
    jobs = sorted(((i * step, n, s, k) for n, s in enumerate(streams) for i, k in enumerate(s.keys)),
                  key=lambda j: j[:2], reverse=True)
    lock = threading.Lock()
    start = time.monotonic()

    def worker():
        while True:
            with lock:
                if not jobs:
                    return
                at, _, stream, key = jobs.pop()
            time.sleep(max(0.0, start + at - time.monotonic()))
            stream.send(key)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    def killing(stream, kill):
        at = stream.acked()
        stream.victim = kill()
        log(f"{stream.what}: SIGKILL {stream.victim} ({at} acknowledged when its turn came)")

    # Each kill in a thread of its own: finding the victim takes a while (docker exec), and
    # the next kill's turn must not wait for it.
    pending, killers, last_report = list(kills), [], 0.0
    while any(t.is_alive() for t in threads):
        for stream, share, kill in list(pending):
            if stream.acked() >= share * len(stream.keys):
                pending.remove((stream, share, kill))
                killers.append(threading.Thread(target=killing, args=(stream, kill)))
                killers[-1].start()
        if time.monotonic() - last_report >= 1:
            last_report = time.monotonic()
            log("  " + ", ".join(f"{s.what} {s.acked()}/{len(s.keys)} acknowledged ({s.retried} retried)"
                                 for s in streams))
        time.sleep(0.01)
    for k in killers:
        k.join()
    for stream, share, kill in pending:
        stream.victim = kill()
        log(f"{stream.what}: SIGKILL {stream.victim} after every write (it never reached {share:.0%})")
    return start


def role_of(node):
    out = node.cli("role")
    return (out or "").split("\n", 1)[0].strip() or "no answer"


def one_pass(label, targets, totals):
    """targets: [(stream, cluster, key, pick, value)]: pick(cluster, key) is the node to
    kill, value() the entity's value now. totals: what each stream's entity holds before
    the pass (updated). Returns the pass's rows of the summary table."""
    log(f"pass '{label}': {PER_PASS} writes of each kind, {WORKERS} workers")
    victims = []

    def killer(cluster, key, pick):
        # Found before the writes start (nothing changes roles until the kill), so that the
        # kill itself is only the signal and comes while the writes run.
        node = pick(cluster, key)
        role = role_of(node)

        def kill():
            node.kill()
            victims.append((cluster, key, node, role))
            return f"{node.name} ({'replica' if role == 'slave' else role})"
        return kill

    kills = [(s, (i + 1) / (len(targets) + 1), killer(c, k, p)) for i, (s, c, k, p, _) in enumerate(targets)]
    start = run_writes([t[0] for t in targets], kills)
    rows = []
    for stream, cluster, key, pick, value in targets:
        check(not stream.refused,
              f"{label} {stream.what}: every write acknowledged within {RETRY_SECS:.0f} s "
              f"({len(stream.refused)} not: {stream.refused[:3]})")
        totals[stream.what] += stream.acked()
        expected = totals[stream.what]
        got = value()
        check(got == expected, f"{label} {stream.what}: value {got} == {expected} acknowledged, each once")
        repeats = random.sample(stream.keys, min(5, len(stream.keys)))
        answers = [acknowledged("POST", stream.path, k)[1] for k in repeats]
        check(all(200 <= a < 300 for a in answers) and value() == expected,
              f"{label} {stream.what}: {len(repeats)} repeats with their keys answered {answers}, "
              f"value still {expected}")
        rows.append([label, stream.what, stream.victim, stream.acked(), stream.retried,
                     stream.attempts, got, expected, f"{stream.longest_pause(start):.2f}"])
    for cluster, key, node, role in victims:
        if role == "master":
            # Started before the cluster noticed, it would simply be the master again.
            cluster.wait_failover(key, node)
        log(f"starting {node.name} again")
        node.start()
        cluster.wait_whole()
        now = role_of(node)
        check(now == "slave", f"{label}: {node.name} rejoined {cluster.service}'s cluster as a replica ({now})")
    for row, (stream, _, _, _, value) in zip(rows, targets):
        got = value()
        check(got == totals[stream.what],
              f"{label} {stream.what}: value {got} == {totals[stream.what]} after the victim is back")
        row.append(got)
    return rows


def print_table(rows):
    head = ["pass", "write", "victim (role)", "acked", "retried", "attempts", "value",
            "expected", "pause s", "after restart"]
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)))


def main():
    docker = None
    if len(sys.argv) == 3 and sys.argv[1] == "--docker":
        docker = sys.argv[2]
    elif len(sys.argv) != 1:
        print(__doc__)
        return 2
    require_gateway()
    nodes = (lambda s: docker_nodes(docker, s)) if docker else local_nodes
    stock, payment = Cluster("stock", nodes("stock")), Cluster("payment", nodes("payment"))
    for c in (stock, payment):
        c.wait_whole()
    log(f"clusters whole: stock {[n.name for n in stock.nodes]}, payment {[n.name for n in payment.nodes]}")

    _, status, body = acknowledged("POST", "/stock/item/create/1", f"durability-{uuid.uuid4()}")
    if status != 200:
        unavailable(f"item create answered {status} {body}")
    item = body["item_id"]
    _, status, body = acknowledged("POST", "/payment/create_user", f"durability-{uuid.uuid4()}")
    if status != 200:
        unavailable(f"create_user answered {status} {body}")
    user = body["user_id"]
    item_key, user_key = f"item:{{{item}}}", f"user:{{{user}}}"
    for c, key in ((stock, item_key), (payment, user_key)):
        log(f"{key} is in slot {c.slot(key)}, owned by {c.owner(key).name}")

    def stock_now():
        return read(f"/stock/find/{item}", "stock")

    def credit_now():
        return read(f"/payment/find_user/{user}", "credit")

    def master(cluster, key):
        return cluster.owner(key)

    def replica(cluster, key):
        return cluster.replica_of(cluster.owner(key))

    totals = {"stock/add": 0, "payment/add_funds": 0}
    rows = []
    for label, pick in (("master", master), ("replica", replica)):
        targets = [
            (Stream("stock/add", f"/stock/add/{item}/1", PER_PASS), stock, item_key, pick, stock_now),
            (Stream("payment/add_funds", f"/payment/add_funds/{user}/1", PER_PASS), payment, user_key, pick,
             credit_now),
        ]
        rows += one_pass(label, targets, totals)
    print_table(rows)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
