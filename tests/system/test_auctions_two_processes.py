"""A live auction raced over two real server processes sharing one Valkey: at every price step
many bidders on both processes (websocket and HTTP) bid the same amount at once; exactly one is
accepted per step, the accepted prices rise strictly whichever process took them, both
processes' clocks end the auction, and it is decided once, with one order."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp
import orjson
import pytest

from tests.conftest import ServerProcess, token
from tests.helpers import Viewer

pytestmark = pytest.mark.system
ROUNDS, PER_ROUND = 6, 16
FAST = {"LIVE_AUCTIONS_MIN_DURATION_MS": "100", "LIVE_AUCTIONS_SCHEDULER_INTERVAL_MS": "50"}


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any],
                user: str, role: str = "viewer") -> tuple[int, Any]:
    async with http.post(url, json=body,
                         headers={"Authorization": f"Bearer {token(user, role)}"}) as resp:
        return resp.status, await resp.json()


async def _setup(http: aiohttp.ClientSession, server: ServerProcess) -> tuple[str, str]:
    async def post(path: str, body: dict[str, Any]) -> Any:
        status, made = await _post(http, server.url + path, body, "alice", "creator")
        assert status in (200, 201), made
        return made
    room = (await post("/api/rooms", {"title": "Auction"}))["id"]
    await post(f"/api/rooms/{room}/start", {})
    product = await post("/api/products", {"title": "Vase", "list_price": 90000,
                                           "live_price": 90000, "stock": 1,
                                           "per_buyer_limit": 1, "commission_bp": 500})
    await post(f"/api/rooms/{room}/shelf", {"product_id": product["id"]})
    return room, product["id"]


async def _ws_bid(http: aiohttp.ClientSession, server: ServerProcess, room: str, aid: str,
                  user: str, amount: int, go: asyncio.Event) -> str:
    url = server.url.replace("http", "ws", 1) + f"/ws/rooms/{room}"
    async with http.ws_connect(url, params={"token": token(user)}) as ws:
        await go.wait()
        await ws.send_str(orjson.dumps({"op": "auction_bid", "id": 1, "auction_id": aid,
                                        "amount": amount, "idempotency_key": "k"}).decode())
        async for msg in ws:
            frame = orjson.loads(msg.data)
            if frame.get("id") == 1:
                return "ok" if frame["type"] == "reply" else str(frame["error"]["code"])
    raise AssertionError("no reply")


async def _http_bid(http: aiohttp.ClientSession, server: ServerProcess, room: str, aid: str,
                    user: str, amount: int, go: asyncio.Event) -> str:
    await go.wait()
    status, body = await _post(http, f"{server.url}/api/rooms/{room}/auctions/{aid}/bids",
                               {"amount": amount, "idempotency_key": "k"}, user)
    return "ok" if status == 200 else str(body["error"]["code"])


async def test_one_bid_per_price_step_and_one_decision_across_two_processes(
        server_factory: Any) -> None:
    one = await server_factory(env=FAST)
    two = await server_factory(env=FAST)
    async with aiohttp.ClientSession() as http:
        room, pid = await _setup(http, one)
        watcher = await Viewer.connect(two.url, room, token("watcher"))
        await watcher.wait_welcome()
        status, auction = await _post(http, f"{one.url}/api/rooms/{room}/auctions", {
            "product_id": pid, "start_price": 1000, "duration_ms": 4000,
            "increments": [{"step": 100}], "snipe_ms": 2000}, "alice", "creator")
        assert status == 201, auction
        aid = auction["id"]
        for r in range(ROUNDS):
            amount = 1000 + 100 * r
            go = asyncio.Event()
            tasks = []
            for i in range(PER_ROUND):
                server = one if i % 2 == 0 else two
                bidder = _ws_bid if i % 4 < 2 else _http_bid
                tasks.append(asyncio.create_task(
                    bidder(http, server, room, aid, f"r{r}u{i}", amount, go)))
            await asyncio.sleep(0.3)  # every socket open
            go.set()
            outcomes = Counter(await asyncio.gather(*tasks))
            assert outcomes == {"ok": 1, "bid_too_low": PER_ROUND - 1}, (r, outcomes)
        # the watcher on the other process saw every accepted bid once, prices rising
        await watcher.wait_for(lambda: len(watcher.of_type("auction_bid")) >= ROUNDS)
        bids = [e["data"] for e in watcher.of_type("auction_bid")]
        assert [b["price"] for b in bids] == [1000 + 100 * r for r in range(ROUNDS)]
        assert all(b["end_at"] >= b["now"] + 2000 or not b["extended"] for b in bids)
        ended = await watcher.wait_for(lambda: watcher.of_type("auction_ended"), timeout=15)
        await asyncio.sleep(0.5)  # both clocks have had their passes after the end
        assert len(watcher.of_type("auction_ended")) == 1
        assert ended[0]["data"]["result"] == "sold"
        winner = ended[0]["data"]["auction"]["leader"]
        assert winner.startswith(f"r{ROUNDS - 1}u")
        headers = {"Authorization": f"Bearer {token('alice', 'creator')}"}
        for server in (one, two):
            async with http.get(f"{server.url}/api/rooms/{room}/orders",
                                headers=headers) as resp:
                orders = [o for o in (await resp.json())["orders"] if o.get("auction_id")]
            assert len(orders) == 1 and orders[0]["buyer"] == winner
            assert orders[0]["amount"] == 1000 + 100 * (ROUNDS - 1)
        await watcher.close()
