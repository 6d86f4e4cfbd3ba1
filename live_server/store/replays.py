"""Replays in Valkey: each replay's parts and state under the room's hash tag, the pins seen
while recording, the index the sweep walks and each creator's list.

The files themselves are on the recording process's disk (``media/replay.py``); Valkey says
which parts exist, when each began, and whether a process still vouches for an open part: a
part stays "recording" only while its process refreshes ``open:<n>`` (a crashed process's
part stops counting as recording once that lapses, and its finished segments stay playable).
"""

from __future__ import annotations

import dataclasses

import orjson

from live_server.domain.replays import PinMark
from live_server.protocol import dumps
from live_server.store.core import StoreCore


@dataclasses.dataclass(frozen=True, slots=True)
class ReplayRecord:
    room_id: str
    creator_id: str
    deleted: bool
    parts: dict[int, int]  # part number → started_ms
    open_parts: frozenset[int]  # parts whose process still vouches for them
    ended_ms: int  # when the latest part ended (0 while one is open)
    deleted_at: int
    pins: tuple[PinMark, ...]

    @property
    def recording(self) -> bool:
        return bool(self.open_parts) and not self.deleted


class ReplayStore:
    def __init__(self, core: StoreCore) -> None:
        self.core = core
        self.keys = core.keys

    async def begin_part(self, room_id: str, creator_id: str, now: int,
                         vouch_ms: int) -> int | None:
        """A new part's number, or None when ops deleted this show's replay (nothing more is
        recorded for it)."""
        key = self.keys.replay(room_id)
        client = self.core.client
        if await client.hget(key, "state") == b"deleted":
            return None
        n = int(await client.hincrby(key, "parts", 1))
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"creator": creator_id, "state": "recording",
                                    f"part:{n}": dumps({"started_ms": now, "ended_ms": 0}),
                                    f"open:{n}": now + vouch_ms})
            await pipe.execute()
        async with client.pipeline(transaction=False) as pipe:
            pipe.zadd(self.keys.replays, {room_id: 0})
            pipe.zadd(self.keys.creator_replays(creator_id), {room_id: now}, nx=True)
            await pipe.execute()
        return n

    async def vouch(self, room_id: str, n: int, until: int) -> None:
        """The recording process is alive and still writing part ``n``."""
        await self.core.client.hset(self.keys.replay(room_id), f"open:{n}", until)

    async def end_part(self, room_id: str, n: int, started_ms: int, ended_ms: int) -> None:
        """Part ``n`` is complete: its first picture's wall time, its end."""
        key = self.keys.replay(room_id)
        client = self.core.client
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(key, f"part:{n}", dumps({"started_ms": started_ms, "ended_ms": ended_ms}))
            pipe.hdel(key, f"open:{n}")
            pipe.hget(key, "state")
            _, _, state = await pipe.execute()
        if state != b"deleted":
            await client.hset(key, "state", "ready")
            await client.zadd(self.keys.replays, {room_id: ended_ms})

    async def add_pin(self, room_id: str, pin: PinMark) -> None:
        await self.core.client.rpush(self.keys.replay_pins(room_id), dumps(
            {"at_ms": pin.at_ms, "product_id": pin.product_id, "title": pin.title}))

    async def pinned(self, room_id: str) -> tuple[str, str]:
        """The product being explained now and its title (``("", "")``: none)."""
        shelf = self.keys.shelf(room_id)
        pid = await self.core.client.get(shelf.pinned)
        if not pid:
            return "", ""
        card = await self.core.client.hget(shelf.products, pid)
        title = ""
        if card:
            value = orjson.loads(card)
            if isinstance(value, dict):
                title = str(value.get("title", ""))
        return pid.decode(), title

    async def read(self, room_id: str, now: int) -> ReplayRecord | None:
        client = self.core.client
        async with client.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.replay(room_id))
            pipe.lrange(self.keys.replay_pins(room_id), 0, -1)
            raw, pins = await pipe.execute()
        if not raw:
            return None
        h = {k.decode(): v.decode() for k, v in raw.items()}
        parts: dict[int, int] = {}
        ended = 0
        open_parts: set[int] = set()
        for name, value in h.items():
            if name.startswith("part:"):
                part = orjson.loads(value)
                parts[int(name[5:])] = int(part["started_ms"])
                ended = max(ended, int(part["ended_ms"]))
            elif name.startswith("open:") and int(value) > now:
                open_parts.add(int(name[5:]))
        marks = []
        for entry in pins:
            pin = orjson.loads(entry)
            marks.append(PinMark(int(pin["at_ms"]), str(pin["product_id"]), str(pin["title"])))
        return ReplayRecord(room_id, h.get("creator", ""), h.get("state") == "deleted", parts,
                            frozenset(open_parts), 0 if open_parts else ended,
                            int(h.get("deleted_at", "0")), tuple(marks))

    async def mark_deleted(self, room_id: str, by: str, now: int) -> None:
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.replay(room_id), mapping={
                "state": "deleted", "deleted_at": now, "deleted_by": by})
            pipe.zrem(self.keys.replays, room_id)
            await pipe.execute()

    async def kept(self) -> list[tuple[str, int]]:
        """Every replay not deleted: (room id, when its latest part ended; 0 while
        recording)."""
        rows = await self.core.client.zrange(self.keys.replays, 0, -1, withscores=True)
        return [(room.decode(), int(score)) for room, score in rows]

    async def of_creator(self, creator_id: str, limit: int, offset: int) -> tuple[list[str], int]:
        """A creator's rooms with a replay, newest first, and how many there are."""
        key = self.keys.creator_replays(creator_id)
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.zrevrange(key, offset, offset + limit - 1)
            pipe.zcard(key)
            ids, total = await pipe.execute()
        return [i.decode() for i in ids], int(total)

    async def cards(self, room_id: str, product_ids: list[str]) -> dict[str, dict[str, object]]:
        """The room's copies of these products (title, image, live price), for chapters."""
        if not product_ids:
            return {}
        raws = await self.core.client.hmget(self.keys.shelf(room_id).products, product_ids)
        out: dict[str, dict[str, object]] = {}
        for pid, raw in zip(product_ids, raws, strict=True):
            if raw:
                value = orjson.loads(raw)
                if isinstance(value, dict):
                    out[pid] = value
        return out
