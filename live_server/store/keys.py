"""Key names. Every key of one room shares the hash tag ``{room_id}`` so that a room's scripts
and pipelines stay on one cluster slot; user-wide keys use ``u:{user_id}``."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class RoomKeys:
    meta: str
    seq: str
    events: str
    channel: str
    stats: str
    online: str
    online_seen: str
    unique: str
    fans: str
    names: str
    mutes: str
    bans: str
    keywords: str
    deleted: str

    def rate(self, user_id: str) -> str:
        return f"{self.meta[:-5]}:rl:{user_id}"

    def slow(self, user_id: str) -> str:
        return f"{self.meta[:-5]}:slow:{user_id}"

    def chat_minute(self, minute: int) -> str:
        return f"{self.meta[:-5]}:cpm:{minute}"


class Keys:
    """Names for one deployment; ``prefix`` lets several deployments (or tests) share a server."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.live_rooms = f"{prefix}:rooms:live"
        self.all_rooms = f"{prefix}:rooms:all"
        self.processes = f"{prefix}:procs"
        self.reports = f"{prefix}:reports"
        self.modlog = f"{prefix}:modlog"
        self.channel_prefix = f"{prefix}:{{"

    def room(self, room_id: str) -> RoomKeys:
        base = f"{self.prefix}:{{{room_id}}}"
        return RoomKeys(
            meta=f"{base}:meta", seq=f"{base}:seq", events=f"{base}:events", channel=f"{base}:ch",
            stats=f"{base}:stats", online=f"{base}:online", online_seen=f"{base}:onseen",
            unique=f"{base}:uv", fans=f"{base}:fans", names=f"{base}:names",
            mutes=f"{base}:mutes", bans=f"{base}:bans", keywords=f"{base}:kw",
            deleted=f"{base}:deleted",
        )

    def room_from_channel(self, channel: str) -> str:
        """``ls:{r1}:ch`` → ``r1``."""
        return channel[len(self.channel_prefix):-4]

    def user_rooms(self, user_id: str) -> str:
        return f"{self.prefix}:u:{{{user_id}}}:rooms"
