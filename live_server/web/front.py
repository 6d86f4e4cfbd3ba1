"""The front door of every connection: a room websocket upgrade goes straight to a
``RoomSocket``, everything else to aiohttp, before aiohttp has built anything for it.

It reads only the first request of a connection. If those bytes cannot begin ``GET /ws/rooms/``
the connection is handed to aiohttp at once (the bytes already read included), so ordinary HTTP
pays one comparison. A complete, valid upgrade to a room is answered with the 101 here and the
socket is given to a ``RoomSocket``; anything unusual (a malformed head, an odd header, the server
shutting down) goes to aiohttp too, which answers it as before. An upgrade that arrives later on a
keep-alive connection is already aiohttp's: ``web.ws`` writes its 101 and feeds what follows to a
``RoomSocket`` too, so every room socket runs the same code.

``LiveRunner`` is aiohttp's ``AppRunner`` with this factory in place of aiohttp's: every site
(TCP, socket, the test server) then uses it without knowing.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

from aiohttp import web

from live_server.web import gateway
from live_server.web.keys import SERVICES, SHUTTING_DOWN
from live_server.web.room_socket import RoomSocket
from live_server.web.wsproto import MAX_HEAD_BYTES, accept_response, parse_upgrade

_PREFIX = b"GET " + gateway.ROOM_PATH.encode()
HEAD_TIMEOUT_S = 10.0  # a websocket client that has not finished its request head by then


class FrontDoor:
    """The protocol factory the listening sockets call, in front of aiohttp's ``web.Server``.
    It also keeps the room sockets it started, so a stop can cut the ones still open."""

    def __init__(self, inner: web.Server, app: web.Application) -> None:
        self.inner = inner
        self.app = app
        self.sockets: set[RoomSocket] = set()

    def __call__(self) -> asyncio.Protocol:
        return _Sniffer(self)

    # what aiohttp's runner asks of its server
    @property
    def connections(self) -> Any:
        return self.inner.connections

    @property
    def requests_count(self) -> int:
        return self.inner.requests_count

    def pre_shutdown(self) -> None:
        self.inner.pre_shutdown()

    async def shutdown(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - aiohttp's signature
        await self.inner.shutdown(timeout)
        for sock in list(self.sockets):  # those still open after the graceful stage
            with contextlib.suppress(Exception):
                sock.transport.abort()

    def forget(self, sock: RoomSocket) -> None:
        self.sockets.discard(sock)

    def take(self, transport: asyncio.Transport, head: bytes, rest: bytes) -> bool:
        """Serve the connection as a room websocket if ``head`` is a plain upgrade to a
        room and the server is up; False leaves it to aiohttp."""
        upgrade = parse_upgrade(head, gateway.ROOM_PATH)
        if upgrade is None:
            return False
        room_id = upgrade.path[len(gateway.ROOM_PATH):]
        services = self.app.get(SERVICES)
        if not room_id or "/" in room_id or services is None or self.app[SHUTTING_DOWN][0]:
            return False
        sock = RoomSocket(services, room_id, upgrade.query, self.forget)
        self.sockets.add(sock)
        transport.write(accept_response(upgrade.key))
        transport.set_protocol(sock)
        sock.start(transport, rest)
        return True


class _Sniffer(asyncio.Protocol):
    """Holds a connection only until its first request shows what it is."""

    __slots__ = ("buf", "door", "timer", "transport")

    def __init__(self, door: FrontDoor) -> None:
        self.door = door
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        assert transport is not None
        buf = self.buf + data if self.buf else data
        if not buf.startswith(_PREFIX[:len(buf)]):
            self._hand_over(buf)
            return
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD_BYTES:
                self._hand_over(buf)
                return
            self.buf = buf
            if self.timer is None:
                loop = asyncio.get_running_loop()
                self.timer = loop.call_later(HEAD_TIMEOUT_S, transport.abort)
            return
        self._cancel_timer()
        self.buf = b""
        if not self.door.take(transport, buf[:end], buf[end + 4:]):
            self._hand_over(buf)

    def _hand_over(self, buf: bytes) -> None:
        self._cancel_timer()
        self.buf = b""
        transport = self.transport
        assert transport is not None
        handler = self.door.inner()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        handler.data_received(buf)

    def eof_received(self) -> bool | None:
        self._cancel_timer()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class LiveRunner(web.AppRunner):
    """aiohttp's app runner, with the front door as the sites' protocol factory."""

    async def _make_server(self) -> web.Server:
        inner = await super()._make_server()
        return cast(web.Server, FrontDoor(inner, self.app))
