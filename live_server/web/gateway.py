"""What every room websocket goes through before and after its frames, whichever code owns the
socket: who is it (token in the query or a first ``auth`` frame), may it enter this room, the
connection and session objects, and the counting of joins and closes.

The room socket (``web.room_socket``) calls it, whichever code read the upgrade (the front door
or aiohttp's handler in ``web.ws``).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import socket
from collections.abc import Mapping
from typing import Any

from live_server.auth import GUEST, Identity, verify
from live_server.commands.access import check_standing
from live_server.commands.command import bind_fields
from live_server.commands.socket import AUTH_POSITION, AUTH_TOKEN
from live_server.container import STORE_ERRORS, STORE_UNAVAILABLE, Services
from live_server.domain.rooms import Room
from live_server.errors import (
    Banned,
    CloseCode,
    GuestsNotAllowed,
    Internal,
    InvalidField,
    LiveError,
    NotFound,
    NotReady,
    Suspended,
    Unauthorized,
)
from live_server.protocol import MAX_SEQ, loads_object
from live_server.realtime.conn import Conn, Transport
from live_server.web.session import ENVELOPE, Session

log = logging.getLogger(__name__)
ROOM_PATH = "/ws/rooms/"


class Refused(Exception):
    """The websocket is refused: an error frame with ``err``, then ``close_code``."""

    def __init__(self, err: LiveError, close_code: int, reason: str) -> None:
        super().__init__(reason)
        self.err, self.close_code, self.reason = err, close_code, reason


@dataclasses.dataclass(frozen=True, slots=True)
class Position:
    """Where a reconnecting client left the room's stream: the last seq it saw (``since``) and
    the stream's epoch it saw it in; both None for a fresh join."""

    since: int | None = None
    epoch: str | None = None


FRESH = Position()
_DIGITS = re.compile(r"[0-9]{1,16}")
_EPOCH = re.compile(r"[A-Za-z0-9_-]{0,32}")


def _bad(field: str, why: str) -> Refused:
    return Refused(InvalidField(f"'{field}' {why}"), CloseCode.NORMAL, "bad_request")


def since_of(value: str | None) -> int | None:
    """A ``since`` from a query string: ASCII digits, 0..2^53; absent or empty: None. Nothing
    else passes (no signs, spaces or other scripts' digits). The ``auth`` frame's is bound by
    the ``auth`` command's declared fields instead (``from_auth_frame``)."""
    if value is None or value == "":
        return None
    if not _DIGITS.fullmatch(value):
        raise _bad("since", "must be a whole number (digits only)")
    since = int(value)
    if since > MAX_SEQ:
        raise _bad("since", f"must be between 0 and {MAX_SEQ}")
    return since


def epoch_of(value: str | None) -> str | None:
    """The stream epoch the client's ``since`` counts in (from its last ``welcome``)."""
    if value is None:
        return None
    if not _EPOCH.fullmatch(value):
        raise _bad("epoch", "must be the epoch of a welcome (up to 32 letters and digits)")
    return value


def position_of(query: Mapping[str, str]) -> Position:
    since = since_of(query.get("since"))
    return Position(since, epoch_of(query.get("epoch")) if since is not None else None)


def _verify(s: Services, token: str) -> Identity:
    cfg = s.settings.auth
    try:
        return verify(cfg.secret, token, leeway_s=cfg.leeway_s)
    except LiveError as err:
        raise Refused(err, CloseCode.UNAUTHORIZED, "unauthorized") from None


def from_query(s: Services, query: Mapping[str, str]) -> tuple[Identity, Position] | None:
    """Credentials from the URL, or None when the client will send an ``auth`` frame first."""
    if query.get("token"):
        return _verify(s, query["token"]), position_of(query)
    if query.get("guest") == "1":
        return GUEST, position_of(query)
    return None


_AUTH_NAMES = frozenset(f.name for f in (AUTH_TOKEN, *AUTH_POSITION))


def from_auth_frame(s: Services, text: str | bytes,
                    query: Mapping[str, str]) -> tuple[Identity, Position]:
    """``{"op": "auth", "token": ..., "since": ..., "epoch": ...}`` bound by the ``auth``
    command's declared fields like any request; no token means a guest; ``since`` and ``epoch``
    may come from the query instead. A refused frame or token closes with 4001, a refused
    position (as in the query) with 1000."""
    try:
        first = loads_object(text)
        if first.get("op") != "auth":
            raise Unauthorized("the first frame must be {'op': 'auth', ...}")
        token = bind_fields((AUTH_TOKEN,), first, s.settings, ENVELOPE,
                            _AUTH_NAMES).get("token")
    except LiveError as err:
        raise Refused(err, CloseCode.UNAUTHORIZED, "unauthorized") from None
    who = _verify(s, token) if token else GUEST
    if "since" not in first:
        return who, position_of(query)
    try:
        position = bind_fields(AUTH_POSITION, first, s.settings, (*ENVELOPE, *_AUTH_NAMES))
    except LiveError as err:
        raise Refused(err, CloseCode.NORMAL, "bad_request") from None
    since = position.get("since")
    return who, Position(since, position.get("epoch") if since is not None else None)


def not_text_first() -> Refused:
    return Refused(Unauthorized("the first frame must be a text 'auth' frame"),
                   CloseCode.UNAUTHORIZED, "unauthorized")


def auth_timeout() -> Refused:
    return Refused(Unauthorized("no auth frame in time"), CloseCode.AUTH_TIMEOUT, "auth_timeout")


# A refused admission's close code and reason, by the error the room service raised.
_ADMISSION: dict[type[LiveError], tuple[int, str]] = {
    NotFound: (CloseCode.ROOM_NOT_FOUND, "room_not_found"),
    GuestsNotAllowed: (CloseCode.GUESTS_NOT_ALLOWED, GuestsNotAllowed.code),
    Banned: (CloseCode.BANNED, Banned.code),
}


async def admit(s: Services, room_id: str, who: Identity) -> Room:
    """The room, if this identity may watch it now (``RoomService.admit``); a refusal carries
    the close code that goes with its reason. A user suspended from the platform is refused
    before the room is read (``commands/access.py``'s one check)."""
    try:
        check_standing(who, s.suspensions)
    except Suspended as err:
        raise Refused(err, CloseCode.BANNED, Suspended.code) from None
    try:
        return await s.rooms.admit(room_id, who)
    except (NotFound, GuestsNotAllowed, Banned) as err:
        code, reason = _ADMISSION[type(err)]
        raise Refused(err, code, reason) from None


# What may go wrong from the credentials to the welcome: turned into a refusal by ``refusal``.
JOIN_FAILURES: tuple[type[BaseException], ...] = (Refused, LiveError, *STORE_ERRORS)


def refusal(exc: BaseException) -> Refused:
    """The answer to a failed join: a refusal as it is; a coded error during the join (e.g. the
    room vanished) with close 1000; a store failure as ``internal`` with close 1011."""
    if isinstance(exc, Refused):
        return exc
    if isinstance(exc, LiveError):
        return Refused(exc, CloseCode.NORMAL, exc.code)
    if isinstance(exc, STORE_UNAVAILABLE):
        log.warning("websocket join: the store cannot be reached: %s", exc)
        return Refused(NotReady("the store cannot be reached; try again shortly"),
                       CloseCode.TRY_AGAIN_LATER, NotReady.code)
    log.warning("websocket join failed: %s", exc)
    return Refused(Internal("try again shortly"), CloseCode.INTERNAL, "internal")


def session_for(s: Services, who: Identity, room: Room, transport: Transport) -> Session:
    conn = Conn(room_id=room.id, transport=transport, user_id=who.user_id, name=who.name,
                role=who.role)
    return Session(who=who, room=room, conn=conn, services=s)


def tune_socket(s: Services, transport: Any) -> None:
    size = s.settings.ws.socket_sndbuf_bytes
    if size:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


def count_join(s: Services) -> None:
    s.metrics.connects.labels("ok").inc()


def count_refusal(s: Services, refused: Refused) -> None:
    s.metrics.connects.labels(refused.err.code).inc()
    s.metrics.errors.labels(refused.err.code).inc()


def count_leave(s: Services, conn: Conn | None, code: int | None) -> None:
    """After the socket is gone: out of the room, and its close code counted (1006: the
    connection dropped without a close frame). The open-connections gauge is not kept here:
    ``/metrics`` sets it from the hub."""
    if conn is not None:
        s.node.leave(conn)
        code = conn.close_code or code
    s.metrics.closes.labels(str(code or 1006)).inc()
