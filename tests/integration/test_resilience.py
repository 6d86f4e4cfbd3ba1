"""Edges of the fan-out: a lost pub/sub connection, a leave and a join in one loop turn, join
notices from many processes and ticks."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

from live_server.realtime.conn import Conn
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import Viewer


async def test_lost_pubsub_connection_is_refilled_without_repeats(live_app_factory: Any,
                                                                   valkey_url: str) -> None:
    live: LiveApp = await live_app_factory(chat={"burst": 100, "rate_per_s": 100},
                                           ws={"max_frames_per_s": 1000})
    room = await live.live_room()
    viewer = await Viewer.connect(live.base, room, token("bob"))
    welcome = await viewer.wait_welcome()
    writer = await Viewer.connect(live.base, room, token("carol"))
    await writer.wait_welcome()
    admin = aioredis.from_url(valkey_url)
    try:
        for i in range(20):
            if i == 0:
                await admin.client_kill_filter(_type="pubsub")  # every process's pub/sub link
            assert (await writer.request("chat", text=f"m{i}"))["type"] == "reply"
    finally:
        await admin.aclose()
    await viewer.wait_for(lambda: len(viewer.of_type("chat")) >= 20, timeout=20)
    await asyncio.sleep(0.3)  # a repeat would arrive right behind
    seqs = viewer.seqs()
    assert seqs == list(range(welcome["seq"] + 1, welcome["seq"] + 1 + len(seqs)))
    assert viewer.chat_texts() == [f"m{i}" for i in range(20)]
    await viewer.close()
    await writer.close()


class _Sink:
    """A transport that keeps what the hub writes."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


async def test_leave_then_join_in_one_loop_turn_keeps_the_subscription(live: LiveApp) -> None:
    room = await live.live_room()
    services = live.client.server.app[SERVICES]
    node = services.node
    first = Conn(room_id=room, transport=_Sink(), user_id="a", name="A", role="viewer")
    await node.join(first)
    node.hub.activate(first, 0, [])
    second_sink = _Sink()
    second = Conn(room_id=room, transport=second_sink, user_id="b", name="B", role="viewer")
    node.leave(first)  # schedules the unsubscribe...
    await node.join(second)  # ...and a viewer comes back before it runs
    node.hub.activate(second, 0, [])
    await asyncio.sleep(0.2)
    writer = await Viewer.connect(live.base, room, token("carol"))
    await writer.wait_welcome()
    await writer.request("chat", text="are you there")
    for _ in range(100):
        if b"are you there" in second_sink.data:
            break
        await asyncio.sleep(0.05)
    assert b"are you there" in second_sink.data
    node.leave(second)
    await writer.close()


async def test_join_notices_add_up(live_app_factory: Any) -> None:
    live = await live_app_factory(realtime={"counters_interval_ms": 400})
    room = await live.live_room()
    watcher = await Viewer.connect(live.base, room, token("watcher"))
    await watcher.wait_welcome()
    await watcher.wait_for(lambda: watcher.of_type("joins"))  # its own arrival
    before = sum(e["data"]["count"] for e in watcher.of_type("joins"))
    others = []
    for i in range(12):
        v = await Viewer.connect(live.base, room, token(f"j{i}"))
        await v.wait_welcome()
        others.append(v)
        await asyncio.sleep(0.03)
    await watcher.wait_for(
        lambda: sum(e["data"]["count"] for e in watcher.of_type("joins")) - before >= 12)
    assert sum(e["data"]["count"] for e in watcher.of_type("joins")) - before == 12
    assert all(len(e["data"]["names"]) <= 3 for e in watcher.of_type("joins"))
    for v in others:
        await v.close()
    await watcher.close()
