"""The chaos report's load: checkout workers plus steady reads of every service, all real
public requests through the gateway.

- Workers (closed loop, fixed concurrency): each runs one fresh checkout after another:
  create a user and fund it, create an item and stock it, create an order, add the item,
  check out, then read the item and the user back. Credit and stock are far beyond what the
  checkout needs, so every answer should be a 2xx with the expected body; anything else (a
  4xx, a 5xx, a connection error, a timeout, a read-back that does not show the checkout
  exactly once) is an error, and the worker abandons that checkout and starts a new one.
- Probes (open loop): per service, reads of PROBE_KEYS entities made at the start (find
  the user, the item, the order), each at a fixed rate, sent whether or not the earlier
  ones have answered. Workers stuck
  in one service stop asking the others; the probes do not, so the longest time without a
  successful answer from a service (or for one entity: one Redis master's share of the keys)
measures that service, not where the workers happen to be.

Every request becomes one `Sample`; nothing here retries a request itself, so the samples
show what a client of the gateway sees.
"""

import asyncio
import json
import random
import time

import aiohttp

from chaos_summary import Sample

FUNDS = 1_000_000
STOCK = 1_000_000
PROBE_PRICE = 3
MAX_PROBES_IN_FLIGHT = 600
# Entities probed per service, each on its own: with Redis Cluster each lives on one master,
# and several of them are likely to cover every master of the service.
PROBE_KEYS = 6


class StepFailed(Exception):
    """A step's answer was not the expected 2xx: the worker abandons this checkout."""


class Load:
    """The workers, the probes and their samples; `start` sets up and launches them, `stop`
    waits for the requests in flight."""

    def __init__(self, gateway: str, workers: int, pause: float, probe_rate: float,
                 timeout: float, t0: float):
        self.gateway = gateway.rstrip("/")
        self.workers = workers
        self.pause = pause
        self.probe_rate = probe_rate
        self.timeout = timeout
        self.t0 = t0
        self.samples: list[Sample] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._probes: set[asyncio.Task] = set()
        self._sessions: list[aiohttp.ClientSession] = []

    def now(self) -> float:
        return time.monotonic() - self.t0

    def _session(self, limit: int) -> aiohttp.ClientSession:
        s = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit),
                                  timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._sessions.append(s)
        return s

    async def start(self) -> None:
        """Creates the probes' users, items and orders (raises StepFailed when it cannot),
        then launches the workers and the probes."""
        workers = self._session(self.workers * 2)
        probes = self._session(MAX_PROBES_IN_FLIGHT)
        self._tasks = []
        for n in range(PROBE_KEYS if self.probe_rate > 0 else 0):
            self._tasks += [asyncio.create_task(self._prober(probes, path, check, f"probe-{n}"))
                            for path, check in await self._probe_targets(workers)]
        self._tasks += [asyncio.create_task(self._worker(workers, i)) for i in range(self.workers)]

    async def _probe_targets(self, session):
        """One user, item and order for the probes, and the check of each one's read."""
        user = await self._step(session, "POST", "/payment/create_user", "setup", want="user_id")
        await self._step(session, "POST", f"/payment/add_funds/{user}/{FUNDS}", "setup")
        item = await self._step(session, "POST", f"/stock/item/create/{PROBE_PRICE}", "setup", want="item_id")
        await self._step(session, "POST", f"/stock/add/{item}/{STOCK}", "setup")
        order = await self._step(session, "POST", f"/orders/create/{user}", "setup", want="order_id")
        await self._step(session, "POST", f"/orders/addItem/{order}/{item}/1", "setup")
        return [
            (f"/payment/find_user/{user}", lambda b: b.get("credit") == FUNDS),
            (f"/stock/find/{item}", lambda b: b.get("stock") == STOCK and b.get("price") == PROBE_PRICE),
            (f"/orders/find/{order}",
             lambda b: b.get("paid") is False and b.get("total_cost") == PROBE_PRICE and b.get("user_id") == user),
        ]

    async def stop(self) -> None:
        """Lets every request in flight finish (bounded by its timeout), then closes."""
        self._stop.set()
        pending = self._tasks + list(self._probes)
        if pending:
            await asyncio.wait(pending, timeout=self.timeout + 5)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for s in self._sessions:
            await s.close()

    async def _worker(self, session, idx: int) -> None:
        rng = random.Random(idx)
        # Spread the workers' first checkouts over a second, so they do not move in step.
        await asyncio.sleep(rng.random())
        while not self._stop.is_set():
            try:
                await self._checkout(session, rng)
            except StepFailed:
                await asyncio.sleep(self.pause)

    async def _checkout(self, session, rng: random.Random) -> None:
        async def step(method, path, kind, **kw):
            if self.pause:
                # Jittered, so that the workers do not go through the steps in lockstep.
                await asyncio.sleep(self.pause * rng.uniform(0.5, 1.5))
            return await self._step(session, method, path, kind, **kw)

        price = rng.randint(1, 9)
        user = await step("POST", "/payment/create_user", "create_user", want="user_id")
        await step("POST", f"/payment/add_funds/{user}/{FUNDS}", "add_funds")
        item = await step("POST", f"/stock/item/create/{price}", "create_item", want="item_id")
        await step("POST", f"/stock/add/{item}/{STOCK}", "add_stock")
        order = await step("POST", f"/orders/create/{user}", "create_order", want="order_id")
        await step("POST", f"/orders/addItem/{order}/{item}/1", "add_item")
        await step("POST", f"/orders/checkout/{order}", "checkout")
        await step("GET", f"/stock/find/{item}", "find_item",
                   check=lambda b: b.get("stock") == STOCK - 1 and b.get("price") == price)
        await step("GET", f"/payment/find_user/{user}", "find_user",
                   check=lambda b: b.get("credit") == FUNDS - price)

    async def _prober(self, session, path: str, check, kind: str) -> None:
        """Sends GET path every 1/probe_rate s, never waiting for an answer (open loop)."""
        period = 1 / self.probe_rate
        due = time.monotonic() + random.random() * period
        while not self._stop.is_set():
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            due += period
            if len(self._probes) >= MAX_PROBES_IN_FLIGHT:
                continue  # only when the gateway has not answered for many seconds
            t = asyncio.create_task(self._probe(session, path, check, kind))
            self._probes.add(t)
            t.add_done_callback(self._probes.discard)

    async def _probe(self, session, path, check, kind) -> None:
        try:
            await self._step(session, "GET", path, kind, check=check)
        except StepFailed:
            pass

    async def _step(self, session, method, path, kind, want=None, check=None):
        """Sends one request and records its sample; returns the body's field `want` (or
        the body), or raises StepFailed. `check` judges a 2xx body; failing it is a wrong
        answer."""
        service = {"orders": "order", "stock": "stock", "payment": "payment"}[path.split("/")[1]]
        start = self.now()
        status, body, note = "conn", None, ""
        try:
            async with session.request(method, self.gateway + path) as resp:
                status = str(resp.status)
                text = await resp.text()
                if 200 <= resp.status < 300:
                    body = _json_or_empty(text)
                else:
                    note = text[:200]
        except asyncio.TimeoutError:
            status, note = "timeout", f"no answer within {self.timeout}s"
        except (aiohttp.ClientError, OSError) as e:
            status, note = "conn", f"{type(e).__name__}: {e}"[:200]
        if body is not None and want is not None and not isinstance(body.get(want), str):
            status, note, body = "wrong", f"no {want} in {body}"[:200], None
        if body is not None and check is not None and not check(body):
            status, note, body = "wrong", f"read back {body}"[:200], None
        self.samples.append(Sample(start, self.now(), kind, service, status, body is not None, note))
        if body is None:
            raise StepFailed(f"{method} {path}: {status} {note}")
        return body.get(want) if want is not None else body


def _json_or_empty(text: str) -> dict:
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
