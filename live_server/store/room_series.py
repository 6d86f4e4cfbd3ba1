"""Each live room's short load history for the ops console's sparklines: one point per slot
(``slot = time // interval``) of online viewers, chat messages per minute and GMV (cents), in a
zset under the room's hash tag (``{room}:series``, score = slot), capped at ``points`` and
expiring when no longer written.

Several processes sample at once, so a point is written only if its slot has none yet
(``series_put.lua``): the first sample of a slot stands and a slot never holds two points.
A global ``series:claim:<slot>`` marker lets one process per slot do the sampling at all, so
the others skip the reads; the script stays the rule if two get past the marker."""

from __future__ import annotations

import dataclasses

from live_server.protocol import Json
from live_server.store.core import StoreCore


@dataclasses.dataclass(frozen=True, slots=True)
class Point:
    """One room's sample for one slot."""

    online: int
    chat_per_min: int
    gmv: int  # cents


class RoomSeriesStore:
    def __init__(self, core: StoreCore, *, interval_ms: int, points: int) -> None:
        self.core = core
        self.keys = core.keys
        self.interval_ms = interval_ms
        self.points = points

    def _key(self, room_id: str) -> str:
        return f"{self.keys.prefix}:{{{room_id}}}:series"

    def slot(self, now: int) -> int:
        return now // self.interval_ms

    async def claim(self, slot: int) -> bool:
        """True for the one process that samples this slot (the marker outlives the slot)."""
        return bool(await self.core.client.set(f"{self.keys.prefix}:series:claim:{slot}", 1,
                                               nx=True, px=2 * self.interval_ms))

    async def put(self, slot: int, points: dict[str, Point]) -> int:
        """Write each room's point for ``slot`` unless it has one; returns how many were
        written. One pipeline for all rooms."""
        if not points:
            return 0
        ttl = (self.points + 1) * self.interval_ms
        async with self.core.client.pipeline(transaction=False) as pipe:
            for room_id, p in points.items():
                self.core.scripts.queue(
                    pipe, "series_put", [self._key(room_id)],
                    [slot, f"{slot}:{p.online}:{p.chat_per_min}:{p.gmv}", self.points, ttl])
            replies = await self.core.scripts.execute(pipe)
        return sum(int(r) for r in replies)

    async def read_many(self, room_ids: list[str], now: int) -> dict[str, Json]:
        """Each room's series over the last ``points`` slots, oldest first, in one pipeline:
        ``{"interval_ms", "from_ms", "online", "chat_per_min", "gmv"}``, the lists starting at
        the room's first point in the window; a slot nobody sampled is ``null`` in each."""
        last = self.slot(now)
        first = last - self.points + 1
        async with self.core.client.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                pipe.zrangebyscore(self._key(room_id), first, last)
            replies = await pipe.execute()
        return {room_id: self._series(raw) for room_id, raw in
                zip(room_ids, replies, strict=True)}

    def _series(self, members: list[bytes]) -> Json:
        by_slot: dict[int, list[int]] = {}
        for member in members:
            slot, *values = (int(v) for v in member.split(b":"))
            by_slot[slot] = values
        out: Json = {"interval_ms": self.interval_ms, "from_ms": None,
                     "online": [], "chat_per_min": [], "gmv": []}
        if not by_slot:
            return out
        start, end = min(by_slot), max(by_slot)
        out["from_ms"] = start * self.interval_ms
        for slot in range(start, end + 1):
            point = by_slot.get(slot)
            for i, name in enumerate(("online", "chat_per_min", "gmv")):
                out[name].append(None if point is None else point[i])
        return out
