"""Media state in Valkey: a room's media home (the process holding its publisher) and the
room events of the video (``video_started`` / ``video_stopped``, guaranteed)."""

from __future__ import annotations

import dataclasses

from live_server.errors import NotFound
from live_server.events import RoomEvent
from live_server.store.core import StoreCore, text


@dataclasses.dataclass(frozen=True, slots=True)
class MediaHome:
    """Stored as ``<process id>|<url>|<kind>=<codec>,...``."""

    process_id: str
    url: str
    codecs: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def parse(cls, raw: bytes | str) -> MediaHome:
        value = raw.decode() if isinstance(raw, bytes) else raw
        proc, _, rest = value.partition("|")
        url, _, codecs = rest.partition("|")
        pairs = (item.partition("=") for item in codecs.split(",") if item)
        return cls(proc, url, {kind: codec for kind, _, codec in pairs})


class MediaStore:
    def __init__(self, core: StoreCore, *, history_max: int, home_ttl_ms: int) -> None:
        self.core = core
        self.keys = core.keys
        self.history_max = history_max
        self.ttl_ms = home_ttl_ms

    async def home(self, room_id: str) -> MediaHome | None:
        return (await self.homes([room_id]))[0]

    async def homes(self, room_ids: list[str]) -> list[MediaHome | None]:
        """Each room's media home, in one pipeline (the keys are in the rooms' own slots)."""
        async with self.core.client.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                pipe.get(self.keys.media_home(room_id))
            raw = await pipe.execute()
        return [MediaHome.parse(value) if value else None for value in raw]

    async def claim(self, room_id: str, process_id: str, url: str,
                    codecs: dict[str, str]) -> MediaHome | None:
        """Become the room's media home, taking it over from another process if need be (that
        process notices at its next ``refresh``); the previous home, if any."""
        value = url + "|" + ",".join(f"{k}={v}" for k, v in sorted(codecs.items()))
        reply = await self.core.script("media_home", [self.keys.media_home(room_id)],
                                       ["claim", process_id, value, self.ttl_ms])
        return MediaHome.parse(reply[1]) if reply[1] else None

    async def refresh(self, room_ids: list[str], process_id: str) -> list[str]:
        """Extend the homes this process holds; the rooms it turned out not to hold any more."""
        if not room_ids:
            return []
        async with self.core.client.pipeline(transaction=False) as pipe:
            for rid in room_ids:
                self.core.scripts.queue(pipe, "media_home", [self.keys.media_home(rid)],
                                        ["refresh", process_id, "", self.ttl_ms])
            replies = await self.core.scripts.execute(pipe)
        return [rid for rid, reply in zip(room_ids, replies, strict=True)
                if text(reply[0]) != "ok"]

    async def release(self, room_id: str, process_id: str) -> None:
        await self.core.script("media_home", [self.keys.media_home(room_id)],
                               ["release", process_id, "", self.ttl_ms])

    async def append_event(self, room_id: str, ev: RoomEvent) -> int:
        """A guaranteed room event (``events.video_started`` / ``video_stopped``): sequenced,
        kept in the history, published."""
        k = self.keys.room(room_id)
        reply = await self.core.script("room_event", [k.meta, k.seq, k.events],
                                       [k.channel, self.history_max, ev.kind, ev.body])
        if text(reply[0]) != "ok":
            raise NotFound("no such room")
        return int(reply[1])
