"""The store's client on a real 3-master cluster: the URL selects it, scripts run on each
room's node (loaded there again after SCRIPT FLUSH), room channels are sharded."""

from __future__ import annotations

import asyncio
import secrets

from redis.asyncio.cluster import RedisCluster

from live_server.store.core import StoreCore, cluster_url, connect
from live_server.store.keys import Keys
from tests.cluster_support import ValkeyCluster


def test_cluster_urls_name_the_seed_node() -> None:
    assert cluster_url("valkey+cluster://127.0.0.1:7000/0") == "redis://127.0.0.1:7000/0"
    assert cluster_url("redis+cluster://h:1") == "redis://h:1"
    assert cluster_url("redis://127.0.0.1:6379/0") is None


async def test_rooms_spread_over_every_master(valkey_cluster: ValkeyCluster) -> None:
    client = connect(valkey_cluster.url, 8)
    assert isinstance(client, RedisCluster)
    core = StoreCore(client, Keys("c" + secrets.token_hex(3)))
    try:
        assert core.cluster and core.publish_command == "SPUBLISH"
        await client.initialize()
        nodes = {client.get_node_from_key(core.keys.room(f"r{i}").meta).name
                 for i in range(30)}
        assert len(nodes) == 3
    finally:
        await client.aclose()


async def test_pipelined_scripts_reload_on_every_node(valkey_cluster: ValkeyCluster) -> None:
    client = connect(valkey_cluster.url, 8)
    core = StoreCore(client, Keys("c" + secrets.token_hex(3)))
    try:
        await client.script_flush()
        rooms = [f"room{i}" for i in range(12)]
        pipe = client.pipeline(transaction=False)
        for room in rooms:
            k = core.keys.room(room)
            core.scripts.queue(pipe, "epoch_reset", [k.meta], [1])
        replies = await core.scripts.execute(pipe)
        assert replies == [0] * len(rooms)  # no such rooms: each ran on its node, once
    finally:
        await client.aclose()


async def test_room_messages_are_sharded(valkey_cluster: ValkeyCluster) -> None:
    client = connect(valkey_cluster.url, 8)
    core = StoreCore(client, Keys("c" + secrets.token_hex(3)))
    pubsub = client.pubsub()
    try:
        channel = core.keys.room("sharded").channel
        await pubsub.ssubscribe(channel)
        await core.publish(channel, b"hello")
        got = None
        for _ in range(50):
            msg = await pubsub.get_sharded_message(ignore_subscribe_messages=True, timeout=0.1)
            if msg is not None:
                got = msg
                break
            await asyncio.sleep(0)
        assert got is not None and got["data"] == b"hello" and got["type"] == "smessage"
    finally:
        await pubsub.aclose()
        await client.aclose()
