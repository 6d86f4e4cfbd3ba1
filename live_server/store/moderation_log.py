"""The moderation log in Valkey: the global stream ``modlog`` (each entry addressed by its stream
id) and ``modlog:undone`` (entry id → who undid it and when; the first undo stands)."""

from __future__ import annotations

import re
from typing import Any

import orjson

from live_server.protocol import Json, dumps
from live_server.store.core import StoreCore

STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")


def _entry(entry_id: bytes | str, fields: dict[bytes, bytes]) -> Json:
    ident = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return {**orjson.loads(fields[b"r"]), "id": ident}


class ModerationLogStore:
    def __init__(self, core: StoreCore, *, log_max: int) -> None:
        self.core = core
        self.key = core.keys.modlog
        self.undone_key = f"{core.keys.modlog}:undone"
        self.log_max = log_max

    async def append(self, record: Json) -> str:
        entry_id = await self.core.client.xadd(self.key, {"r": dumps(record)},
                                               maxlen=self.log_max, approximate=True)
        return str(entry_id.decode() if isinstance(entry_id, bytes) else entry_id)

    async def newest(self, limit: int, room_id: str | None) -> list[Json]:
        """The newest ``limit`` entries (of one room, if given), each with its ``id`` and, once
        undone, ``undone``."""
        out: list[Json] = []
        last = "+"
        size = max(limit, 100)
        while len(out) < limit:
            batch: list[Any] = await self.core.client.xrevrange(self.key, max=last, min="-",
                                                                 count=size)
            entries = [_entry(i, f) for i, f in batch]
            out.extend(e for e in entries if room_id is None or e.get("room_id") == room_id)
            if len(batch) < size:
                break
            last = "(" + entries[-1]["id"]
        return await self._with_undone(out[:limit])

    async def entry(self, entry_id: str) -> Json | None:
        if not STREAM_ID.fullmatch(entry_id):
            return None
        found: list[Any] = await self.core.client.xrange(self.key, min=entry_id, max=entry_id)
        if not found:
            return None
        return (await self._with_undone([_entry(*found[0])]))[0]

    async def mark_undone(self, entry_id: str, record: Json) -> bool:
        """Claim the undo; false if someone already did (two ops clicking at once)."""
        return bool(await self.core.client.hsetnx(self.undone_key, entry_id, dumps(record)))

    async def unmark(self, entry_id: str) -> None:
        """Give the claim back: the reverse turned out to be nothing or failed."""
        await self.core.client.hdel(self.undone_key, entry_id)

    async def _with_undone(self, entries: list[Json]) -> list[Json]:
        if not entries:
            return entries
        raws = await self.core.client.hmget(self.undone_key, [e["id"] for e in entries])
        return [{**e, "undone": orjson.loads(raw)} if raw else e
                for e, raw in zip(entries, raws, strict=True)]
