"""Show reminders in Valkey: the room's subscriber set (``{room}:reminders``, under the room's
hash tag, so the add checks the room's state in the same script), the user's own list
(``u:{user}:reminders``, a zset by when they asked), the count frozen at the start
(``{room}:reminded``) and the one global notices channel."""

from __future__ import annotations

from collections.abc import AsyncIterator

from live_server.domain.reminders import check_can_subscribe, chunks
from live_server.errors import InvalidState, NotFound
from live_server.store.core import StoreCore, text


class ReminderStore:
    def __init__(self, core: StoreCore) -> None:
        self.core = core
        self.keys = core.keys

    @property
    def channel(self) -> str:
        return self.keys.notices

    async def add(self, room_id: str, user_id: str, now: int) -> int:
        """Subscribe (idempotent); the room's subscriber count. The room's set is the truth;
        the user's list follows it in a second step."""
        reply = await self.core.script(
            "reminder_add", [self.keys.room(room_id).meta, self.keys.reminders(room_id)],
            [user_id])
        status = text(reply[0])
        if status == "not_found":
            raise NotFound("no such room")
        if status == "invalid_state":
            check_can_subscribe(text(reply[1]))  # raises: the script found it not scheduled
            raise InvalidState("the room is not scheduled")
        await self.core.client.zadd(self.keys.user_reminders(user_id), {room_id: now})
        return int(reply[2])

    async def remove(self, room_id: str, user_id: str) -> int:
        """Unsubscribe (idempotent); the room's subscriber count."""
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.srem(self.keys.reminders(room_id), user_id)
            pipe.scard(self.keys.reminders(room_id))
            pipe.zrem(self.keys.user_reminders(user_id), room_id)
            _removed, count, _gone = await pipe.execute()
        return int(count)

    async def counts(self, room_ids: list[str]) -> dict[str, int]:
        """room id → subscribers, in one round trip."""
        if not room_ids:
            return {}
        async with self.core.client.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                pipe.scard(self.keys.reminders(room_id))
            found = await pipe.execute()
        return {room_id: int(n) for room_id, n in zip(room_ids, found, strict=True)}

    async def mine(self, user_id: str, limit: int) -> list[str]:
        """The rooms the user asked to be reminded of, newest first."""
        ids = await self.core.client.zrevrange(self.keys.user_reminders(user_id), 0, limit - 1)
        return [i.decode() for i in ids]

    async def members(self, room_id: str, user_ids: list[str], chunk: int) -> set[str]:
        """Which of ``user_ids`` are subscribed to the room: SMISMEMBER in chunks, pipelined
        (one round trip)."""
        if not user_ids:
            return set()
        key = self.keys.reminders(room_id)
        parts = list(chunks(user_ids, chunk))
        async with self.core.client.pipeline(transaction=False) as pipe:
            for part in parts:
                pipe.smismember(key, list(part))
            replies = await pipe.execute()
        return {uid for part, flags in zip(parts, replies, strict=True)
                for uid, flag in zip(part, flags, strict=True) if flag}

    async def pages(self, room_id: str, size: int) -> AsyncIterator[list[str]]:
        """Every subscriber once, in pages of ``size`` (the last may be smaller). SSCAN walks
        the set without copying it; it may return an id twice while the set is rehashed, so
        ids already paged are skipped."""
        cursor = 0
        seen: set[str] = set()
        page: list[str] = []
        while True:
            cursor, found = await self.core.client.sscan(self.keys.reminders(room_id), cursor,
                                                         count=size)
            for raw in found:
                uid = raw.decode()
                if uid not in seen:
                    seen.add(uid)
                    page.append(uid)
            while len(page) >= size:
                yield page[:size]
                page = page[size:]
            if cursor == 0:
                break
        if page:
            yield page

    async def freeze_count(self, room_id: str) -> int:
        """The subscribers at the start, kept for the show report."""
        count = int(await self.core.client.scard(self.keys.reminders(room_id)))
        await self.core.client.set(self.keys.reminded(room_id), count)
        return count

    async def publish(self, message: bytes) -> None:
        await self.core.publish(self.keys.notices, message)
