"""A flash sale raced by 2,000 buyers over two real server processes sharing one Valkey."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp
import orjson
import pytest

from live_server.protocol import now_ms
from tests.conftest import ServerProcess, token

pytestmark = pytest.mark.system
BUYERS, UNITS, WS_BUYERS = 2000, 100, 200


async def _setup(server: ServerProcess) -> tuple[str, str]:
    headers = {"Authorization": f"Bearer {token('alice', 'creator')}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async def post(path: str, body: dict[str, Any]) -> Any:
            async with http.post(server.url + path, json=body) as resp:
                assert resp.status in (200, 201), await resp.text()
                return await resp.json()
        room = (await post("/api/rooms", {"title": "Flash"}))["id"]
        await post(f"/api/rooms/{room}/start", {})
        product = await post("/api/products", {
            "title": "Phone", "list_price": 99900, "live_price": 89900, "stock": UNITS,
            "per_buyer_limit": 1, "commission_bp": 500})
        await post(f"/api/rooms/{room}/shelf", {"product_id": product["id"]})
        now = now_ms()
        await post(f"/api/rooms/{room}/sales", {"product_id": product["id"], "price": 49900,
                                               "stock": UNITS, "start_at": now,
                                               "end_at": now + 600_000})
    return room, product["id"]


async def _http_buyer(http: aiohttp.ClientSession, server: ServerProcess, room: str, pid: str,
                      user: str) -> tuple[str, str]:
    body = {"product_id": pid, "quantity": 1, "idempotency_key": "once"}
    async with http.post(f"{server.url}/api/rooms/{room}/buy", json=body,
                         headers={"Authorization": f"Bearer {token(user)}"}) as resp:
        data = await resp.json()
    # 201: a new order; 200: the same key again, the same order
    return user, data["order"]["id"] if resp.status in (200, 201) else data["error"]["code"]


async def _ws_buyer(http: aiohttp.ClientSession, server: ServerProcess, room: str, pid: str,
                    user: str, go: asyncio.Event) -> tuple[str, str]:
    url = server.url.replace("http", "ws", 1) + f"/ws/rooms/{room}"
    async with http.ws_connect(url, params={"token": token(user)}) as ws:
        await go.wait()
        await ws.send_str(orjson.dumps({"op": "buy", "id": 1, "product_id": pid,
                                        "idempotency_key": "once"}).decode())
        async for msg in ws:
            frame = orjson.loads(msg.data)
            if frame.get("id") == 1 and frame["type"] == "reply":
                return user, str(frame["data"]["order"]["id"])
            if frame.get("id") == 1 and frame["type"] == "error":
                return user, str(frame["error"]["code"])
    raise AssertionError("no answer")


async def test_two_thousand_buyers_two_processes_hundred_units(server_factory: Any) -> None:
    one = await server_factory()
    two = await server_factory()
    room, pid = await _setup(one)
    go = asyncio.Event()
    conn = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=conn) as http:
        servers = (one, two)
        ws_tasks = [asyncio.create_task(_ws_buyer(http, servers[i % 2], room, pid, f"w{i}", go))
                    for i in range(WS_BUYERS)]
        await asyncio.sleep(0)
        go.set()
        results = await asyncio.gather(
            *(_http_buyer(http, servers[i % 2], room, pid, f"h{i}")
              for i in range(BUYERS - WS_BUYERS)), *ws_tasks)
        winners = {user: res for user, res in results if res.startswith("o.")}
        losers = Counter(res for _user, res in results if not res.startswith("o."))
        assert len(winners) == UNITS
        assert len(set(winners.values())) == UNITS  # 100 distinct orders, 100 distinct buyers
        assert losers == {"sold_out": BUYERS - UNITS}
        # a winner retrying (over HTTP, same key) on the other process: the same order
        user, order_id = next(iter(winners.items()))
        other = servers[1 - int(user[1:]) % 2]
        assert await _http_buyer(http, other, room, pid, user) == (user, order_id)
        headers = {"Authorization": f"Bearer {token('alice', 'creator')}"}
        async with http.get(f"{two.url}/api/rooms/{room}/orders?limit=5000",
                            headers=headers) as resp:
            orders = (await resp.json())["orders"]
        async with http.get(f"{one.url}/api/rooms/{room}/products/{pid}") as resp:
            view = await resp.json()
    assert len(orders) == UNITS and len({o["buyer"] for o in orders}) == UNITS
    assert all(o["quantity"] == 1 and o["state"] == "reserved" for o in orders)
    assert view["stock_left"] == 0 and view["window"] == "closed"
    assert view["sale"]["reason"] == "sold_out"
