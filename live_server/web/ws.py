"""A room websocket upgrade that aiohttp read: one on a keep-alive connection that already
carried HTTP requests (aiohttp's client reuses pooled connections), or one whose head the front
door left to aiohttp (an unusual but valid request). This handler only does the HTTP part:
check the handshake with the front door's rule, write the 101, then feed every byte that follows
to a ``RoomSocket`` (``web.room_socket``), the same object that serves every other room socket.
aiohttp keeps the transport's bookkeeping (its connection list, the close on shutdown), and the
handler's task waits until the socket is gone.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from live_server.web import gateway
from live_server.web.http import services
from live_server.web.keys import SHUTTING_DOWN
from live_server.web.room_socket import RoomSocket
from live_server.web.wsproto import accept_value, handshake_key

routes = web.RouteTableDef()


class _Switched(web.StreamResponse):
    """The 101 answer. Its headers go out when prepared; after that the connection belongs to
    the room socket, so aiohttp must not write an end of body."""

    async def write_eof(self, data: bytes = b"") -> None:
        return None


class _Feed:
    """What aiohttp calls a payload parser: where it puts the bytes after the upgrade."""

    __slots__ = ("sock",)

    def __init__(self, sock: RoomSocket) -> None:
        self.sock = sock

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.sock.data_received(data)
        return False, b""

    def feed_eof(self) -> None:
        self.sock.connection_lost(None)


@routes.get(gateway.ROOM_PATH + "{room_id}")
async def room_ws(request: web.Request) -> web.StreamResponse:
    s = services(request)
    if request.app[SHUTTING_DOWN][0]:
        raise web.HTTPServiceUnavailable(text="shutting down")
    key = handshake_key({name.lower(): value for name, value in request.headers.items()})
    if key is None:
        raise web.HTTPBadRequest(text="not a websocket upgrade (RFC 6455)")
    transport = request.transport
    if transport is None:  # the client is already gone
        raise web.HTTPBadRequest(text="connection closed")
    resp = _Switched(status=101, headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                          "Sec-WebSocket-Accept": accept_value(key).decode()})
    await resp.prepare(request)
    gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_gone(_sock: RoomSocket) -> None:
        if not gone.done():
            gone.set_result(None)

    sock = RoomSocket(s, request.match_info["room_id"], request.query, on_gone)
    sock.start(transport, b"")
    request.protocol.set_parser(_Feed(sock))  # type: ignore[arg-type]  # aiohttp's hook
    await gone
    return resp
