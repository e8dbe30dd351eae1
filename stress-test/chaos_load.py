"""The chaos report's load: fixed-concurrency workers sending real requests through the gateway.

Each worker runs one fresh checkout after another, every step a real public request: create a
user and fund it, create an item and stock it, create an order, add the item, check out, then
read the item and the user back. The user gets far more credit and the item far more stock
than the checkout needs, so every answer should be a 2xx with the expected body; anything else
(a 4xx, a 5xx, a connection error, a timeout, a read-back that does not show the checkout
exactly once) is an error. A step that fails abandons that checkout and the worker starts a
new one. Every request becomes one `Sample`; nothing here ever retries a request itself, so
the samples show what a client of the gateway sees.
"""

import asyncio
import json
import random
import time

import aiohttp

from chaos_summary import Sample

FUNDS = 1_000_000
STOCK = 1_000_000


class StepFailed(Exception):
    """A step's answer was not the expected 2xx: the worker abandons this checkout."""


class Load:
    """The workers and their samples; `start` launches them, `stop` waits for in-flight ones."""

    def __init__(self, gateway: str, workers: int, pause: float, timeout: float, t0: float):
        self.gateway = gateway.rstrip("/")
        self.workers = workers
        self.pause = pause
        self.timeout = timeout
        self.t0 = t0
        self.samples: list[Sample] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._session: aiohttp.ClientSession | None = None

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.workers * 2, force_close=False)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout)
        )
        self._tasks = [asyncio.create_task(self._worker(i)) for i in range(self.workers)]

    async def stop(self) -> None:
        """Lets every in-flight request finish (bounded by its timeout), then closes."""
        self._stop.set()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.timeout + 5)
            for t in self._tasks:
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _worker(self, idx: int) -> None:
        rng = random.Random(idx)
        # Spread the workers' first requests over one pause so they do not move in step.
        await asyncio.sleep(rng.random() * max(self.pause, 0.05))
        while not self._stop.is_set():
            try:
                await self._checkout(rng)
            except StepFailed:
                await asyncio.sleep(self.pause)

    async def _checkout(self, rng: random.Random) -> None:
        price = rng.randint(1, 9)
        user = await self._step("POST", "/payment/create_user", "create_user", want="user_id")
        await self._step("POST", f"/payment/add_funds/{user}/{FUNDS}", "add_funds")
        item = await self._step("POST", f"/stock/item/create/{price}", "create_item", want="item_id")
        await self._step("POST", f"/stock/add/{item}/{STOCK}", "add_stock")
        order = await self._step("POST", f"/orders/create/{user}", "create_order", want="order_id")
        await self._step("POST", f"/orders/addItem/{order}/{item}/1", "add_item")
        await self._step("POST", f"/orders/checkout/{order}", "checkout")
        await self._step(
            "GET", f"/stock/find/{item}", "find_item",
            check=lambda b: b.get("stock") == STOCK - 1 and b.get("price") == price,
        )
        await self._step(
            "GET", f"/payment/find_user/{user}", "find_user",
            check=lambda b: b.get("credit") == FUNDS - price,
        )

    async def _step(self, method, path, kind, want=None, check=None):
        """Sends one request and records its sample; returns the body's field `want` (or
        raises StepFailed). `check` judges a 2xx body; a failed check is a wrong answer."""
        if self.pause:
            await asyncio.sleep(self.pause)
        service = {"orders": "order", "stock": "stock", "payment": "payment"}[path.split("/")[1]]
        start = self.now()
        status, body, note = "conn", None, ""
        try:
            assert self._session is not None
            async with self._session.request(method, self.gateway + path) as resp:
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
            raise StepFailed(kind)
        return body.get(want) if want is not None else body


def _json_or_empty(text: str) -> dict:
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
