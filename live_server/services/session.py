"""One viewer's websocket session, without the websocket: join (snapshot or recovery) and the
requests it may make. The web handler feeds it text frames and writes what it returns.

A request frame names its op; the op's fields, who may send it and the service it calls are the
command table's (``live_server/commands``), shared with the HTTP routes."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Callable

from live_server.auth import Identity, is_moderator
from live_server.commands.command import Call
from live_server.commands.table import WS_OPS
from live_server.config import Settings
from live_server.domain.rooms import Room, shared
from live_server.errors import Internal, InvalidField, LiveError, MissingField, NotFound, UnknownOp
from live_server.protocol import Json, dumps, error_frame, loads_object, now_ms, reply_frame
from live_server.realtime.conn import Conn
from live_server.realtime.frames import batch_payload, text_frame
from live_server.realtime.node import Node
from live_server.services.container import Services
from live_server.store.presence import PresenceStore
from live_server.store.rooms import RoomStore

log = logging.getLogger(__name__)
ENVELOPE = frozenset({"op", "id"})  # a request's keys that are not the op's fields


@dataclasses.dataclass(slots=True)  # one per connection: no per-instance __dict__
class Session:
    settings: Settings
    who: Identity
    room: Room
    conn: Conn
    node: Node
    room_store: RoomStore
    presence: PresenceStore
    on_error: Callable[[str], None]
    on_op: Callable[[str], None]
    services: Services  # what the ops call (the command table's ``Call.services``)

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
            self.on_error(Internal.code)
            return error_frame(req_id, Internal(f"internal error (ref {ref})"))

    async def _dispatch(self, msg: Json) -> bytes:
        name = msg.get("op")
        if "op" not in msg:
            raise MissingField("'op' is required")
        if not isinstance(name, str):
            raise InvalidField("'op' must be a string")
        command = WS_OPS.get(name)
        self.on_op(name if command is not None else "unknown")
        if command is None:
            raise UnknownOp(f"unknown op '{name[:40]}'")
        command.allow(self.who)
        args = command.bind(msg, self.settings, ENVELOPE)
        req_id = msg.get("id")
        result = await command.run(Call(self.services, self.who, self.room.id, args, req_id,
                                        self))
        if isinstance(result, bytes):
            return result
        return reply_frame(req_id, result)
