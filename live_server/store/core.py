"""The store's shared handle: one client, the key names, the scripts, and latency accounting.

The client is a single-node ``Redis`` or, for a ``valkey+cluster://`` / ``redis+cluster://``
URL (or ``store.cluster``), redis-py's ``RedisCluster``: the keys are hash-tagged so every
script and pipeline call already lands on one slot. On a cluster, room channels are sharded
(``SPUBLISH``), so a room's messages stay on its shard instead of crossing every node.

With ``ack_replicas`` > 0 the scripts that take an order or move money answer only once that
many replicas hold the write (``WAIT``, store/acks.py); every other call is unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from live_server.store.acks import AckedScripts, OnShort
from live_server.store.gate import RESERVED, GatedCluster
from live_server.store.keys import Keys

LatencyObserver = Callable[[str, float], None]


Client = aioredis.Redis | RedisCluster

CLUSTER_SCHEMES = {"valkey+cluster": "redis", "redis+cluster": "redis",
                   "valkeys+cluster": "rediss", "rediss+cluster": "rediss"}


def cluster_url(url: str) -> str | None:
    """The plain seed-node URL when ``url`` names a cluster by its scheme, else None."""
    parts = urlsplit(url)
    plain = CLUSTER_SCHEMES.get(parts.scheme)
    return None if plain is None else urlunsplit(parts._replace(scheme=plain))


def connect(url: str, pool_size: int, cluster: bool = False) -> Client:
    seed = cluster_url(url)
    if seed is not None or cluster:
        # One pool per node; the seed node is asked for the slot map, MOVED/ASK and failovers
        # refresh it. At most ``pool_size`` calls at once, the others wait for one to finish as
        # on one node (redis-py's cluster pools refuse instead of waiting: store/gate.py).
        return GatedCluster.from_url(
            seed or url, permits=pool_size, max_connections=pool_size + RESERVED,
            socket_keepalive=True, socket_connect_timeout=3, socket_timeout=5,
            health_check_interval=30)
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=pool_size, timeout=5, socket_keepalive=True,
        health_check_interval=30, socket_connect_timeout=3, socket_timeout=5,
    )
    return aioredis.Redis(connection_pool=pool)


def is_cluster(client: Any) -> bool:
    return isinstance(client, RedisCluster)


class StoreCore:
    def __init__(self, client: Client, keys: Keys,
                 observe: LatencyObserver | None = None, *, ack_replicas: int = 0,
                 ack_timeout_ms: int = 500, on_short_ack: OnShort | None = None) -> None:
        # redis-py annotates replies as bytes | str unions whatever decode_responses says; the
        # store decodes replies itself (always bytes here), so the client is used untyped.
        self.client: Any = client
        self.keys = keys
        self.cluster = is_cluster(client)
        # Room channels are sharded on a cluster: scripts and callers publish with this.
        self.publish_command = "SPUBLISH" if self.cluster else "PUBLISH"
        # Orders and money wait for ``ack_replicas`` replicas (0: they do not).
        self.scripts = AckedScripts(client, self.publish_command, ack_replicas, ack_timeout_ms,
                                    on_short_ack)
        self._observe = observe

    async def publish(self, channel: str, message: bytes | str) -> None:
        """Publish to a room's (or a global) channel as the broker subscribes to it."""
        await self.client.execute_command(self.publish_command, channel, message)

    def queue_publish(self, pipe: Any, channel: str, message: bytes | str) -> None:
        """``publish`` queued in a pipeline."""
        pipe.execute_command(self.publish_command, channel, message)

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


def pairs(flat: list[Any]) -> dict[Any, Any]:
    """A hash as a script returns it (``HGETALL``: field, value, ...) as the dict redis-py
    makes of the command's own reply."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def stream_entries(raw: list[Any]) -> list[tuple[bytes, dict[Any, Any]]]:
    """``XRANGE`` entries as a script returns them, as redis-py makes them of the command's."""
    return [(entry_id, pairs(fields)) for entry_id, fields in raw]
