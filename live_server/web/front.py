"""The front door of every connection: a room websocket upgrade goes straight to a
``RoomSocket``, everything else to aiohttp, before aiohttp has built anything for it.

It reads only the first request of a connection. If those bytes cannot begin ``GET /ws/rooms/``
the connection is handed to aiohttp at once (the bytes already read included), so ordinary HTTP
pays one comparison. A complete, valid upgrade to a room is answered with the 101 here and the
socket is given to a ``RoomSocket``; anything unusual (a malformed head, an odd header, the server
shutting down) goes to aiohttp too, which answers it as before. An upgrade that arrives later on a
keep-alive connection is already aiohttp's: ``web.ws`` writes its 101 and feeds what follows to a
``RoomSocket`` too, so every room socket runs the same code.

Because it sees every connection first, it is also where a connection's hold on the process is
bounded: a connection that sends nothing for ``http.idle_timeout_ms``, or whose first request
head is not complete ``http.header_timeout_ms`` after its first byte, is closed (aiohttp would
wait ``keepalive_timeout`` for the first, and forever for the second); and one client address
gets at most ``http.max_connections_per_ip`` open connections, counted from ``connection_made``
until the connection ends, whoever serves it by then. Behind a proxy every client arrives from
the proxy's address, so a connection from an address in ``http.trusted_proxies`` is not counted
at accept: once its first request head is complete it is counted under the client that head's
``Forwarded`` / ``X-Forwarded-For`` names (``domain.proxies``), and one over the cap is answered
``too_many_connections`` (429) and closed. The connection stays counted under that client until
it ends (a proxy that reuses it for other clients' later requests does not move it).

Later request heads on a keep-alive connection are bounded by aiohttp's keep-alive timeout
(``http.keepalive_timeout_ms``, set in ``app``: counted from the previous answer, it closes a
connection still without a complete head), and every body by ``http.body_timeout_ms``
(``web.http.raw_body``).

``LiveRunner`` is aiohttp's ``AppRunner`` with this factory in place of aiohttp's: every site
(TCP, socket, the test server) then uses it without knowing.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any, cast

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from live_server.domain import proxies
from live_server.errors import TooManyConnections
from live_server.web import gateway
from live_server.web.keys import SERVICES, SHUTTING_DOWN
from live_server.web.room_socket import RoomSocket
from live_server.web.wsproto import MAX_HEAD_BYTES, accept_response, parse_upgrade

_PREFIX = b"GET " + gateway.ROOM_PATH.encode()
_END = b"\r\n\r\n"
# what can begin a request: a method (letters) and its space; anything else goes to aiohttp at
# once, which answers it (a 400), rather than waiting out the header timeout
_REQUEST_START = re.compile(rb"[A-Z]{1,20}(?: |\Z)")
MAX_FIRST_HEAD_BYTES = 65536  # a first request head longer than this is refused (431)
_TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n"
              b"Content-Length: 0\r\n\r\n")
_OVER_CAP_BODY = orjson.dumps({"error": TooManyConnections(
    "this client already has the most connections open that it may").to_dict()})
_OVER_CAP = (b"HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\n"
             b"Content-Type: application/json\r\n"
             b"Content-Length: " + str(len(_OVER_CAP_BODY)).encode() + b"\r\n\r\n"
             + _OVER_CAP_BODY)


def _address(transport: asyncio.BaseTransport | None) -> str | None:
    """The client's IP address; None for a connection without one (a Unix socket)."""
    peer = transport.get_extra_info("peername") if transport is not None else None
    return str(peer[0]) if isinstance(peer, tuple) and peer else None


def _forwarding_headers(head: bytes) -> tuple[str, str]:
    """``Forwarded`` and ``X-Forwarded-For`` of a request head, each header's lines joined."""
    found: dict[str, list[str]] = {"forwarded": [], "x-forwarded-for": []}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        values = found.get(name.strip().lower()) if sep else None
        if values is not None:
            values.append(value.strip())
    return ",".join(found["forwarded"]), ",".join(found["x-forwarded-for"])


class FrontDoor:
    """The protocol factory the listening sockets call, in front of aiohttp's ``web.Server``.
    It also keeps the room sockets it started, so a stop can cut the ones still open."""

    def __init__(self, inner: web.Server, app: web.Application) -> None:
        self.inner = inner
        self.app = app
        self.sockets: set[RoomSocket] = set()
        services = app[SERVICES]
        limits = services.settings.http
        self.metrics = services.metrics
        self.idle_s = limits.idle_timeout_ms / 1000
        self.header_s = limits.header_timeout_ms / 1000
        self.cap = limits.max_connections_per_ip
        self.trusted = proxies.networks(limits.trusted_proxies)
        self.open_per_ip: dict[str, int] = {}  # only while there is a cap
        # a trusted proxy's connections, by the client their first head named (they are counted
        # under that address, not their peer's)
        self.forwarded: dict[asyncio.BaseTransport, str] = {}
        if self.cap:
            # aiohttp has no hook for the end of a connection it serves, but its handler tells
            # its server: listen there to give the connection's place back
            self._inner_lost = inner.connection_lost
            inner.connection_lost = self._http_lost  # type: ignore[method-assign]

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
        self.release(sock.transport)

    def from_proxy(self, transport: asyncio.BaseTransport) -> bool:
        """Whether a new connection is counted by its first head's forwarded client rather than
        its peer (there is a cap and the peer is a trusted proxy)."""
        return bool(self.cap and self.trusted) and proxies.trusted(_address(transport),
                                                                  self.trusted)

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        """Count a new connection against its client's address; False over the cap. Not for a
        trusted proxy's connection (``from_proxy``): it waits for ``admit_forwarded``."""
        if not self.cap:
            return True
        ip = _address(transport)
        return ip is None or self._count(ip)

    def admit_forwarded(self, transport: asyncio.BaseTransport, head: bytes) -> bool:
        """Count a trusted proxy's connection against the client its first request head
        names; False over the cap."""
        peer = _address(transport)
        assert peer is not None
        client = proxies.client_address(peer, self.trusted, *_forwarding_headers(head))
        if not self._count(client):
            return False
        self.forwarded[transport] = client
        return True

    def _count(self, ip: str) -> bool:
        count = self.open_per_ip.get(ip, 0)
        if count >= self.cap:
            self.metrics.connection_refused()
            return False
        self.open_per_ip[ip] = count + 1
        return True

    def release(self, transport: asyncio.BaseTransport | None) -> None:
        """A connection that ``admit`` or ``admit_forwarded`` counted has ended (one they did
        not count gives nothing back)."""
        if not self.cap or transport is None:
            return
        ip = self.forwarded.pop(transport, None)
        if ip is None:
            ip = _address(transport)
            if ip is None or proxies.trusted(ip, self.trusted):
                return
        count = self.open_per_ip.get(ip, 0) - 1
        if count > 0:
            self.open_per_ip[ip] = count
        else:
            self.open_per_ip.pop(ip, None)

    def _http_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        self.release(handler.transport)
        self._inner_lost(handler, exc)

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
    """Holds a connection only until its first request head is complete, then hands it on."""

    __slots__ = ("buf", "door", "proxied", "timer", "transport")

    def __init__(self, door: FrontDoor) -> None:
        self.door = door
        self.transport: asyncio.Transport | None = None
        self.buf: bytearray | None = None  # a head that came in pieces, while it is incomplete
        self.timer: asyncio.TimerHandle | None = None
        self.proxied = False  # counted once the first head names the client (``from_proxy``)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        door = self.door
        tcp = cast(asyncio.Transport, transport)
        self.proxied = door.from_proxy(tcp)
        if not (self.proxied or door.admit(tcp)):
            tcp.abort()  # never counted, so nothing to give back when it is lost
            return
        self.transport = tcp
        self.timer = asyncio.get_running_loop().call_later(door.idle_s, self._time_out, "idle")

    def data_received(self, data: bytes) -> None:
        held = self.buf
        if held is None:
            head: bytes | bytearray = data
            end = data.find(_END)
        else:
            seen = len(held)
            held += data
            head = held
            end = held.find(_END, max(0, seen - 3))
        if end >= 0:
            self._cancel_timer()
            self.buf = None
            whole = bytes(head)
            if self.proxied and not self.door.admit_forwarded(self._transport(), whole[:end]):
                self._transport().write(_OVER_CAP)
                self._transport().close()
                return
            if not (end <= MAX_HEAD_BYTES and whole.startswith(_PREFIX)
                    and self.door.take(self._transport(), whole[:end], whole[end + 4:])):
                self._hand_over(whole)
            return
        if not _REQUEST_START.match(head[:21]):
            self._hand_over(bytes(head))  # not HTTP: aiohttp answers it at once
        elif len(head) > MAX_FIRST_HEAD_BYTES:
            self._cancel_timer()
            self.buf = None
            self._transport().write(_TOO_LARGE)
            self._transport().close()
        elif held is None:  # the first piece of a head: it has header_s to be complete
            self.buf = bytearray(data)
            self._cancel_timer()
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(self.door.header_s, self._time_out, "header")

    def _transport(self) -> asyncio.Transport:
        transport = self.transport
        assert transport is not None
        return transport

    def _hand_over(self, buf: bytes) -> None:
        self._cancel_timer()
        self.buf = None
        transport = self._transport()
        handler = self.door.inner()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        handler.data_received(buf)

    def _time_out(self, stage: str) -> None:
        self.timer = None
        self.door.metrics.connection_timed_out(stage)
        self._transport().abort()

    def eof_received(self) -> bool | None:
        self._cancel_timer()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        if self.transport is not None:  # admitted, and never handed on
            self.door.release(self.transport)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class LiveRunner(web.AppRunner):
    """aiohttp's app runner, with the front door as the sites' protocol factory."""

    async def _make_server(self) -> web.Server:
        inner = await super()._make_server()
        return cast(web.Server, FrontDoor(inner, self.app))
