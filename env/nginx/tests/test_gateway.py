#!/usr/bin/env python3
"""The gateway's retry policy, against fake replicas (make gateway-test, part of make test).

Starts the real gateway the way the local stack does (`env/local/stack.sh start gateway`:
gateway.conf, routes.conf and upstreams-local.conf rendered into a temporary RUN_DIR, on a
PORT_OFFSET whose ports are all free), with two fake replicas of each service on the ports
stack.sh would give the real ones. A fake records every request it gets (method, path,
Idempotency-Key, X-Request-Id) and answers as told: 200 with a JSON body, a status of its
own, or not at all (it reads the request and closes the connection, as a process killed
mid-request does); a replica can also be down (nothing listens: refused) or hung (its
accept queue is full, so a connect times out, as to a host that vanished). Then checks what docs/design.md ("Retries through the gateway") promises:

  1. a request whose replica dies before answering is retried on the other replica, every
     method, at once (in the same pass), with the same Idempotency-Key on both tries; a
     client's own key is passed on unchanged
  2. with every replica of a service down (connection refused, or a connect that times
     out), a request waits for one to come back (200, not 502); when none comes back the
     client gets the JSON 502 after the bounded window
  3. /metrics and /health/... of the services are the gateway's JSON 404
  4. a service's own answer (503, 502) goes to the client as it is, never retried

Needs python3, nginx with the echo module, curl and bash (stack.sh). Prints PASS/FAIL per
check and "N passed, M failed"; exits non-zero when a check failed. About 15 s.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
STACK = REPO / "env" / "local" / "stack.sh"
NGINX = REPO / "env" / "nginx"

# Public ports of the replicas before PORT_OFFSET (env/local/stack.sh, public_port).
PORTS = {
    "order": (8100, 8110),
    "stock": (8200, 8210),
    "payment": (8300, 8310),
}
GATEWAY_PORT = 8000
# The pauses of the retry chain (routes.conf): 0.25 + 0.5 + 1 + 2 s.
WINDOW_S = 3.75
# proxy_connect_timeout (routes.conf).
CONNECT_TIMEOUT_S = 2.0


class Service:
    """The fake replicas of one service and what they saw."""

    def __init__(self, name: str, offset: int) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.calls: list[dict] = []
        self.drop_next = False
        self.replicas = [Replica(self, f"{name}-{i + 1}", port + offset) for i, port in enumerate(PORTS[name])]

    def reset(self, mode: str = "ok") -> None:
        with self.lock:
            self.calls.clear()
            self.drop_next = False
        for r in self.replicas:
            r.mode = mode
            r.start()

    def take_drop(self) -> bool:
        """True for the first request after drop_next was set, on whichever replica."""
        with self.lock:
            drop, self.drop_next = self.drop_next, False
            return drop


class Replica:
    def __init__(self, service: Service, name: str, port: int) -> None:
        self.service, self.name, self.port = service, name, port
        self.mode = "ok"
        self.server: ThreadingHTTPServer | None = None
        self.hung: list[socket.socket] = []

    def hang(self) -> None:
        """Listening, but with a full accept queue: a new connection's SYN is dropped and its
        connect times out."""
        self.stop()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(0)
        # Linux queues backlog + 1 connections: this one fills the queue.
        filler = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        self.hung = [listener, filler]

    def start(self) -> None:
        if self.hung:
            for s in self.hung:
                s.close()
            self.hung = []
        if self.server is not None:
            return
        replica = self

        class Handler(BaseHTTPRequestHandler):
            def handle_any(self) -> None:
                svc = replica.service
                drop = replica.mode == "drop" or svc.take_drop()
                call = {
                    "replica": replica.name,
                    "method": self.command,
                    "path": self.path,
                    "key": self.headers.get("Idempotency-Key"),
                    "request_id": self.headers.get("X-Request-Id"),
                    "dropped": drop,
                }
                with svc.lock:
                    svc.calls.append(call)
                if drop:
                    # As a killed process: the request was read, no answer, the socket closes.
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if replica.mode.startswith("status:"):
                    status = int(replica.mode.split(":")[1])
                    body = {"error": f"{replica.name} answers {status} itself"}
                else:
                    status, body = 200, {"replica": replica.name, "path": self.path}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = handle_any

            def finish(self) -> None:
                try:
                    super().finish()
                except OSError:
                    pass

            def log_message(self, *args) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        for s in self.hung:
            s.close()
        self.hung = []
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def pick_offset() -> int:
    """A PORT_OFFSET whose gateway and replica ports are all free."""
    needed = [GATEWAY_PORT] + [p for ports in PORTS.values() for p in ports]
    for _ in range(200):
        off = random.randrange(20000, 50000, 10)
        if all(free(p + off) for p in needed):
            return off
    sys.exit("no free ports for the gateway test")


class Gateway:
    def __init__(self, offset: int, run_dir: str) -> None:
        self.port = GATEWAY_PORT + offset
        self.env = dict(
            os.environ,
            RUN_DIR=run_dir,
            PORT_OFFSET=str(offset),
            ORDER_REPLICAS="2",
            STOCK_REPLICAS="2",
            PAYMENT_REPLICAS="2",
            WAIT_TIMEOUT="20",
        )
        self.log = Path(run_dir) / "logs" / "gateway.log"

    def stack(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(STACK), *args], env=self.env, capture_output=True, text=True, timeout=60)

    def request(self, method: str, path: str, headers: dict | None = None) -> tuple[int, dict | str, float]:
        """(status, JSON body or text, seconds)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        t0 = time.monotonic()
        try:
            conn.request(method, path, headers=headers or {})
            resp = conn.getresponse()
            raw = resp.read().decode(errors="replace")
            status = resp.status
        finally:
            conn.close()
        elapsed = time.monotonic() - t0
        try:
            return status, json.loads(raw), elapsed
        except ValueError:
            return status, raw, elapsed


PASSED = 0
FAILED = 0


def check(desc: str, ok: bool, detail: str = "") -> None:
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print(f"PASS  {desc}")
    else:
        FAILED += 1
        print(f"FAIL  {desc}")
        if detail:
            print(f"      {detail}")


def retried_on_the_other_replica(gw: Gateway, svc: Service, method: str, path: str, stripped: str, client_key: str | None = None) -> None:
    svc.reset()
    svc.drop_next = True
    headers = {"Idempotency-Key": client_key} if client_key else {}
    status, body, elapsed = gw.request(method, path, headers)
    calls = list(svc.calls)
    keys = {c["key"] for c in calls}
    what = f"{method} {path}" + (f" (client key {client_key})" if client_key else "")
    check(
        f"{what}: the replica that dies mid-request is replaced by the other one at once (200 in {elapsed * 1000:.0f} ms)",
        status == 200
        and elapsed < 0.2
        and len(calls) == 2
        and calls[0]["dropped"]
        and not calls[1]["dropped"]
        and calls[0]["replica"] != calls[1]["replica"]
        and all(c["path"] == stripped for c in calls),
        f"answer {status} {body}; calls {calls}",
    )
    if client_key:
        check(f"{what}: both tries carry the client's own Idempotency-Key unchanged", keys == {client_key}, f"keys {keys}")
    else:
        ids = {c["request_id"] for c in calls}
        check(
            f"{what}: both tries carry the same Idempotency-Key, the gateway's request id",
            len(keys) == 1 and None not in keys and keys == ids and re.fullmatch(r"[0-9a-f]{32}", next(iter(keys)) or ""),
            f"keys {keys}, request ids {ids}",
        )


def waits_for_a_restart(gw: Gateway, svc: Service) -> None:
    svc.reset()
    for r in svc.replicas:
        r.stop()
    back = threading.Timer(1.0, svc.replicas[0].start)
    back.start()
    status, body, elapsed = gw.request("POST", "/stock/add/1/5")
    back.join()
    calls = list(svc.calls)
    check(
        f"every stock replica down, one back after 1 s: the request waited {elapsed:.2f} s and got its 200, not a 502",
        status == 200 and 1.0 <= elapsed <= 1.0 + WINDOW_S and len(calls) == 1 and calls[0]["key"],
        f"answer {status} {body} after {elapsed:.2f} s; calls {calls}",
    )


def waits_when_every_connect_times_out(gw: Gateway, svc: Service) -> None:
    """A pass whose tries all time out on connect ends in nginx's 504: the chain goes on."""
    svc.reset()
    for r in svc.replicas:
        r.hang()
    # After both tries of the first pass began (and cannot succeed any more), before it ends.
    unhang = 1.5 * CONNECT_TIMEOUT_S + 0.5
    back = threading.Timer(unhang, lambda: [r.start() for r in svc.replicas])
    back.start()
    status, body, elapsed = gw.request("GET", "/stock/find/1")
    back.join()
    log = gw.log.read_text(errors="replace")
    timed_out = len(re.findall(r"upstream timed out .* while connecting to upstream.*GET /stock/find/1", log))
    check(
        f"every stock replica hung (connect times out): after the pass's 504 the next pass got the 200 ({elapsed:.2f} s)",
        status == 200
        and timed_out >= 2
        and 2 * CONNECT_TIMEOUT_S <= elapsed <= 2 * CONNECT_TIMEOUT_S + 1.5,
        f"answer {status} {body} after {elapsed:.2f} s; {timed_out} connect timeouts logged",
    )


def gives_up_after_the_window(gw: Gateway, svc: Service) -> None:
    svc.reset()
    for r in svc.replicas:
        r.stop()
    status, body, elapsed = gw.request("POST", "/payment/pay/1/1")
    check(
        f"every payment replica down for good: the JSON 502 after {elapsed:.2f} s (window {WINDOW_S} s)",
        status == 502
        and isinstance(body, dict)
        and body.get("error") == "the service is unreachable"
        and WINDOW_S - 0.25 <= elapsed <= WINDOW_S + 2.0,
        f"answer {status} {body} after {elapsed:.2f} s",
    )
    svc.reset()


def not_public(gw: Gateway, services: dict[str, Service]) -> None:
    for svc in services.values():
        svc.reset()
    paths = [
        "/stock/metrics",
        "/stock/health/ready",
        "/stock/health/live",
        "/stock/health",
        "/payment/metrics",
        "/payment/health/ready",
        "/orders/metrics",
        "/orders/health/live",
        "/stock/%6Detrics",
        "/stock/find/../metrics",
    ]
    for path in paths:
        status, body, _ = gw.request("GET", path)
        check(
            f"GET {path} is the gateway's JSON 404",
            status == 404 and isinstance(body, dict) and body.get("error") == "no route for this path",
            f"answer {status} {body}",
        )
    seen = [c for svc in services.values() for c in svc.calls]
    check("no service saw any of those requests", not seen, f"calls {seen}")
    status, body, _ = gw.request("GET", "/stock/find/metrics")
    check(
        "GET /stock/find/metrics (an item id) is routed: only the prefix's own routes are refused",
        status == 200 and isinstance(body, dict) and body.get("path") == "/find/metrics",
        f"answer {status} {body}",
    )
    status, body, _ = gw.request("GET", "/stock/find/a%0Ab")
    check(
        "GET /stock/find/a%0Ab (a newline in a parameter) reaches stock without its prefix",
        status == 200 and isinstance(body, dict) and str(body.get("path", "")).startswith("/find/a"),
        f"answer {status} {body}",
    )
    status, body, _ = gw.request("GET", "/gateway/health")
    check("GET /gateway/health answers 200", status == 200, f"answer {status} {body}")


def service_answers_pass_through(gw: Gateway, svc: Service, code: int) -> None:
    svc.reset(f"status:{code}")
    status, body, elapsed = gw.request("POST", "/stock/add/1/5")
    calls = list(svc.calls)
    check(
        f"a service's own {code} goes to the client as it is, tried once ({elapsed:.2f} s)",
        status == code
        and isinstance(body, dict)
        and "answers" in body.get("error", "")
        and len(calls) == 1,
        f"answer {status} {body}; calls {calls}",
    )
    svc.reset()


def docs_unchanged(gw: Gateway, svc: Service) -> None:
    svc.reset()
    status, body, _ = gw.request("GET", "/docs/openapi.json")
    check(
        "GET /docs/openapi.json reaches the order service with its path unchanged",
        status == 200 and isinstance(body, dict) and body.get("path") == "/docs/openapi.json",
        f"answer {status} {body}",
    )


def main_files_agree() -> None:
    """The http-level parts routes.conf needs are the same in both main files."""

    def parts(name: str) -> tuple[list[str], str]:
        text = (NGINX / name).read_text()
        modules = re.findall(r"^load_module .*;$", text, re.M)
        m = re.search(r"^\s*map \$http_idempotency_key \$idempotency_key \{.*?\}", text, re.M | re.S)
        return modules, re.sub(r"\s+", " ", m.group(0)).strip() if m else ""

    local, compose = parts("gateway.conf"), parts("gateway-compose.conf")
    check(
        "gateway.conf and gateway-compose.conf load the echo module and map $idempotency_key alike",
        local == compose and local[0] and local[1],
        f"local {local}; compose {compose}",
    )
    routes = (NGINX / "routes.conf").read_text()
    policies = re.findall(r"^\s*proxy_next_upstream\s+([^;]*);", routes, re.M)
    check(
        "routes.conf sets one retry policy for every location (error timeout non_idempotent)",
        policies == ["error timeout non_idempotent"],
        f"proxy_next_upstream lines: {policies}",
    )


def main() -> int:
    offset = pick_offset()
    run_dir = tempfile.mkdtemp(prefix="gateway-test-")
    gw = Gateway(offset, run_dir)
    services = {name: Service(name, offset) for name in PORTS}
    print(f"gateway test: gateway on 127.0.0.1:{gw.port} (PORT_OFFSET={offset}, RUN_DIR={run_dir})")
    t0 = time.monotonic()
    started = gw.stack("start", "gateway")
    try:
        if started.returncode != 0:
            check("the gateway starts (stack.sh start gateway)", False, started.stderr.strip())
            return 1
        for svc in services.values():
            svc.reset()
        stock, payment, order = services["stock"], services["payment"], services["order"]
        retried_on_the_other_replica(gw, stock, "POST", "/stock/add/1/5", "/add/1/5")
        retried_on_the_other_replica(gw, stock, "POST", "/stock/subtract/1/1", "/subtract/1/1", client_key="client-key-42")
        retried_on_the_other_replica(gw, payment, "GET", "/payment/find_user/u1", "/find_user/u1")
        retried_on_the_other_replica(gw, order, "DELETE", "/orders/removeItem/o1/i1", "/removeItem/o1/i1")
        retried_on_the_other_replica(gw, order, "POST", "/orders/checkout/o1", "/checkout/o1")
        waits_for_a_restart(gw, stock)
        waits_when_every_connect_times_out(gw, stock)
        gives_up_after_the_window(gw, payment)
        not_public(gw, services)
        service_answers_pass_through(gw, stock, 503)
        service_answers_pass_through(gw, stock, 502)
        docs_unchanged(gw, order)
        main_files_agree()
        log = gw.log.read_text(errors="replace") if gw.log.exists() else ""
        check(
            "no internal redirection cycle in the gateway's log (the chain fits nginx's 10 redirects)",
            "redirection cycle" not in log,
            "\n".join(line for line in log.splitlines() if "cycle" in line)[:500],
        )
    finally:
        stopped = gw.stack("down")
        for svc in services.values():
            for r in svc.replicas:
                r.stop()
        if stopped.returncode != 0:
            print(stopped.stderr, file=sys.stderr)
    print(f"{PASSED} passed, {FAILED} failed ({time.monotonic() - t0:.1f} s)")
    if FAILED == 0:
        subprocess.run(["rm", "-rf", run_dir], check=False)
    else:
        print(f"gateway log: {gw.log}")
    return 0 if FAILED == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
