"""Hearts, online, unique, peak and top fans, against the real store."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import Viewer, open_ws


async def test_hearts_are_exact_and_counters_coalesced(live_app_factory: Any) -> None:
    live: LiveApp = await live_app_factory(ws={"max_frames_per_s": 1000},
                                           fans={"heart_daily_cap": 1_000_000})
    room = await live.live_room()
    viewers = [await Viewer.connect(live.base, room, token(f"fan{i}")) for i in range(4)]
    for v in viewers:
        await v.wait_welcome()
    await asyncio.gather(*(v.request("heart", count=(i % 50) + 1)
                           for v in viewers for i in range(40)))
    expected = sum((i % 50) + 1 for i in range(40)) * 4
    for v in viewers:
        await v.wait_for(lambda v=v: (v.last_counters() or {}).get("hearts") == expected)
        # coalesced: never more than one counters event in one frame
        for frame in v.frames:
            if frame["type"] == "events":
                assert sum(e["type"] == "counters" for e in frame["events"]) <= 1
    _, public = await live.call("GET", f"/api/rooms/{room}")
    assert public["counters"]["hearts"] == expected
    # the top fans are by intimacy toward the creator: hearts count after the tick's report
    for _ in range(400):
        _, fans = await live.call("GET", f"/api/rooms/{room}/fans/top?limit=4")
        if [f["score"] for f in fans["fans"]] == [expected // 4] * 4:
            break
        await asyncio.sleep(0.01)
    assert {f["user_id"] for f in fans["fans"]} == {f"fan{i}" for i in range(4)}
    assert all(f["score"] == expected // 4 for f in fans["fans"])
    assert {f["name"] for f in fans["fans"]} == {f"Fan{i}" for i in range(4)}
    for v in viewers:
        await v.close()


async def test_online_unique_and_peak(live: LiveApp) -> None:
    room = await live.live_room()
    a = await Viewer.connect(live.base, room, token("ann"))
    b = await Viewer.connect(live.base, room, token("ben"))
    b2 = await Viewer.connect(live.base, room, token("ben"))  # same user, second device
    g = await Viewer.connect(live.base, room, guest=True)
    for v in (a, b, b2, g):
        await v.wait_welcome()
    await a.wait_for(lambda: (a.last_counters() or {}).get("online") == 4)
    assert a.last_counters() == {"online": 4, "hearts": 0, "unique": 3, "peak": 4, "chat": 0}
    for v in (b, b2, g):
        await v.close()
    await a.wait_for(lambda: (a.last_counters() or {}).get("online") == 1)
    counters = a.last_counters()
    assert counters is not None and counters["peak"] == 4 and counters["unique"] == 3
    await a.close()


async def test_dead_connection_is_closed_by_heartbeat(live_app_factory: Any) -> None:
    live = await live_app_factory(ws={"heartbeat_s": 0.4})
    room = await live.live_room()
    watcher = await Viewer.connect(live.base, room, token("ann"))
    await watcher.wait_welcome()
    url = live.base.replace("http", "ws") + f"/ws/rooms/{room}"
    async with aiohttp.ClientSession() as http:
        # autoping off: this client never answers the server's pings, like a dead peer
        silent = Viewer(await open_ws(http, url, params={"token": token("zed")},
                                      autoping=False))
        await silent.wait_welcome()
        await watcher.wait_for(lambda: (watcher.last_counters() or {}).get("online") == 2)
        await silent.wait_closed()
        await watcher.wait_for(lambda: (watcher.last_counters() or {}).get("online") == 1)
        await silent.close()
    await watcher.close()


async def test_counters_go_out_at_most_once_per_interval(live_app_factory: Any) -> None:
    live = await live_app_factory(realtime={"tick_ms": 20, "counters_interval_ms": 250},
                                  ws={"max_frames_per_s": 1000})
    room = await live.live_room()
    fan = await Viewer.connect(live.base, room, token("fan"))
    await fan.wait_welcome()
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(60):  # hearts on every tick: the total changes all the time
        await fan.request("heart", count=1)
        await asyncio.sleep(0.02)
    await fan.wait_for(lambda: (fan.last_counters() or {}).get("hearts") == 60)
    elapsed = loop.time() - start
    sent = len(fan.of_type("counters"))
    assert 2 <= sent <= elapsed / 0.25 + 2, (sent, elapsed)
    await fan.close()


async def _card_intimacy(live: LiveApp, user: str, want: int) -> int:
    """The user's intimacy toward alice once it reaches ``want`` (hearts count after a tick's
    report is flushed); what it is after a bounded number of looks otherwise."""
    got = -1
    for _ in range(400):
        _, card = await live.call("GET", "/api/creators/alice/fans", user)
        got = card["intimacy"]
        if got == want:
            break
        await asyncio.sleep(0.01)
    return int(got)


async def test_hearts_earn_intimacy_toward_the_creator_up_to_the_daily_cap(
        live_app_factory: Any) -> None:
    live: LiveApp = await live_app_factory(fans={"heart_points": 2, "heart_daily_cap": 9},
                                           ws={"max_frames_per_s": 1000})
    room = await live.live_room()
    vic = await Viewer.connect(live.base, room, token("vic"))
    host = await Viewer.connect(live.base, room, token("alice", "creator"))
    await vic.wait_welcome()
    await host.wait_welcome()
    await vic.request("heart", count=3)
    assert await _card_intimacy(live, "vic", 6) == 6
    await vic.request("heart", count=5)  # 10 more points, only 3 left under the cap
    await host.request("heart", count=4)  # none toward oneself
    await vic.wait_for(lambda: (vic.last_counters() or {}).get("hearts") == 12)
    assert await _card_intimacy(live, "vic", 9) == 9
    _, card = await live.call("GET", "/api/creators/alice/fans", "alice", "creator")
    assert card["intimacy"] == 0 and card["top"] == [{"user": "vic", "intimacy": 9}]
    await vic.close()
    await host.close()


async def test_each_minute_watched_earns_logged_in_viewers_intimacy_up_to_the_cap(
        live_app_factory: Any) -> None:
    live: LiveApp = await live_app_factory(fans={"watch_points": 2, "watch_daily_cap": 5})
    room = await live.live_room()
    vic = await Viewer.connect(live.base, room, token("vic"))
    vic2 = await Viewer.connect(live.base, room, token("vic"))  # a second tab: once a minute
    host = await Viewer.connect(live.base, room, token("alice", "creator"))
    guest = await Viewer.connect(live.base, room, guest=True)
    for v in (vic, vic2, host, guest):
        await v.wait_welcome()
    node = live.client.app[SERVICES].node
    store = live.client.app[SERVICES].fans.store
    asked: list[list[str]] = []  # who each round asked the creator's slot about
    add_many = store.add_intimacy_many

    async def recorded(items: list[tuple[str, str, int]], *args: Any) -> list[int]:
        asked.append([user for _creator, user, _points in items])
        return await add_many(items, *args)

    store.add_intimacy_many = recorded  # type: ignore[method-assign]
    seen = []
    for _ in range(4):  # what the node's minute loop does, one minute at a time
        await node.award_watch()
        _, card = await live.call("GET", "/api/creators/alice/fans", "vic")
        seen.append(card["intimacy"])
    assert seen == [2, 4, 5, 5]
    # capped in the third minute: the process does not ask about vic again today
    assert asked == [["vic"], ["vic"], ["vic"]]
    _, card = await live.call("GET", "/api/creators/alice/fans", "alice", "creator")
    assert card["intimacy"] == 0 and card["top"] == [{"user": "vic", "intimacy": 5}]
    for v in (vic, vic2, host, guest):
        await v.close()
