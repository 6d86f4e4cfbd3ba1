"""Room rules: the state machine and what a room looks like on the wire. No I/O."""

from __future__ import annotations

import dataclasses
import secrets
import weakref
from typing import Any

from live_server.domain.urls import check_image_url
from live_server.errors import InvalidField, InvalidState
from live_server.protocol import Json, get_bool, get_int, get_str

STATES = ("scheduled", "live", "ended")
# to-state → the states it may be reached from
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "live": ("scheduled",),
    "ended": ("scheduled", "live"),
}
TITLE_MAX, COVER_MAX, NOTICE_MAX = 100, 500, 500
MAX_TIME_MS = 4102444800000  # 2100-01-01: anything later is a unit mistake (seconds vs ms)


def new_room_id() -> str:
    return "r_" + secrets.token_urlsafe(9)


def new_epoch() -> str:
    """A fresh name for a room's event stream. Sequence numbers are only comparable within one
    epoch: a new one is drawn when the room is created and whenever its stream is found to have
    gone back (the store lost writes), so a client's ``since`` from before cannot be mistaken
    for a position in the new stream."""
    return secrets.token_hex(4)


def check_transition(current: str, target: str) -> None:
    if current not in TRANSITIONS.get(target, ()):
        raise InvalidState(f"cannot go from {current} to {target}", state=current)


@dataclasses.dataclass(frozen=True, slots=True, weakref_slot=True)
class Room:
    id: str
    creator_id: str
    title: str
    cover: str
    notice: str
    state: str
    allow_guests: bool
    slow_mode_s: int
    keyword_action: str
    created_at: int
    scheduled_at: int | None
    started_at: int | None
    ended_at: int | None
    announcement: Json | None
    epoch: str = ""  # the event stream's epoch (rooms made before epochs existed: "")

    @classmethod
    def from_hash(cls, raw: dict[bytes, bytes]) -> Room:
        import orjson

        h = {k.decode(): v.decode() for k, v in raw.items()}

        def opt_int(name: str) -> int | None:
            value = h.get(name, "")
            return int(value) if value else None

        ann = h.get("announcement", "")
        return cls(
            id=h["id"], creator_id=h["creator_id"], title=h.get("title", ""),
            cover=h.get("cover", ""), notice=h.get("notice", ""), state=h["state"],
            allow_guests=h.get("allow_guests", "1") == "1",
            slow_mode_s=int(h.get("slow_mode_s", "0") or 0),
            keyword_action=h.get("keyword_action", ""),
            created_at=int(h.get("created_at", "0")), scheduled_at=opt_int("scheduled_at"),
            started_at=opt_int("started_at"), ended_at=opt_int("ended_at"),
            announcement=orjson.loads(ann) if ann else None, epoch=h.get("epoch", ""),
        )

    def public(self) -> Json:
        return {
            "id": self.id, "creator_id": self.creator_id, "title": self.title,
            "cover": self.cover, "notice": self.notice, "state": self.state,
            "allow_guests": self.allow_guests, "slow_mode_s": self.slow_mode_s,
            "created_at": self.created_at, "scheduled_at": self.scheduled_at,
            "started_at": self.started_at, "ended_at": self.ended_at,
        }


def _clean_text(msg: Json, name: str, max_len: int) -> str | None:
    value = get_str(msg, name, max_len=max_len, required=False)
    return value.strip() if value is not None else None


def parse_create(body: Json, now: int) -> dict[str, Any]:
    """Fields of a new room from a request body (title required)."""
    title = _clean_text(body, "title", TITLE_MAX)
    if not title:
        raise InvalidField("'title' must be 1-100 characters")
    scheduled_at = body.get("scheduled_at")
    if scheduled_at is not None:
        scheduled_at = get_int(body, "scheduled_at", lo=0, hi=MAX_TIME_MS)
    return {
        "title": title,
        "cover": check_image_url("cover", _clean_text(body, "cover", COVER_MAX) or ""),
        "notice": _clean_text(body, "notice", NOTICE_MAX) or "",
        "allow_guests": get_bool(body, "allow_guests", True),
        "scheduled_at": scheduled_at,
        "created_at": now,
    }


def parse_update(body: Json) -> dict[str, Any]:
    """The changed fields of a PATCH; at least one, each validated."""
    out: dict[str, Any] = {}
    for name, limit in (("title", TITLE_MAX), ("cover", COVER_MAX), ("notice", NOTICE_MAX)):
        if name in body:
            value = _clean_text(body, name, limit)
            if name == "title" and not value:
                raise InvalidField("'title' must be 1-100 characters")
            out[name] = check_image_url(name, value or "") if name == "cover" else value or ""
    if "allow_guests" in body:
        out["allow_guests"] = get_bool(body, "allow_guests", True)
    unknown = set(body) - {"title", "cover", "notice", "allow_guests"}
    if unknown:
        raise InvalidField(f"unknown field(s): {', '.join(sorted(unknown))}")
    if not out:
        raise InvalidField("nothing to update")
    return out


def to_hash_fields(fields: dict[str, Any]) -> list[str]:
    """Flatten fields for HSET; booleans as '1'/'0', None as ''."""
    flat: list[str] = []
    for key, value in fields.items():
        if isinstance(value, bool):
            value = "1" if value else "0"
        flat += [key, "" if value is None else str(value)]
    return flat


_shared: weakref.WeakValueDictionary[str, Room] = weakref.WeakValueDictionary()


def shared(room: Room) -> Room:
    """One Room object for every connection that holds an equal one: thousands of viewers of
    a room keep a reference each, and a copy per viewer is memory for nothing."""
    current = _shared.get(room.id)
    if current is not None and current == room:
        return current
    _shared[room.id] = room
    return room
