"""A 100-share red packet grabbed by 5,000 viewers over two real server processes sharing one
Valkey; then the money audit runs as its own process against the same keys."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from typing import Any

import aiohttp
import orjson
import pytest

from tests.conftest import ROOT, ServerProcess, token

pytestmark = pytest.mark.system
GRABBERS, SHARES, WS_GRABBERS, TOTAL, FUNDS = 5000, 100, 200, 88_888, 1_000_000


async def _setup(http: aiohttp.ClientSession, server: ServerProcess) -> tuple[str, str]:
    headers = {"Authorization": f"Bearer {token('alice', 'creator')}"}

    async def post(path: str, body: dict[str, Any]) -> Any:
        async with http.post(server.url + path, json=body, headers=headers) as resp:
            assert resp.status in (200, 201), await resp.text()
            return await resp.json()
    room = (await post("/api/rooms", {"title": "Packets"}))["id"]
    await post(f"/api/rooms/{room}/start", {})
    await post("/api/dev/wallet/topup", {"amount": FUNDS})
    made = await post(f"/api/rooms/{room}/red-packets", {
        "total": TOTAL, "shares": SHARES, "split": "random"})
    assert made["balance"] == FUNDS - TOTAL
    return room, made["packet"]["id"]


async def _http_grab(http: aiohttp.ClientSession, server: ServerProcess, pid: str,
                     user: str) -> tuple[str, int | str]:
    async with http.post(f"{server.url}/api/red-packets/{pid}/grab",
                         headers={"Authorization": f"Bearer {token(user)}"}) as resp:
        data = await resp.json()
    return user, int(data["amount"]) if resp.status == 200 else str(data["error"]["code"])


async def _ws_grab(http: aiohttp.ClientSession, server: ServerProcess, room: str, pid: str,
                   user: str, go: asyncio.Event) -> tuple[str, int | str]:
    url = server.url.replace("http", "ws", 1) + f"/ws/rooms/{room}"
    async with http.ws_connect(url, params={"token": token(user)}) as ws:
        await go.wait()
        await ws.send_str(orjson.dumps({"op": "grab", "id": 1, "packet_id": pid}).decode())
        async for msg in ws:
            frame = orjson.loads(msg.data)
            if frame.get("id") == 1 and frame["type"] == "reply":
                return user, int(frame["data"]["amount"])
            if frame.get("id") == 1 and frame["type"] == "error":
                return user, str(frame["error"]["code"])
    raise AssertionError("no answer")


async def test_five_thousand_grabbers_two_processes_hundred_shares(server_factory: Any) -> None:
    one = await server_factory()
    two = await server_factory()
    servers = (one, two)
    conn = aiohttp.TCPConnector(limit=400)
    async with aiohttp.ClientSession(connector=conn) as http:
        room, pid = await _setup(http, one)
        go = asyncio.Event()
        ws_tasks = [asyncio.create_task(_ws_grab(http, servers[i % 2], room, pid, f"w{i}", go))
                    for i in range(WS_GRABBERS)]
        await asyncio.sleep(0)
        go.set()
        results = await asyncio.gather(
            *(_http_grab(http, servers[i % 2], pid, f"h{i}")
              for i in range(GRABBERS - WS_GRABBERS)), *ws_tasks)
        winners = {user: res for user, res in results if isinstance(res, int)}
        losers = Counter(res for _user, res in results if not isinstance(res, int))
        assert len(winners) == SHARES  # 100 grabs by 100 distinct users
        assert losers == {"none_left": GRABBERS - SHARES}
        assert sum(winners.values()) == TOTAL and min(winners.values()) >= 1
        # a winner grabbing again on the other process: refused
        user = next(iter(winners))
        other = servers[1 - int(user[1:]) % 2]
        again = await _http_grab(http, other, pid, user)
        assert again == (user, "already_grabbed")

        async def wallet(who: str, role: Any = "viewer") -> int:
            async with http.get(f"{two.url}/api/me/wallet",
                                headers={"Authorization": f"Bearer {token(who, role)}"}) as r:
                return int((await r.json())["balance"])
        balances = await asyncio.gather(*(wallet(u) for u in winners))
        assert dict(zip(winners, balances, strict=True)) == winners
        creator = await wallet("alice", "creator")
        async with http.get(f"{one.url}/api/red-packets/{pid}",
                            headers={"Authorization": f"Bearer {token('vic')}"}) as resp:
            view = await resp.json()
    assert view["state"] == "finished" and view["shares_left"] == 0
    assert {r["user"]: r["amount"] for r in view["record"]} == winners
    assert view["luckiest"]["amount"] == max(winners.values())
    assert creator + sum(balances) + view["refunded"] == FUNDS
    audit = subprocess.run([sys.executable, "-m", "live_server", "audit"], env=one.env,
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "0 mismatches" in audit.stdout
