"""The rooms' order streams read for webhooks, through one consumer group per stream.

Every order event is ``XADD``ed to ``{room}:ostream`` by the script that commits it (buy,
every transition), so reading the streams with a consumer group (``webhooks``) loses no event
even when the process that committed it dies right after. A process reads new entries
(``XREADGROUP ... >``), queues their deliveries and acknowledges them; entries another process
read and never acknowledged (it died) are taken over with ``XAUTOCLAIM`` once idle long
enough. The rooms read are the live ones and those that ended within ``webhooks.follow_ended_ms``
(``<prefix>:wh:follow``: room → follow until, ms)."""

from __future__ import annotations

from typing import Any

from redis.crc import key_slot
from redis.exceptions import ResponseError

from live_server.store.core import StoreCore

GROUP = "webhooks"
STREAMS_PER_READ = 200  # streams named in one XREADGROUP
Entry = tuple[str, str, dict[str, bytes]]  # room id, entry id, fields


class OrderFeedStore:
    def __init__(self, core: StoreCore) -> None:
        self.core = core
        self.keys = core.keys
        self.follow_key = f"{core.keys.prefix}:wh:follow"
        self._grouped: set[str] = set()  # rooms whose stream has the group (this process)

    def _stream(self, room_id: str) -> str:
        return self.keys.shelf(room_id).order_stream

    async def rooms(self, now: int, follow_ms: int) -> list[str]:
        """The rooms to read: every live room (each pass extends how long it is followed once
        it has ended) and the ended ones still followed."""
        live = [r.decode() for r in await self.core.client.zrange(self.keys.live_rooms, 0, -1)]
        async with self.core.client.pipeline(transaction=False) as pipe:
            if live:
                pipe.zadd(self.follow_key, {r: now + follow_ms for r in live}, gt=True)
            pipe.zremrangebyscore(self.follow_key, "-inf", now)
            pipe.zrange(self.follow_key, 0, -1)
            replies = await pipe.execute()
        followed = [r.decode() for r in replies[-1]]
        return sorted(set(live) | set(followed))

    async def ensure_groups(self, room_ids: list[str], since_ms: int) -> None:
        """The group on each room's stream, reading from ``since_ms`` (the oldest order
        endpoint's creation: nothing earlier is for anyone), the stream made if the room has
        no order yet; remembered per process."""
        todo = [r for r in room_ids if r not in self._grouped]
        if not todo:
            return
        async with self.core.client.pipeline(transaction=False) as pipe:
            for room_id in todo:
                pipe.xgroup_create(self._stream(room_id), GROUP, id=f"{since_ms}-0",
                                   mkstream=True)
            replies = await pipe.execute(raise_on_error=False)
        for room_id, reply in zip(todo, replies, strict=True):
            if isinstance(reply, ResponseError) and "BUSYGROUP" not in str(reply):
                raise reply
            self._grouped.add(room_id)

    def forget_groups(self) -> None:
        """Check the groups again (a stream or group was removed under us)."""
        self._grouped.clear()

    async def read_new(self, room_ids: list[str], consumer: str, count: int) -> list[Entry]:
        """Entries no consumer of the group has read yet, now pending for ``consumer``. One
        ``XREADGROUP`` names up to ``STREAMS_PER_READ`` streams; on a cluster only streams of
        one slot (a command's keys must share one), so there each read names the streams of
        one slot, all pipelined, each sent to its node."""
        if not room_ids:
            return []
        by_stream = {self._stream(r): r for r in room_ids}
        groups = _by_slot(list(by_stream)) if self.core.cluster else [list(by_stream)]
        chunks = [group[start:start + STREAMS_PER_READ]
                  for group in groups for start in range(0, len(group), STREAMS_PER_READ)]
        async with self.core.client.pipeline(transaction=False) as pipe:
            for chunk in chunks:
                pipe.xreadgroup(GROUP, consumer, dict.fromkeys(chunk, ">"), count=count)
            replies = await pipe.execute()
        out: list[Entry] = []
        for reply in replies:
            for stream, entries in reply or []:
                out.extend(_entries(by_stream[stream.decode()], entries))
        return out

    async def take_over(self, room_ids: list[str], consumer: str, min_idle_ms: int,
                        count: int) -> tuple[list[Entry], list[tuple[str, str]]]:
        """Entries read by a consumer that has not acknowledged them for ``min_idle_ms`` (it
        died), now pending for ``consumer``; and (room, entry id) of pending entries that the
        stream's trim removed (to acknowledge: nothing is left to send)."""
        if not room_ids:
            return [], []
        async with self.core.client.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                pipe.xautoclaim(self._stream(room_id), GROUP, consumer, min_idle_ms,
                                start_id="0-0", count=count)
            replies = await pipe.execute(raise_on_error=False)
        found: list[Entry] = []
        gone: list[tuple[str, str]] = []
        for room_id, reply in zip(room_ids, replies, strict=True):
            if isinstance(reply, Exception):
                self._grouped.discard(room_id)
                continue
            entries = reply[1]
            found.extend(_entries(room_id, [e for e in entries if e[1]]))
            gone.extend((room_id, e[0].decode()) for e in entries if not e[1])
            if len(reply) > 2:
                gone.extend((room_id, i.decode()) for i in reply[2])
        return found, gone

    async def ack(self, done: list[tuple[str, str]]) -> None:
        """Acknowledge (room, entry id) pairs: their deliveries are queued."""
        by_room: dict[str, list[str]] = {}
        for room_id, entry_id in done:
            by_room.setdefault(room_id, []).append(entry_id)
        if not by_room:
            return
        async with self.core.client.pipeline(transaction=False) as pipe:
            for room_id, ids in by_room.items():
                pipe.xack(self._stream(room_id), GROUP, *ids)
            await pipe.execute()


def _by_slot(keys: list[str]) -> list[list[str]]:
    """``keys`` in groups that each hash to one cluster slot, in their first order."""
    groups: dict[int, list[str]] = {}
    for key in keys:
        groups.setdefault(key_slot(key.encode()), []).append(key)
    return list(groups.values())


def _entries(room_id: str, entries: list[Any]) -> list[Entry]:
    return [(room_id, entry_id.decode(), {k.decode(): v for k, v in fields.items()})
            for entry_id, fields in entries]
