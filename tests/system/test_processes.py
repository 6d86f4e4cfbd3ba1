"""Real server processes sharing one Valkey: cross-process fan-out, counters, crash, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import ServerProcess, token
from tests.helpers import FRESH, WS_PATHS, Viewer

pytestmark = pytest.mark.system
FAST_CHAT = {"LIVE_CHAT_BURST": "200", "LIVE_CHAT_RATE_PER_S": "200",
             "LIVE_WS_MAX_FRAMES_PER_S": "1000"}


async def _create_live_room(server: ServerProcess) -> str:
    headers = {"Authorization": f"Bearer {token('alice', 'creator')}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(server.url + "/api/rooms", json={"title": "Two"},
                             headers=headers) as resp:
            room = await resp.json()
        async with http.post(server.url + f"/api/rooms/{room['id']}/start",
                             headers=headers) as resp:
            assert resp.status == 200
    return str(room["id"])


async def test_two_processes_deliver_once_in_order_and_agree(server_factory: Any) -> None:
    one = await server_factory(env=FAST_CHAT)
    two = await server_factory(env=FAST_CHAT)
    room = await _create_live_room(one)
    viewers = []
    for i in range(6):
        server = one if i % 2 == 0 else two
        v = await Viewer.connect(server.url, room, token(f"v{i}"))
        await v.wait_welcome()
        viewers.append(v)
    on_one, on_two = viewers[0], viewers[1]
    for i in range(30):  # senders on both processes, interleaved
        sender = on_one if i % 2 == 0 else on_two
        assert (await sender.request("chat", text=f"n{i}"))["type"] == "reply"
    await asyncio.gather(*(on_one.request("heart", count=10) for _ in range(5)),
                         *(on_two.request("heart", count=7) for _ in range(5)))
    for v in viewers:
        await v.wait_for(lambda v=v: len(v.of_type("chat")) >= 30)
        assert v.chat_texts() == [f"n{i}" for i in range(30)]  # exactly once, in order
        seqs = [e["seq"] for e in v.of_type("chat")]
        assert seqs == list(range(seqs[0], seqs[0] + 30))
        await v.wait_for(lambda v=v: (v.last_counters() or {}).get("hearts") == 85)
        await v.wait_for(lambda v=v: (v.last_counters() or {}).get("online") == 6)
    async with aiohttp.ClientSession() as http:
        for server in (one, two):
            async with http.get(server.url + f"/api/rooms/{room}") as resp:
                counters = (await resp.json())["counters"]
            assert counters["online"] == 6 and counters["hearts"] == 85
            assert counters["chat"] == 30
        headers = {"Authorization": f"Bearer {token('olga', 'ops')}"}
        async with http.get(one.url + "/api/ops/rooms", headers=headers) as resp:
            ops = await resp.json()
    row = next(r for r in ops["rooms"] if r["id"] == room)
    assert sorted(row["processes"].values()) == [3, 3]
    assert len(ops["processes"]) == 2
    for v in viewers:
        await v.close()


async def test_crashed_process_viewers_leave_the_count(server_factory: Any) -> None:
    one = await server_factory()
    two = await server_factory()
    room = await _create_live_room(one)
    watcher = await Viewer.connect(one.url, room, token("ann"))
    await watcher.wait_welcome()
    doomed = [await Viewer.connect(two.url, room, token(f"d{i}")) for i in range(3)]
    for v in doomed:
        await v.wait_welcome()
    await watcher.wait_for(lambda: (watcher.last_counters() or {}).get("online") == 4)
    two.stop(signal.SIGKILL)  # no goodbye: its presence must expire by itself
    await watcher.wait_for(lambda: (watcher.last_counters() or {}).get("online") == 1)
    for v in doomed:
        await v.close()
    await watcher.close()


@pytest.mark.parametrize("path", WS_PATHS)
async def test_graceful_shutdown_tells_clients_to_reconnect(server_factory: Any,
                                                           path: str) -> None:
    server = await server_factory()
    room = await _create_live_room(server)
    Viewer.path = path  # the sockets aiohttp read are told too, not only the front door's
    try:
        viewers = [await Viewer.connect(server.url, room, token(f"v{i}")) for i in range(3)]
    finally:
        Viewer.path = FRESH
    for v in viewers:
        await v.wait_welcome()
    loop = asyncio.get_running_loop()
    code = await loop.run_in_executor(None, server.stop)
    assert code == 0
    for v in viewers:
        assert await v.wait_closed() == 1012
        await v.close()


async def test_workers_share_one_port(server_factory: Any) -> None:
    server = await server_factory(workers=2, env=FAST_CHAT)
    room = await _create_live_room(server)
    processes: set[str] = set()
    viewers = []
    # a new connection each time: SO_REUSEPORT spreads connections, not requests
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        for _ in range(100):
            async with http.get(server.url + "/healthz") as resp:
                processes.add((await resp.json())["process"])
            if len(processes) == 2:
                break
    assert len(processes) == 2, "both workers answer on the shared port"
    for i in range(8):
        v = await Viewer.connect(server.url, room, token(f"w{i}"))
        await v.wait_welcome()
        viewers.append(v)
    await viewers[0].request("chat", text="to everyone")
    for v in viewers:
        await v.wait_for(lambda v=v: v.chat_texts() == ["to everyone"])
    for v in viewers:
        await v.close()


def _children(pid: int) -> list[int]:
    """The pids whose parent is ``pid``, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for whoever adopted it to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
async def test_workers_die_with_a_killed_supervisor(server_factory: Any) -> None:
    server = await server_factory(workers=2)
    workers = _children(server.pid)
    assert len(workers) == 2
    server.stop(signal.SIGKILL)  # no chance to forward anything to its workers
    try:
        for _ in range(150):  # a bounded wait: 15 s
            if not any(map(_alive, workers)) and not _port_taken(server.port):
                break
            await asyncio.sleep(0.1)
        assert [pid for pid in workers if _alive(pid)] == [], "workers outlived the supervisor"
        assert not _port_taken(server.port), "the port still answers"
    finally:
        for pid in workers:  # orphans, if the test failed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
