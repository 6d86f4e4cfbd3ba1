"""A lucky draw across two real server processes sharing one Valkey: viewers on both processes
enter at once (and enter again), both processes' clocks reach the draw at its end, and it is
drawn once: one result event, distinct winners from the entrants, each paid once, the rest
returned, the audit clean, and the published result recomputes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import aiohttp
import orjson
import pytest

from live_server.domain.draws import check
from tests.conftest import ROOT, ServerProcess, token
from tests.helpers import Viewer

pytestmark = pytest.mark.system
VIEWERS, WINNERS, EACH = 60, 7, 25
FAST = {"LIVE_DRAWS_MIN_DURATION_MS": "1000", "LIVE_DRAWS_SCHEDULER_INTERVAL_MS": "20"}


async def _call(http: aiohttp.ClientSession, method: str, url: str, user: str | None,
                role: str = "viewer", body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token(user, role)}"} if user else {}
    async with http.request(method, url, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def _enter(server: ServerProcess, room: str, user: str, draw_id: str,
                 go: asyncio.Event) -> list[bool]:
    """Enter twice over one socket: (first added, second added)."""
    url = server.url.replace("http", "ws", 1) + f"/ws/rooms/{room}"
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(url, params={"token": token(user)}) as ws:
        await go.wait()
        added = []
        for n in (1, 2):
            await ws.send_str(orjson.dumps({"op": "draw_enter", "id": n,
                                            "draw_id": draw_id}).decode())
            async for msg in ws:
                frame = orjson.loads(msg.data)
                if frame.get("id") == n:
                    assert frame["type"] == "reply", frame
                    added.append(not frame["data"]["already"])
                    break
        return added


async def test_entries_from_two_processes_drawn_once(server_factory: Any) -> None:
    one = await server_factory(env=FAST)
    two = await server_factory(env=FAST)
    async with aiohttp.ClientSession() as http:
        status, room = await _call(http, "POST", f"{one.url}/api/rooms", "alice", "creator",
                                   {"title": "Draw"})
        rid = room["id"]
        await _call(http, "POST", f"{one.url}/api/rooms/{rid}/start", "alice", "creator", {})
        await _call(http, "POST", f"{one.url}/api/dev/wallet/topup", "alice", "creator",
                    {"amount": 10_000})
        watchers = [await Viewer.connect(s.url, rid, token(f"w{i}")) for i, s in
                    enumerate((one, two))]
        for w in watchers:
            await w.wait_welcome()
        status, made = await _call(http, "POST", f"{two.url}/api/rooms/{rid}/draws", "alice",
                                   "creator", {"prize_kind": "cash", "amount": EACH,
                                               "winners": WINNERS, "duration_s": 3})
        assert status == 201, made
        draw = made["draw"]
        go = asyncio.Event()
        tasks = [asyncio.create_task(_enter((one, two)[i % 2], rid, f"e{i:03d}", draw["id"], go))
                 for i in range(VIEWERS)]
        await asyncio.sleep(0.5)
        go.set()
        results = await asyncio.gather(*tasks)
        assert all(r == [True, False] for r in results), results

        async def drawn() -> Any:
            while True:
                _, body = await _call(http, "GET", f"{one.url}/api/draws/{draw['id']}", None)
                if body["state"] == "drawn":
                    return body
                await asyncio.sleep(0.05)
        done = await asyncio.wait_for(drawn(), 15)
        result = done["result"]
        assert result["entrant_count"] == VIEWERS
        assert len(result["winners"]) == len(set(result["winners"])) == WINNERS
        _, listed = await _call(http, "GET", f"{two.url}/api/draws/{draw['id']}/entrants", None)
        assert listed["entrants"] == sorted(f"e{i:03d}" for i in range(VIEWERS))
        assert check(result["seed"], draw["commitment"], listed["entrants"], WINNERS,
                     result["entrants_hash"], result["winners"]) == []
        await asyncio.sleep(1.0)  # both clocks have passed the end several times over
        for w in watchers:
            assert len(w.of_type("draw_result")) == 1, w.of_type("draw_result")
            assert w.of_type("draw_result")[0]["data"]["result"] == result
            await w.close()
        for i in range(VIEWERS):
            user = f"e{i:03d}"
            _, wallet = await _call(http, "GET", f"{one.url}/api/me/wallet", user)
            assert wallet["balance"] == (EACH if user in result["winners"] else 0), user
        _, wallet = await _call(http, "GET", f"{one.url}/api/me/wallet", "alice", "creator")
        assert wallet["balance"] == 10_000 - EACH * WINNERS

    env = one.env
    audit = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "live_server",
                                                     "audit"],
                                    env=env, cwd=ROOT, capture_output=True, text=True,
                                    timeout=60)
    assert audit.returncode == 0, audit.stdout + audit.stderr
