"""The pre-encoded server frames parse as the RFC says (checked with an independent parser)."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from live_server.realtime.frames import batch_payload, close_frame, text_frame


def _parse(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    gen = Frame.parse(reader.read_exact, mask=False)
    try:
        next(gen)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200000])
def test_text_frame_lengths(size: int) -> None:
    payload = b"x" * size
    frame = _parse(text_frame(payload))
    assert frame.opcode == Opcode.TEXT and frame.fin and frame.data == payload


def test_close_frame() -> None:
    frame = _parse(close_frame(4008, "slow_consumer"))
    assert frame.opcode == Opcode.CLOSE
    assert frame.data[:2] == (4008).to_bytes(2, "big") and frame.data[2:] == b"slow_consumer"


def test_batch_payload_is_json() -> None:
    import orjson

    body = batch_payload(b"r_1", [b'{"seq":1}', b'{"seq":2}'])
    assert orjson.loads(body) == {"type": "events", "room": "r_1",
                                  "events": [{"seq": 1}, {"seq": 2}]}
