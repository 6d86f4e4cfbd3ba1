"""Valkey killed (SIGKILL) and started again on the same port from its AOF (``appendfsync
always``) in the middle of a show, while buyers buy (retrying with the same idempotency key),
the creator launches red packets, grabbers grab them and viewers chat over websockets. Nothing a
client was told is done may be lost, nothing may be done twice, and no viewer may stay frozen."""

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
async def test_valkey_killed_and_restarted_mid_show(
        server_factory: Any, own_valkey: RestartableValkey, http: aiohttp.ClientSession,
        scale: Scale) -> None:
    run, servers = await run_on_own_valkey(server_factory, own_valkey.url, http, scale)

    async def kill_and_restart(start: float) -> None:
        loop = asyncio.get_running_loop()
        for at in scale.faults_at:
            await asyncio.sleep(max(0.0, start + at - loop.time()))
            own_valkey.kill()
            await asyncio.sleep(scale.down_s)
            await loop.run_in_executor(None, own_valkey.restart)

    await run.act(kill_and_restart)
    assert own_valkey.kills == len(scale.faults_at)
    store = own_valkey.admin()
    try:
        await run.check(f"Valkey SIGKILLed {own_valkey.kills}x, down {scale.down_s} s each, "
                        f"appendfsync always, {scale.servers} server process(es)",
                        store, servers[0].key_prefix, servers[0].env)
    finally:
        await store.aclose()
