"""Valkey killed (SIGKILL) and started again on the same port from its AOF (``appendfsync
always``) in the middle of a show, while buyers buy (retrying with the same idempotency key),
the creator launches red packets, grabbers grab them and viewers chat over websockets. Nothing a
client was told is done may be lost, nothing may be done twice, and no viewer may stay frozen."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from live_server.store.keys import Keys
from tests.faults import books
from tests.faults.actors import Acks, buyer, chatter, grabber, launcher
from tests.faults.followers import Follower, everyone_hears
from tests.faults.procs import RestartableValkey
from tests.faults.scale import SCALES, Scale
from tests.faults.show import FAST_ENV, Show

pytestmark = pytest.mark.system
RETRY_WINDOW_S = 20.0  # after the show, how long a client keeps asking about its last action


async def _kill_and_restart(valkey: RestartableValkey, start: float, scale: Scale) -> None:
    loop = asyncio.get_running_loop()
    for at in scale.faults_at:
        await asyncio.sleep(max(0.0, start + at - loop.time()))
        valkey.kill()
        await asyncio.sleep(scale.down_s)
        await loop.run_in_executor(None, valkey.restart)


@pytest.mark.parametrize("scale", SCALES)
async def test_valkey_killed_and_restarted_mid_show(
        server_factory: Any, own_valkey: RestartableValkey, http: aiohttp.ClientSession,
        scale: Scale) -> None:
    servers = [await server_factory(redis_url=own_valkey.url, env=FAST_ENV)
               for _ in range(scale.servers)]
    show = Show(http, [s.url for s in servers])
    await show.setup(sale_stock=scale.buyers * scale.max_orders)
    followers = [Follower(show.urls, show.room, f"f{i}")
                 for i in range(scale.chatters + scale.watchers)]
    for f in followers:
        f.start()
    for f in followers:
        await f.joined()

    acks = Acks()
    loop = asyncio.get_running_loop()
    start = loop.time()
    until, retry_until = start + scale.show_s, start + scale.show_s + RETRY_WINDOW_S
    await asyncio.gather(
        _kill_and_restart(own_valkey, start, scale),
        launcher(show, acks, until, retry_until, scale.launches,
                 every_s=scale.show_s / scale.launches),
        *(buyer(show, acks, f"b{i}", until, retry_until, scale.max_orders)
          for i in range(scale.buyers)),
        *(grabber(show, acks, f"g{i}", until, retry_until) for i in range(scale.grabbers)),
        *(chatter(f, acks, until) for f in followers[:scale.chatters]))
    assert own_valkey.kills == len(scale.faults_at)

    last = await everyone_hears(followers, "after the restarts")
    for f in followers:
        await f.stop()
    store = own_valkey.admin()
    try:
        keys = Keys(servers[0].key_prefix)
        ordered, problems = await books.orders(show, acks)
        figures = [ordered, *await books.packets_and_grabs(show, acks, store, keys),
                   await books.ledger(acks, store, keys), await books.chats(show, acks),
                   await books.guaranteed(followers, store, keys, show.room, last)]
    finally:
        await store.aclose()
    audit = await books.audit(servers[0].env)
    rejoins = sum(f.rejoins for f in followers)
    snapshots = sum(f.snapshots for f in followers)
    books.assert_whole(
        f"Valkey SIGKILLed {own_valkey.kills}x, down {scale.down_s} s each, fsync always, "
        f"{scale.servers} server process(es): {acks.retried} requests retried, "
        f"{acks.unanswered} unanswered at the deadline, viewers rejoined {rejoins}x "
        f"({snapshots} by snapshot); {audit}", figures)
    assert not problems, problems
    assert acks.orders and acks.grabs and acks.chats, "the show did not happen"
