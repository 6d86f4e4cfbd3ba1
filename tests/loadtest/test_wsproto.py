"""The client half of RFC 6455 on websockets' sans-I/O layer: the upgrade, what a client must
refuse, fragments joined, masking, the close handshake. Frames are built with the library; the
ones it refuses to build are library frames with their first byte altered."""

from __future__ import annotations

import struct
from collections.abc import Generator
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Close, Frame, Opcode
from websockets.streams import StreamReader
from websockets.utils import accept_key

from loadtest import wsproto
from loadtest.wsproto import Client, HandshakeError, ProtocolError

T = TypeVar("T")


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = False) -> bytes:
    """A frame serialized by websockets; a server's frames are unmasked."""
    return Frame(Opcode(opcode), payload, fin).serialize(mask=mask)


def altered(data: bytes, *, set_bits: int = 0, clear_bits: int = 0,
            opcode: int | None = None) -> bytes:
    """`data` with its first byte (FIN, RSV1-3, opcode) changed: frames the library will not
    build but a broken server may send."""
    b0 = (data[0] | set_bits) & ~clear_bits
    if opcode is not None:
        b0 = (b0 & 0xF0) | opcode
    return bytes([b0]) + data[1:]


def finish(gen: Generator[None, None, T]) -> T:
    """Run a generator-based reader of websockets whose input is all there."""
    try:
        next(gen)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("incomplete input")


def client_frames(data: bytes) -> list[Frame]:
    """What a client wrote, read as a server reads it (an unmasked frame is refused)."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames = []
    while not finish(reader.at_eof()):
        frames.append(finish(Frame.parse(reader.read_exact, mask=True)))
    return frames


def response(key: str, *, accept: str | None = None, extra: str = "") -> bytes:
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept or accept_key(key)}\r\n{extra}\r\n"
    ).encode()


def upgraded(max_message: int = wsproto.DEFAULT_MAX_MESSAGE) -> Client:
    c = Client("127.0.0.1", 8080, "/ws/rooms/r1?token=t", max_message=max_message)
    c.data_to_send()
    assert c.feed(response(c.key)) == []
    assert c.upgraded and c.is_open
    return c


def test_accept_key_matches_rfc_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_upgrade_request() -> None:
    c = Client("127.0.0.1", 8080, "/ws/rooms/r1?token=t")
    head = c.data_to_send().decode()
    assert head.startswith("GET /ws/rooms/r1?token=t HTTP/1.1\r\n")
    assert head.endswith("\r\n\r\n")
    for line in ("Host: 127.0.0.1:8080", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {c.key}", "Sec-WebSocket-Version: 13"):
        assert f"\r\n{line}\r\n" in head


def test_handshake_incomplete_then_101_with_frames_in_the_same_read() -> None:
    c = Client("127.0.0.1", 8080, "/ws")
    resp = response(c.key)
    assert c.feed(resp[:20]) == []
    assert not c.upgraded
    assert c.feed(resp[20:] + frame(1, b"welcome")) == [(wsproto.OP_TEXT, b"welcome")]
    assert c.upgraded


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 404),
        (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nbanned", 403),
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", 0),
    ],
)
def test_refused_upgrade(answer: bytes, status: int) -> None:
    c = Client("127.0.0.1", 8080, "/ws")
    with pytest.raises(HandshakeError) as e:
        c.feed(answer)
    assert e.value.status == status
    assert not c.upgraded


@pytest.mark.parametrize("bad", ["accept", "extension"])
def test_101_with_wrong_accept_or_unoffered_extension_is_refused(bad: str) -> None:
    c = Client("127.0.0.1", 8080, "/ws")
    answer = (response(c.key, accept="AAAA") if bad == "accept" else
              response(c.key, extra="Sec-WebSocket-Extensions: permessage-deflate\r\n"))
    with pytest.raises(HandshakeError) as e:
        c.feed(answer)
    assert e.value.status == 101
    assert not c.upgraded


def test_refusal_whose_body_runs_to_the_end_of_the_stream() -> None:
    c = Client("127.0.0.1", 8080, "/ws")
    assert c.feed(b"HTTP/1.1 503 Busy\r\n\r\ntry later") == []
    with pytest.raises(HandshakeError) as e:
        c.feed_eof()
    assert e.value.status == 503


def test_messages_split_and_joined_across_reads() -> None:
    c = upgraded()
    data = frame(1, b"hello") + frame(1, b"x" * 300) + frame(2, b"y" * 70000)
    got = []
    for i in range(0, len(data), 7):
        got += c.feed(data[i : i + 7])
    assert [(op, len(p)) for op, p in got] == [(1, 5), (1, 300), (2, 70000)]


def test_fragmented_message_with_interleaved_ping_is_joined_and_the_ping_answered() -> None:
    c = upgraded()
    data = (frame(1, b"he", fin=False) + frame(9, b"p") + frame(0, b"ll", fin=False)
            + frame(0, b"o"))
    assert c.feed(data) == [(wsproto.OP_PING, b"p"), (wsproto.OP_TEXT, b"hello")]
    [pong] = client_frames(c.data_to_send())
    assert (pong.opcode, pong.data) == (Opcode.PONG, b"p")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (frame(1, b"x", mask=True), 1002),  # server frames must not be masked
        (altered(frame(1, b"x"), set_bits=0x40), 1002),  # RSV1 without an extension
        (altered(frame(1, b"x"), set_bits=0x10), 1002),  # RSV3
        (altered(frame(1, b"x"), opcode=3), 1002),  # reserved opcode
        (altered(frame(9, b"x"), clear_bits=0x80), 1002),  # fragmented control frame
        (altered(frame(2, b"x" * 126), opcode=9), 1002),  # control frame over 125 bytes
        (frame(0, b"x"), 1002),  # continuation of nothing
        (frame(1, b"a", fin=False) + frame(1, b"b"), 1002),  # new message inside a fragmented one
        (frame(8, b"\x03"), 1002),  # close payload of one byte
        (frame(8, struct.pack("!H", 999)), 1002),  # close codes below 1000 do not exist
        (frame(8, struct.pack("!H", 1005)), 1002),  # 1005 is never sent on the wire
    ],
)
def test_client_rejects_and_closes_with_the_code(data: bytes, code: int) -> None:
    c = upgraded()
    with pytest.raises(ProtocolError) as e:
        c.feed(frame(1, b"before") + data)
    assert e.value.code == code
    assert e.value.frames == [(wsproto.OP_TEXT, b"before")]
    [close] = client_frames(c.data_to_send())
    assert close.opcode == Opcode.CLOSE
    assert Close.parse(close.data).code == code
    assert not c.is_open


def test_client_refuses_a_message_too_big_even_in_small_fragments() -> None:
    c = upgraded(max_message=10)
    with pytest.raises(ProtocolError) as e:
        c.feed(frame(1, b"a" * 6, fin=False) + frame(0, b"b" * 6))
    assert e.value.code == 1009


def test_server_close_is_echoed_once() -> None:
    c = upgraded()
    assert c.feed(frame(8, Close(4008, "slow_consumer").serialize())) == [
        (wsproto.OP_CLOSE, Close(4008, "slow_consumer").serialize())]
    assert c.close_received() == (4008, "slow_consumer")
    [echo] = client_frames(c.data_to_send())
    assert Close.parse(echo.data).code == 4008
    c.send_text(b"too late")
    assert c.data_to_send() == b""


def test_client_close_is_not_echoed_back() -> None:
    c = upgraded()
    c.send_close()
    [close] = client_frames(c.data_to_send())
    assert Close.parse(close.data).code == 1000
    c.feed(frame(8, Close(1000, "").serialize()))
    assert c.close_received() == (1000, "")
    assert c.data_to_send() == b""


def test_empty_close_reads_as_1005() -> None:
    c = upgraded()
    c.feed(frame(8, b""))
    assert c.close_received() == (1005, "")


@given(st.binary(max_size=70000))
def test_client_frames_are_masked_and_decodable(payload: bytes) -> None:
    c = upgraded()
    c.send_text(payload)
    [sent] = client_frames(c.data_to_send())
    assert (sent.opcode, sent.data) == (Opcode.TEXT, payload)
