"""The server's own embedded Valkey (no store URL: ``serve`` starts valkey-server itself, with
``appendfsync always`` here) SIGKILLed in the middle of a show, while buyers buy (retrying with
the same idempotency key), the creator launches red packets, grabbers grab them and viewers
chat. Nobody restarts it but the server: it must start it again on the same port from its AOF,
and its processes must take the show back. Nothing a client was told is done may be lost,
nothing may be done twice, no viewer may stay frozen, and the Valkey started again still stops
with the server. The short run is one process; the full
one is a supervisor with workers (the supervisor owns the Valkey)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from live_server.store.embedded import MOST_RESTARTS
from tests.faults.harness import run_on
from tests.faults.procs import alive, embedded_valkey_of
from tests.faults.scale import SCALES, Scale
from tests.faults.show import FAST_ENV

pytestmark = pytest.mark.system
BACK_WITHIN_S = 30.0  # a bounded wait for the server to bring its Valkey back


async def _answers(url: str) -> bool:
    client = aioredis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(await client.ping())
    except aioredis.RedisError:
        return False  # refused, or still loading its AOF
    finally:
        await client.aclose()


async def _back(server: int, killed: int, port: int) -> float | None:
    """Seconds until a new embedded valkey-server of ``server`` answers on ``port``, or None
    if none did within ``BACK_WITHIN_S``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < BACK_WITHIN_S:
        found = embedded_valkey_of(server)
        if found is not None and found[0] != killed:
            assert found[1] == port, "the embedded Valkey came back on another port"
            if await _answers(f"redis://127.0.0.1:{port}/0"):
                return loop.time() - start
        await asyncio.sleep(0.05)
    return None


@pytest.mark.parametrize("scale", SCALES)
async def test_the_embedded_valkey_killed_mid_show_is_brought_back(
        server_factory: Any, http: aiohttp.ClientSession, tmp_path: Path,
        scale: Scale) -> None:
    server = await server_factory(redis_url=None, workers=scale.servers, env=FAST_ENV | {
        "LIVE_STORE_DATA_DIR": str(tmp_path / "var"), "LIVE_STORE_APPENDFSYNC": "always"})
    found = embedded_valkey_of(server.pid)
    assert found is not None, "no embedded valkey-server"
    port = found[1]
    url = f"redis://127.0.0.1:{port}/0"
    run = await run_on([server.url], http, scale)
    back_after: list[float | None] = []

    async def kill_the_embedded_valkey(start: float) -> None:
        loop = asyncio.get_running_loop()
        for at in scale.faults_at:
            await asyncio.sleep(max(0.0, start + at - loop.time()))
            now = embedded_valkey_of(server.pid)
            if now is None:
                return  # not back from the last kill: reported below
            os.kill(now[0], signal.SIGKILL)
            back_after.append(await _back(server.pid, now[0], port))
            if back_after[-1] is None:
                return

    await run.act(kill_the_embedded_valkey)
    assert len(back_after) == len(scale.faults_at) and None not in back_after, (
        f"the server did not bring its embedded Valkey back within {BACK_WITHIN_S} s "
        f"({back_after})\n{server.log()[-3000:]}")
    store = aioredis.from_url(url, socket_timeout=10)
    try:
        seconds = ", ".join(f"{s:.2f}" for s in back_after if s is not None)
        await run.check(f"embedded Valkey SIGKILLed {len(back_after)}x, answering again after "
                        f"{seconds} s, appendfsync always, {scale.servers} server "
                        f"process(es)", store, server.key_prefix, server.env | {"REDIS_URL": url})
    finally:
        await store.aclose()
    last = embedded_valkey_of(server.pid)
    assert last is not None
    assert server.stop() == 0, "the service did not stop cleanly after the restarts"
    for _ in range(100):  # a bounded wait: 10 s
        if not alive(last[0]):
            break
        await asyncio.sleep(0.1)
    assert not alive(last[0]), "the restarted Valkey outlived the server"


async def test_an_embedded_valkey_that_keeps_dying_stops_the_service(
        server_factory: Any, tmp_path: Path) -> None:
    """Past ``MOST_RESTARTS`` deaths within a minute, restarting is not helping: the server
    stops with exit code 1 so that its service manager sees the failure."""
    server = await server_factory(redis_url=None, env={
        "LIVE_STORE_DATA_DIR": str(tmp_path / "var")})
    killed: list[int] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60  # bounded: the pauses between restarts add up to about 4 s
    while server.proc.poll() is None and loop.time() < deadline:
        found = embedded_valkey_of(server.pid)
        if found is not None and found[0] not in killed:
            os.kill(found[0], signal.SIGKILL)
            killed.append(found[0])
        await asyncio.sleep(0.05)
    assert server.proc.poll() == 1, f"still running after {len(killed)} kills\n{server.log()}"
    assert len(killed) == MOST_RESTARTS + 1, killed
    assert "giving up" in server.log()
