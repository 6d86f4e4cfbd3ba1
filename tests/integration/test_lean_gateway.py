"""The front door over real sockets: a fresh room websocket is served by the lean gateway, an
upgrade on a keep-alive connection by aiohttp, plain HTTP untouched, and the lean side speaks
RFC 6455 properly (pings, fragments, the close handshake, protocol errors)."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from typing import Any

import orjson
import pytest
from yarl import URL

from live_server.web.front import FrontDoor
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import WAIT_S, Viewer


def door(live: LiveApp) -> FrontDoor:
    runner = live.client.server.runner
    assert runner is not None
    server: Any = runner.server
    assert isinstance(server, FrontDoor)
    return server


def masked(op: int, payload: bytes, fin: bool = True) -> bytes:
    key = os.urandom(4)
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | op])
    head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class Raw:
    """A websocket client by hand, to send what libraries would not."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, live: LiveApp) -> Raw:
        url = URL(live.base)
        assert url.host is not None and url.port is not None
        return cls(*await asyncio.open_connection(url.host, url.port))

    def upgrade_request(self, path: str) -> bytes:
        key = base64.b64encode(os.urandom(16)).decode()
        return (f"GET {path} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n\r\n").encode()

    async def response_head(self) -> bytes:
        return await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT_S)

    async def frame(self) -> tuple[int, bytes]:
        b0, b1 = await asyncio.wait_for(self.reader.readexactly(2), WAIT_S)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        return b0 & 0x0F, await self.reader.readexactly(n)

    async def json_frame(self) -> dict[str, Any]:
        while True:
            op, payload = await self.frame()
            if op == 1:
                frame: dict[str, Any] = orjson.loads(payload)
                if frame.get("type") != "events":
                    return frame
            elif op == 8:
                raise AssertionError(f"closed: {payload!r}")

    async def close_code(self) -> int:
        while True:
            op, payload = await self.frame()
            if op == 8:
                return int(struct.unpack("!H", payload[:2])[0])

    def close(self) -> None:
        self.writer.close()


async def test_a_fresh_websocket_is_served_by_the_lean_gateway(live: LiveApp) -> None:
    room = await live.live_room()
    viewer = await Viewer.connect(live.base, room, token("bob"))
    await viewer.wait_welcome()
    assert len(door(live).sockets) == 1
    assert (await viewer.request("chat", text="hello"))["type"] == "reply"
    await viewer.close()
    await viewer.wait_for(lambda: not door(live).sockets)


async def test_upgrade_after_http_on_a_keep_alive_connection_is_served_by_aiohttp(
        live: LiveApp) -> None:
    room = await live.live_room()
    raw = await Raw.open(live)
    raw.writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    head = await raw.response_head()
    assert head.startswith(b"HTTP/1.1 200")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    await raw.reader.readexactly(length)
    raw.writer.write(raw.upgrade_request(f"/ws/rooms/{room}?token={token('bob')}"))
    assert (await raw.response_head()).startswith(b"HTTP/1.1 101")
    welcome = await raw.json_frame()
    assert welcome["type"] == "welcome" and welcome["user"]["id"] == "bob"
    assert not door(live).sockets  # aiohttp's connection, not a lean one
    raw.writer.write(masked(1, orjson.dumps({"id": 1, "op": "chat", "text": "hi"})))
    assert (await raw.json_frame())["type"] == "reply"
    raw.close()


async def test_pipelined_http_requests_pass_the_front_door_untouched(live: LiveApp) -> None:
    raw = await Raw.open(live)
    req = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"
    raw.writer.write(req + req)  # two requests in one write, before any answer
    for _ in range(2):
        head = await raw.response_head()
        assert head.startswith(b"HTTP/1.1 200")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        await raw.reader.readexactly(length)
    raw.close()


async def test_a_request_to_a_websocket_path_without_upgrade_gets_aiohttps_answer(
        live: LiveApp) -> None:
    room = await live.live_room()
    raw = await Raw.open(live)
    raw.writer.write(f"GET /ws/rooms/{room} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    assert (await raw.response_head()).split(b" ")[1].startswith(b"4")
    raw.close()


async def test_head_in_pieces_then_ping_fragments_and_close_handshake(live: LiveApp) -> None:
    room = await live.live_room()
    raw = await Raw.open(live)
    request = raw.upgrade_request(f"/ws/rooms/{room}?token={token('bob')}")
    for i in range(0, len(request), 9):  # the head arrives in small pieces
        raw.writer.write(request[i:i + 9])
        await raw.writer.drain()
        await asyncio.sleep(0)
    assert (await raw.response_head()).startswith(b"HTTP/1.1 101")
    assert (await raw.json_frame())["type"] == "welcome"
    assert len(door(live).sockets) == 1
    raw.writer.write(masked(9, b"are you there"))
    while (got := await raw.frame())[0] != 0xA:
        pass
    assert got == (0xA, b"are you there")  # the pong echoes the ping's data
    body = orjson.dumps({"id": 7, "op": "chat", "text": "in three parts"})
    raw.writer.write(masked(1, body[:5], fin=False) + masked(9, b"")
                     + masked(0, body[5:12], fin=False) + masked(0, body[12:]))
    reply = await raw.json_frame()
    while reply.get("type") != "reply":
        reply = await raw.json_frame()
    assert reply["id"] == 7
    raw.writer.write(masked(8, struct.pack("!H", 1000) + b"bye"))
    assert await raw.close_code() == 1000  # our close is answered with the same code
    assert await asyncio.wait_for(raw.reader.read(), WAIT_S) == b""  # then the server hangs up
    raw.close()
    viewer = await Viewer.connect(live.base, room, token("carol"))  # still serving
    await viewer.wait_welcome()
    await viewer.close()


@pytest.mark.parametrize(("frame", "code"), [
    (bytes([0x81, 0x02]) + b"hi", 1002),          # not masked
    (masked(1, b"\xff\xfe"), 1007),                 # not UTF-8
    (masked(2, b"\x00"), 1003),                     # binary is not part of the protocol
])
async def test_protocol_errors_close_with_their_code(live: LiveApp, frame: bytes,
                                                     code: int) -> None:
    room = await live.live_room()
    raw = await Raw.open(live)
    raw.writer.write(raw.upgrade_request(f"/ws/rooms/{room}?token={token('bob')}"))
    await raw.response_head()
    assert (await raw.json_frame())["type"] == "welcome"
    raw.writer.write(frame)
    assert await raw.close_code() == code
    raw.close()
    await _until(lambda: not door(live).sockets)
    app = live.client.server.app
    assert app is not None
    assert app[SERVICES].hub.connection_count == 0  # out of the room, nothing left behind


async def _until(predicate: Any) -> None:
    for _ in range(int(WAIT_S / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")
