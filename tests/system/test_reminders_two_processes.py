"""Show reminders across two real server processes sharing one Valkey: subscribers asking
concurrently through either process are counted once each, and when the show starts every
subscriber's socket in another room hears ``show_starting`` exactly once, whichever process it
is connected to (one publish, each process finding its own subscribers); non-subscribers and
a subscriber who cancelled hear nothing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from tests.conftest import ServerProcess, token
from tests.helpers import Viewer

pytestmark = pytest.mark.system
HOUR_MS = 3_600_000


async def call(http: aiohttp.ClientSession, server: ServerProcess, method: str, path: str,
               user: str, role: str = "viewer", body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token(user, role)}"}  # type: ignore[arg-type]
    async with http.request(method, server.url + path, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_subscribers_on_either_process_hear_the_start_once(server_factory: Any) -> None:
    one = await server_factory()
    two = await server_factory()
    async with aiohttp.ClientSession() as http:
        status, show = await call(http, one, "POST", "/api/rooms", "alice", "creator",
                                  {"title": "Harvest sale",
                                   "scheduled_at": int(time.time() * 1000) + HOUR_MS})
        assert status == 201, show
        rooms = []
        for server in (one, two):
            status, other = await call(http, server, "POST", "/api/rooms", "dave", "creator",
                                       {"title": "Elsewhere"})
            assert status == 201
            status, _ = await call(http, server, "POST", f"/api/rooms/{other['id']}/start",
                                   "dave", "creator")
            assert status == 200
            rooms.append(other["id"])

        # 40 subscribers, each asking twice at once through both processes
        subscribers = [f"s{i:02d}" for i in range(40)]
        answers = await asyncio.gather(*(
            call(http, server, "POST", f"/api/rooms/{show['id']}/reminder", user)
            for user in subscribers for server in (one, two)))
        assert all(status == 200 for status, _ in answers), answers
        _, view = await call(http, two, "GET", f"/api/rooms/{show['id']}", "zed")
        assert view["reminders"] == 40
        status, _ = await call(http, one, "DELETE", f"/api/rooms/{show['id']}/reminder", "s39")
        assert status == 200

    # subscribers spread over both processes and both other rooms; s00 on both processes
    sockets: list[tuple[str, Viewer]] = []
    for i, user in enumerate(subscribers):
        server = one if i % 2 == 0 else two
        sockets.append((user, await Viewer.connect(server.url, rooms[i % 2], token(user))))
    sockets.append(("s00", await Viewer.connect(two.url, rooms[1], token("s00"))))
    strangers = [await Viewer.connect(server.url, rooms[i], token(f"x{i}"))
                 for i, server in enumerate((one, two))]
    for _user, v in [*sockets, *[("x", s) for s in strangers]]:
        await v.wait_welcome()

    async with aiohttp.ClientSession() as http:
        status, started = await call(http, two, "POST", f"/api/rooms/{show['id']}/start",
                                     "alice", "creator")
        assert status == 200, started
    expected = [(u, v) for u, v in sockets if u != "s39"]
    assert len(expected) == 40  # 39 subscribers, one of them with two sockets
    for _user, v in expected:
        await v.wait_for(lambda v=v: v.of_type("show_starting"))
    await asyncio.sleep(0.5)  # a duplicate would have arrived by now
    for _user, v in expected:
        notices = v.of_type("show_starting")
        assert len(notices) == 1
        assert notices[0]["data"]["room_id"] == show["id"]
        assert notices[0]["data"]["started_at"] == started["started_at"]
    cancelled = next(v for u, v in sockets if u == "s39")
    assert cancelled.of_type("show_starting") == []
    assert all(s.of_type("show_starting") == [] for s in strangers)
    for _user, v in [*sockets, *[("x", s) for s in strangers]]:
        await v.close()
