"""The live rooms' load history (ops sparklines): one point per slot whatever the number of
processes sampling, capped to the window, gaps shown as gaps, and served with ``/api/ops/rooms``
alongside each room's open reports."""

from __future__ import annotations

import secrets

import redis.asyncio as aioredis

from live_server.protocol import now_ms
from live_server.services.room_series import SeriesClock
from live_server.store.core import StoreCore
from live_server.store.keys import Keys
from live_server.store.room_series import Point, RoomSeriesStore
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import Viewer


def _store(valkey_url: str, interval_ms: int = 30_000, points: int = 4) -> RoomSeriesStore:
    client = aioredis.Redis.from_url(valkey_url)
    core = StoreCore(client, Keys("t" + secrets.token_hex(4)))
    return RoomSeriesStore(core, interval_ms=interval_ms, points=points)


async def test_the_first_point_of_a_slot_stands(valkey_url: str) -> None:
    store = _store(valkey_url)
    assert await store.put(7, {"r1": Point(online=12, chat_per_min=3, gmv=6990)}) == 1
    # a second process sampling the same slot a moment later writes nothing
    assert await store.put(7, {"r1": Point(online=13, chat_per_min=4, gmv=7990)}) == 0
    series = (await store.read_many(["r1", "r2"], 7 * 30_000 + 5))
    assert series["r1"] == {"interval_ms": 30_000, "from_ms": 7 * 30_000, "online": [12],
                            "chat_per_min": [3], "gmv": [6990]}
    assert series["r2"]["online"] == [] and series["r2"]["from_ms"] is None
    await store.core.client.aclose()


async def test_the_window_is_capped_and_gaps_stay_gaps(valkey_url: str) -> None:
    store = _store(valkey_url, points=4)
    for slot in (1, 2, 3, 5, 6):  # nobody sampled slot 4
        await store.put(slot, {"r": Point(online=slot * 10, chat_per_min=slot, gmv=slot * 100)})
    assert await store.core.client.zcard(store._key("r")) <= 4  # trimmed as it is written
    series = (await store.read_many(["r"], 6 * 30_000))["r"]
    assert series["from_ms"] == 3 * 30_000
    assert series["online"] == [30, None, 50, 60]
    assert series["chat_per_min"] == [3, None, 5, 6]
    assert series["gmv"] == [300, None, 500, 600]
    await store.core.client.aclose()


async def test_one_process_samples_a_slot_and_ops_read_it(live: LiveApp) -> None:
    room = await live.live_room()
    viewer = await Viewer.connect(live.base, room, token("bob"))
    await viewer.wait_welcome()
    await viewer.request("chat", text="hello")
    await viewer.wait_for(lambda: (viewer.last_counters() or {}).get("online") == 1)
    services = live.client.app[SERVICES]
    status, _ = await live.call("POST", f"/api/rooms/{room}/reports", "carol",
                                json={"seq": viewer.of_type("chat")[0]["seq"],
                                      "reason": "spam"})
    assert status in (200, 201)
    # three processes' clocks, all passing at once, on a series of their own (the app's own
    # clock samples the shared one whenever it likes)
    series = RoomSeriesStore(StoreCore(services.client, Keys("t" + secrets.token_hex(4))),
                             interval_ms=30_000, points=60)
    clocks = [SeriesClock(series, services.room_store, services.orders.store)
              for _ in range(3)]
    now = now_ms()
    written = [await clock.run_once(now) for clock in clocks]
    assert sorted(written) == [0, 0, 1]  # one process sampled the slot, the others skipped
    assert [await clock.run_once(now + 1) for clock in clocks] == [0, 0, 0]
    read = (await series.read_many([room], now))[room]
    assert read["online"] == [1] and read["gmv"] == [0]
    status, body = await live.call("GET", "/api/ops/rooms", "olga", "ops")
    assert status == 200
    row = next(r for r in body["rooms"] if r["id"] == room)
    assert row["series"]["interval_ms"] == 30_000
    assert set(row["series"]) >= {"online", "chat_per_min", "gmv", "from_ms"}
    assert row["reports"] == 1
    await viewer.close()
