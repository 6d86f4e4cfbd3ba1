"""The one-command start: no REDIS_URL → an embedded valkey-server, stopped with us."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from tests.conftest import token
from tests.helpers import Viewer

pytestmark = pytest.mark.system


def _valkey_children(pid: int) -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(pid).children(recursive=True)
                if "valkey" in p.name() or "redis" in p.name()]
    except psutil.NoSuchProcess:
        return []


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
async def test_embedded_valkey_starts_and_leaves_nothing_behind(
        server_factory: Any, tmp_path: Path, stop_signal: int) -> None:
    server = await server_factory(redis_url=None, args=["--demo"], cwd=tmp_path)
    children = _valkey_children(server.pid)
    assert len(children) == 1, "one embedded valkey-server"
    valkey_pid = children[0].pid
    assert (tmp_path / "var").is_dir()  # data under ./var
    log = server.log()
    assert "/watch/" in log and "creator  ey" in log  # demo URLs and tokens printed
    room = log.split("/watch/")[1].split()[0]
    viewer = await Viewer.connect(server.url, room, token("bob"))
    welcome = await viewer.wait_welcome()
    assert welcome["snapshot"]["room"]["state"] == "live"
    assert len(welcome["snapshot"]["recent_chat"]) == 2
    await viewer.close()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, server.stop, stop_signal)
    for _ in range(100):
        if not psutil.pid_exists(valkey_pid) or psutil.Process(valkey_pid).status() == "zombie":
            break
        await asyncio.sleep(0.1)
    else:
        os.kill(valkey_pid, signal.SIGKILL)
        raise AssertionError("embedded valkey-server outlived the server")
    if stop_signal != signal.SIGKILL:
        assert list((tmp_path / "var").rglob("*.aof")), "AOF is on"


async def test_demo_is_reused_on_restart(server_factory: Any, tmp_path: Path) -> None:
    first = await server_factory(redis_url=None, args=["--demo"], cwd=tmp_path)
    room = first.log().split("/watch/")[1].split()[0]
    first.stop()
    second = await server_factory(redis_url=None, args=["--demo"], cwd=tmp_path)
    assert second.log().split("/watch/")[1].split()[0] == room  # AOF kept the data
    async with aiohttp.ClientSession() as http:
        async with http.get(second.url + f"/api/rooms/{room}") as resp:
            assert (await resp.json())["state"] == "live"
    second.stop()
