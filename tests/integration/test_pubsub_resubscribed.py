"""The client library subscribes again by itself (a failover moved a room's channel to another
node, or it reconnected inside a read): events published meanwhile never came, so the room is
refilled from its history as after a reconnect of the broker's own."""

from __future__ import annotations

from typing import Any

from redis.asyncio.cluster import RedisCluster

from live_server.protocol import dumps, now_ms
from live_server.store.core import text
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import Viewer


async def other_shard_watched(live: LiveApp, channel: str) -> Viewer | None:
    """On a cluster: a viewer of another room whose channel is on another node than
    ``channel``, so that the process keeps a healthy pub/sub link beside the one that fails
    (redis-py then moves the failed node's channels by itself, without raising)."""
    client = live.client.server.app[SERVICES].client
    if not isinstance(client, RedisCluster):
        return None
    keys = live.client.server.app[SERVICES].core.keys
    node = client.get_node_from_key(channel)
    for _ in range(50):
        other = await live.live_room()
        if client.get_node_from_key(keys.room(other).channel) != node:
            viewer = await Viewer.connect(live.base, other, token("olga"))
            await viewer.wait_welcome()
            return viewer
    raise AssertionError("every room landed on one node")


async def kill_pubsub_links(client: Any, channel: str) -> None:
    """The pub/sub connections to the store closed by the store: on one node, every one; on
    a cluster, those of the node that holds ``channel``."""
    if isinstance(client, RedisCluster):
        await client.execute_command("CLIENT", "KILL", "TYPE", "pubsub",
                                     target_nodes=client.get_node_from_key(channel))
    else:
        await client.client_kill_filter(_type="pubsub")


async def test_an_event_missed_while_subscribed_again_reaches_the_viewer(live: LiveApp) -> None:
    room = await live.live_room()
    viewer = await Viewer.connect(live.base, room, token("bob"))
    welcome = await viewer.wait_welcome()
    services = live.client.server.app[SERVICES]
    k = services.core.keys.room(room)
    # kept in the room's history but published where nobody listens: what a process misses
    # while its subscription is on its way to another node
    reply = await services.core.script(
        "room_event", [k.meta, k.seq, k.events],
        [f"{k.channel}:elsewhere", 500, "announcement",
         dumps({"type": "announcement", "ts": now_ms(), "data": {"text": "missed"}})])
    assert text(reply[0]) == "ok"
    seq = int(reply[1])
    assert seq == welcome["seq"] + 1
    elsewhere = await other_shard_watched(live, k.channel)
    await kill_pubsub_links(services.client, k.channel)
    await viewer.wait_for(lambda: seq in viewer.seqs(), timeout=10)
    assert viewer.of_type("announcement")[-1]["data"]["text"] == "missed"
    # and live again afterwards, without a repeat
    writer = await Viewer.connect(live.base, room, token("carol"))
    await writer.wait_welcome()
    assert (await writer.request("chat", text="after"))["type"] == "reply"
    await viewer.wait_for(lambda: "after" in viewer.chat_texts(), timeout=10)
    assert viewer.seqs() == [seq, seq + 1]
    await writer.close()
    await viewer.close()
    if elsewhere is not None:
        await elsewhere.close()
