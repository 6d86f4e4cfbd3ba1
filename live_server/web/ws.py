"""The room websocket: authenticate, join, then read frames and hand them to the session.

Thin on purpose: protocol rules live in ``services.session``; this file knows aiohttp, close
codes, the flood limit and the order of a graceful close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

from aiohttp import WSMsgType, web
from redis.exceptions import RedisError

from live_server.auth import GUEST, Identity, verify
from live_server.domain.rooms import shared
from live_server.errors import (
    CloseCode,
    Internal,
    InvalidField,
    LiveError,
    NotFound,
    Unauthorized,
)
from live_server.protocol import error_frame, get_str, loads_object
from live_server.realtime.conn import Conn
from live_server.realtime.frames import text_frame
from live_server.services.container import Services
from live_server.services.session import Session
from live_server.web.http import services
from live_server.web.keys import SHUTTING_DOWN

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


class _Refused(Exception):
    def __init__(self, err: LiveError, close_code: int, reason: str) -> None:
        self.err, self.close_code, self.reason = err, close_code, reason


def _since(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        since = int(value)
    except (TypeError, ValueError):
        raise _Refused(InvalidField("'since' must be an integer"), CloseCode.NORMAL,
                       "bad_request") from None
    if since < 0:
        raise _Refused(InvalidField("'since' must be >= 0"), CloseCode.NORMAL, "bad_request")
    return since


def _verify(request: web.Request, token: str) -> Identity:
    cfg = services(request).settings.auth
    try:
        return verify(cfg.secret, token, leeway_s=cfg.leeway_s)
    except LiveError as err:
        raise _Refused(err, CloseCode.UNAUTHORIZED, "unauthorized") from None


async def _authenticate(request: web.Request, ws: web.WebSocketResponse,
                        ) -> tuple[Identity, int | None]:
    query = request.query
    if query.get("token"):
        return _verify(request, query["token"]), _since(query.get("since"))
    if query.get("guest") == "1":
        return GUEST, _since(query.get("since"))
    timeout = services(request).settings.ws.auth_timeout_ms / 1000
    try:
        msg = await ws.receive(timeout=timeout)
    except TimeoutError:
        raise _Refused(Unauthorized("no auth frame in time"), CloseCode.AUTH_TIMEOUT,
                       "auth_timeout") from None
    if msg.type != WSMsgType.TEXT:
        raise _Refused(Unauthorized("the first frame must be a text 'auth' frame"),
                       CloseCode.UNAUTHORIZED, "unauthorized")
    try:
        first = loads_object(msg.data)
        if first.get("op") != "auth":
            raise Unauthorized("the first frame must be {'op': 'auth', ...}")
        token = get_str(first, "token", allow_none=True, required=False, max_len=4096)
    except LiveError as err:
        raise _Refused(err, CloseCode.UNAUTHORIZED, "unauthorized") from None
    who = _verify(request, token) if token else GUEST
    return who, _since(first.get("since") if "since" in first else query.get("since"))


@routes.get("/ws/rooms/{room_id}")
async def room_ws(request: web.Request) -> web.StreamResponse:
    s = services(request)
    cfg = s.settings.ws
    if request.app[SHUTTING_DOWN][0]:
        raise web.HTTPServiceUnavailable(text="shutting down")
    # No per-socket heartbeat timer: the node pings every socket in one round (Node._ping_loop)
    # and this handler answers the client's pings itself.
    ws = web.WebSocketResponse(heartbeat=None, max_msg_size=cfg.max_frame_bytes,
                               compress=False, autoping=False)
    await ws.prepare(request)
    transport = request.transport
    if transport is None:
        return ws
    if cfg.socket_sndbuf_bytes:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, cfg.socket_sndbuf_bytes)
    room_id = request.match_info["room_id"]
    conn: Conn | None = None
    try:
        who, since = await _authenticate(request, ws)
        room, banned = await s.room_store.get_for_user(room_id, who.user_id)
        if room is None:
            raise _Refused(NotFound("no such room"), CloseCode.ROOM_NOT_FOUND, "room_not_found")
        if who.is_guest and not room.allow_guests:
            raise _Refused(LiveError("log in to watch this room", code="guests_not_allowed",
                                     status=403),
                           CloseCode.GUESTS_NOT_ALLOWED, "guests_not_allowed")
        if banned:
            raise _Refused(LiveError("you are banned from this room", code="banned",
                                     status=403), CloseCode.BANNED, "banned")
        conn = Conn(room_id=room_id, transport=transport, user_id=who.user_id, name=who.name,
                    role=who.role)
        conn.on_kick = lambda code, reason: _close_soon(ws, conn, code, reason)
        session = Session(settings=s.settings, who=who, room=shared(room), conn=conn, node=s.node,
                          rooms=s.rooms, chat=s.chat, room_store=s.room_store,
                          presence=s.presence,
                          on_error=s.count_error, on_op=s.count_request, shelf=s.shelf,
                          money=s.money)
        s.metrics.connections.inc()
        s.metrics.connects.labels("ok").inc()
        await session.open(since)
        await _serve(request, ws, session, conn)
    except LiveError as err:  # during the join (e.g. the room vanished)
        await _refuse(s, ws, _Refused(err, CloseCode.NORMAL, err.code))
    except (OSError, RedisError, TimeoutError) as exc:  # the store failed during the join
        log.warning("websocket join failed: %s", exc)
        await _refuse(s, ws, _Refused(Internal("try again shortly"), CloseCode.INTERNAL,
                                      "internal"))
    except _Refused as refused:
        await _refuse(s, ws, refused)
    finally:
        if conn is not None:
            s.node.leave(conn)
            s.metrics.connections.dec()
        code = (conn.close_code if conn is not None and conn.close_code else ws.close_code)
        s.metrics.closes.labels(str(code or 1006)).inc()  # 1006: no close frame (dropped)
    return ws


async def _refuse(s: Services, ws: web.WebSocketResponse, refused: _Refused) -> None:
    """An error frame with id null, then the close code that goes with it."""
    s.metrics.connects.labels(refused.err.code).inc()
    s.metrics.errors.labels(refused.err.code).inc()
    with contextlib.suppress(Exception):
        await ws.send_str(error_frame(None, refused.err).decode())
    with contextlib.suppress(Exception):
        await ws.close(code=refused.close_code, message=refused.reason.encode())


def _close_soon(ws: web.WebSocketResponse, conn: Conn, code: int, reason: str) -> None:
    """Close from outside the read loop (ban, shutdown); the loop then ends by itself."""
    if conn.closing_task is None:
        conn.close_code = code
        conn.closing_task = asyncio.create_task(_close(ws, code, reason))


async def _close(ws: web.WebSocketResponse, code: int, reason: str) -> None:
    await ws.close(code=code, message=reason.encode())


async def _serve(request: web.Request, ws: web.WebSocketResponse, session: Session,
                 conn: Conn) -> None:
    s = services(request)
    hub = s.node.hub
    max_frames = s.settings.ws.max_frames_per_s
    loop = asyncio.get_running_loop()
    window, count = loop.time(), 0
    conn.seen_at = window
    while not conn.closed:
        msg = await ws.receive()
        now = conn.seen_at = loop.time()
        if msg.type == WSMsgType.TEXT:
            if now - window >= 1.0:
                window, count = now, 0
            count += 1
            if count > max_frames:
                conn.close_code = CloseCode.FLOOD
                await ws.close(code=CloseCode.FLOOD, message=b"flood")
                break
            reply = await session.handle(msg.data)
            hub.send(conn, text_frame(reply))
        elif msg.type == WSMsgType.PING:
            await ws.pong(msg.data)
        elif msg.type == WSMsgType.PONG:
            pass  # seen_at is all a pong is for
        elif msg.type == WSMsgType.BINARY:
            conn.close_code = CloseCode.BINARY
            await ws.close(code=CloseCode.BINARY, message=b"binary_not_supported")
            break
        else:  # CLOSE/CLOSED, or ERROR (a frame over the size limit: aiohttp closed with 1009)
            break
