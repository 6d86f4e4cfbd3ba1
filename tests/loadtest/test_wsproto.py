"""The pure websocket pieces: handshake, frame reader rules, masking."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest import wsproto
from loadtest.wsproto import FrameReader, ProtocolError


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0,
          mask: bool = False) -> bytes:
    """A server frame built by hand (unmasked unless asked)."""
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if mask:
        key = b"\x01\x02\x03\x04"
        return head + key + wsproto.mask_bytes(payload, key)
    return head + payload


def test_accept_key_matches_rfc_example() -> None:
    assert wsproto.accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_handshake_parse_ok_incomplete_and_refused() -> None:
    key = wsproto.new_key()
    resp = (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {wsproto.accept_for(key)}\r\n\r\n"
    ).encode()
    assert wsproto.parse_handshake(resp[:20], key) == 0
    assert wsproto.parse_handshake(resp + b"\x81\x00", key) == len(resp)
    with pytest.raises(wsproto.HandshakeError) as e:
        wsproto.parse_handshake(b"HTTP/1.1 404 Not Found\r\n\r\n", key)
    assert e.value.status == 404
    bad = resp.replace(wsproto.accept_for(key).encode(), b"AAAA")
    with pytest.raises(wsproto.HandshakeError):
        wsproto.parse_handshake(bad, key)


def test_reader_splits_and_joins_across_reads() -> None:
    data = frame(1, b"hello") + frame(1, b"x" * 300) + frame(1, b"y" * 70000)
    r = FrameReader()
    got = []
    for i in range(0, len(data), 7):
        got += r.feed(data[i : i + 7])
    assert [(op, len(p)) for op, p in got] == [(1, 5), (1, 300), (1, 70000)]


def test_fragmented_message_with_interleaved_ping() -> None:
    data = frame(1, b"he", fin=False) + frame(9, b"p") + frame(0, b"ll", fin=False) + frame(
        0, b"o")
    assert FrameReader().feed(data) == [(9, b"p"), (1, b"hello")]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (frame(1, b"x", mask=True), 1002),  # servers must not mask
        (frame(1, b"x", rsv=0x40), 1002),  # no extension negotiated
        (frame(3, b"x"), 1002),  # reserved opcode
        (frame(9, b"x", fin=False), 1002),  # fragmented control frame
        (frame(9, b"x" * 126), 1002),  # control frame too long
        (frame(0, b"x"), 1002),  # continuation of nothing
        (frame(1, b"a", fin=False) + frame(1, b"b"), 1002),  # new message inside a fragmented one
    ],
)
def test_reader_rejects(data: bytes, code: int) -> None:
    with pytest.raises(ProtocolError) as e:
        FrameReader().feed(data)
    assert e.value.code == code


def test_reader_refuses_too_big() -> None:
    with pytest.raises(ProtocolError) as e:
        FrameReader(max_message=10).feed(frame(1, b"a" * 6, fin=False) + frame(0, b"b" * 6))
    assert e.value.code == 1009


def test_close_payloads() -> None:
    assert wsproto.parse_close(b"") == (1005, "")
    assert wsproto.parse_close(struct.pack("!H", 4008) + b"slow_consumer") == (4008,
                                                                               "slow_consumer")
    for bad in (b"\x03", struct.pack("!H", 999), struct.pack("!H", 1005)):
        with pytest.raises(ProtocolError):
            wsproto.parse_close(bad)


@given(st.binary(max_size=300))
def test_client_frames_are_masked_and_decodable(payload: bytes) -> None:
    data = wsproto.encode_frame(wsproto.OP_TEXT, payload)
    assert data[1] & 0x80
    n = data[1] & 0x7F
    off = 2 + (2 if n == 126 else 8 if n == 127 else 0)
    key = data[off : off + 4]
    assert wsproto.mask_bytes(data[off + 4 :], key) == payload
