"""The server's websocket protocol pieces, frame by frame: what the front door accepts as an
upgrade, the 101 answer, and the client-frame reader's rules (RFC 6455)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode

from live_server.web.wsproto import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Fault,
    FrameReader,
    accept_response,
    close_payload,
    parse_upgrade,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def client_frame(op: int, payload: bytes, *, fin: bool = True, rsv: int = 0,
                 masked: bool = True) -> bytes:
    """A client frame encoded by the ``websockets`` package; only the first byte (FIN, RSV and
    the opcode) is set by hand, so frames a library would refuse to build can be sent too."""
    data = bytearray(Frame(Opcode.TEXT, payload).serialize(mask=masked, extensions=[]))
    data[0] = (0x80 if fin else 0) | rsv | op
    return bytes(data)


def head(target: str = "/ws/rooms/r1?token=abc&since=5", **extra: str) -> bytes:
    headers = {"Host": "example.com", "Upgrade": "websocket", "Connection": "Upgrade",
               "Sec-WebSocket-Key": KEY, "Sec-WebSocket-Version": "13", **extra}
    lines = [f"GET {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items() if v]
    return "\r\n".join(lines).encode()


def test_accept_answer_matches_the_rfc_example() -> None:
    answer = accept_response(KEY)
    assert answer.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in answer
    assert answer.endswith(b"\r\n\r\n")


def test_a_plain_upgrade_is_read_with_its_query() -> None:
    up = parse_upgrade(head(Connection="keep-alive, Upgrade"), "/ws/rooms/")
    assert up is not None
    assert up.path == "/ws/rooms/r1"
    assert up.query == {"token": "abc", "since": "5"}
    assert up.key == KEY


@pytest.mark.parametrize("bad", [
    head("/api/rooms"),                                    # not a room websocket
    head(Upgrade=""),                                      # no Upgrade header
    head(Connection="keep-alive"),                         # Connection lacks upgrade
    head(**{"Sec-WebSocket-Version": "8"}),                # old protocol version
    head(**{"Sec-WebSocket-Key": "short"}),                # key is not 16 bytes of base64
    head(Host=""),                                         # HTTP/1.1 needs a Host
    head(**{"Content-Length": "5"}),                       # a body on an upgrade
    head("/ws/rooms/%2e%2e/x"),                            # escapes: left to aiohttp's router
    head().replace(b"HTTP/1.1", b"HTTP/1.0"),
    head().replace(b"GET ", b"POST "),
    head() + b"\r\n folded continuation",                  # obsolete line folding
    head() + b"\r\nUpgrade: websocket",                    # a repeated upgrade header
])
def test_anything_unusual_is_left_to_aiohttp(bad: bytes) -> None:
    assert parse_upgrade(bad, "/ws/rooms/") is None


def test_reader_joins_fragments_with_control_frames_between() -> None:
    data = (client_frame(OP_TEXT, b"hel", fin=False) + client_frame(OP_PING, b"p")
            + client_frame(0, b"lo", fin=False) + client_frame(0, b"!")
            + client_frame(OP_TEXT, "é".encode()))
    got = []
    reader = FrameReader(4096)
    for i in range(len(data)):  # one byte at a time: every split point
        got += reader.feed(data[i:i + 1])
    assert got == [(OP_PING, b"p"), (OP_TEXT, b"hello!"), (OP_TEXT, "é".encode())]


def test_reader_accepts_16_bit_lengths_and_binary_pong_close() -> None:
    data = (client_frame(OP_TEXT, b"x" * 300) + client_frame(OP_BINARY, b"\x00\xff")
            + client_frame(OP_PONG, b"") + client_frame(OP_CLOSE, struct.pack("!H", 1000)))
    got = FrameReader(4096).feed(data)
    assert [(op, len(p)) for op, p in got] == [(OP_TEXT, 300), (OP_BINARY, 2), (OP_PONG, 0),
                                              (OP_CLOSE, 2)]


@pytest.mark.parametrize(("data", "code"), [
    pytest.param(client_frame(OP_TEXT, b"hi", masked=False), 1002, id="unmasked"),
    pytest.param(client_frame(OP_TEXT, b"hi", rsv=0x40), 1002, id="reserved_bits"),
    pytest.param(client_frame(0x3, b"hi"), 1002, id="reserved_data_opcode"),
    pytest.param(client_frame(0xB, b"hi"), 1002, id="reserved_control_opcode"),
    pytest.param(client_frame(OP_PING, b"x" * 126), 1002, id="long_control"),
    pytest.param(client_frame(OP_PING, b"x", fin=False), 1002, id="fragmented_control"),
    pytest.param(client_frame(0, b"x"), 1002, id="orphan_continuation"),
    pytest.param(client_frame(OP_TEXT, b"a", fin=False) + client_frame(OP_TEXT, b"b"), 1002,
                 id="message_inside_message"),
    pytest.param(client_frame(OP_TEXT, b"\xff\xfe"), 1007, id="bad_utf8"),
    pytest.param(client_frame(OP_TEXT, b"x" * 5000), 1009, id="oversized_frame"),
    pytest.param(client_frame(OP_TEXT, b"x" * 3000, fin=False) + client_frame(0, b"x" * 3000), 1009,
                 id="oversized_message"),
])
def test_reader_faults_carry_the_close_code(data: bytes, code: int) -> None:
    with pytest.raises(Fault) as err:
        FrameReader(4096).feed(data)
    assert err.value.code == code


def test_reader_refuses_a_huge_length_before_the_payload_arrives() -> None:
    header = bytes([0x81, 0x80 | 127]) + struct.pack("!Q", 1 << 40)
    with pytest.raises(Fault) as err:
        FrameReader(4096).feed(header)
    assert err.value.code == 1009


def test_close_payloads() -> None:
    assert close_payload(b"") == (1005, "")
    assert close_payload(struct.pack("!H", 4001) + b"bye") == (4001, "bye")
    for bad in (b"\x03", struct.pack("!H", 1005), struct.pack("!H", 999),
                struct.pack("!H", 2000), struct.pack("!H", 1000) + b"\xff"):
        with pytest.raises(Fault):
            close_payload(bad)


@given(st.lists(st.binary(max_size=700), min_size=1, max_size=8), st.integers(1, 50))
def test_reader_gets_every_message_whatever_the_reads(messages: list[bytes], step: int) -> None:
    data = b"".join(client_frame(OP_BINARY, m) for m in messages)
    reader = FrameReader(4096)
    got = []
    for i in range(0, len(data), step):
        got += reader.feed(data[i:i + step])
    assert got == [(OP_BINARY, m) for m in messages]
