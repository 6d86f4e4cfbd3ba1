"""A cluster client whose store calls wait for a free connection instead of failing.

redis-py's cluster client keeps a pool per node that raises ``MaxConnectionsError`` once
``max_connections`` are in use; it has no blocking pool like the single-node client's
``BlockingConnectionPool``. In a burst (a thousand joins a second into one room, whose keys all
live on one node) a fifth to nearly half of the calls were refused. So on a cluster every call
(a command, a pipeline, a script, an acknowledged write) first takes one of ``pool_size``
permits, waiting like the single-node pool does (up to ``POOL_TIMEOUT_S``). One call holds at
most one connection per node at a time, so a node never has more than ``pool_size`` of them in
use by calls; each node's pool gets ``RESERVED`` more for the pub/sub connection and a slot-map
refresh, which take no permit. A call made while the task already holds a permit (a
pipeline's redirected commands sent one by one) does not take another, or a full gate would
wait for itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.exceptions import MaxConnectionsError

# Waited for a free permit before a call fails as the single-node pool fails (its timeout).
POOL_TIMEOUT_S = 5.0
# Connections per node beyond the permits: the broker's pub/sub link and a slot-map refresh.
RESERVED = 2

_holding: contextvars.ContextVar[bool] = contextvars.ContextVar("store_gate_held",
                                                                default=False)


class Gate:
    def __init__(self, permits: int) -> None:
        self._permits = asyncio.Semaphore(permits)

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        if _holding.get():
            yield
            return
        try:
            async with asyncio.timeout(POOL_TIMEOUT_S):
                await self._permits.acquire()
        except TimeoutError:
            raise MaxConnectionsError(
                f"no free store connection within {POOL_TIMEOUT_S:g} s") from None
        token = _holding.set(True)
        try:
            yield
        finally:
            _holding.reset(token)
            self._permits.release()


class GatedCluster(RedisCluster):
    """``RedisCluster`` with its calls behind a ``Gate`` of ``permits``."""

    def __init__(self, *args: Any, permits: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = Gate(permits)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.gate.held():
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None,
                 shard_hint: Any | None = None) -> ClusterPipeline:
        if shard_hint:  # refused as the parent refuses it
            return super().pipeline(transaction, shard_hint)
        # abstract only to the type checker (an attribute it types as a property), as for
        # redis-py's own ClusterPipeline(self, transaction)
        return GatedPipeline(self, transaction)  # type: ignore[abstract]


class GatedPipeline(ClusterPipeline):
    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        client: Any = self.cluster_client  # a GatedCluster: only it makes these
        gate: Gate = client.gate
        async with gate.held():
            return await super().execute(*args, **kwargs)


@contextlib.asynccontextmanager
async def held(client: Any) -> AsyncIterator[None]:
    """A permit of ``client``'s gate for a call sent to a node directly (``execute_pipeline``);
    nothing for a client without one."""
    gate: Gate | None = getattr(client, "gate", None)
    if gate is None:
        yield
        return
    async with gate.held():
        yield
