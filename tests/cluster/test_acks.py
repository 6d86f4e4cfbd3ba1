"""``store.ack_replicas``: an order or a money movement is answered once a replica holds it. A
replica that cannot confirm (here: stopped with SIGSTOP for a moment) makes the write answer
``not_ready``; the same request again, once the replica is back, answers the first outcome, and
the replica then holds it."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from live_server.store.acks import NotAcknowledged
from live_server.store.core import StoreCore, cluster_url
from live_server.store.keys import Keys
from tests.cluster_support import ValkeyCluster
from tests.integration.test_schedulers import sample
from tests.integration.test_shelf import buy, on_sale, product

ACK_TIMEOUT_MS = 200


@contextmanager
def replica_stopped(cluster: ValkeyCluster, master: int) -> Iterator[int]:
    """The replica of ``master`` frozen (SIGSTOP) for the block: it receives nothing and
    confirms nothing. Shorter than the cluster's node timeout, so nobody fails over."""
    replica = cluster.replica_of(master)
    cluster.freeze(replica)
    try:
        yield replica
    finally:
        cluster.thaw(replica)


async def on_replica(port: int, command: str, *args: Any) -> Any:
    """A read on the replica itself (READONLY): what would survive its master's death."""
    client = aioredis.Redis(host="127.0.0.1", port=port)
    try:
        await client.execute_command("READONLY")
        return await client.execute_command(command, *args)
    finally:
        await client.aclose()


async def test_a_purchase_waits_for_the_replica_and_is_asked_again_when_it_cannot(
        live_app_factory: Any, valkey_cluster: ValkeyCluster) -> None:
    live = await live_app_factory(store={"ack_replicas": 1, "ack_timeout_ms": ACK_TIMEOUT_MS})
    room = await live.live_room()
    p = await product(live)
    await on_sale(live, room, p["id"], stock=5)
    keys = Keys(live.settings.store.key_prefix)
    orders = keys.shelf(room).orders
    master = valkey_cluster.master_of(orders)

    status, first = await buy(live, room, p["id"], "vic", "k1")
    assert status == 201, first
    replica = valkey_cluster.replica_of(master)
    # answered: the replica already holds the order
    assert await on_replica(replica, "HEXISTS", orders, first["order"]["id"]) == 1

    with replica_stopped(valkey_cluster, master):
        status, body = await buy(live, room, p["id"], "vic", "k2")
        assert status == 503 and body["error"]["code"] == "not_ready", body
    assert sample(live, "live_store_unacknowledged_total", script="buy") == 1
    # the same request again: the order made by the first attempt, once, now confirmed
    status, again = await buy(live, room, p["id"], "vic", "k2")
    assert status == 200 and again["created"] is False, again
    assert await on_replica(replica, "HEXISTS", orders, again["order"]["id"]) == 1
    _status, mine = await live.call("GET", "/api/me/orders", "vic")
    assert sorted(o["idempotency_key"] for o in mine["orders"]) == ["k1", "k2"]


@pytest.mark.parametrize("plain", [False, True], ids=["cluster-client", "one-node-client"])
async def test_a_pipelined_money_batch_is_confirmed_per_node(
        valkey_cluster: ValkeyCluster, plain: bool) -> None:
    """Sends pipelined together (as a burst of gifts is) are confirmed together; one client
    of the cluster, or a plain client of one primary (the one-node path, a pipeline with
    WAIT last)."""
    keys = Keys("a" + secrets.token_hex(3))
    money = keys.buckets[0]  # the one wallet bucket of a Keys with the default count
    master = valkey_cluster.master_of(money.balances)
    client: Any = (aioredis.Redis(host="127.0.0.1", port=master) if plain else
                   RedisCluster.from_url(cluster_url(valkey_cluster.url) or ""))
    short: list[str] = []
    core = StoreCore(client, keys, ack_replicas=1, ack_timeout_ms=ACK_TIMEOUT_MS,
                     on_short_ack=short.append)

    async def topups(*users: str) -> list[Any]:
        async with core.client.pipeline(transaction=False) as pipe:
            for user in users:
                core.scripts.queue(pipe, "wallet_topup",
                                   [money.balances, money.ledger, money.recent(user)],
                                   [1, user, 100, 10, f"ref-{user}"])
            return await core.scripts.execute(pipe)

    try:
        await topups("u1", "u2")
        replica = valkey_cluster.replica_of(master)
        assert await on_replica(replica, "HMGET", money.balances, "u1", "u2") == [b"100", b"100"]
        with replica_stopped(valkey_cluster, master):
            with pytest.raises(NotAcknowledged):
                await topups("u3", "u4")
            with pytest.raises(NotAcknowledged):
                await core.script("wallet_topup", [money.balances, money.ledger,
                                                   money.recent("u5")], [1, "u5", 7, 10, "r5"])
        assert short == ["wallet_topup"] * 3
        # done on the primary all the same (the client is told to ask again, not that it
        # failed), and the replica has it once it is back
        assert await client.hmget(money.balances, "u3", "u4", "u5") == [b"100", b"100", b"7"]
        for _ in range(100):  # a bounded wait: 5 s
            if await on_replica(replica, "HGET", money.balances, "u5") == b"7":
                break
            await asyncio.sleep(0.05)
        assert await on_replica(replica, "HGET", money.balances, "u5") == b"7"
    finally:
        await client.aclose()


async def test_what_waiting_for_a_replica_costs(valkey_cluster: ValkeyCluster) -> None:
    """Printed, not asserted (the machine's load decides it): money writes one after another
    through the cluster client, without and with ``ack_replicas`` = 1, in alternating rounds.
    Asserted: every write counted once."""
    keys = Keys("w" + secrets.token_hex(3))
    money = keys.buckets[0]  # the one wallet bucket of a Keys with the default count
    client: Any = RedisCluster.from_url(cluster_url(valkey_cluster.url) or "")
    cores = {ack: StoreCore(client, keys, ack_replicas=ack, ack_timeout_ms=1000)
             for ack in (0, 1)}
    ms: dict[int, list[float]] = {0: [], 1: []}
    try:
        for _round in range(5):
            for ack, core in cores.items():
                for _ in range(200):
                    start = time.perf_counter()
                    await core.script("wallet_topup", [money.balances, money.ledger,
                                                       money.recent("u")], [1, "u", 1, 10, "r"])
                    ms[ack].append((time.perf_counter() - start) * 1000)
        assert await client.hget(money.balances, "u") == b"2000"
    finally:
        await client.aclose()

    def q(got: list[float], p: float) -> float:
        return sorted(got)[int(p * (len(got) - 1))]
    print("\nwallet_topup one after another, 5 alternating rounds of 200: " + "; ".join(
        f"ack_replicas={ack} p50 {q(got, 0.5):.2f} ms p99 {q(got, 0.99):.2f} ms"
        for ack, got in ms.items()))
