"""One worker of ``serve --workers 2`` SIGKILLed mid-show: its viewers reconnect (with ``since``
and ``epoch`` from their welcome) through the other worker and miss no guaranteed event, the
clients' retried purchases are neither lost nor doubled, and the supervisor starts a new
worker that answers on the shared port."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.faults.followers import Follower
from tests.faults.harness import Run
from tests.faults.procs import alive, holder_of, workers_of
from tests.faults.scale import SCALES, Scale
from tests.faults.show import FAST_ENV, Show

pytestmark = pytest.mark.system
MORE_FOLLOWERS = 30  # joined one by one until both workers hold some


def _holder(follower: Follower, workers: list[int]) -> int | None:
    viewer = follower.viewer
    sockname = viewer.ws.get_extra_info("sockname") if viewer is not None else None
    return holder_of(workers, int(sockname[1])) if sockname else None


async def _answering(url: str, count: int, timeout: float = 15) -> set[str]:
    """The distinct processes answering ``/healthz`` on new connections (SO_REUSEPORT spreads
    connections), until ``count`` are seen or ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen: set[str] = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        while len(seen) < count and loop.time() < deadline:
            try:
                async with http.get(url + "/healthz") as resp:
                    seen.add(str((await resp.json())["process"]))
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    return seen


@pytest.mark.parametrize("scale", SCALES)
async def test_a_killed_worker_loses_nothing_and_is_replaced(
        server_factory: Any, valkey_url: str, http: aiohttp.ClientSession,
        scale: Scale) -> None:
    server = await server_factory(workers=2, env=FAST_ENV)
    workers = workers_of(server.pid)
    assert len(workers) == 2
    before = await _answering(server.url, 2)
    show = Show(http, [server.url])
    await show.setup(sale_stock=scale.buyers * scale.max_orders)
    run = Run(show, scale)
    await run.join(scale.chatters + scale.watchers)
    for _ in range(MORE_FOLLOWERS):  # both workers must hold viewers
        if {_holder(f, workers) for f in run.followers} >= set(workers):
            break
        await run.join(1)
    held = {f.user: _holder(f, workers) for f in run.followers}
    victim = workers[0]
    doomed = [user for user, pid in held.items() if pid == victim]
    assert doomed and len(doomed) < len(held), held

    async def kill_a_worker(start: float) -> None:
        loop = asyncio.get_running_loop()
        for at in scale.faults_at[:1]:
            await asyncio.sleep(max(0.0, start + at - loop.time()))
            os.kill(victim, signal.SIGKILL)

    await run.act(kill_a_worker)
    assert not alive(victim)
    for _ in range(100):  # the supervisor polls every 0.5 s; a bounded wait of 10 s
        now = workers_of(server.pid)
        if len(now) == 2 and victim not in now:
            break
        await asyncio.sleep(0.1)
    assert len(now) == 2 and victim not in now, now
    after = await _answering(server.url, 2)  # the survivor and the new worker
    assert len(after) == 2 and after != before, (before, after)
    rejoined = {f.user for f in run.followers if f.rejoins}
    assert set(doomed) <= rejoined, (doomed, rejoined)
    store = aioredis.from_url(valkey_url)
    try:
        await run.check(f"worker {victim} SIGKILLed ({len(doomed)} of {len(held)} viewers on "
                        "it), replaced by the supervisor", store, server.key_prefix, server.env)
    finally:
        await store.aclose()
