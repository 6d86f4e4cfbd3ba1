"""The store's shared handle: one client, the key names, the scripts, and latency accounting."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from live_server.store.keys import Keys
from live_server.store.scripts import Scripts

LatencyObserver = Callable[[str, float], None]


def connect(url: str, pool_size: int) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=pool_size, timeout=5, socket_keepalive=True,
        health_check_interval=30, socket_connect_timeout=3, socket_timeout=5,
    )
    return aioredis.Redis(connection_pool=pool)


class StoreCore:
    def __init__(self, client: aioredis.Redis, keys: Keys,
                 observe: LatencyObserver | None = None) -> None:
        # redis-py annotates replies as bytes | str unions whatever decode_responses says; the
        # store decodes replies itself (always bytes here), so the client is used untyped.
        self.client: Any = client
        self.keys = keys
        self.scripts = Scripts(client)
        self._observe = observe

    async def script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        start = time.perf_counter()
        try:
            return await self.scripts.run(name, keys, args)
        finally:
            if self._observe is not None:
                self._observe(name, time.perf_counter() - start)

    def timed(self, op: str, start: float) -> None:
        if self._observe is not None:
            self._observe(op, time.perf_counter() - start)


def text(value: Any) -> str:
    """Script replies come back as bytes; status words are ASCII."""
    return value.decode() if isinstance(value, bytes) else str(value)
