"""Gifts raced over two real server processes sharing one Valkey: one idempotency key sent to
both processes at once (HTTP and the room socket) charges once and every answer is the first
one; many senders on both processes at once (with retries of the same key) leave exact sums
(the creator's and the platform's takings equal what the senders paid, nobody charged twice),
a viewer on the other process sees the gifts, and `live_server audit` passes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import aiohttp
import orjson
import pytest

from tests.conftest import ROOT, ServerProcess, token
from tests.helpers import Viewer

pytestmark = pytest.mark.system
SENDERS, SENDS, RETRIES = 30, 4, 2
STAR, SHARE_BP = 500, 7000


async def _call(http: aiohttp.ClientSession, method: str, url: str, user: str,
                body: dict[str, Any] | None = None, role: str = "viewer") -> tuple[int, Any]:
    async with http.request(method, url, json=body,
                            headers={"Authorization": f"Bearer {token(user, role)}"}) as resp:
        return resp.status, await resp.json()


async def _room(http: aiohttp.ClientSession, server: ServerProcess) -> str:
    status, room = await _call(http, "POST", server.url + "/api/rooms", "alice",
                               {"title": "Gifts"}, "creator")
    assert status == 201, room
    status, _ = await _call(http, "POST", f"{server.url}/api/rooms/{room['id']}/start",
                            "alice", {}, "creator")
    assert status == 200
    return str(room["id"])


async def _fund(http: aiohttp.ClientSession, server: ServerProcess, user: str,
                amount: int) -> None:
    status, body = await _call(http, "POST", server.url + "/api/dev/wallet/topup", user,
                               {"amount": amount})
    assert status == 200, body


async def _balance(http: aiohttp.ClientSession, server: ServerProcess, user: str) -> int:
    status, body = await _call(http, "GET", server.url + "/api/me/wallet", user)
    assert status == 200, body
    return int(body["balance"])


async def _ws_send(http: aiohttp.ClientSession, server: ServerProcess, room: str, user: str,
                   body: dict[str, Any], go: asyncio.Event) -> dict[str, Any]:
    url = server.url.replace("http", "ws", 1) + f"/ws/rooms/{room}"
    async with http.ws_connect(url, params={"token": token(user)}) as ws:
        await go.wait()
        await ws.send_str(orjson.dumps({"op": "send_gift", "id": 1, **body}).decode())
        async for msg in ws:
            frame = orjson.loads(msg.data)
            if frame.get("id") == 1:
                assert frame["type"] == "reply", frame
                return dict(frame["data"])
    raise AssertionError("no reply")


async def _http_send(http: aiohttp.ClientSession, server: ServerProcess, room: str, user: str,
                     body: dict[str, Any], go: asyncio.Event) -> dict[str, Any]:
    await go.wait()
    status, answer = await _call(http, "POST", f"{server.url}/api/rooms/{room}/gifts", user,
                                 body)
    assert status == 200, answer
    return dict(answer)


def _audit(server: ServerProcess) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "live_server", "audit"], cwd=ROOT,
                          env=server.env, capture_output=True, text=True, timeout=60,
                          check=False)


async def test_one_key_on_both_processes_charges_once(server_factory: Any) -> None:
    one, two = await server_factory(), await server_factory()
    async with aiohttp.ClientSession() as http:
        room = await _room(http, one)
        await _fund(http, one, "vic", 10 * STAR)
        go = asyncio.Event()
        body = {"gift_id": "star", "quantity": 2, "idempotency_key": "same-key"}
        tasks = [asyncio.create_task(send(http, server, room, "vic", body, go))
                 for server in (one, two) for send in (_ws_send, _http_send)
                 for _ in range(4)]
        await asyncio.sleep(0.5)  # every socket connected and waiting
        go.set()
        answers = await asyncio.gather(*tasks)
        assert sum(not a["repeated"] for a in answers) == 1
        assert len({(a["send_id"], a["balance"], a["amount"]) for a in answers}) == 1
        assert await _balance(http, two, "vic") == 8 * STAR
        assert await _balance(http, one, "alice") == 2 * STAR * SHARE_BP // 10_000
    done = _audit(one)
    assert done.returncode == 0, done.stdout + done.stderr


async def test_many_senders_on_both_processes_sum_exactly(server_factory: Any) -> None:
    one, two = await server_factory(), await server_factory()
    async with aiohttp.ClientSession() as http:
        room = await _room(http, one)
        watcher = await Viewer.connect(two.url, room, token("watcher"))
        await watcher.wait_welcome()
        funded = SENDS * STAR
        await asyncio.gather(*(_fund(http, one, f"s{i}", funded) for i in range(SENDERS)))
        go = asyncio.Event()
        tasks = []
        for i in range(SENDERS):
            for n in range(SENDS):
                body = {"gift_id": "star", "idempotency_key": f"s{i}-{n}"}
                for attempt in range(1 + RETRIES):  # the retries of a lost answer
                    server = (one, two)[(i + n + attempt) % 2]
                    tasks.append(asyncio.create_task(
                        _http_send(http, server, room, f"s{i}", body, go)))
        go.set()
        answers = await asyncio.gather(*tasks)
        moved = [a for a in answers if not a["repeated"]]
        assert len(moved) == SENDERS * SENDS
        spent = sum(a["amount"] for a in moved)
        assert spent == SENDERS * SENDS * STAR
        for i in range(SENDERS):
            assert await _balance(http, two, f"s{i}") == 0
        creator = await _balance(http, one, "alice")
        status, figs = await _call(http, "GET", f"{two.url}/api/rooms/{room}/gifts", "alice",
                                   role="creator")
        assert status == 200
        assert figs["spent"] == spent and figs["creator"] == creator
        assert figs["creator"] + figs["platform"] == spent
        assert figs["gifts"] == SENDERS * SENDS
        await watcher.wait_for(lambda: watcher.of_type("gift"))
        await watcher.close()
    done = _audit(one)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 mismatches" in done.stdout
