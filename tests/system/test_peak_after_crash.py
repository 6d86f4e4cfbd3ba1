"""A worker crash does not inflate a room's peak: its viewers, reconnecting to another process
while the dead one's presence entry lives on (``server.process_ttl_ms``), are not counted twice
in ``peak`` once that entry expires."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import aiohttp
import pytest

from tests.conftest import ServerProcess, token
from tests.helpers import WAIT_S, Viewer

pytestmark = pytest.mark.system


async def _counters(server: ServerProcess, room: str) -> dict[str, int]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/api/rooms/{room}") as resp:
            assert resp.status == 200
            counters: dict[str, int] = (await resp.json())["counters"]
            return counters


async def _until_counters(server: ServerProcess, room: str, **expected: int) -> dict[str, int]:
    """Poll the room's counters until they show ``expected``; WAIT_S is a hang guard."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    counters = await _counters(server, room)
    while any(counters[k] != v for k, v in expected.items()) and loop.time() < deadline:
        await asyncio.sleep(0.05)
        counters = await _counters(server, room)
    return counters


async def test_a_crashed_workers_viewers_are_not_counted_twice_in_peak(
        server_factory: Any) -> None:
    doomed = await server_factory()
    survivor = await server_factory()
    headers = {"Authorization": f"Bearer {token('alice', 'creator')}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(survivor.url + "/api/rooms", json={"title": "Crash"},
                             headers=headers) as resp:
            room = str((await resp.json())["id"])
        async with http.post(survivor.url + f"/api/rooms/{room}/start",
                             headers=headers) as resp:
            assert resp.status == 200
    viewers = [await Viewer.connect(doomed.url, room, token(f"v{i}")) for i in range(4)]
    for v in viewers:
        await v.wait_welcome()
    assert await _until_counters(survivor, room, online=4, peak=4) == {
        **await _counters(survivor, room), "online": 4, "peak": 4}
    doomed.stop(signal.SIGKILL)  # no last report: its entry says 4 until it expires
    for v in viewers:
        await v.close()
    # the same viewers come back through the survivor, within the dead entry's lifetime
    back = [await Viewer.connect(survivor.url, room, token(f"v{i}")) for i in range(4)]
    for v in back:
        await v.wait_welcome()
    # the survivor has reported them while the dead entry still counts
    await back[-1].wait_for(lambda: back[-1].last_counters() is not None)
    counters = await _until_counters(survivor, room, online=4, peak=4)
    assert counters["online"] == 4
    assert counters["peak"] == 4  # never more viewers than there were
    for v in back:
        await v.close()
