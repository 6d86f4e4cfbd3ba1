"""A live show set up over HTTP (a room, a product on sale, a funded creator) and the one way
every fault-test client calls it: retried after a failure that may have hidden a commit, with the
same body (the same idempotency key), until an answer or a deadline."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from live_server.protocol import now_ms
from tests.conftest import token

CREATOR = "alice"
FUNDS = 5_000_000  # cents, topped up once
# a failure that says nothing about whether the action happened: ask again with the same key
RETRIED = frozenset({"internal", "not_ready", "unreachable", "timeout"})
RETRY_PAUSE_S = 0.1
# generous limits: the suite breaks the store, not the rate limits
FAST_ENV = {
    "LIVE_CHAT_BURST": "1000", "LIVE_CHAT_RATE_PER_S": "1000",
    "LIVE_WS_MAX_FRAMES_PER_S": "1000", "LIVE_HISTORY_MAX_EVENTS": "20000",
}


def auth(user: str, role: Any = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user, role)}"}


@dataclass
class Answer:
    status: int  # 0: no HTTP answer at all
    body: Any
    attempts: int

    @property
    def code(self) -> str | None:
        if self.status == 0:
            return "unreachable"
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"]["code"])
        return None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Show:
    """Where the show runs: the server addresses clients spread over, its room and product."""

    http: aiohttp.ClientSession
    urls: list[str]
    room: str = ""
    product: str = ""
    sale_stock: int = 0
    uncoded: int = 0  # failed attempts answered without a coded error (or not answered at all)
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    def url(self) -> str:
        return self.urls[next(self._turn) % len(self.urls)]

    async def call(self, method: str, path: str, user: str, role: Any = "viewer",
                   body: Any = None, timeout_s: float = 10) -> Answer:
        """One request; no answer (connection refused, reset, timeout) is status 0."""
        try:
            async with self.http.request(
                    method, self.url() + path, json=body, headers=auth(user, role),
                    timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
                return Answer(resp.status, await resp.json(content_type=None), 1)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return Answer(0, None, 1)

    async def until_answered(self, method: str, path: str, user: str, role: Any = "viewer",
                             body: Any = None, deadline: float = 0.0) -> Answer:
        """The same request again after every failure that may have hidden a commit, until a
        final answer or ``deadline`` (loop time)."""
        loop = asyncio.get_running_loop()
        attempts = 0
        while True:
            attempts += 1
            answer = await self.call(method, path, user, role, body)
            answer.attempts = attempts
            if not answer.ok and answer.code in (None, "unreachable"):
                self.uncoded += 1
            if answer.code not in RETRIED or loop.time() >= deadline:
                return answer
            await asyncio.sleep(RETRY_PAUSE_S)

    async def setup(self, sale_stock: int) -> None:
        """A live room with one product on sale and a funded creator (before any fault)."""
        async def must(method: str, path: str, body: Any = None) -> Any:
            answer = await self.call(method, path, CREATOR, "creator", body)
            assert answer.ok, (path, answer)
            return answer.body
        self.room = (await must("POST", "/api/rooms", {"title": "Faults"}))["id"]
        await must("POST", f"/api/rooms/{self.room}/start")
        self.product = (await must("POST", "/api/products", {
            "title": "Mug", "list_price": 2000, "live_price": 1500, "stock": sale_stock,
            "per_buyer_limit": 1000, "commission_bp": 500}))["id"]
        await must("POST", f"/api/rooms/{self.room}/shelf", {"product_id": self.product})
        now = now_ms()
        await must("POST", f"/api/rooms/{self.room}/sales", {
            "product_id": self.product, "price": 1000, "stock": sale_stock, "start_at": now,
            "end_at": now + 3_600_000})
        await must("POST", "/api/dev/wallet/topup", {"amount": FUNDS})
        self.sale_stock = sale_stock
