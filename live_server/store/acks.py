"""Acknowledged writes: an order or a money movement is answered only once replicas hold it.

With ``store.ack_replicas`` = n > 0, every call of a script in ``ACKED`` is followed by
``WAIT n store.ack_timeout_ms`` before its reply reaches the caller. Without it a primary that
dies right after answering can take the write with it: its replica, promoted, never received
it, and the buyer holds an order id that no longer exists.

``WAIT`` waits for the writes of the connection it is sent on, so it must follow the script on
the same connection: one node, one pipeline (the script calls, then ``WAIT``). On a cluster the
pipeline goes straight to the node that owns the keys' slot (``ClusterNode.execute_pipeline``):
the cluster pipeline of redis-py would resend a failed ``WAIT`` alone to any node, where it
would count the replicas of another connection's writes. What the cluster client does for its
own commands is kept: ``NOSCRIPT`` loads the script and sends the call again, a call refused
with ``MOVED``/``ASK``/``TRYAGAIN``/``CLUSTERDOWN`` (it did not run) or one that could not be
sent has the client repair its slot map (a probe of the key through the client) and goes
again, a few times.

Fewer replicas than asked within the timeout: the write happened on the primary but is not
safe yet. The caller gets :class:`NotAcknowledged`, which the server answers as an outage
(``not_ready``, ``Retry-After: 1``): the client sends the same request again (the same
idempotency key) and is told the first outcome once a replica confirmed it. It is counted
(``live_store_unacknowledged_total{script}``) and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, PipelineCommand, RedisCluster
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    NoScriptError,
    RedisError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from live_server.store.gate import held
from live_server.store.scripts import Scripts, _queued

log = logging.getLogger(__name__)

# The scripts that take an order or move money (docs/ARCHITECTURE.md, "Acknowledged writes").
# A new script that does either belongs here.
ACKED: frozenset[str] = frozenset({
    "buy", "order_transition",                 # purchases, payments, every order transition
    "auction_bid", "auction_tick",             # bids, the winner's order
    "draw_result", "draw_fund", "draw_pay",    # prize orders, cash prizes
    "rp_create", "rp_escrow", "rp_grab",       # red packets: launch, escrow, grab,
    "rp_tick", "rp_credit",                    # refund, credits out of escrow
    "wallet_topup", "topup_pay",               # wallets
    "gift_send", "fan_club_join",              # gifts, fan-club fees
    "xfer_hold", "xfer_credit", "xfer_drop",   # transfers between wallet buckets
    "xfer_return",
})
ATTEMPTS = 3  # sends of one call refused before it ran (NOSCRIPT, MOVED, unreachable node)
# the call did not run: the client repairs its slot map and the call goes again
_NOT_RUN = (MovedError, AskError, TryAgainError, ClusterDownError, SlotNotCoveredError)
_UNSENT = object()

Call = tuple[str, list[str], list[Any]]  # script name, keys, arguments
OnShort = Callable[[str], None]


class NotAcknowledged(RedisTimeoutError):
    """Fewer replicas than ``store.ack_replicas`` confirmed a write within
    ``store.ack_timeout_ms``: it happened on the primary, but a failover could still lose it.
    A store timeout to every layer above (``not_ready``): ask again with the same key."""


class AckedScripts(Scripts):
    """``Scripts`` whose calls of ``ACKED`` scripts wait for ``replicas`` replicas (none: the
    plain calls)."""

    def __init__(self, client: aioredis.Redis | RedisCluster, publish: str = "PUBLISH",
                 replicas: int = 0, timeout_ms: int = 500,
                 on_short: OnShort | None = None) -> None:
        super().__init__(client, publish)
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self._on_short = on_short
        self._cluster = isinstance(client, RedisCluster)
        # an acknowledged script's name by its SHA: how ``execute`` knows a queued call
        self._acked = {self._scripts[name].sha: name for name in ACKED if name in self._scripts}
        self._names = {script.sha: name for name, script in self._scripts.items()}

    async def run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        if not self.replicas or name not in ACKED:
            return await super().run(name, keys, args)
        return (await self.run_acked([(name, keys, args)]))[0]

    async def execute(self, pipe: Any) -> list[Any]:
        """A pipeline of ``queue``d calls; one that holds an acknowledged script is sent as
        acknowledged calls instead (script calls only: ``WAIT`` is needed per node)."""
        if not self.replicas:
            return await super().execute(pipe)
        queued = _queued(pipe)
        if not any(args[0] == "EVALSHA" and args[1] in self._acked for args, _ in queued):
            return await super().execute(pipe)
        if getattr(pipe, "is_transaction", False) or any(args[0] != "EVALSHA"
                                                         for args, _ in queued):
            raise TypeError("an acknowledged script is pipelined with script calls only, "
                            "without a transaction")
        calls: list[Call] = []
        for args, _options in queued:
            count = int(args[2])
            calls.append((self._names[args[1]], list(args[3:3 + count]), list(args[3 + count:])))
        return await self.run_acked(calls)

    async def run_acked(self, calls: list[Call]) -> list[Any]:
        """Every call's reply, in order, each confirmed by ``replicas`` replicas; raises the
        first error, as ``execute`` does, or :class:`NotAcknowledged`."""
        replies: list[Any] = [_UNSENT] * len(calls)
        todo = list(range(len(calls)))
        unconfirmed: list[str] = []
        for attempt in range(ATTEMPTS):
            last = attempt == ATTEMPTS - 1
            again: list[int] = []
            reload: set[str] = set()
            probes: set[str] = set()
            for node, group in self._groups(calls, todo, probes, again).items():
                try:
                    results, acked = await self._send(node, [calls[i] for i in group])
                except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                    if node is None or last:  # a node's pipeline that could not be sent
                        raise
                    log.debug("acknowledged write not sent (%s); trying again", exc)
                    again += group
                    probes.add(calls[group[0]][1][0])
                    continue
                ran = []
                for i, reply in zip(group, results, strict=True):
                    if isinstance(reply, NoScriptError) and not last:
                        reload.add(calls[i][0])
                        again.append(i)
                    elif isinstance(reply, _NOT_RUN):
                        if last:  # the slot's node is changing (a failover): an outage
                            replies[i] = RedisConnectionError(f"{calls[i][0]}: {reply}")
                            continue
                        again.append(i)
                        probes.add(calls[i][1][0])
                    else:
                        replies[i] = reply
                        ran.append(i)
                if ran and not (isinstance(acked, int) and acked >= self.replicas):
                    self._short([calls[i][0] for i in ran], acked)
                    unconfirmed += [calls[i][0] for i in ran]
            for name in reload:
                await self._client.script_load(self._scripts[name].script)
            for key in probes:  # the client repairs its slot map on the way
                try:
                    await self._client.exists(key)
                except RedisError:
                    pass
            todo = sorted(again)
            if not todo:
                break
        for i, reply in enumerate(replies):
            if isinstance(reply, Exception):
                raise reply
            if reply is _UNSENT:
                raise RedisConnectionError(f"{calls[i][0]}: no node of the slot answered")
        if unconfirmed:
            raise NotAcknowledged(
                f"{sorted(set(unconfirmed))}: fewer than {self.replicas} replica(s) confirmed "
                f"the write within {self.timeout_ms} ms")
        return replies

    def _groups(self, calls: list[Call], todo: list[int], probes: set[str],
                again: list[int]) -> dict[ClusterNode | None, list[int]]:
        """The calls by the node of their keys' slot (one group, ``None``, on one node). A slot
        the client does not know yet is probed and its calls go in the next round."""
        if not self._cluster:
            return {None: list(todo)}
        groups: dict[ClusterNode | None, list[int]] = {}
        for i in todo:
            key = calls[i][1][0]
            try:
                node = self._client.get_node_from_key(key)
            except SlotNotCoveredError:
                node = None
            if node is None:
                probes.add(key)
                again.append(i)
                continue
            groups.setdefault(node, []).append(i)
        return groups

    async def _send(self, node: ClusterNode | None, group: list[Call]) -> tuple[list[Any], Any]:
        """The calls, then ``WAIT``, on one connection: (their replies, the ``WAIT`` reply);
        a reply may be an error."""
        commands: list[tuple[Any, ...]] = [
            ("EVALSHA", self._scripts[name].sha, len(keys), *keys, *args)
            for name, keys, args in group]
        commands.append(("WAIT", self.replicas, self.timeout_ms))
        if node is None:
            async with self._client.pipeline(transaction=False) as pipe:
                for command in commands:
                    pipe.execute_command(*command)
                results: list[Any] = await pipe.execute(raise_on_error=False)
        else:
            sent = [PipelineCommand(i, *command) for i, command in enumerate(commands)]
            async with held(self._client):  # sent to the node directly: take a permit here
                await node.execute_pipeline(sent)
            results = [command.result for command in sent]
        return results[:-1], results[-1]

    def _short(self, names: list[str], acked: Any) -> None:
        for name in names:
            if self._on_short is not None:
                self._on_short(name)
        log.warning("write not acknowledged by enough replicas; answered not_ready", extra={
            "scripts": sorted(set(names)), "wanted": self.replicas,
            "acknowledged": acked if isinstance(acked, int) else type(acked).__name__,
            "timeout_ms": self.timeout_ms})
