"""A viewer that stops reading is cut off as a slow consumer; 200 others keep receiving."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from typing import Any

import aiohttp

from tests.conftest import LiveApp, token
from tests.helpers import Viewer


async def _raw_ws_that_never_reads(base: str, room: str, tok: str) -> socket.socket:
    """A real websocket handshake on a socket with a tiny receive buffer; then silence."""
    host, port = base.split("//")[1].split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /ws/rooms/{room}?token={tok} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n")
    await loop.sock_sendall(sock, request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += await loop.sock_recv(sock, 1)
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
