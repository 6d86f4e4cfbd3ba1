"""Platform-wide suspensions in Valkey: one global hash (user id → JSON record) and a pub/sub
channel that tells every process of a change.

The hash is global on purpose and no room's Lua script reads it: on Valkey Cluster a script
touches the keys of one hash tag only, so the check happens in each process against its
in-memory view (``domain/suspensions.py``) instead.

On a cluster the channel is sharded (``SPUBLISH`` / ``SSUBSCRIBE``) and named with the hash's
whole name as its hash tag (``{<prefix>:suspensions}:ch``), so it lives on the hash's slot and a
change is still written and announced in one ``MULTI``; on one node it stays
``<prefix>:suspensions:ch`` with a classic ``PUBLISH``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from redis.exceptions import WatchError

from live_server.domain.suspensions import Suspension
from live_server.protocol import dumps
from live_server.store.core import StoreCore

LISTEN_POLL_S = 1.0


class SuspensionStore:
    def __init__(self, core: StoreCore) -> None:
        self.core = core
        self.key = f"{core.keys.prefix}:suspensions"
        # a MULTI runs on one slot: on a cluster the channel hashes where the key does
        self.channel = f"{{{self.key}}}:ch" if core.cluster else f"{self.key}:ch"

    async def put(self, record: Suspension) -> None:
        """Store and announce in one transaction, so no process hears of a suspension that is
        not stored yet."""
        async with self.core.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.key, record.user_id, dumps(record.public()))
            self.core.queue_publish(pipe, self.channel,
                                    dumps({"op": "put", "record": record.public()}))
            await pipe.execute()

    async def remove(self, user_id: str, at: int | None = None) -> Suspension | None:
        """Lift ``user_id``'s suspension (only the one that started at ``at``, if given);
        returns what was lifted, None if there was nothing (or it was another one)."""
        async with self.core.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(self.key)
                    raw = await pipe.hget(self.key, user_id)
                    record = Suspension.from_json(orjson.loads(raw)) if raw else None
                    if record is None or (at is not None and record.at != at):
                        await pipe.unwatch()
                        return None
                    pipe.multi()
                    pipe.hdel(self.key, user_id)
                    self.core.queue_publish(pipe, self.channel,
                                            dumps({"op": "drop", "user_id": user_id}))
                    await pipe.execute()
                    return record
                except WatchError:  # changed meanwhile: read it again
                    continue

    async def get(self, user_id: str) -> Suspension | None:
        raw = await self.core.client.hget(self.key, user_id)
        return Suspension.from_json(orjson.loads(raw)) if raw else None

    async def all(self) -> list[Suspension]:
        raw = await self.core.client.hgetall(self.key)
        return [Suspension.from_json(orjson.loads(v)) for v in raw.values()]

    async def forget_ended(self, user_ids: list[str]) -> None:
        if user_ids:
            await self.core.client.hdel(self.key, *user_ids)

    async def changes(self) -> AsyncIterator[dict[str, Any] | None]:
        """The change notices as they come; None once subscribed (read the hash after that
        and nothing falls between) and every ``LISTEN_POLL_S`` without a notice, so the caller
        can reload on its own clock. Connection errors reach the caller."""
        pubsub: Any = self.core.client.pubsub()
        if self.core.cluster:
            subscribe, receive = pubsub.ssubscribe, pubsub.get_sharded_message
        else:
            subscribe, receive = pubsub.subscribe, pubsub.get_message
        try:
            await subscribe(self.channel)
            await receive(timeout=LISTEN_POLL_S)  # the subscription's confirmation
            yield None
            while True:
                msg = await receive(ignore_subscribe_messages=True, timeout=LISTEN_POLL_S)
                yield orjson.loads(msg["data"]) if msg is not None else None
        finally:
            await pubsub.aclose()
