"""The per-tick counter report counts once however often it is sent: a report whose reply was
lost (a lost EXEC used to count its hearts twice) is sent again under the same tick id."""

from __future__ import annotations

import asyncio
from typing import Any

from live_server.store.presence import TickReport
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import Viewer


async def test_a_report_sent_twice_counts_once(live: LiveApp) -> None:
    room = await live.live_room()
    svc = live.client.app[SERVICES]
    now = 1_000_000

    def report() -> dict[str, TickReport]:
        return {room: TickReport(online=1, hearts=7, fans={"fan": (7, "Fan")})}

    assert await svc.presence.tick("elsewhere:1", 41, now, report()) == 0
    # the same tick again (its reply was lost): nothing more
    assert await svc.presence.tick("elsewhere:1", 41, now, report()) == 1
    # an older one arriving late: nothing either
    assert await svc.presence.tick("elsewhere:1", 40, now, report()) == 1
    # the next tick counts
    assert await svc.presence.tick("elsewhere:1", 42, now, report()) == 0
    # another process's first tick counts too (ids are per process)
    assert await svc.presence.tick("elsewhere:2", 1, now, report()) == 0
    _, public = await live.call("GET", f"/api/rooms/{room}")
    assert public["counters"]["hearts"] == 21


async def test_a_failed_report_is_retried_under_its_id(live: LiveApp) -> None:
    """The node keeps a report whose flush failed and sends exactly it again: hearts sent
    meanwhile go in the next report, and a report that did land is not counted twice."""
    room = await live.live_room()
    node = live.client.app[SERVICES].node
    viewer = await Viewer.connect(live.base, room, token("fan"))
    await viewer.wait_welcome()
    real_tick = node.presence.tick
    calls: list[int] = []

    async def lands_but_reply_lost(process_id: str, tick_id: int, now: int,
                                   reports: dict[str, TickReport]) -> int:
        calls.append(tick_id)
        counted = await real_tick(process_id, tick_id, now, reports)
        if len(calls) == 1 and any(rep.hearts for rep in reports.values()):
            raise ConnectionError("the reply was lost")
        return counted

    node.presence.tick = lands_but_reply_lost  # type: ignore[method-assign]
    try:
        await viewer.request("heart", count=5)
        await viewer.wait_for(lambda: len(calls) >= 2)
        await viewer.request("heart", count=3)
        await viewer.wait_for(lambda: (viewer.last_counters() or {}).get("hearts") == 8)
        await asyncio.sleep(0.3)
        _, public = await live.call("GET", f"/api/rooms/{room}")
        assert public["counters"]["hearts"] == 8
        assert calls[0] == calls[1]  # the lost one was sent again as it was
    finally:
        node.presence.tick = real_tick  # type: ignore[method-assign]
        await viewer.close()


async def test_joins_are_published_with_the_report(live: LiveApp) -> None:
    room = await live.live_room()
    first = await Viewer.connect(live.base, room, token("ann"))
    await first.wait_welcome()
    second = await Viewer.connect(live.base, room, token("ben"))
    await second.wait_welcome()

    def joined(v: Viewer) -> list[Any]:
        return [e for f in v.frames if f["type"] == "events" for e in f["events"]
                if e["type"] == "joins"]

    await first.wait_for(lambda: any("Ben" in e["data"]["names"] for e in joined(first)))
    await first.close()
    await second.close()
