"""Pub/sub transport between processes: one Valkey connection, one subscription per room.

``subscribe`` returns only after the server confirmed it, so a joining viewer's snapshot can be
read afterwards without a window in which events are neither in the snapshot nor delivered.
After a lost connection the broker resubscribes everything and tells the hub, which then fills
the gap from the room's history.

On a Valkey Cluster the subscriptions are sharded (``SSUBSCRIBE``; the store publishes with
``SPUBLISH``): each room's channel lives on its slot's node, and redis-py's cluster pub/sub
keeps one connection per node and moves a channel to its new owner after a slot migration or
a failover.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from live_server.store.core import Client, is_cluster

log = logging.getLogger(__name__)

OnMessage = Callable[[str, bytes], None]
OnResubscribed = Callable[[list[str]], Awaitable[None]]


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
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="broker")

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
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

    async def _next(self) -> Any:
        if self._sharded:
            return await self._pubsub.get_sharded_message(timeout=1.0)
        return await self._pubsub.get_message(timeout=1.0)

    async def _run(self) -> None:
        while True:
            try:
                if not self._pubsub.subscribed:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                msg = await self._next()
                if msg is None:
                    continue
                kind = msg["type"]
                channel = msg["channel"].decode()
                if kind == self._message:
                    try:
                        self._on_message(channel, msg["data"])
                    except Exception:  # a bad event must not stop delivery of the others
                        log.exception("dropping a pub/sub message that the hub refused")
                elif kind == self._confirmed:
                    fut = self._pending.pop(channel, None)
                    if fut is not None and not fut.done():
                        fut.set_result(None)
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError):
                log.warning("pub/sub connection lost; resubscribing")
                await self._reconnect()

    async def _reconnect(self) -> None:
        delay = 0.1
        while True:
            try:
                async with self._lock:
                    with contextlib.suppress(Exception):
                        await self._pubsub.aclose()
                    self._pubsub = self._client.pubsub()
                    channels = sorted(self._channels)
                    if channels:
                        await self._subscribe(*channels)
                await self._on_resubscribed(channels)
                return
            except (RedisConnectionError, RedisTimeoutError, OSError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
