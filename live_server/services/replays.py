"""Replays: what the recording process tells (a part begins, is still written, ends; the pin it
saw change), who may see a replay and its files, ops' deletion, the creator's list, and the
sweep that keeps retention and the disk budget.

Who sees what: the room's creator and ops always see the replay's state; anyone else sees it
once the room has ended (a show is not replayed while it is still live). The files are served
only for an ended room whose replay is ready. Buying from a replay is not offered: a replay's
room has ended, and the ``buy`` command refuses ended rooms (the page says the product is no
longer on sale rather than sending a purchase that would be refused).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from live_server.auth import Identity, is_moderator, require_creator, require_ops
from live_server.config import Settings
from live_server.domain.replays import (
    PART_RE,
    PLAYLIST,
    Chapter,
    Kept,
    PartSpan,
    PinMark,
    chapters,
    parse_part_playlist,
    to_delete,
    vod_playlist,
)
from live_server.errors import InvalidState, NotFound
from live_server.protocol import Json, now_ms
from live_server.services.moderation_log import ModerationLog
from live_server.services.periodic import Periodic
from live_server.store.replays import ReplayRecord, ReplayStore
from live_server.store.rooms import RoomStore

# A room id as a folder name: URL-safe, no dots (never "." or "..").
_ROOM_DIR_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Segment names the recorder writes (a random prefix per part, then the sequence).
SEGMENT_RE = re.compile(r"[0-9a-f]{8}-[0-9]{1,12}\.ts")


@dataclasses.dataclass(frozen=True, slots=True)
class ReplayStats:
    """What the replays report (the container hands it the metrics' callbacks)."""

    bytes_kept: Callable[[int], None]
    deleted: Callable[[str], None]  # reason: age, budget, ops


class ReplayService:
    def __init__(self, settings: Settings, rooms: RoomStore, store: ReplayStore,
                 modlog: ModerationLog, stats: ReplayStats | None = None) -> None:
        self.settings = settings.replays
        self.root = Path(settings.replays.dir)
        self.rooms = rooms
        self.store = store
        self.modlog = modlog
        self.stats = stats
        # an open part counts as recording while its process refreshes it within this
        self.vouch_ms = max(10_000, 5 * settings.replays.pin_poll_ms)

    # The recording process ------------------------------------------------------------------

    def room_dir(self, room_id: str) -> Path | None:
        if not _ROOM_DIR_RE.fullmatch(room_id):
            return None
        return self.root / room_id

    async def begin(self, room_id: str) -> int | None:
        """A new part of the room's replay; None when replays are off, the room is unknown or
        ops deleted its replay."""
        if not self.settings.enabled or self.room_dir(room_id) is None:
            return None
        room = await self.rooms.get(room_id)
        if room is None:
            return None
        return await self.store.begin_part(room_id, room.creator_id, now_ms(), self.vouch_ms)

    async def vouch(self, room_id: str, n: int) -> None:
        await self.store.vouch(room_id, n, now_ms() + self.vouch_ms)

    async def end(self, room_id: str, n: int, started_ms: int, ended_ms: int) -> None:
        await self.store.end_part(room_id, n, started_ms, ended_ms)

    async def pinned(self, room_id: str) -> tuple[str, str]:
        return await self.store.pinned(room_id)

    async def pin_seen(self, room_id: str, pin: PinMark) -> None:
        await self.store.add_pin(room_id, pin)

    # Reading --------------------------------------------------------------------------------

    async def _spans(self, room_id: str, record: ReplayRecord) -> list[PartSpan]:
        folder = self.room_dir(room_id)
        if folder is None or record.deleted:
            return []

        def read() -> list[PartSpan]:
            out = []
            for n, started in sorted(record.parts.items()):
                try:
                    text = (folder / str(n) / PLAYLIST).read_text(encoding="ascii")
                except (OSError, UnicodeDecodeError):
                    continue
                out.append(PartSpan(n, started, parse_part_playlist(text)))
            return out
        return await asyncio.to_thread(read)

    async def view(self, who: Identity, room_id: str) -> Json:
        """``{state, duration_ms, playlist_url, chapters}`` (with the room's title and when
        it was recorded): the full replay once the room ended, or to its creator and ops."""
        room = await self.rooms.get(room_id)
        if room is None:
            raise NotFound("no such room")
        record = await self.store.read(room_id, now_ms())
        ended = room.state == "ended"
        out: Json = {"room_id": room_id, "title": room.title, "state": "none",
                     "duration_ms": 0, "playlist_url": None, "chapters": [],
                     "room_state": room.state}
        if record is None:
            return out
        if record.deleted:
            out["state"] = "deleted"
            return out
        spans = await self._spans(room_id, record)
        duration = sum(s.duration_ms for s in spans)
        if record.recording:
            out["state"] = "recording"
        elif duration > 0:
            out["state"] = "ready"
        if not (ended or is_moderator(who, record.creator_id or room.creator_id)):
            return out
        marks = chapters(record.pins, spans)
        out["duration_ms"] = duration
        out["chapters"] = await self._chapter_json(room_id, marks)
        if ended and out["state"] == "ready":
            out["playlist_url"] = f"/replays/{room_id}/{PLAYLIST}"
        return out

    async def _chapter_json(self, room_id: str, marks: list[Chapter]) -> list[Json]:
        cards = await self.store.cards(room_id, sorted({m.product_id for m in marks}))
        out = []
        for mark in marks:
            card = cards.get(mark.product_id, {})
            out.append({**mark.json(), "image_url": str(card.get("image_url", "")),
                        "live_price": card.get("live_price"),
                        "currency": card.get("currency")})
        return out

    async def _public(self, room_id: str) -> tuple[ReplayRecord, list[PartSpan]] | None:
        """The replay of an ended room, when it is ready to be served."""
        room = await self.rooms.get(room_id)
        if room is None or room.state != "ended":
            return None
        record = await self.store.read(room_id, now_ms())
        if record is None or record.deleted or record.recording:
            return None
        spans = await self._spans(room_id, record)
        return (record, spans) if spans else None

    async def playlist(self, room_id: str) -> str | None:
        """The VOD playlist of an ended room's replay (None: nothing to serve)."""
        found = await self._public(room_id)
        if found is None:
            return None
        record, spans = found
        return vod_playlist(spans, chapters(record.pins, spans))

    async def segment(self, room_id: str, part: str, name: str) -> Path | None:
        """The file of one segment of an ended room's replay (None: not served)."""
        folder = self.room_dir(room_id)
        if folder is None or not PART_RE.fullmatch(part) or not SEGMENT_RE.fullmatch(name):
            return None
        found = await self._public(room_id)
        if found is None or int(part) not in found[0].parts:
            return None
        path = folder / str(int(part)) / name
        return path if path.is_file() else None

    async def mine(self, who: Identity, limit: int, offset: int) -> Json:
        """The caller's shows that have a replay, newest first."""
        uid = require_creator(who)
        ids, total = await self.store.of_creator(uid, limit, offset)
        replays = [await self.view(who, room_id) for room_id in ids]
        nxt = offset + len(ids)
        return {"replays": replays, "total": total,
                "next_offset": nxt if nxt < total else None}

    # Deleting -------------------------------------------------------------------------------

    async def delete(self, who: Identity, room_id: str, reason: str) -> Json:
        """Ops delete a replay: its files at once, its state ``deleted``, a moderation log
        entry. Not while a part is being recorded (end the show, or the broadcast, first)."""
        by = require_ops(who)
        room = await self.rooms.get(room_id)
        record = await self.store.read(room_id, now_ms())
        if room is None or record is None or record.deleted:
            raise NotFound("no replay for this room")
        if record.recording:
            raise InvalidState("the replay is still recording")
        await self._remove(room_id, by, "ops")
        await self.modlog.record(room_id, by, "delete_replay", record.creator_id, reason)
        return {"room_id": room_id, "state": "deleted"}

    async def _remove(self, room_id: str, by: str, reason: str) -> None:
        folder = self.room_dir(room_id)
        if folder is not None:
            await asyncio.to_thread(shutil.rmtree, folder, True)
        await self.store.mark_deleted(room_id, by, now_ms())
        if self.stats is not None:
            self.stats.deleted(reason)

    async def sweep(self, now: int) -> list[tuple[str, str]]:
        """Delete the replays past retention, then the oldest over the disk budget; report the
        bytes kept. Every process may sweep: deleting twice is deleting once."""
        rows = await self.store.kept()
        sizes = await asyncio.to_thread(self._sizes, [room for room, _ in rows])
        kept = [Kept(room, ended, sizes.get(room, 0)) for room, ended in rows]
        doomed = to_delete(kept, now, self.settings.retention_days,
                           self.settings.max_total_bytes)
        for room_id, why in doomed:
            await self._remove(room_id, "sweep", why)
        if self.stats is not None:
            gone = {room for room, _ in doomed}
            self.stats.bytes_kept(sum(k.bytes for k in kept if k.room_id not in gone))
        return doomed

    def _sizes(self, room_ids: list[str]) -> dict[str, int]:
        out = {}
        for room_id in room_ids:
            folder = self.room_dir(room_id)
            if folder is None or not folder.is_dir():
                continue
            out[room_id] = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        return out


class ReplaySweep(Periodic):
    """Runs :meth:`ReplayService.sweep` every ``replays.sweep_interval_ms`` in each process."""

    name = "replay_sweep"

    def __init__(self, replays: ReplayService, interval_ms: int) -> None:
        super().__init__(interval_ms)
        self.replays = replays

    async def run_once(self, now: int) -> int:
        return len(await self.replays.sweep(now))
