"""Valkey stalls (``CLIENT PAUSE <ms> ALL``: every client's commands wait) in the middle of a
show. Requests wait or fail with a coded error, nothing is half-done (units, orders, money and
the audit add up), and afterwards a chat reaches every viewer. The full run includes a stall
longer than the server's store timeout (5 s), so requests time out while their scripts may
still run once the pause ends: the retries with the same key must not do them twice."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.faults.harness import run_on_own_valkey
from tests.faults.procs import RestartableValkey
from tests.faults.scale import SCALES, Scale

pytestmark = pytest.mark.system


@pytest.mark.parametrize("scale", SCALES)
async def test_a_valkey_stall_leaves_nothing_half_done(
        server_factory: Any, own_valkey: RestartableValkey, http: aiohttp.ClientSession,
        scale: Scale) -> None:
    run, servers = await run_on_own_valkey(server_factory, own_valkey.url, http, scale)
    store = own_valkey.admin()

    async def stall(start: float) -> None:
        loop = asyncio.get_running_loop()
        for at, pause_s in zip(scale.faults_at, scale.stalls_s, strict=True):
            await asyncio.sleep(max(0.0, start + at - loop.time()))
            assert await store.client_pause(int(pause_s * 1000), all=True)
            await asyncio.sleep(pause_s)

    try:
        await run.act(stall)
        assert run.show.uncoded == 0, f"{run.show.uncoded} failures without a coded error"
        await run.check(f"Valkey paused {len(scale.stalls_s)}x ({scale.stalls_s} s), "
                        f"{scale.servers} server process(es)", store, servers[0].key_prefix,
                        servers[0].env)
    finally:
        await store.aclose()
