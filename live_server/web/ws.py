"""The room websocket when aiohttp owns the socket: an upgrade that arrives on a keep-alive
connection which already carried HTTP requests (aiohttp's client may reuse one from its pool).
An upgrade on a fresh connection never reaches this handler: the lean gateway (``web.lean``)
takes it before aiohttp sees it. Both share the admission rules in ``web.gateway`` and the
protocol rules in ``services.session``; this file knows aiohttp, the flood limit and the order
of a graceful close.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSMsgType, web

from live_server.auth import Identity
from live_server.errors import CloseCode
from live_server.protocol import error_frame
from live_server.realtime.conn import Conn
from live_server.realtime.frames import text_frame
from live_server.services.container import Services
from live_server.services.session import Session
from live_server.web import gateway
from live_server.web.gateway import Refused
from live_server.web.http import services
from live_server.web.keys import SHUTTING_DOWN

routes = web.RouteTableDef()


async def _authenticate(s: Services, request: web.Request, ws: web.WebSocketResponse,
                        ) -> tuple[Identity, int | None]:
    found = gateway.from_query(s, request.query)
    if found is not None:
        return found
    try:
        msg = await ws.receive(timeout=s.settings.ws.auth_timeout_ms / 1000)
    except TimeoutError:
        raise gateway.auth_timeout() from None
    if msg.type != WSMsgType.TEXT:
        raise gateway.not_text_first()
    return gateway.from_auth_frame(s, msg.data, request.query)


@routes.get(gateway.ROOM_PATH + "{room_id}")
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
    gateway.tune_socket(s, transport)
    conn: Conn | None = None
    try:
        who, since = await _authenticate(s, request, ws)
        room = await gateway.admit(s, request.match_info["room_id"], who)
        session = gateway.session_for(s, who, room, transport)
        conn = session.conn
        conn.on_kick = lambda code, reason: _close_soon(ws, session.conn, code, reason)
        gateway.count_join(s)
        await session.open(since)
        await _serve(s, ws, session, conn)
    except gateway.JOIN_FAILURES as exc:
        await _refuse(s, ws, gateway.refusal(exc))
    finally:
        gateway.count_leave(s, conn, ws.close_code)
    return ws


async def _refuse(s: Services, ws: web.WebSocketResponse, refused: Refused) -> None:
    """An error frame with id null, then the close code that goes with it."""
    gateway.count_refusal(s, refused)
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


async def _serve(s: Services, ws: web.WebSocketResponse, session: Session, conn: Conn) -> None:
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
