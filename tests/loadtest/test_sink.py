"""The light sink, talker and tracer clients against a tiny raw server sending crafted frames."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import pytest
from websockets.frames import Close, Frame
from websockets.streams import StreamReader
from websockets.utils import accept_key

from loadtest import wsproto
from loadtest.clients import Sink, Talker, Tally, Tracer, open_client
from loadtest.dialects import DIALECTS
from tests.loadtest.test_wsproto import altered, frame

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_client_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One frame from the client, read by websockets' parser as a server reads it: an unmasked
    client frame fails the test. Reads byte by byte, so nothing of the next frame is taken."""
    buf = StreamReader()
    parser = Frame.parse(buf.read_exact, mask=True)
    while True:
        try:
            next(parser)
        except StopIteration as done:
            got: Frame = done.value
            return got.opcode, bytes(got.data)
        buf.feed_data(await reader.readexactly(1))


def close_code(payload: bytes) -> int:
    return Close.parse(payload).code


async def upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  status: int = 101) -> str:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    key = next(ln.split(":", 1)[1].strip() for ln in head.split("\r\n")
               if ln.lower().startswith("sec-websocket-key"))
    if status != 101:
        writer.write(f"HTTP/1.1 {status} Nope\r\nContent-Length: 0\r\n\r\n".encode())
    else:
        writer.write(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n".encode())
    await writer.drain()
    return head


async def serve(script: Script) -> tuple[asyncio.Server, int, list[BaseException]]:
    errors: list[BaseException] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(script(reader, writer), 5)
        except BaseException as exc:
            errors.append(exc)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port, errors


WELCOME = b'{"type":"welcome","conn_id":"c1","seq":10,"recovered":false,"snapshot":null}'


async def test_sink_counts_answers_pings_and_echoes_close() -> None:
    seen: dict[str, object] = {}

    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        seen["head"] = await upgrade(r, w)
        events = json.dumps({"type": "events", "room": "r", "events": [
            {"seq": 11, "type": "chat", "ts": 1, "data": {"text": "a \"type\":\"chat\""}},
            {"seq": 12, "type": "chat", "ts": 1, "data": {"text": "b"}},
            {"type": "counters", "ts": 1, "data": {"online": 1}}]},
            separators=(",", ":")).encode()
        third = len(events) // 3
        w.write(WELCOME and frame(1, WELCOME))
        w.write(frame(9, b"abc"))
        w.write(frame(1, events[:third], fin=False) + frame(10, b"unsolicited")
                + frame(0, events[third : 2 * third], fin=False) + frame(0, events[2 * third :]))
        await w.drain()
        seen["pong"] = await read_client_frame(r)
        w.write(frame(8, Close(4008, "slow_consumer").serialize()))
        await w.drain()
        seen["close"] = await read_client_frame(r)

    server, port, errors = await serve(script)
    async with server:
        tally = Tally()
        c = await open_client(Sink, tally, DIALECTS["live"], "127.0.0.1", port, "r1", "tok", 5)
        assert c is not None
        code = await asyncio.wait_for(c.done, 5)
    assert not errors
    assert "GET /ws/rooms/r1?token=tok HTTP/1.1" in str(seen["head"])
    assert seen["pong"] == (wsproto.OP_PONG, b"abc")
    assert seen["close"][0] == wsproto.OP_CLOSE  # type: ignore[index]
    assert close_code(seen["close"][1]) == 4008  # type: ignore[index]
    assert code == 4008
    assert (tally.joined, tally.pings, tally.events, tally.chats) == (1, 1, 3, 2)
    assert tally.closes == {4008: 1}
    assert tally.connected == 0
    assert tally.connect_ms.count == 1


@pytest.mark.parametrize("bad", [frame(1, b"x", mask=True),
                                 altered(frame(1, b"x"), set_bits=0x20),
                                 altered(frame(9, b"p"), clear_bits=0x80)])
async def test_sink_closes_1002_on_protocol_violation(bad: bytes) -> None:
    got: dict[str, object] = {}

    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await upgrade(r, w)
        w.write(frame(1, WELCOME) + bad)
        await w.drain()
        got["close"] = await read_client_frame(r)

    server, port, errors = await serve(script)
    async with server:
        tally = Tally()
        c = await open_client(Sink, tally, DIALECTS["live"], "127.0.0.1", port, "r", "t", 5)
        assert c is not None
        await asyncio.wait_for(c.done, 5)
    assert not errors
    op, payload = got["close"]  # type: ignore[misc]
    assert op == wsproto.OP_CLOSE
    assert close_code(payload) == 1002
    assert tally.protocol_errors == 1
    assert tally.closes == {1002: 1}


async def test_refused_upgrade_and_refused_port_are_failures() -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await upgrade(r, w, status=403)

    server, port, _ = await serve(script)
    async with server:
        tally = Tally()
        assert await open_client(Sink, tally, DIALECTS["live"], "127.0.0.1", port, "r", "t",
                                 5) is None
    assert tally.fail_reasons == {"http_403": 1}
    tally = Tally()
    assert await open_client(Sink, tally, DIALECTS["live"], "127.0.0.1", port, "r", "t",
                             2) is None
    assert tally.failed == 1


async def test_error_before_welcome_is_a_failure() -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await upgrade(r, w)
        w.write(frame(1, b'{"type":"error","id":null,"error":{"code":"unauthorized"}}'))
        w.write(frame(8, Close(4001, "").serialize()))
        await w.drain()
        await read_client_frame(r)

    server, port, _ = await serve(script)
    async with server:
        tally = Tally()
        assert await open_client(Sink, tally, DIALECTS["live"], "127.0.0.1", port, "r", "t",
                                 5) is None
    assert tally.failed == 1
    assert tally.joined == 0


async def test_tracer_latency_sequence_and_talker_replies() -> None:
    sent_ms = int(time.time() * 1000) - 50

    def ev(seq: int) -> dict[str, object]:
        return {"seq": seq, "type": "chat", "ts": 1,
                "data": {"user": {"id": "u"}, "text": f"t={sent_ms} n={seq}"}}

    async def tracer_script(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await upgrade(r, w)
        w.write(frame(1, WELCOME))
        for seqs in ([11, 12], [14], [12]):
            body = {"type": "events", "room": "r", "events": [ev(s) for s in seqs]}
            w.write(frame(1, json.dumps(body).encode()))
        w.write(frame(1, b'{"type":"events","room":"r","events":[{"type":"counters","ts":5,'
                         b'"data":{"hearts":7}},{"type":"counters","ts":105,"data":{"hearts":9}}]}'))
        await w.drain()
        await read_client_frame(r)

    server, port, _ = await serve(tracer_script)
    async with server:
        tally = Tally()
        c = await open_client(Tracer, tally, DIALECTS["live"], "127.0.0.1", port, "r", "t", 5)
        assert isinstance(c, Tracer)
        await asyncio.sleep(0.2)
        c.close()
        await asyncio.wait_for(c.done, 5)
    assert c.welcome_seq == 10
    assert tally.chat_ms.count == 4
    assert 40 <= tally.chat_ms.percentile(50) < 5000
    assert tally.seq_dups == 1
    assert c.missing_seqs() == 1  # 13 never came
    assert c.chat_seqs == [11, 12, 14, 12]  # every receipt, for the duplicate count
    assert tally.counters_max_per_frame == 2
    assert tally.counters_min_gap_ms == 100
    assert tally.last_hearts == 9

    async def talker_script(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await upgrade(r, w)
        w.write(frame(1, WELCOME))
        await w.drain()
        for _ in range(2):
            _op, payload = await read_client_frame(r)
            req = json.loads(payload)
            if req["op"] == "chat":
                w.write(frame(1, json.dumps({"type": "reply", "id": req["id"],
                                             "data": {"seq": 77, "masked": False}}).encode()))
            else:
                w.write(frame(1, json.dumps({"type": "error", "id": req["id"], "error": {
                    "code": "rate_limited", "message": "x", "retry_after_ms": 5}}).encode()))
            await w.drain()
        await read_client_frame(r)

    server, port, errors = await serve(talker_script)
    async with server:
        tally = Tally()
        t = await open_client(Talker, tally, DIALECTS["live"], "127.0.0.1", port, "r", "t", 5)
        assert isinstance(t, Talker)
        assert t.request("chat", {"text": "hi"})
        assert t.request("heart", {"count": 3}, 3)
        for _ in range(50):
            if not t.pending:
                break
            await asyncio.sleep(0.02)
        t.close()
        await asyncio.wait_for(t.done, 5)
    assert not errors
    assert tally.accepted == {"chat": 1}
    assert tally.accepted_chat_seqs == [77]
    assert tally.rejected == {"heart:rate_limited": 1}


async def test_socketio_dialect_join_ping_and_count() -> None:
    got: dict[str, object] = {}

    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        got["head"] = await upgrade(r, w)
        w.write(frame(1, b'0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000}'))
        await w.drain()
        got["connect"] = await read_client_frame(r)
        w.write(frame(1, b'40{"sid":"n"}') + frame(1, b'42["welcome",{"seq":3}]') + frame(1, b"2"))
        await w.drain()
        got["pong"] = await read_client_frame(r)
        w.write(frame(1, b'42["chat",{"seq":4,"ts":1,"data":{"text":"x"}}]'))
        w.write(frame(1, b'42["other",{}]'))
        w.write(frame(8, Close(1000, "").serialize()))
        await w.drain()
        await read_client_frame(r)

    server, port, errors = await serve(script)
    async with server:
        tally = Tally()
        c = await open_client(Sink, tally, DIALECTS["sio"], "127.0.0.1", port, "room1", "tk", 5)
        assert c is not None
        await asyncio.wait_for(c.done, 5)
    assert not errors
    assert "GET /socket.io/?EIO=4&transport=websocket" in str(got["head"])
    _op, payload = got["connect"]  # type: ignore[misc]
    assert payload.startswith(b"40") and json.loads(payload[2:]) == {"room": "room1", "token": "tk"}
    assert got["pong"] == (wsproto.OP_TEXT, b"3")
    assert (tally.joined, tally.events, tally.chats) == (1, 2, 1)
