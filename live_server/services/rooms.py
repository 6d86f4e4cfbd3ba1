"""Room use cases: create, read, list, transitions, settings. Each checks the role first."""

from __future__ import annotations

from typing import Protocol

from live_server.auth import Identity, require_creator, require_moderator
from live_server.config import Settings
from live_server.domain.rooms import Room, parse_create, parse_update, shared
from live_server.errors import Banned, Forbidden, GuestsNotAllowed, InvalidField, NotFound
from live_server.protocol import Json, now_ms
from live_server.services.moderation_log import ModerationLog
from live_server.services.webhooks import WebhookEmitter
from live_server.store.rooms import RoomStore

# Upcoming shows are read from the newest rooms (there is no index of scheduled rooms): this
# many are looked at; a show that has not started this long after its time is no longer listed.
UPCOMING_SCAN = 500
UPCOMING_GRACE_MS = 3_600_000


def upcoming(rooms: list[Room], now: int) -> list[Room]:
    """Scheduled rooms with a start time, soonest first. A room without a time is a creator's
    draft, and one long past its time was abandoned: neither is an upcoming show."""
    due = [r for r in rooms if r.state == "scheduled" and r.scheduled_at is not None
           and r.scheduled_at >= now - UPCOMING_GRACE_MS]
    return sorted(due, key=lambda r: (r.scheduled_at or 0, r.id))


class RoomEndListener(Protocol):
    """Told right after a room ended (the show report freezes then); it must not raise."""

    async def room_ended(self, room_id: str, now: int) -> None: ...


class RoomStartListener(Protocol):
    """Told right after a room went live, with the room as the start answers it (show
    reminders send their notices then); it must not raise."""

    async def room_started(self, room_id: str, view: Json) -> None: ...


class RoomCounts(Protocol):
    """Per-room figures kept beside the room (show reminders' subscriber counts)."""

    async def counts(self, room_ids: list[str]) -> dict[str, int]: ...


class RoomService:
    def __init__(self, settings: Settings, rooms: RoomStore, log: ModerationLog,
                 ended: tuple[RoomEndListener, ...] = (),
                 webhooks: WebhookEmitter | None = None,
                 started: tuple[RoomStartListener, ...] = (),
                 reminders: RoomCounts | None = None) -> None:
        self.settings = settings
        self.rooms = rooms
        self.log = log
        self.ended = ended
        self.started = started
        self.reminders = reminders  # each room's subscriber count (``reminders`` field)
        self.webhooks = webhooks  # told of room.started / room.ended after the commit

    async def create(self, who: Identity, body: Json) -> Room:
        uid = require_creator(who)
        return await self.rooms.create(uid, parse_create(body, now_ms()))

    async def public(self, room_id: str, who: Identity | None = None) -> Json:
        room = await self.rooms.require(room_id)
        out = room.public()
        out["counters"] = await self.rooms.counters(room_id, now_ms())
        out["announcement"] = room.announcement
        if self.reminders is not None:
            out["reminders"] = (await self.reminders.counts([room_id]))[room_id]
        return out

    async def admit(self, room_id: str, who: Identity,
                    guests_refused: type[GuestsNotAllowed] = GuestsNotAllowed) -> Room:
        """The room, if ``who`` may watch it now: it exists, it lets guests in or ``who`` is
        logged in, and ``who`` is not banned from it (one pipelined read). The room socket and
        WHEP both ask here; WHEP refuses a guest with ``GuestsMustLogIn`` (401)."""
        room, banned = await self.rooms.get_for_user(room_id, who.user_id)
        if room is None:
            raise NotFound("no such room")
        if who.is_guest and not room.allow_guests:
            raise guests_refused("log in to watch this room")
        if banned:
            raise Banned("you are banned from this room")
        return shared(room)

    async def listing(self, state: str, limit: int, who: Identity) -> list[Json]:
        if state == "live":
            ids = await self.rooms.live_ids(limit)
        elif state == "scheduled":
            ids = await self.rooms.recent_ids(UPCOMING_SCAN)
        elif state == "mine":
            ids = await self.rooms.owned_ids(require_creator(who))
        elif state == "all":
            if not who.is_ops:
                raise Forbidden("ops only")
            ids = await self.rooms.recent_ids(limit)
        else:
            raise InvalidField("'state' must be live, scheduled, mine or all")
        rooms = await self.rooms.many(ids)
        if state == "mine":
            rooms.sort(key=lambda r: r.created_at, reverse=True)
        elif state == "scheduled":
            rooms = upcoming(rooms, now_ms())
        rooms = rooms[:limit]
        counters = await self.rooms.counters_many([r.id for r in rooms], now_ms())
        listed = [{**r.public(), "counters": counters[r.id]} for r in rooms]
        if self.reminders is not None:
            reminders = await self.reminders.counts([r.id for r in rooms])
            for out in listed:
                out["reminders"] = reminders[out["id"]]
        return listed

    async def _moderated(self, who: Identity, room_id: str) -> tuple[Room, str]:
        room = await self.rooms.require(room_id)
        return room, require_moderator(who, room.creator_id)

    async def transition(self, who: Identity, room_id: str, target: str) -> Json:
        _room, uid = await self._moderated(who, room_id)
        now = now_ms()
        await self.rooms.transition(room_id, target, uid, now)
        if target == "ended":
            for listener in self.ended:
                await listener.room_ended(room_id, now)
        if who.is_ops and target == "ended":
            await self.log.record(room_id, uid, "end_room", None, "")
        view = await self.public(room_id)
        if self.webhooks is not None:
            await self.webhooks.emit("room.started" if target == "live" else "room.ended",
                                     room_id, view["creator_id"], {"room": view})
        if target == "live":
            for started in self.started:
                await started.room_started(room_id, view)
        return view

    async def update(self, who: Identity, room_id: str, body: Json) -> Json:
        await self._moderated(who, room_id)
        await self.rooms.update(room_id, parse_update(body))
        return await self.public(room_id)

    async def announce(self, who: Identity, room_id: str, text: str | None) -> None:
        _room, uid = await self._moderated(who, room_id)
        if text is not None:
            text = text.strip()
            if len(text) > self.settings.chat.announcement_max:
                raise InvalidField(
                    f"'text' is longer than {self.settings.chat.announcement_max} characters")
        ann = {"text": text, "by": uid, "ts": now_ms()} if text else None
        await self.rooms.set_announcement(room_id, ann)
        await self.log.record(room_id, uid, "announce", None, "", {"text": text or None})

    async def slow_mode(self, who: Identity, room_id: str, seconds: int) -> None:
        _room, uid = await self._moderated(who, room_id)
        await self.rooms.set_slow_mode(room_id, seconds, uid)
        await self.log.record(room_id, uid, "slow_mode", None, "", {"seconds": seconds})

    async def history(self, who: Identity, room_id: str, before: int | None,
                      limit: int) -> list[Json]:
        room = await self.rooms.require(room_id)
        if who.is_guest and not room.allow_guests:
            raise GuestsNotAllowed("log in to read this room")
        return await self.rooms.history(room_id, before, limit)

    async def top_fans(self, room_id: str, limit: int) -> list[Json]:
        room = await self.rooms.require(room_id)
        return await self.rooms.top_fans(room_id, room.creator_id, limit)
