"""Our client-frame reader (``web.wsproto.FrameReader``) against the ``websockets`` package's
own server-side parser, on random streams of frames: the same messages come out, and where the
stream breaks RFC 6455 both refuse it with the same close code.

We keep a reader of our own because it is cheaper per idle viewer than ``websockets``'
sans-I/O protocol object (docs/ARCHITECTURE.md, "The websocket gateway"); this test is what keeps
the two from drifting."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.exceptions import PayloadTooBig, ProtocolError
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from live_server.web.wsproto import OP_CLOSE, Fault, FrameReader, close_payload

MAX = 1024  # the reader's message limit in these runs (ws.max_frame_bytes in the server)


def encode(op: int, payload: bytes, *, fin: bool = True, rsv: int = 0,
           masked: bool = True) -> bytes:
    data = bytearray(Frame(Opcode.TEXT, payload).serialize(mask=masked, extensions=[]))
    data[0] = (0x80 if fin else 0) | rsv | op
    return bytes(data)


@dataclass
class Outcome:
    messages: list[tuple[int, bytes]]
    code: int | None  # the close code the server sends because of a fault, None for none


def ours(stream: bytes, cuts: list[int]) -> Outcome:
    reader = FrameReader(MAX)
    got: list[tuple[int, bytes]] = []
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    try:
        for a, b in itertools.pairwise(bounds):
            for op, payload in reader.feed(stream[a:b]):
                if op == OP_CLOSE:
                    close_payload(payload)  # a bad close frame is a fault like any other
                    got.append((op, payload))
                    return Outcome(got, None)
                got.append((op, payload))
    except Fault as fault:
        return Outcome(got, fault.code)
    return Outcome(got, None)


def theirs(stream: bytes) -> Outcome:
    proto = Protocol(Side.SERVER, state=State.OPEN, max_size=MAX)
    proto.receive_data(stream)
    got: list[tuple[int, bytes]] = []
    parts: list[bytes] = []
    first = 0
    for frame in proto.events_received():
        data = bytes(frame.data)
        if frame.opcode in (Opcode.PING, Opcode.PONG, Opcode.CLOSE):
            got.append((int(frame.opcode), data))
            if frame.opcode == Opcode.CLOSE:
                return Outcome(got, None)
            continue
        if frame.opcode != Opcode.CONT:
            first, parts = int(frame.opcode), []
        parts.append(data)
        if frame.fin:
            body = b"".join(parts)
            if first == Opcode.TEXT:
                try:  # websockets' sans-I/O layer leaves text decoding to its message assembler
                    body.decode()
                except UnicodeDecodeError:
                    return Outcome(got, 1007)
            got.append((first, body))
    exc = proto.parser_exc
    if exc is None:
        return Outcome(got, None)
    if isinstance(exc, PayloadTooBig):
        return Outcome(got, 1009)
    if isinstance(exc, UnicodeDecodeError):
        return Outcome(got, 1007)
    assert isinstance(exc, ProtocolError), exc
    return Outcome(got, 1002)


texts = st.text(max_size=120).map(str.encode)
datas = st.binary(max_size=120)


@st.composite
def message(draw: st.DrawFn) -> bytes:
    """One valid message, maybe in fragments with control frames between them."""
    op = draw(st.sampled_from([0x1, 0x2]))
    body = draw(texts if op == 0x1 else datas)
    n = draw(st.integers(1, 4))
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), min_size=n - 1, max_size=n - 1)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    out = b""
    for i, piece in enumerate(pieces):
        out += encode(op if i == 0 else 0x0, piece, fin=i == len(pieces) - 1)
        if draw(st.booleans()) and i < len(pieces) - 1:
            out += encode(draw(st.sampled_from([0x9, 0xA])), draw(st.binary(max_size=20)))
    return out


def fault() -> st.SearchStrategy[tuple[bytes, int]]:
    """One frame (or pair) that breaks the protocol, with the close code a server must send."""
    return st.one_of(
        datas.map(lambda d: (encode(0x2, d, masked=False), 1002)),
        st.sampled_from([0x10, 0x20, 0x40]).map(lambda r: (encode(0x1, b"x", rsv=r), 1002)),
        st.sampled_from([0x3, 0x7, 0xB, 0xF]).map(lambda o: (encode(o, b"x"), 1002)),
        st.just((encode(0x9, b"x" * 126), 1002)),
        st.just((encode(0x9, b"x", fin=False), 1002)),
        st.just((encode(0x0, b"x"), 1002)),
        st.just((encode(0x1, b"a", fin=False) + encode(0x1, b"b"), 1002)),
        st.sampled_from([b"\xff", b"\xc3\x28", b"a\xed\xa0\x80"]).map(
            lambda d: (encode(0x1, d), 1007)),
        st.integers(MAX + 1, 3 * MAX).map(lambda n: (encode(0x2, b"y" * n), 1009)),
        st.just((encode(0x1, b"z" * 700, fin=False) + encode(0x0, b"z" * 700), 1009)),
        st.sampled_from([b"\x03", b"\x03\xed", b"\x07\xd0", b"\x03\xe8\xff"]).map(
            lambda d: (encode(0x8, d), 1002 if d != b"\x03\xe8\xff" else 1007)),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(message(), max_size=6), st.none() | fault(), st.integers(0, 6),
       st.lists(st.integers(0, 10_000), max_size=8), st.booleans())
def test_the_reader_agrees_with_websockets(messages: list[bytes], bad: tuple[bytes, int] | None,
                                           at: int, cuts: list[int], close: bool) -> None:
    frames = list(messages)
    if bad is not None:
        frames.insert(min(at, len(frames)), bad[0])
    if close:
        frames.append(encode(0x8, b"\x03\xe8bye"))
    stream = b"".join(frames)
    mine, reference = ours(stream, cuts), theirs(stream)
    assert mine.code == reference.code
    if bad is not None and mine.code is not None:
        assert mine.code == bad[1]
    if mine.code is None:
        assert mine.messages == reference.messages
    else:  # a fault ends the read it came in: messages of that read are not handed on
        assert mine.messages == reference.messages[:len(mine.messages)]
