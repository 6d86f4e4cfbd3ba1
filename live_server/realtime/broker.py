"""Pub/sub transport between processes: one Valkey connection, one subscription per room.

``subscribe`` returns only after the server confirmed it, so a joining viewer's snapshot can be
read afterwards without a window in which events are neither in the snapshot nor delivered.
After a lost connection the broker resubscribes everything and tells the hub, which then fills
the gap from the room's history.

On a Valkey Cluster the subscriptions are sharded (``SSUBSCRIBE``; the store publishes with
``SPUBLISH``): each room's channel lives on its slot's node, and redis-py's cluster pub/sub
keeps one connection per node and moves a channel to its new owner after a slot migration or
a failover. It does so by itself, without raising: what the broker sees is the new owner's
confirmation of a channel it had already subscribed. Such a confirmation (on one node too,
where redis-py may reconnect and subscribe again inside a read) means messages may have been
missed meanwhile, so the hub is told as after a reconnect and refills the rooms from their
history.

On a cluster each node's subscriptions are read by a task of their own (``target_node``), so a
room's events never wait behind another node. redis-py's own reader polls the nodes in turn,
each with a share of the timeout: an event on one node waited while an idle one (say, the node
of ``notices``) used its share, and a busy room's messages came in bursts after pauses. A read
is bounded (``SHARD_READ_S``) because it holds the node's connection, which a subscribe to that
node waits for; a node's reader that loses its connection retries by itself, and redis-py
subscribes its channels again on reconnect, which the broker then sees as above.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import types
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from live_server.store.core import Client, is_cluster

log = logging.getLogger(__name__)

OnMessage = Callable[[str, bytes], None]
OnResubscribed = Callable[[list[str]], Awaitable[None]]

# A node reader's bounded read: a subscribe to that node waits at most this long for it.
SHARD_READ_S = 0.05
# How often the cluster's node readers are matched against the nodes that hold subscriptions
# (redis-py moves channels to a new node by itself after a failover or a slot migration).
SHARD_SUPERVISE_S = 0.25


class Broker:
    def __init__(self, client: Client, on_message: OnMessage,
                 on_resubscribed: OnResubscribed) -> None:
        self._client: Any = client
        self._sharded = is_cluster(client)
        self._message, self._confirmed = (
            ("smessage", "ssubscribe") if self._sharded else ("message", "subscribe"))
        self._on_message = on_message
        self._on_resubscribed = on_resubscribed
        self._pubsub: Any = client.pubsub()
        self._channels: set[str] = set()
        self._pending: dict[str, asyncio.Future[None]] = {}
        # confirmations of the broker's own resubscription after a reconnect (not a move)
        self._expected: set[str] = set()
        self._moved: set[str] = set()  # subscribed again by the client: to be refilled
        self._refilling: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._readers: dict[str, asyncio.Task[None]] = {}  # cluster: node name -> its reader
        self._lock = asyncio.Lock()

    def start(self) -> None:
        self._task = asyncio.create_task(
            self._supervise() if self._sharded else self._run(), name="broker")

    async def close(self) -> None:
        for task in (self._task, self._refilling, *self._readers.values()):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()

    async def subscribe(self, channel: str) -> None:
        async with self._lock:
            if channel in self._channels:
                return
            fut = asyncio.get_running_loop().create_future()
            self._pending[channel] = fut
            self._channels.add(channel)
            try:
                await self._subscribe(channel)
            except Exception:
                self._channels.discard(channel)
                self._pending.pop(channel, None)
                raise
            if self._sharded:
                self._start_readers()  # a first channel on a node: its confirmation is read
            self._wake.set()
        await asyncio.wait_for(asyncio.shield(fut), timeout=10)

    async def unsubscribe(self, channel: str, still_wanted: Callable[[], bool] | None = None,
                          ) -> None:
        """Drop a subscription, unless ``still_wanted()`` says a viewer came back meanwhile
        (checked under the lock, so a concurrent subscribe is never undone)."""
        async with self._lock:
            if channel not in self._channels or (still_wanted is not None and still_wanted()):
                return
            self._channels.discard(channel)
            with contextlib.suppress(RedisConnectionError):
                if self._sharded:
                    await self._pubsub.sunsubscribe(channel)
                else:
                    await self._pubsub.unsubscribe(channel)

    async def _subscribe(self, *channels: str) -> None:
        if self._sharded:
            await self._pubsub.ssubscribe(*channels)
        else:
            await self._pubsub.subscribe(*channels)

    async def _supervise(self) -> None:
        """Cluster: one reader per node that holds subscriptions, started as nodes appear."""
        while True:
            self._start_readers()
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=SHARD_SUPERVISE_S)

    def _start_readers(self) -> None:
        for name in list(self._pubsub.node_pubsub_mapping):
            task = self._readers.get(name)
            if task is None or task.done():
                self._readers[name] = asyncio.create_task(self._read_node(name),
                                                          name=f"broker-{name}")

    async def _read_node(self, name: str) -> None:
        """Deliver one node's messages in order, until the node holds none of ours."""
        loop = asyncio.get_running_loop()
        # redis-py picks the node's connection by the name alone (``node_pubsub_mapping``), so
        # one stand-in serves every read, also once the node has left the slot map (a failover)
        target = types.SimpleNamespace(name=name)
        delay = 0.1
        failing = False
        while True:
            mapping = self._pubsub.node_pubsub_mapping
            if name not in mapping:
                if self._readers.get(name) is asyncio.current_task():
                    del self._readers[name]
                return
            started = loop.time()
            try:
                msg = await self._pubsub.get_sharded_message(timeout=SHARD_READ_S,
                                                             target_node=target)
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError):
                if not failing:
                    log.warning("pub/sub link to %s lost; reconnecting", name)
                failing = True
                self._node_unreachable(name, True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            except Exception:  # never leave a node unread: log, wait, read again
                log.exception("reading pub/sub from %s failed", name)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            if failing:
                failing = False
                delay = 0.1
                self._node_unreachable(name, False)
            if msg is None:
                if loop.time() - started < SHARD_READ_S / 2:
                    # nothing was waited for (no connection yet, a MOVED handled): do not spin
                    await asyncio.sleep(SHARD_READ_S)
                continue
            self._handle(msg)

    def _node_unreachable(self, name: str, unreachable: bool) -> None:
        """What redis-py's round robin does after a failed read, left to the caller with
        ``target_node``: mark the node (a channel moving off it then skips an unsubscribe
        that cannot arrive) and ask for a slot-map refresh (a dead node never answers
        MOVED, so nothing else would move its channels to the new owner)."""
        nodes = getattr(self._pubsub, "_unreachable_nodes", None)
        if isinstance(nodes, set):
            if unreachable:
                nodes.add(name)
            else:
                nodes.discard(name)
        repair = getattr(self._pubsub, "_schedule_topology_repair", None)
        if unreachable and callable(repair):
            repair()

    def _handle(self, msg: Any) -> None:
        kind = msg["type"]
        channel = msg["channel"].decode()
        if kind == self._message:
            try:
                self._on_message(channel, msg["data"])
            except Exception:  # a bad event must not stop delivery of the others
                log.exception("dropping a pub/sub message that the hub refused")
        elif kind == self._confirmed:
            self._on_confirmed(channel)

    async def _run(self) -> None:
        while True:
            try:
                if not self._pubsub.subscribed:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                msg = await self._pubsub.get_message(timeout=1.0)
                if msg is not None:
                    self._handle(msg)
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError):
                log.warning("pub/sub connection lost; resubscribing")
                await self._reconnect()

    def _on_confirmed(self, channel: str) -> None:
        fut = self._pending.pop(channel, None)
        if fut is not None:
            if not fut.done():
                fut.set_result(None)
        elif channel in self._expected:
            self._expected.discard(channel)
        elif channel in self._channels:
            # the client moved the channel to another node (a failover, a slot migration) or
            # subscribed it again after a reconnect of its own: messages may be missing
            self._moved.add(channel)
            if self._refilling is None or self._refilling.done():
                self._refilling = asyncio.create_task(self._refill(), name="broker-refill")

    async def _refill(self) -> None:
        """Tell the hub about the channels subscribed again, until it has taken them (the
        store may still be failing over: try again, at most every 2 s)."""
        delay = 0.1
        while self._moved:
            channels = sorted(self._moved & self._channels)
            self._moved.clear()
            if not channels:
                return
            log.warning("pub/sub subscribed %d channel(s) again (failover or slot move); "
                        "refilling their rooms from history", len(channels))
            try:
                await self._on_resubscribed(channels)
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("refill after a pub/sub move failed; trying again", exc_info=True)
                self._moved.update(channels)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _reconnect(self) -> None:
        delay = 0.1
        while True:
            try:
                async with self._lock:
                    with contextlib.suppress(Exception):
                        await self._pubsub.aclose()
                    self._pubsub = self._client.pubsub()
                    channels = sorted(self._channels)
                    self._expected = set(channels)
                    if channels:
                        await self._subscribe(*channels)
                await self._on_resubscribed(channels)
                return
            except (RedisConnectionError, RedisTimeoutError, OSError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
