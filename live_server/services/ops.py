"""The ops console's reads: every live room with its figures and video, the processes, chat
reports and the moderation log. Only ops may read them."""

from __future__ import annotations

import asyncio

from live_server.auth import Identity, require_ops
from live_server.protocol import Json, now_ms
from live_server.services.moderation_log import ModerationLog
from live_server.store.chat import ChatStore
from live_server.store.media import MediaStore
from live_server.store.presence import PresenceStore
from live_server.store.rooms import RoomStore


class OpsService:
    def __init__(self, rooms: RoomStore, presence: PresenceStore, chat: ChatStore,
                 modlog: ModerationLog, media: MediaStore) -> None:
        self.rooms = rooms
        self.presence = presence
        self.chat = chat
        self.modlog = modlog
        self.media = media

    async def live_rooms(self, who: Identity, limit: int) -> Json:
        """The newest ``limit`` live rooms with their counters, presence per process, chat per
        minute and media home, and the live processes: two pipelines and two reads."""
        require_ops(who)
        now = now_ms()
        rooms = await self.rooms.many(await self.rooms.live_ids(limit))
        ids = [r.id for r in rooms]
        figures, homes = await asyncio.gather(self.rooms.figures_many(ids, now),
                                              self.media.homes(ids))
        out = [
            {**r.public(), **figures[r.id],
             "video": ({"publishing": True, "codecs": home.codecs, "home": home.url}
                       if home is not None else {"publishing": False})}
            for r, home in zip(rooms, homes, strict=True)
        ]
        return {"rooms": out, "processes": await self.presence.processes(now)}

    async def reports(self, who: Identity, limit: int) -> list[Json]:
        require_ops(who)
        return await self.chat.reports(limit)

    async def moderation(self, who: Identity, limit: int, room_id: str | None) -> list[Json]:
        require_ops(who)
        return await self.modlog.actions(limit, room_id)
