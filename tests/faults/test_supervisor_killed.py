"""The supervisor of ``serve --workers 2`` SIGKILLed mid-show: no worker survives it, the port
is free, and the service started again on the same port takes the show back: viewers return
with ``since`` and ``epoch`` and miss no guaranteed event, retried purchases are neither lost
nor doubled."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.conftest import ServerProcess, wait_ready
from tests.faults.harness import Run
from tests.faults.procs import alive, kill, port_taken, serve_again, workers_of
from tests.faults.scale import SCALES, Scale
from tests.faults.show import FAST_ENV, Show

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's"),
]
WORKERS = 2


@pytest.mark.parametrize("scale", SCALES)
async def test_a_killed_supervisor_takes_its_workers_and_the_service_comes_back(
        server_factory: Any, valkey_url: str, http: aiohttp.ClientSession,
        scale: Scale) -> None:
    server: ServerProcess = await server_factory(workers=WORKERS, env=FAST_ENV)
    workers = workers_of(server.pid)
    assert len(workers) == WORKERS
    show = Show(http, [server.url])
    await show.setup(sale_stock=scale.buyers * scale.max_orders)
    run = Run(show, scale)
    await run.join(scale.chatters + scale.watchers)
    again: list[ServerProcess] = []

    async def kill_the_supervisor(start: float) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, start + scale.faults_at[0] - loop.time()))
        server.stop(signal.SIGKILL)  # no chance to tell its workers anything
        for _ in range(150):  # a bounded wait: 15 s
            if not any(map(alive, workers)) and not port_taken(server.port):
                break
            await asyncio.sleep(0.1)
        assert [pid for pid in workers if alive(pid)] == [], "workers outlived the supervisor"
        assert not port_taken(server.port), "the port still answers"
        again.append(serve_again(server, WORKERS))
        await wait_ready(server.url, again[0].proc, workers=WORKERS)

    try:
        await run.act(kill_the_supervisor)
        assert run.followers and all(f.rejoins for f in run.followers)
        store = aioredis.from_url(valkey_url)
        try:
            await run.check("supervisor SIGKILLed, its workers gone with it, the service "
                            "started again on the same port", store, server.key_prefix,
                            server.env)
        finally:
            await store.aclose()
    finally:
        for pid in workers:  # orphans, if the test failed
            kill(pid)
        for process in again:
            process.stop()
