"""Chat use cases: send (rules in order), delete, mute, ban, keywords, reports."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from live_server import events
from live_server.auth import Identity, is_moderator, require_moderator, require_user
from live_server.config import Settings
from live_server.domain.chat import (
    MAX_MUTE_S,
    apply_keywords,
    keyword_set,
    normalise_text,
    parse_action,
    parse_keywords,
)
from live_server.domain.rooms import Room
from live_server.errors import InvalidField, NotFound
from live_server.protocol import Json, now_ms
from live_server.services.after_commit import AfterCommit
from live_server.services.moderation_log import ModerationLog
from live_server.services.webhooks import WebhookEmitter
from live_server.store.chat import ChatStore
from live_server.store.rooms import RoomStore

KEYWORD_CACHE_S = 5.0
BADGE_CACHE_S = 5.0  # a sender's fan level and club membership, per (room, user)


class ChatListener(Protocol):
    """Told of every chat message once it is stored (red packet keywords, intimacy)."""

    async def note_chat(self, room: Room, user_id: str, text: str) -> None: ...


class FanBadges(Protocol):
    """Where a sender's badge on their chat messages comes from (the fans service)."""

    async def badge(self, creator_id: str, user_id: str) -> tuple[int, bool]:
        """(fan level, fan-club member) of ``user_id`` toward ``creator_id``."""
        ...


class ChatService:
    def __init__(self, settings: Settings, rooms: RoomStore, chat: ChatStore,
                 log: ModerationLog, *, badges: FanBadges,
                 listeners: Sequence[ChatListener] = (),
                 after: AfterCommit | None = None,
                 webhooks: WebhookEmitter | None = None) -> None:
        self.settings = settings
        self.webhooks = webhooks  # told of report.filed after the report is stored
        self.rooms = rooms
        self.chat = chat
        self.log = log
        self.badges = badges
        self.listeners = tuple(listeners)  # in order, each awaited before the reply
        self.after = after or AfterCommit()
        self._global_words = keyword_set(settings.chat.global_keywords)
        self._badges: dict[tuple[str, str], tuple[int, bool, float]] = {}
        # room → (words, action, fetched at): refreshed on keywords_updated and every few s
        self._keywords: dict[str, tuple[frozenset[str], str, float]] = {}

    def forget_keywords(self, room_id: str) -> None:
        self._keywords.pop(room_id, None)

    def note_room_event(self, room_id: str, ev: Json) -> None:
        """A room served here changed its keywords (in any process): read them again."""
        if ev.get("type") == "keywords_updated":
            self.forget_keywords(room_id)

    async def _room_filter(self, room_id: str) -> tuple[frozenset[str], str]:
        cached = self._keywords.get(room_id)
        if cached is None or time.monotonic() - cached[2] > KEYWORD_CACHE_S:
            words, action = await self.chat.keywords(room_id)
            cached = (keyword_set(words) | self._global_words,
                      action or self.settings.chat.keyword_action, time.monotonic())
            if len(self._keywords) > 10000:
                self._keywords.clear()
            self._keywords[room_id] = cached
        return cached[0], cached[1]

    async def _badge(self, room: Room, uid: str) -> tuple[int, bool]:
        if uid == room.creator_id:
            return 0, False
        cached = self._badges.get((room.id, uid))
        if cached is None or time.monotonic() - cached[2] > BADGE_CACHE_S:
            level, member = await self.badges.badge(room.creator_id, uid)
            cached = (level, member, time.monotonic())
            if len(self._badges) > 10000:
                self._badges.clear()
            self._badges[(room.id, uid)] = cached
        return cached[0], cached[1]

    async def send(self, who: Identity, room: Room, text: str) -> Json:
        uid = require_user(who)
        clean = normalise_text(text, self.settings.chat.max_length)
        words, action = await self._room_filter(room.id)
        filtered = apply_keywords(clean, words, action)
        level, member = await self._badge(room, uid)
        message = events.chat(user_id=uid, name=who.name, role=who.role, level=level,
                              fan_club=member, text=filtered.text, masked=filtered.masked)
        seq = await self.chat.send(
            room.id, uid, message, now=now_ms(), rate_per_s=self.settings.chat.rate_per_s,
            burst=self.settings.chat.burst, moderator=is_moderator(who, room.creator_id),
            score=self.settings.chat.score_per_message,
        )
        for listener in self.listeners:  # the message is sent: none of these may undo that
            await self.after.run("chat_listener", listener.note_chat(room, uid, clean))
        return {"seq": seq, "masked": filtered.masked}

    async def _room_for_mod(self, who: Identity, room_id: str) -> tuple[Room, str]:
        room = await self.rooms.require(room_id)
        return room, require_moderator(who, room.creator_id)

    async def delete(self, who: Identity, room_id: str, seq: int, reason: str = "") -> int:
        _room, uid = await self._room_for_mod(who, room_id)
        new_seq, original = await self.chat.delete(room_id, seq, uid)
        target = (original.get("data") or {}).get("user", {}).get("id")
        await self.log.record(room_id, uid, "delete", target, reason,
                              {"seq": seq, "text": (original.get("data") or {}).get("text")})
        return new_seq

    async def mute(self, who: Identity, room_id: str, user_id: str, duration_s: int,
                   reason: str) -> int:
        _room, uid = await self._room_for_mod(who, room_id)
        if not 1 <= duration_s <= MAX_MUTE_S:
            raise InvalidField(f"'duration_s' must be between 1 and {MAX_MUTE_S}")
        until = now_ms() + duration_s * 1000
        await self.chat.mute(room_id, user_id, until, uid, reason)
        await self.log.record(room_id, uid, "mute", user_id, reason, {"until": until})
        return until

    async def unmute(self, who: Identity, room_id: str, user_id: str) -> None:
        _room, uid = await self._room_for_mod(who, room_id)
        await self.chat.unmute(room_id, user_id, uid)
        await self.log.record(room_id, uid, "unmute", user_id, "")

    async def ban(self, who: Identity, room_id: str, user_id: str, reason: str) -> None:
        room, uid = await self._room_for_mod(who, room_id)
        if user_id == room.creator_id:
            raise InvalidField("the room's creator cannot be banned from their own room")
        await self.chat.ban(room_id, user_id, uid, reason)
        await self.log.record(room_id, uid, "ban", user_id, reason)

    async def unban(self, who: Identity, room_id: str, user_id: str) -> None:
        _room, uid = await self._room_for_mod(who, room_id)
        await self.chat.unban(room_id, user_id, uid)
        await self.log.record(room_id, uid, "unban", user_id, "")

    async def list_moderation(self, who: Identity, room_id: str, which: str) -> list[Json]:
        await self._room_for_mod(who, room_id)
        return await self.chat.list_hash(room_id, which, now_ms())

    async def set_keywords(self, who: Identity, room_id: str, words: object,
                           action: object) -> int:
        _room, uid = await self._room_for_mod(who, room_id)
        cleaned = parse_keywords(words, self.settings.chat.max_room_keywords)
        act = parse_action(action)
        await self.chat.set_keywords(room_id, cleaned, act)
        self.forget_keywords(room_id)
        await self.log.record(room_id, uid, "keywords", None, "",
                              {"count": len(cleaned), "action": act})
        return len(cleaned)

    async def get_keywords(self, who: Identity, room_id: str) -> Json:
        await self._room_for_mod(who, room_id)
        words, action = await self.chat.keywords(room_id)
        return {"words": words, "action": action or self.settings.chat.keyword_action}

    async def report(self, who: Identity, room_id: str, seq: int, reason: str) -> str:
        uid = require_user(who)
        room = await self.rooms.require(room_id)
        reason = reason.strip()
        if not reason or len(reason) > self.settings.chat.report_reason_max:
            raise InvalidField(
                f"'reason' must be 1-{self.settings.chat.report_reason_max} characters")
        message = await self.chat.message(room_id, seq)
        if message is None:
            raise NotFound("no such message")
        report = {"ts": now_ms(), "room_id": room_id, "reporter": uid, "reason": reason,
                  "message": message}
        report_id = await self.chat.add_report(report)
        if self.webhooks is not None:
            await self.webhooks.emit("report.filed", room_id, room.creator_id,
                                     {"report": {"id": report_id, **report}})
        return report_id
