"""Hearts are acknowledged at once (``{"accepted": n}``) and reach the store with the next tick;
a viewer who was the last one in the room on this process and leaves before that tick must not
take its acknowledged hearts along."""

from __future__ import annotations

import asyncio

from tests.conftest import LiveApp, token
from tests.helpers import Viewer


async def _hearts(live: LiveApp, room: str) -> int:
    status, body = await live.call("GET", f"/api/rooms/{room}")
    assert status == 200, body
    return int(body["counters"]["hearts"])


async def test_hearts_of_the_last_viewer_to_leave_are_counted(live: LiveApp) -> None:
    room = await live.live_room()
    for round_ in range(1, 4):
        viewer = await Viewer.connect(live.base, room, token("vic"))
        await viewer.wait_welcome()
        reply = await viewer.request("heart", count=5)
        assert reply["data"] == {"accepted": 5}, reply
        await viewer.close()  # before the tick that reports them
        for _ in range(100):
            if await _hearts(live, room) == 5 * round_:
                break
            await asyncio.sleep(0.05)
        assert await _hearts(live, room) == 5 * round_
