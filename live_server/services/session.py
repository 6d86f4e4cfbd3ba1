"""One viewer's websocket session, without the websocket: join (snapshot or recovery) and the
requests it may make. The web handler feeds it text frames and writes what it returns."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Awaitable, Callable

from live_server.auth import Identity, is_moderator, require_user
from live_server.config import Settings
from live_server.domain.chat import MAX_MUTE_S, MAX_SLOW_MODE_S
from live_server.domain.rooms import Room, shared
from live_server.domain.shelf import product_id_field
from live_server.errors import Internal, InvalidField, LiveError, MissingField, NotFound, UnknownOp
from live_server.protocol import (
    Json,
    dumps,
    error_frame,
    get_int,
    get_str,
    loads_object,
    need_str,
    now_ms,
    reply_frame,
    user_id_field,
)
from live_server.realtime.conn import Conn
from live_server.realtime.frames import batch_payload, text_frame
from live_server.realtime.node import Node
from live_server.services.chat import ChatService
from live_server.services.red_packets import RedPacketService
from live_server.services.rooms import RoomService
from live_server.services.shelf import ShelfService
from live_server.store.presence import PresenceStore
from live_server.store.rooms import RoomStore

log = logging.getLogger(__name__)
Handler = Callable[["Session", Json], Awaitable[Json | bytes]]
_HANDLERS: dict[str, Handler] = {}


def op(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[name] = fn
        return fn
    return register


@dataclasses.dataclass(slots=True)  # one per connection: no per-instance __dict__
class Session:
    settings: Settings
    who: Identity
    room: Room
    conn: Conn
    node: Node
    rooms: RoomService
    chat: ChatService
    room_store: RoomStore
    presence: PresenceStore
    on_error: Callable[[str], None]
    on_op: Callable[[str], None]
    shelf: ShelfService
    red_packets: RedPacketService

    @property
    def moderator(self) -> bool:
        return is_moderator(self.who, self.room.creator_id)

    async def snapshot(self, visit: bool = False) -> tuple[Json, int]:
        found = await self.room_store.snapshot(
            self.room.id, self.who.user_id, recent=self.settings.history.recent_chat, top=0,
            now=now_ms(), visit=(self.conn.visitor_id, self.who.name) if visit else None)
        if found is None:
            raise NotFound("no such room")
        room, snap, seq = found
        self.room = shared(room)
        # by intimacy toward the creator: in the creator's slot, so not in the snapshot script
        snap["top_fans"] = await self.room_store.top_fans(room.id, room.creator_id,
                                                          self.settings.fans.top)
        snap["me"]["moderator"] = self.moderator
        snap["server_time"] = now_ms()  # for countdowns: the client's clock may be off
        return snap, seq

    async def open(self, since: int | None) -> None:
        """Join the room: hold live events, read snapshot or missed events, then go live."""
        await self.node.join(self.conn)
        recovered, snap = False, None
        missed: list[bytes] = []
        seq = last = 0
        if since is not None:
            recovered, missed, _current = await self.room_store.missed(self.room.id, since)
        if recovered and since is not None:
            seq, last = since, since + len(missed)
            await self.presence.joined(self.room.id, self.conn.visitor_id, self.who.user_id,
                                       self.who.name)
        else:  # the snapshot read also records the visit: one round trip fewer per join
            snap, seq = await self.snapshot(visit=True)
            missed, last = [], seq
        welcome = dumps({
            "type": "welcome", "conn_id": self.conn.id, "server_time": now_ms(),
            "user": self.who.public(), "recovered": recovered, "seq": seq, "snapshot": snap,
        })
        frames = [text_frame(welcome)]
        if missed:
            frames.append(text_frame(batch_payload(self.room.id.encode(), missed)))
        self.node.hub.note_join(self.room.id, self.who.name if self.who.user_id else None)
        self.node.hub.activate(self.conn, last, frames)

    async def handle(self, text: str | bytes) -> bytes:
        """One request frame → the reply or error frame (JSON bytes)."""
        req_id = None
        try:
            msg = loads_object(text)
            req_id = msg.get("id")
            return await self._dispatch(msg)
        except LiveError as err:
            self.on_error(err.code)
            return error_frame(req_id, err)
        except Exception:  # a bug or a store failure: answer, keep the connection
            ref = secrets.token_hex(4)
            log.exception("request failed (ref %s) in room %s", ref, self.room.id)
            self.on_error("internal")
            return error_frame(req_id, Internal(f"internal error (ref {ref})"))

    async def _dispatch(self, msg: Json) -> bytes:
        name = msg.get("op")
        if "op" not in msg:
            raise MissingField("'op' is required")
        if not isinstance(name, str):
            raise InvalidField("'op' must be a string")
        handler = _HANDLERS.get(name)
        self.on_op(name if handler is not None else "unknown")
        if handler is None:
            raise UnknownOp(f"unknown op '{name[:40]}'")
        result = await handler(self, msg)
        if isinstance(result, bytes):
            return result
        return reply_frame(msg.get("id"), result)


@op("ping")
async def _ping(s: Session, msg: Json) -> bytes:
    return dumps({"type": "pong", "id": msg.get("id"), "server_time": now_ms()})


@op("auth")
async def _auth(s: Session, msg: Json) -> Json:
    raise InvalidField("already authenticated: 'auth' is only valid as the first frame")


@op("chat")
async def _chat(s: Session, msg: Json) -> Json:
    text = need_str(msg, "text", max_len=s.settings.chat.max_length * 4)
    return await s.chat.send(s.who, s.room, text)


@op("heart")
async def _heart(s: Session, msg: Json) -> Json:
    uid = require_user(s.who)
    count = get_int(msg, "count", lo=1, hi=s.settings.hearts.max_per_frame, default=1)
    s.node.hub.add_hearts(s.room.id, uid, s.who.name, count,
                          count * s.settings.hearts.score_per_heart)
    return {"accepted": count}


@op("snapshot")
async def _snapshot(s: Session, msg: Json) -> Json:
    snap, seq = await s.snapshot()
    return {**snap, "seq": seq}


@op("history")
async def _history(s: Session, msg: Json) -> Json:
    before = get_int(msg, "before", lo=1, hi=2**53, default=0) or None
    limit = get_int(msg, "limit", lo=1, hi=s.settings.history.page_limit, default=50)
    return {"events": await s.rooms.history(s.who, s.room.id, before, limit)}


@op("report")
async def _report(s: Session, msg: Json) -> Json:
    seq = get_int(msg, "seq", lo=1, hi=2**53)
    reason = need_str(msg, "reason", max_len=s.settings.chat.report_reason_max)
    return {"report_id": await s.chat.report(s.who, s.room.id, seq, reason)}


@op("delete")
async def _delete(s: Session, msg: Json) -> Json:
    seq = get_int(msg, "seq", lo=1, hi=2**53)
    reason = get_str(msg, "reason", max_len=200, required=False) or ""
    return {"seq": await s.chat.delete(s.who, s.room.id, seq, reason)}


def _reason(msg: Json) -> str:
    return (get_str(msg, "reason", max_len=200, required=False) or "").strip()


@op("mute")
async def _mute(s: Session, msg: Json) -> Json:
    user_id = user_id_field(msg)
    duration = get_int(msg, "duration_s", lo=1, hi=MAX_MUTE_S)
    return {"until": await s.chat.mute(s.who, s.room.id, user_id, duration, _reason(msg))}


@op("unmute")
async def _unmute(s: Session, msg: Json) -> Json:
    await s.chat.unmute(s.who, s.room.id, user_id_field(msg))
    return {}


@op("ban")
async def _ban(s: Session, msg: Json) -> Json:
    await s.chat.ban(s.who, s.room.id, user_id_field(msg), _reason(msg))
    return {}


@op("unban")
async def _unban(s: Session, msg: Json) -> Json:
    await s.chat.unban(s.who, s.room.id, user_id_field(msg))
    return {}


@op("slow_mode")
async def _slow_mode(s: Session, msg: Json) -> Json:
    seconds = get_int(msg, "seconds", lo=0, hi=MAX_SLOW_MODE_S)
    await s.rooms.slow_mode(s.who, s.room.id, seconds)
    return {}


@op("announce")
async def _announce(s: Session, msg: Json) -> Json:
    text = get_str(msg, "text", max_len=s.settings.chat.announcement_max, allow_none=True)
    await s.rooms.announce(s.who, s.room.id, text)
    return {}


# The shelf ---------------------------------------------------------------------------------

@op("buy")
async def _buy(s: Session, msg: Json) -> Json:
    product_id = product_id_field(msg)
    quantity = get_int(msg, "quantity", lo=1, hi=s.settings.shelf.max_quantity, default=1)
    key = need_str(msg, "idempotency_key", max_len=64)
    return await s.shelf.buy(s.who, s.room.id, product_id, quantity, key)


@op("product")
async def _product(s: Session, msg: Json) -> Json:
    return await s.shelf.product_view(s.who, s.room.id, product_id_field(msg))


@op("shelf")
async def _shelf_op(s: Session, msg: Json) -> Json:
    return await s.shelf.shelf(s.room.id)


@op("pin")
async def _pin(s: Session, msg: Json) -> Json:
    if "product_id" not in msg:
        raise MissingField("'product_id' is required (null clears the pin)")
    pid = None if msg["product_id"] is None else product_id_field(msg)
    return {"seq": await s.shelf.pin(s.who, s.room.id, pid)}


# Red packets ------------------------------------------------------------------------------

@op("grab")
async def _grab(s: Session, msg: Json) -> Json:
    if "packet_id" not in msg:
        raise MissingField("'packet_id' is required")
    return await s.red_packets.grab(s.who, msg["packet_id"], s.room.id)
