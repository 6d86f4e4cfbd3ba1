"""Room events built in Python: one builder per event type, so each type has one shape.

Clients (``static/js/``, the load generator, integration tests) read these fields, and a type
built in two places drifts; so nothing else assembles an event. The types built inside Lua
scripts (shelf, sales, stock, orders, grabs, counters, coupons, auctions, gifts) have their
builders in ``store/lua/_lib.lua`` instead, one per type as well.

Every event is the protocol's envelope ``{"type", "ts", "data"}``; a sequenced one gets its
``seq`` from ``append_event`` in Lua when it is stored. A builder returns the encoded bytes with
their type beside them (``RoomEvent``): the store keeps the type as a field of the room's
stream entry, so readers pick chat messages out of the history without decoding every entry or
depending on how an encoder orders keys.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from live_server.protocol import Json, now_ms


class RoomEvent(NamedTuple):
    """One encoded room event and its type (``kind`` equals the JSON's ``type``)."""

    kind: str
    body: bytes


def _event(kind: str, data: Any, ts: int | None) -> RoomEvent:
    return RoomEvent(kind, orjson.dumps(
        {"type": kind, "ts": now_ms() if ts is None else ts, "data": data}))


# Chat and moderation -------------------------------------------------------------------------

def chat(*, user_id: str, name: str, role: str | None, level: int, fan_club: bool, text: str,
         masked: bool, ts: int | None = None) -> RoomEvent:
    """A chat message; ``level``/``fan_club``: the sender's badge toward the room's creator."""
    return _event("chat", {
        "user": {"id": user_id, "name": name, "role": role, "level": level, "fan_club": fan_club},
        "text": text, "masked": masked,
    }, ts)


def chat_deleted(target_seq: int, by: str, ts: int | None = None) -> RoomEvent:
    return _event("chat_deleted", {"target_seq": target_seq, "by": by}, ts)


def user_muted(user_id: str, until: int, by: str, ts: int | None = None) -> RoomEvent:
    """Public: everyone in the room hears it. The reason is for moderators (the mute list and
    the moderation log), never for the room: a public reason shames or provokes."""
    return _event("user_muted", {"user_id": user_id, "until": until, "by": by}, ts)


def user_unmuted(user_id: str, by: str, ts: int | None = None) -> RoomEvent:
    return _event("user_unmuted", {"user_id": user_id, "by": by}, ts)


def user_banned(user_id: str, by: str, ts: int | None = None) -> RoomEvent:
    """Public, without the reason (``list_bans`` and the moderation log keep it)."""
    return _event("user_banned", {"user_id": user_id, "by": by}, ts)


def user_unbanned(user_id: str, by: str, ts: int | None = None) -> RoomEvent:
    return _event("user_unbanned", {"user_id": user_id, "by": by}, ts)


def keywords_updated(count: int, action: str, ts: int | None = None) -> RoomEvent:
    """The room's keyword list changed; the words themselves are not broadcast."""
    return _event("keywords_updated", {"count": count, "action": action}, ts)


# The room ------------------------------------------------------------------------------------

def room_state(state: str, at: int, by: str) -> RoomEvent:
    """The room went live (``started_at``) or ended (``ended_at``) at ``at``."""
    stamp = "started_at" if state == "live" else "ended_at"
    return _event("room_state", {"state": state, stamp: at, "by": by}, at)


def show_starting(room_id: str, title: str, creator_id: str, started_at: int) -> RoomEvent:
    """A scheduled show the user asked to be reminded of went live: a notice written to that
    user's sockets in any room (``realtime/notices.py``), never stored in a room's stream."""
    return _event("show_starting", {"room_id": room_id, "title": title,
                                    "creator_id": creator_id, "started_at": started_at},
                  started_at)


def room_updated(fields: Json, ts: int | None = None) -> RoomEvent:
    """The changed room fields, as validated by ``domain.rooms.parse_update``."""
    return _event("room_updated", fields, ts)


def announcement(ann: Json | None, ts: int | None = None) -> RoomEvent:
    """``ann`` is the stored announcement (``text``, ``by``, ``ts``); None clears it."""
    return _event("announcement", ann if ann is not None else {"text": None}, ts)


def slow_mode(seconds: int, by: str, ts: int | None = None) -> RoomEvent:
    return _event("slow_mode", {"seconds": seconds, "by": by}, ts)


def joins(count: int, names: list[str], ts: int) -> RoomEvent:
    """Arrivals (unsequenced): one process's per tick, or the sum a hub sends its sockets."""
    return _event("joins", {"count": count, "names": names}, ts)


# Live video ----------------------------------------------------------------------------------

def video_started(codecs: dict[str, str], by: str | None,
                  ts: int | None = None) -> RoomEvent:
    """The publisher connected; ``codecs``: kind → codec (``video``, maybe ``audio``)."""
    return _event("video_started", {"codecs": codecs, "by": by}, ts)


def video_stopped(reason: str, ts: int | None = None) -> RoomEvent:
    return _event("video_stopped", {"reason": reason}, ts)


# Co-hosting ----------------------------------------------------------------------------------

def cohost_invited(guest_id: str, by: str, by_name: str, expires_at: int,
                   ts: int | None = None) -> RoomEvent:
    """An invitation to co-host, addressed to the guest only (``to``: their sockets in the
    room, unsequenced); they answer with ``cohost_accept`` or ``cohost_decline``."""
    return RoomEvent("cohost_invited", orjson.dumps(
        {"type": "cohost_invited", "to": guest_id, "ts": now_ms() if ts is None else ts,
         "data": {"guest_id": guest_id, "by": by, "by_name": by_name,
                  "expires_at": expires_at}}))


def cohost_started(room_id: str, guest_id: str, name: str, codecs: dict[str, str],
                   ts: int | None = None) -> RoomEvent:
    """A guest's stream is on air: pages open its WHEP session (``whep``)."""
    return _event("cohost_started", {"guest_id": guest_id, "name": name, "codecs": codecs,
                                     "whep": f"/api/rooms/{room_id}/guests/{guest_id}/whep"}, ts)


def cohost_ended(guest_id: str, reason: str, ts: int | None = None) -> RoomEvent:
    """A guest's stream ended (``removed``, ``left``, ``publisher_left``, ``disconnected``...)."""
    return _event("cohost_ended", {"guest_id": guest_id, "reason": reason}, ts)


# Red packets (grabs are announced by rp_grab.lua) --------------------------------------------

def red_packet(packet: Json, server_time: int) -> RoomEvent:
    """A packet was launched; clients count down to ``packet.open_at`` against
    ``server_time``."""
    return _event("red_packet", {"packet": packet, "server_time": server_time}, server_time)


def red_packet_opened(packet_id: str, expires_at: int, ts: int) -> RoomEvent:
    return _event("red_packet_opened", {"packet_id": packet_id, "expires_at": expires_at}, ts)


def red_packet_finished(packet_id: str, reason: str, luckiest: Json | None, refunded: int,
                        shares_left: int, ts: int) -> RoomEvent:
    return _event("red_packet_finished", {
        "packet_id": packet_id, "reason": reason, "luckiest": luckiest, "refunded": refunded,
        "shares_left": shares_left,
    }, ts)


# Lucky draws (entrant counts are published by draw_enter.lua) --------------------------------

def draw(view: Json, server_time: int) -> RoomEvent:
    """A draw opened: its prize, condition, ``end_at`` and ``commitment`` (never the seed);
    clients count down against ``server_time``."""
    return _event("draw", {"draw": view, "server_time": server_time}, server_time)


def draw_result(draw_id: str, result: Json, ts: int) -> RoomEvent:
    """A draw was drawn: the revealed seed, the entrants' hash and count, the winners."""
    return _event("draw_result", {"draw_id": draw_id, "result": result}, ts)
