"""One viewer's websocket session, without the websocket: who, which room, the ``Conn``; the join
(``ViewingService``: snapshot or recovery) and the requests it may make. The room socket feeds
it text frames and writes what it returns.

A request frame names its op; the op's fields, who may send it and the service it calls are the
command table's (``live_server/commands``), shared with the HTTP routes."""

from __future__ import annotations

import dataclasses
import logging
import secrets

from live_server.auth import Identity
from live_server.commands.command import Call
from live_server.commands.table import WS_OPS
from live_server.container import STORE_UNAVAILABLE, Services
from live_server.domain.rooms import Room
from live_server.errors import (
    Internal,
    InvalidField,
    LiveError,
    MissingField,
    NotReady,
    UnknownOp,
)
from live_server.protocol import Json, error_frame, loads_object, reply_frame
from live_server.realtime.conn import Conn

log = logging.getLogger(__name__)
ENVELOPE = frozenset({"op", "id"})  # a request's keys that are not the op's fields


@dataclasses.dataclass(slots=True)  # one per connection: no per-instance __dict__
class Session:
    who: Identity
    room: Room
    conn: Conn
    services: Services  # what the ops call (the command table's ``Call.services``)

    async def snapshot(self, visit: bool = False) -> tuple[Json, int]:
        room, snap, seq = await self.services.viewing.snapshot(
            self.who, self.room.id, self.conn if visit else None)
        self.room = room
        return snap, seq

    async def open(self, since: int | None, epoch: str | None = None) -> None:
        """Join the room: hold live events, read snapshot or missed events, then go live."""
        self.room = await self.services.viewing.join(self.conn, self.who, self.room, since,
                                                     epoch)

    async def handle(self, text: str | bytes) -> bytes:
        """One request frame → the reply or error frame (JSON bytes)."""
        req_id = None
        try:
            msg = loads_object(text)
            req_id = msg.get("id")
            return await self._dispatch(msg)
        except LiveError as err:
            self.services.count_error(err.code)
            return error_frame(req_id, err)
        except STORE_UNAVAILABLE as exc:  # an outage: try again shortly; keep the connection
            log.warning("store unavailable", exc_info=True, extra={
                "error": type(exc).__name__, "room_id": self.room.id, "conn_id": self.conn.id,
                "user_id": self.who.user_id})
            self.services.count_error(NotReady.code)
            return error_frame(req_id, NotReady("the store cannot be reached; try again shortly"))
        except Exception as exc:  # a bug or a store failure: answer, keep the connection
            ref = secrets.token_hex(4)
            # one line per kind of failure (logs.RateLimit): a Valkey outage fails every frame
            log.error("request failed", exc_info=True, extra={
                "ref": ref, "error": type(exc).__name__, "room_id": self.room.id,
                "conn_id": self.conn.id, "user_id": self.who.user_id})
            self.services.count_error(Internal.code)
            return error_frame(req_id, Internal(f"internal error (ref {ref})"))

    async def _dispatch(self, msg: Json) -> bytes:
        name = msg.get("op")
        if "op" not in msg:
            raise MissingField("'op' is required")
        if not isinstance(name, str):
            raise InvalidField("'op' must be a string")
        command = WS_OPS.get(name)
        self.services.count_request(name if command is not None else "unknown")
        if command is None:
            raise UnknownOp(f"unknown op '{name[:40]}'")
        command.allow(self.who, self.services.suspensions)
        args = command.bind(msg, self.services.settings, ENVELOPE)
        req_id = msg.get("id")
        result = await command.run(Call(self.services, self.who, self.room.id, args, req_id,
                                        self))
        if isinstance(result, bytes):
            return result
        return reply_frame(req_id, result)
