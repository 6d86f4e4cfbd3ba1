"""A burst on a cluster with a small connection pool: calls beyond ``store.pool_size`` wait for a
connection, as on one node, instead of being refused (redis-py's cluster pools refuse with
``MaxConnectionsError``, which a join answered with 1013 ``try_again_later``)."""

from __future__ import annotations

import asyncio
from typing import Any

from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import Viewer

JOINERS = 120


async def test_a_burst_of_joins_beyond_the_pool_is_served_whole(live_app_factory: Any) -> None:
    live: LiveApp = await live_app_factory(store={"pool_size": 3})
    room = await live.live_room()
    viewers = await asyncio.gather(*(Viewer.connect(live.base, room, token(f"v{i}"))
                                     for i in range(JOINERS)))
    welcomes = await asyncio.gather(*(v.wait_welcome() for v in viewers))
    assert len(welcomes) == JOINERS
    await viewers[0].wait_for(
        lambda: (viewers[0].last_counters() or {}).get("online") == JOINERS)
    await asyncio.gather(*(v.close() for v in viewers))


async def test_commands_pipelines_and_scripts_beyond_the_pool_all_run(
        live_app_factory: Any) -> None:
    live: LiveApp = await live_app_factory(store={"pool_size": 2})
    core = live.client.server.app[SERVICES].core
    client = core.client
    keys = [f"{core.keys.prefix}:{{burst{i % 7}}}:n" for i in range(300)]

    async def one(i: int, key: str) -> int:
        if i % 3 == 0:
            return int(await client.incr(key))
        async with client.pipeline(transaction=i % 3 == 2) as pipe:
            pipe.incr(key)
            pipe.get(key)
            return int((await pipe.execute())[0])

    await asyncio.gather(*(one(i, key) for i, key in enumerate(keys)))
    totals = await asyncio.gather(*(client.get(f"{core.keys.prefix}:{{burst{j}}}:n")
                                    for j in range(7)))
    assert sum(int(t) for t in totals) == 300
