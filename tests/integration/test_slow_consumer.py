"""A viewer that stops reading is cut off as a slow consumer; 200 others keep receiving."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from live_server.web.front import FrontDoor
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import KEEP_ALIVE, WAIT_S, Viewer


async def _head(sock: socket.socket) -> bytes:
    """An HTTP response head, read a byte at a time so nothing after it is taken."""
    loop = asyncio.get_running_loop()
    head = b""
    while b"\r\n\r\n" not in head:
        byte = await asyncio.wait_for(loop.sock_recv(sock, 1), WAIT_S)
        assert byte, head
        head += byte
    return head


async def _raw_ws_that_never_reads(base: str, room: str, tok: str | None) -> socket.socket:
    """A real websocket handshake on a socket with a tiny receive buffer; then silence. With
    no token, the socket stays unauthenticated (no ``auth`` frame is sent). It takes the path
    the test runs on (``Viewer.path``): on ``keep-alive`` an HTTP request and its answer go
    first on the same connection, so aiohttp reads the upgrade."""
    query = f"?token={tok}" if tok is not None else ""
    host, port = base.split("//")[1].split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, int(port)))
    if Viewer.path == KEEP_ALIVE:
        await loop.sock_sendall(sock, f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"
                                .encode())
        head = await _head(sock)
        assert head.startswith(b"HTTP/1.1 200"), head
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while length:
            length -= len(await loop.sock_recv(sock, length))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /ws/rooms/{room}{query} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n")
    await loop.sock_sendall(sock, request.encode())
    head = await _head(sock)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


async def _metric(live: LiveApp, name: str) -> float:
    async with live.client.get("/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def _close_code_in(data: bytes) -> int | None:
    """Walk the server's frames and return the close frame's code, if it is there."""
    i = 0
    while i + 2 <= len(data):
        opcode, length = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if length == 126:
            length = struct.unpack("!H", data[i:i + 2])[0]
            i += 2
        elif length == 127:
            length = struct.unpack("!Q", data[i:i + 8])[0]
            i += 8
        if opcode == 0x8:
            return int(struct.unpack("!H", data[i:i + 2])[0])
        i += length
    return None


async def test_slow_consumer_is_disconnected_and_others_keep_up(live_app_factory: Any) -> None:
    live = await live_app_factory(
        ws={"max_out_buffer_bytes": 32768, "socket_sndbuf_bytes": 4096,
            "slow_close_grace_ms": 20000, "max_frames_per_s": 10000},
        chat={"burst": 10000, "rate_per_s": 10000},
    )
    room = await live.live_room()
    slow = await _raw_ws_that_never_reads(live.base, room, token("sloth"))
    # no connection limit: the 200 websockets share one client session
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        viewers = [await Viewer.connect(live.base, room, token(f"v{i}"), session=http)
                   for i in range(200)]
        await asyncio.gather(*(v.wait_welcome() for v in viewers))
        sender = viewers[0]
        n = 0
        while await _metric(live, "live_slow_consumer_disconnects_total") < 1:
            n += 1
            assert n < 5000, "the slow consumer was never disconnected"
            reply = await sender.request("chat", text=f"{n:05d} " + "z" * 180)
            assert reply["type"] == "reply", reply
        for _ in range(20):  # and the room keeps going after the disconnect
            n += 1
            await sender.request("chat", text=f"{n:05d} after")
        expected = list(range(1, n + 1))
        for v in viewers:
            await v.wait_for(lambda v=v: len(v.of_type("chat")) >= n)
            assert [int(t[:5]) for t in v.chat_texts()] == expected  # all, once, in order
            assert not v.closed
        # The slow viewer, reading at last, finds the 4008 close frame behind its backlog.
        loop = asyncio.get_running_loop()
        data = b""
        while True:
            chunk = await asyncio.wait_for(loop.sock_recv(slow, 65536), 15)
            if not chunk:
                break
            data += chunk
        slow.close()
        assert _close_code_in(data) == 4008
        assert await _metric(live, "live_slow_consumer_disconnects_total") == 1
        for v in viewers:
            await v.close()


def _held(live: LiveApp, clients: set[Any]) -> list[Any]:
    """The server's transports that still serve these clients (their socket names), whichever
    code read their upgrade: the front door's room sockets (fresh connections) or aiohttp's
    connections (keep-alive ones)."""
    runner = live.client.server.runner
    assert runner is not None
    door = runner.server
    assert isinstance(door, FrontDoor)
    transports = [s.transport for s in door.sockets] + [h.transport for h in door.connections]
    return [t for t in transports if t is not None and t.get_extra_info("peername") in clients]


def _metric_labelled(text: str, name: str, label: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name}{{{label}}} "):
            return float(line.split()[1])
    return 0.0


async def _closes(live: LiveApp, code: int) -> float:
    async with live.client.get("/metrics") as resp:
        text = await resp.text()
    return _metric_labelled(text, "live_ws_closes_total", f'code="{code}"')


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll until ``check`` holds; WAIT_S is a hang guard, not a measure of time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not await check():
        if loop.time() > deadline:
            return
        await asyncio.sleep(0.02)


async def _joined(live: LiveApp, room: str, user: str) -> bool:
    """The user's socket is in the room's fan-out: its welcome went out."""
    return bool(live.client.server.app[SERVICES].node.hub.conns_of(room, user))


async def _gone(sock: socket.socket) -> bool:
    """Read what the server left in the socket; True once it ends (EOF or reset)."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), WAIT_S)
        except ConnectionResetError:
            return True
        if not chunk:
            return True


async def test_slow_consumers_are_gone_after_the_grace(live_app_factory: Any) -> None:
    """Cut with 4008 and still not reading: after ``slow_close_grace_ms`` the server holds
    nothing of them (no room socket, no connection, their close counted), and each client's
    socket ends."""
    live = await live_app_factory(
        ws={"max_out_buffer_bytes": 16384, "socket_sndbuf_bytes": 4096,
            "slow_close_grace_ms": 300, "max_frames_per_s": 10000},
        chat={"burst": 10000, "rate_per_s": 10000},
    )
    room = await live.live_room()
    slow = [await _raw_ws_that_never_reads(live.base, room, token(f"sloth{i}"))
            for i in range(5)]
    names = {sock.getsockname() for sock in slow}
    assert len(_held(live, names)) == len(slow)  # each is found, whichever path it took
    hub = live.client.server.app[SERVICES].node.hub

    def slow_conns() -> list[Any]:
        return [c for c in hub.all_conns() if str(c.user_id).startswith("sloth")]

    sender = await Viewer.connect(live.base, room, token("talker"))
    await sender.wait_welcome()
    n = 0
    while await _metric(live, "live_slow_consumer_disconnects_total") < len(slow):
        n += 1
        assert n < 5000, "the slow consumers were never disconnected"
        reply = await sender.request("chat", text=f"{n:05d} " + "z" * 180)
        assert reply["type"] == "reply", reply

    async def cut() -> bool:
        return (not _held(live, names) and not slow_conns()
                and await _closes(live, 4008) >= len(slow))

    await _until(cut)  # the grace is 0.3 s
    assert _held(live, names) == []
    assert slow_conns() == []
    assert await _closes(live, 4008) == len(slow)
    assert hub.connection_count == 1  # the sender only
    assert not sender.closed
    for sock in slow:
        assert await _gone(sock)
        sock.close()
    await sender.close()


def _ping_frame() -> bytes:
    """A client ping (masked) with the largest payload a control frame may carry: 125 bytes,
    so every pong the server owes is 127 bytes."""
    mask = os.urandom(4)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"p" * 125))
    return bytes((0x89, 0x80 | 125)) + mask + payload


@pytest.mark.parametrize("authenticated", [True, False], ids=["viewer", "before-auth"])
async def test_pings_that_are_never_read_are_cut_at_the_buffer_limit(
        live_app_factory: Any, authenticated: bool) -> None:
    """A client that sends pings and never reads its pongs: the pongs the server owes stay
    under ``ws.max_out_buffer_bytes`` and the socket is cut with 4008 like any slow consumer,
    whether it joined a room or never sent its ``auth`` frame."""
    limit = 16384
    live = await live_app_factory(
        ws={"max_out_buffer_bytes": limit, "socket_sndbuf_bytes": 4096,
            "slow_close_grace_ms": 300, "max_frames_per_s": 100_000,
            "auth_timeout_ms": 60_000},
    )
    room = await live.live_room()
    sock = await _raw_ws_that_never_reads(
        live.base, room, token("pinger") if authenticated else None)
    names = {sock.getsockname()}
    (server_side,) = _held(live, names)
    loop = asyncio.get_running_loop()
    if authenticated:
        await _until(lambda: _joined(live, room, "pinger"))
    pings = _ping_frame() * 50
    sent, most_unsent = 0, 0
    while await _metric(live, "live_slow_consumer_disconnects_total") < 1:
        assert sent < 40_000, f"never cut; {server_side.get_write_buffer_size()} B unsent"
        await loop.sock_sendall(sock, pings)
        sent += 50
        await asyncio.sleep(0)  # the server reads them and answers
        most_unsent = max(most_unsent, server_side.get_write_buffer_size())
    # at most one pong and the close frame beyond the limit: the process did not grow with it
    assert most_unsent <= limit + 127 + 2 + 2 + len("slow_consumer")

    async def cut() -> bool:
        return not _held(live, names) and await _closes(live, 4008) >= 1

    await _until(cut)  # the grace is 0.3 s
    assert not _held(live, names)
    assert await _closes(live, 4008) == 1
    assert await _gone(sock)
    sock.close()


async def test_a_client_that_closes_and_never_reads_is_gone_after_the_grace(
        live_app_factory: Any) -> None:
    """The client's close is echoed and the socket closes once its backlog is flushed; a client
    that never reads that backlog is aborted after ``slow_close_grace_ms`` all the same."""
    live = await live_app_factory(
        ws={"socket_sndbuf_bytes": 4096, "slow_close_grace_ms": 300,
            "max_frames_per_s": 100_000})
    room = await live.live_room()
    sock = await _raw_ws_that_never_reads(live.base, room, token("leaver"))
    names = {sock.getsockname()}
    (server_side,) = _held(live, names)
    loop = asyncio.get_running_loop()
    await _until(lambda: _joined(live, room, "leaver"))
    while server_side.get_write_buffer_size() == 0:  # a backlog it will not read
        await loop.sock_sendall(sock, _ping_frame() * 50)
        await asyncio.sleep(0.01)
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(struct.pack("!H", 1000)))
    await loop.sock_sendall(sock, bytes((0x88, 0x80 | 2)) + mask + body)

    async def closed() -> bool:
        return not _held(live, names) and await _closes(live, 1000) >= 1

    await _until(closed)  # the grace is 0.3 s
    assert not _held(live, names)
    assert await _closes(live, 1000) == 1
    assert await _gone(sock)
    sock.close()
