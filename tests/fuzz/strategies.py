"""Hypothesis strategies for the websocket fuzzer: request frames (every op, random fields of
every JSON type, ids taken from the world so some requests go deep), the frames that carry them
(fragmented, with pings between, any mask), and the endings that break the protocol, each with
the close code RFC 6455 and docs/PROTOCOL.md make the server answer."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import strategies as st

from live_server.commands.table import WS_OPS
from tests.fuzz.world import TOKEN_KINDS, World, token_of
from tests.fuzz.wsraw import Frame, close_body

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
MAX_FRAME = 4096  # ws.max_frame_bytes of the fuzzed server (the default)
OPS = sorted(WS_OPS)

BIG_INTS = [0, -1, 1, 2, 50, 51, 99, 100, 201, 1000, 1001, 2**31, 2**53, 2**53 + 1, 2**63,
            2**64, -(2**63) - 1, 10**30]
ints = st.one_of(st.integers(-(2**70), 2**70), st.sampled_from(BIG_INTS))
texts = st.text(max_size=40) | st.sampled_from(["", " ", "\u0000", "\u202e", "a" * 201,
                                                 "x" * 4001, "\ud7ff\ue000", "😀" * 60])
scalars = st.one_of(st.none(), st.booleans(), ints,
                    st.floats(allow_nan=False, allow_infinity=False), texts)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=5)


Values = dict[str, st.SearchStrategy[Any]]  # a field's name → values it might take


def plausible(world: World) -> Values:
    """Values a field of this name might take in a real request, so the fuzzer also hits the
    paths behind the field checks (ids that exist, numbers near the bounds)."""
    users = st.sampled_from(world.user_ids)
    return {
        "product_id": st.sampled_from([world.product, world.spare_product, "p_missing0000"]),
        "packet_id": st.sampled_from([world.packet, "rp_missing"]),
        "seq": st.sampled_from([world.chat_seq, 0, 1, 2**53]) | st.integers(-2, 500),
        "before": st.integers(-2, 600),
        "limit": st.integers(-1, 1001),
        "count": st.integers(-1, 60),
        "quantity": st.integers(-1, 120),
        "seconds": st.integers(-1, 100_000),
        "duration_s": st.integers(-1, 100_000),
        "user_id": users,
        "text": st.text(max_size=220),
        "reason": st.text(max_size=220),
        "idempotency_key": st.text("abcdef0123456789-_", min_size=1, max_size=12),
        "token": st.sampled_from(TOKEN_KINDS),  # replaced by the token of that kind
        "since": ints,
    }


@dataclasses.dataclass(frozen=True)
class Message:
    """One input: the frames that carry it and whether the server owes it an answer (a whole
    text message is one request; a ping or pong frame is not)."""

    frames: tuple[Frame, ...]
    request: bool
    payload: bytes = b""

    def wire(self) -> bytes:
        return b"".join(f.encode() for f in self.frames)


# Strategies built once (building one per draw costs more than drawing from it).
_shape = st.integers(0, 19)
_not_objects = st.sampled_from([
    b"", b"{", b"[1,2]", b'"op"', b"null", b"{'op': 1}", b'{"op": "ping", "id": NaN}',
    b'{"op": "chat"} {}', b'{"id": 1e400, "op": "ping"}', b"[" * 3000,
    b'{"op": "chat", "text": "\\ud800"}']) | st.text(max_size=60).map(str.encode)
_known_ops = st.sampled_from(OPS)
_ids = st.one_of(st.integers(0, 10**6), json_values)
_quarter = st.integers(0, 3)
_eighth = st.integers(0, 7)
_third = st.integers(0, 2)
_tenth = st.integers(0, 9)
_field_count = st.integers(0, 4)
_names = st.text(max_size=8)
_indent = st.sampled_from([None, None, 1])
_control = st.sampled_from([PING, PONG])
_control_payload = st.binary(max_size=125)
_unit = st.floats(0, 1)
_cuts = st.lists(_unit, max_size=3)
_FIELDS = {op: [f.name for f in c.fields] for op, c in WS_OPS.items()}
# the zero mask (the payload goes as it is), all ones, and a few arbitrary keys
masks = st.sampled_from([b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x12\x34\x56\x78",
                         b"\x80\x00\x00\x01", b"\xa5\x5a\xc3\x3c"])


@st.composite
def requests(draw: st.DrawFn, values: Values, ops: list[str] | None = None,
             unknown_field: bool = False) -> bytes:
    return draw_request(draw, values, ops, unknown_field)


def draw_request(draw: st.DrawFn, values: Values, ops: list[str] | None,
                 unknown_field: bool) -> bytes:
    """A request frame's text: a JSON object with an op (known or not) and fields, or now and
    then something that is not a JSON object at all. ``unknown_field`` adds a field no op takes
    (a request the binding rule must refuse)."""
    shape = draw(_shape)
    if shape == 0 and not unknown_field:
        return draw(_not_objects)
    # mostly a known op; sometimes any JSON value as the op, or no op at all
    if ops is not None:
        op: Any = ops[int(draw(_unit) * len(ops)) % len(ops)]
    else:
        op = draw(_known_ops if shape > 2 else json_values)
    body: dict[str, Any] = {} if shape == 1 and not ops else {"op": op}
    if draw(_quarter):
        body["id"] = draw(_ids)
    known = _FIELDS.get(op, []) if isinstance(op, str) else []
    for _ in range(draw(_field_count) if known else 0):
        name = known[int(draw(_unit) * len(known)) % len(known)]
        if name in values and draw(_quarter):
            value = draw(values[name])
            body[name] = token_of(value) if name == "token" else value
        else:
            body[name] = draw(json_values)
    if unknown_field or not draw(_eighth):
        extra = draw(_names)
        if extra in ("op", "id", *known):
            extra += "_x"
        body[extra] = draw(json_values)
    return json.dumps(body, ensure_ascii=draw(st.booleans()), indent=draw(_indent)).encode()


def draw_carried(draw: st.DrawFn, payload: bytes) -> tuple[Frame, ...]:
    """A text message as frames: whole, or cut in fragments with control frames between."""
    cuts = sorted({int(f * len(payload)) for f in draw(_cuts)})
    if not cuts or draw(_third) == 0:
        return (Frame(TEXT, payload, mask=draw(masks)),)
    parts, last = [], 0
    for cut in [*cuts, len(payload)]:
        parts.append(payload[last:cut])
        last = cut
    frames = []
    for i, part in enumerate(parts):
        frames.append(Frame(CONT if i else TEXT, part, fin=i == len(parts) - 1,
                            mask=draw(masks)))
        if i < len(parts) - 1 and draw(_third) == 0:
            frames.append(Frame(draw(_control), draw(_control_payload), mask=draw(masks)))
    return tuple(frames)


@st.composite
def messages(draw: st.DrawFn, values: Values, ops: list[str] | None = None,
             unknown_field: bool = False) -> Message:
    """One input that keeps the connection open: a request (perhaps fragmented) or, now and
    then, a ping or an unsolicited pong."""
    if ops is None and draw(_tenth) == 0:
        op = draw(_control)
        return Message((Frame(op, draw(_control_payload), mask=draw(masks)),), False)
    payload = draw_request(draw, values, ops, unknown_field)
    if len(payload) > MAX_FRAME:  # too big for a request: the oversized ending covers that
        payload = b'{"op": "ping", "oversized": true}'  # refused: ping takes no field
    return Message(draw_carried(draw, payload), True, payload)


@dataclasses.dataclass(frozen=True)
class Ending:
    """How a session ends: bytes that break the protocol (or close it properly), and the close
    code the server must answer with; ``code`` None means the client just drops the TCP
    connection, perhaps in the middle of a frame."""

    name: str
    data: bytes
    code: int | None


def _wire(*frames: Frame) -> bytes:
    return b"".join(f.encode() for f in frames)


def _bad_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return True
    return False


VALID_CLOSE = [*range(1000, 1004), *range(1007, 1015), 3000, 3999, 4000, 4999]
BAD_CLOSE = [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]
ENDINGS = [
    "close", "close_empty", "close_bad_code", "close_short", "close_bad_reason", "unmasked",
    "reserved_bits", "reserved_opcode", "long_control", "fragmented_control",
    "orphan_continuation", "message_inside_message", "oversized", "oversized_fragments",
    "huge_length", "bad_utf8", "bad_utf8_fragments", "binary", "drop", "drop_mid_frame"]


@st.composite
def endings(draw: st.DrawFn) -> Ending:
    kind = draw(st.sampled_from(ENDINGS))
    m = draw(masks)
    text = draw(st.binary(max_size=60))
    if kind == "close":
        code = draw(st.sampled_from(VALID_CLOSE))
        reason = draw(st.text(max_size=20)).encode()[:100]
        return Ending(kind, _wire(Frame(CLOSE, close_body(code, reason), mask=m)), code)
    if kind == "close_empty":
        return Ending(kind, _wire(Frame(CLOSE, b"", mask=m)), 1005)
    if kind == "close_bad_code":
        code = draw(st.sampled_from(BAD_CLOSE))
        return Ending(kind, _wire(Frame(CLOSE, close_body(code), mask=m)), 1002)
    if kind == "close_short":
        one = draw(st.binary(min_size=1, max_size=1))
        return Ending(kind, _wire(Frame(CLOSE, one, mask=m)), 1002)
    if kind == "close_bad_reason":
        return Ending(kind, _wire(Frame(CLOSE, close_body(1000, b"\xff\xfe"), mask=m)), 1007)
    if kind == "unmasked":
        op = draw(st.sampled_from([TEXT, PING, CLOSE]))
        return Ending(kind, _wire(Frame(op, text, mask=None)), 1002)
    if kind == "reserved_bits":
        rsv = draw(st.integers(1, 7))
        return Ending(kind, _wire(Frame(TEXT, text, rsv=rsv, mask=m)), 1002)
    if kind == "reserved_opcode":
        op = draw(st.sampled_from([3, 4, 5, 6, 7, 11, 12, 13, 14, 15]))
        return Ending(kind, _wire(Frame(op, text, mask=m)), 1002)
    if kind == "long_control":
        op, size = draw(st.sampled_from([PING, PONG, CLOSE])), draw(st.integers(126, 300))
        return Ending(kind, _wire(Frame(op, b"p" * size, mask=m)), 1002)
    if kind == "fragmented_control":
        return Ending(kind, _wire(Frame(PING, text[:125], fin=False, mask=m)), 1002)
    if kind == "orphan_continuation":
        return Ending(kind, _wire(Frame(CONT, text, fin=draw(st.booleans()), mask=m)), 1002)
    if kind == "message_inside_message":
        op = draw(st.sampled_from([TEXT, BINARY]))
        return Ending(kind, _wire(Frame(TEXT, b'{"op":', fin=False, mask=m),
                                  Frame(op, text, mask=m)), 1002)
    if kind == "oversized":
        op, size = draw(st.sampled_from([TEXT, BINARY])), draw(st.integers(1, 3000))
        return Ending(kind, _wire(Frame(op, b"x" * (MAX_FRAME + size), mask=m)), 1009)
    if kind == "oversized_fragments":
        half = MAX_FRAME // 2 + draw(st.integers(1, 500))
        return Ending(kind, _wire(Frame(TEXT, b"x" * half, fin=False, mask=m),
                                  Frame(CONT, b"x" * half, mask=m)), 1009)
    if kind == "huge_length":  # a declared length the server must not wait for
        size = draw(st.sampled_from([2**16, 2**32, 2**63 - 1, 2**64 - 1]))
        return Ending(kind, _wire(Frame(TEXT, b"", length=size, mask=m)), 1009)
    if kind in ("bad_utf8", "bad_utf8_fragments"):
        bad = draw(st.binary(min_size=1, max_size=40).filter(_bad_utf8))
        if kind == "bad_utf8":
            return Ending(kind, _wire(Frame(TEXT, bad, mask=m)), 1007)
        return Ending(kind, _wire(Frame(TEXT, b'{"op": "chat", "text": "', fin=False, mask=m),
                                  Frame(CONT, bad, mask=m)), 1007)
    if kind == "binary":
        return Ending(kind, _wire(Frame(BINARY, text, mask=m)), 1003)
    if kind == "drop":
        return Ending(kind, b"", None)
    whole = _wire(Frame(TEXT, b'{"op": "ping"}', mask=m))  # drop_mid_frame
    return Ending(kind, whole[:draw(st.integers(1, len(whole) - 1))], None)
