"""Both ways into a room socket, over real sockets: a fresh connection (the front door reads the
upgrade) and a keep-alive connection that carried HTTP first (aiohttp reads the upgrade). Both
end in the same ``RoomSocket``, so both must speak RFC 6455 the same way: pings, fragments, the
close handshake, protocol errors, the flood limit (pings count) and the bounded request queue.
Frames are built and read with the ``websockets`` package, not by hand."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections import deque
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State
from yarl import URL

from live_server.metrics import Metrics
from live_server.web.front import FrontDoor
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import FRESH, KEEP_ALIVE, WAIT_S, WS_PATHS, Viewer

ws_paths = pytest.mark.parametrize("path", WS_PATHS)


def door(live: LiveApp) -> FrontDoor:
    runner = live.client.server.runner
    assert runner is not None
    server: Any = runner.server
    assert isinstance(server, FrontDoor)
    return server


def metrics(live: LiveApp) -> Metrics:
    app = live.client.server.app
    assert app is not None
    found: Metrics = app[SERVICES].metrics
    return found


def connections(live: LiveApp) -> int:
    app = live.client.server.app
    assert app is not None
    count: int = app[SERVICES].hub.connection_count
    return count


def masked(op: Opcode, payload: bytes, fin: bool = True) -> bytes:
    return Frame(op, payload, fin=fin).serialize(mask=True, extensions=[])


def empty_fragments(n: int) -> bytes:
    """``n`` empty continuation frames, none the last: a message kept open without growing."""
    return b"".join(masked(Opcode.CONT, b"", fin=False) for _ in range(n))


class Raw:
    """A websocket client by hand, to send what libraries would not; what the server sends is
    read by ``websockets``' client-side parser, so a server frame a client must refuse fails."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
        self.pending: deque[Frame] = deque()

    @classmethod
    async def open(cls, live: LiveApp, path: str = FRESH) -> Raw:
        url = URL(live.base)
        assert url.host is not None and url.port is not None
        raw = cls(*await asyncio.open_connection(url.host, url.port))
        if path == KEEP_ALIVE:
            await raw.http_get("/healthz")
        return raw

    async def http_get(self, target: str) -> bytes:
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        head = await self.response_head()
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        return await self.reader.readexactly(length)

    def upgrade_request(self, path: str, version: str = "13") -> bytes:
        key = base64.b64encode(os.urandom(16)).decode()
        return (f"GET {path} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: {version}\r\n\r\n").encode()

    async def join(self, room: str, user: str = "bob") -> dict[str, Any]:
        self.writer.write(self.upgrade_request(f"/ws/rooms/{room}?token={token(user)}"))
        assert (await self.response_head()).startswith(b"HTTP/1.1 101")
        welcome = await self.json_frame()
        assert welcome["type"] == "welcome"
        return welcome

    async def response_head(self) -> bytes:
        return await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT_S)

    async def frame(self) -> Frame:
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), WAIT_S)
            assert data, "the server hung up"
            self.parser.receive_data(data)
            assert self.parser.parser_exc is None, self.parser.parser_exc
            self.pending.extend(self.parser.events_received())
        return self.pending.popleft()

    async def json_frame(self) -> dict[str, Any]:
        while True:
            frame = await self.frame()
            if frame.opcode == Opcode.TEXT:
                found: dict[str, Any] = orjson.loads(frame.data)
                if found.get("type") != "events":
                    return found
            elif frame.opcode == Opcode.CLOSE:
                raise AssertionError(f"closed: {bytes(frame.data)!r}")

    async def close_code(self) -> int:
        while True:
            frame = await self.frame()
            if frame.opcode == Opcode.CLOSE:
                return int(struct.unpack("!H", frame.data[:2])[0])

    def close(self) -> None:
        self.writer.close()


async def _until(predicate: Any) -> None:
    for _ in range(int(WAIT_S / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


@ws_paths
async def test_each_path_serves_a_room_socket(live: LiveApp, path: str) -> None:
    room = await live.live_room()
    raw = await Raw.open(live, path)
    welcome = await raw.join(room)
    assert welcome["user"]["id"] == "bob"
    # the front door keeps the sockets it started; aiohttp keeps the ones it read
    assert len(door(live).sockets) == (1 if path == FRESH else 0)
    raw.writer.write(masked(Opcode.TEXT, orjson.dumps({"id": 1, "op": "chat", "text": "hi"})))
    reply = await raw.json_frame()
    assert reply["type"] == "reply" and reply["id"] == 1
    raw.close()
    await _until(lambda: connections(live) == 0)


@pytest.mark.parametrize("path", [KEEP_ALIVE])
async def test_a_pooled_client_connection_reaches_the_room_through_aiohttp(
        live: LiveApp, path: str) -> None:
    room = await live.live_room()
    Viewer.path = path
    viewer = await Viewer.connect(live.base, room, token("bob"))
    await viewer.wait_welcome()
    assert not door(live).sockets  # the upgrade rode the pooled connection
    assert (await viewer.request("chat", text="hello"))["type"] == "reply"
    await viewer.close()
    await _until(lambda: connections(live) == 0)


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


@ws_paths
async def test_a_websocket_path_without_a_valid_upgrade_is_refused(live: LiveApp,
                                                                   path: str) -> None:
    room = await live.live_room()
    raw = await Raw.open(live, path)
    raw.writer.write(f"GET /ws/rooms/{room} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    assert (await raw.response_head()).split(b" ")[1].startswith(b"4")
    raw.close()
    raw = await Raw.open(live, path)
    raw.writer.write(raw.upgrade_request(f"/ws/rooms/{room}?token={token('bob')}", "8"))
    assert (await raw.response_head()).split(b" ")[1].startswith(b"4")  # version 8: no
    raw.close()
    assert connections(live) == 0


async def test_the_head_may_arrive_in_pieces(live: LiveApp) -> None:
    room = await live.live_room()
    raw = await Raw.open(live)
    request = raw.upgrade_request(f"/ws/rooms/{room}?token={token('bob')}")
    for i in range(0, len(request), 9):
        raw.writer.write(request[i:i + 9])
        await raw.writer.drain()
        await asyncio.sleep(0)
    assert (await raw.response_head()).startswith(b"HTTP/1.1 101")
    assert (await raw.json_frame())["type"] == "welcome"
    assert len(door(live).sockets) == 1
    raw.close()


@ws_paths
async def test_ping_fragments_and_the_close_handshake(live: LiveApp, path: str) -> None:
    room = await live.live_room()
    raw = await Raw.open(live, path)
    await raw.join(room)
    raw.writer.write(masked(Opcode.PING, b"are you there"))
    while (got := await raw.frame()).opcode != Opcode.PONG:
        pass
    assert got.data == b"are you there"  # the pong echoes the ping's data
    body = orjson.dumps({"id": 7, "op": "chat", "text": "in three parts"})
    raw.writer.write(masked(Opcode.TEXT, body[:5], fin=False) + masked(Opcode.PING, b"")
                     + masked(Opcode.CONT, body[5:12], fin=False)
                     + masked(Opcode.CONT, body[12:]))
    reply = await raw.json_frame()
    while reply.get("type") != "reply":
        reply = await raw.json_frame()
    assert reply["id"] == 7
    raw.writer.write(masked(Opcode.CLOSE, struct.pack("!H", 1000) + b"bye"))
    assert await raw.close_code() == 1000  # our close is answered with the same code
    assert await asyncio.wait_for(raw.reader.read(), WAIT_S) == b""  # then the server hangs up
    raw.close()
    await _until(lambda: connections(live) == 0)
    viewer = await Viewer.connect(live.base, room, token("carol"))  # still serving
    await viewer.wait_welcome()
    await viewer.close()


@ws_paths
@pytest.mark.parametrize(("frame", "code"), [
    (Frame(Opcode.TEXT, b"hi").serialize(mask=False, extensions=[]), 1002),  # not masked
    (masked(Opcode.TEXT, b"\xff\xfe"), 1007),                                # not UTF-8
    (masked(Opcode.BINARY, b"\x00"), 1003),                    # binary is not part of the protocol
    (masked(Opcode.TEXT, b"x" * 5000), 1009),                  # over ws.max_frame_bytes
    (masked(Opcode.CONT, b"x"), 1002),                         # a continuation of nothing
])
async def test_protocol_errors_close_with_their_code(live: LiveApp, path: str, frame: bytes,
                                                     code: int) -> None:
    room = await live.live_room()
    raw = await Raw.open(live, path)
    await raw.join(room)
    raw.writer.write(frame)
    assert await raw.close_code() == code
    raw.close()
    await _until(lambda: connections(live) == 0)  # out of the room, nothing left behind
    assert not door(live).sockets


@ws_paths
async def test_pings_count_toward_the_flood_limit(live_app_factory: Any, path: str) -> None:
    live: LiveApp = await live_app_factory(ws={"max_frames_per_s": 20})
    room = await live.live_room()
    raw = await Raw.open(live, path)
    await raw.join(room)
    raw.writer.write(b"".join(masked(Opcode.PING, b"%d" % i) for i in range(40)))
    assert await raw.close_code() == 4029
    raw.close()
    await _until(lambda: connections(live) == 0)
    closes = metrics(live).closes.labels("4029")._value.get()
    assert closes >= 1


@ws_paths
async def test_empty_continuation_frames_count_toward_the_flood_limit(live_app_factory: Any,
                                                                      path: str) -> None:
    """A message that never ends, in empty fragments: no whole message ever comes out, yet
    every frame counts."""
    live: LiveApp = await live_app_factory(ws={"max_frames_per_s": 20})
    room = await live.live_room()
    raw = await Raw.open(live, path)
    await raw.join(room)
    raw.writer.write(masked(Opcode.TEXT, b"{", fin=False)
                     + empty_fragments(40))
    assert await raw.close_code() == 4029
    raw.close()
    await _until(lambda: connections(live) == 0)


@ws_paths
async def test_a_message_in_too_many_fragments_is_closed_as_too_big(live_app_factory: Any,
                                                                     path: str) -> None:
    """Under the flood limit, one message still may not grow without end in empty fragments;
    a message in a few fragments goes through."""
    live: LiveApp = await live_app_factory(ws={"max_frames_per_s": 100_000})
    room = await live.live_room()
    raw = await Raw.open(live, path)
    await raw.join(room)
    body = orjson.dumps({"id": 3, "op": "chat", "text": "in pieces"})
    raw.writer.write(masked(Opcode.TEXT, body[:4], fin=False)
                     + empty_fragments(10)
                     + masked(Opcode.CONT, body[4:]))
    reply = await raw.json_frame()
    while reply.get("type") != "reply":
        reply = await raw.json_frame()
    assert reply["id"] == 3
    raw.writer.write(masked(Opcode.TEXT, b"{", fin=False)
                     + empty_fragments(5000))
    assert await raw.close_code() == 1009
    raw.close()
    await _until(lambda: connections(live) == 0)


@ws_paths
async def test_a_full_request_queue_pauses_reading_and_loses_nothing(
        live_app_factory: Any, valkey_url: str, path: str) -> None:
    """Requests wait while the store is paused; past ``ws.max_queued_requests`` the socket stops
    reading (TCP holds the rest), and when the store answers again every request is answered,
    once, in the order sent."""
    live: LiveApp = await live_app_factory(ws={"max_frames_per_s": 1000,
                                               "max_queued_requests": 4})
    room = await live.live_room()
    raw = await Raw.open(live, path)
    await raw.join(room)
    pauses = metrics(live).read_pauses
    before = pauses._value.get()
    admin = aioredis.Redis.from_url(valkey_url)
    try:
        await admin.execute_command("CLIENT", "PAUSE", "1500", "WRITE")  # scripts wait
        for i in range(12):  # one frame per write: each read carries one request
            raw.writer.write(masked(Opcode.TEXT, orjson.dumps(
                {"id": i, "op": "chat", "text": f"m{i}"})))
            await raw.writer.drain()
            await asyncio.sleep(0.01)
        await _until(lambda: pauses._value.get() > before)
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose()
    got: list[Any] = []
    while len(got) < 12:
        frame = await raw.json_frame()
        if frame["type"] in ("reply", "error"):
            got.append((frame["id"], frame["type"]))
    # the chat bucket lets a burst of 5 through, then refuses: answered either way, in order
    assert [i for i, _ in got] == list(range(12))
    assert [kind for _, kind in got][:5] == ["reply"] * 5
    raw.close()
