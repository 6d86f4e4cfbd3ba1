"""Server-to-client websocket frames built once and written as the same bytes to every socket.

A server frame is not masked, so header + payload is identical for every receiver: the fan-out
encodes a batch once and hands the same ``bytes`` to each transport (no per-socket work but the
write itself). Compression is off for the same reason.
"""

from __future__ import annotations

import struct

_TEXT = 0x81  # FIN + text opcode
_CLOSE = 0x88  # FIN + close opcode
_PONG = 0x8A  # FIN + pong opcode
PING_FRAME = b"\x89\x00"  # FIN + ping, no payload: the same two bytes for every socket


def _header(first: int, length: int) -> bytes:
    if length < 126:
        return bytes((first, length))
    if length < 65536:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


def text_frame(payload: bytes) -> bytes:
    return _header(_TEXT, len(payload)) + payload


def pong_frame(payload: bytes) -> bytes:
    """The answer to a client's ping: the same application data back (at most 125 bytes, which
    the frame reader already enforces for control frames)."""
    return _header(_PONG, len(payload)) + payload


def close_frame(code: int, reason: str = "") -> bytes:
    body = struct.pack("!H", code) + reason.encode()[:123]
    return _header(_CLOSE, len(body)) + body


def batch_payload(room_id: bytes, events: list[bytes]) -> bytes:
    """``{"type":"events","room":...,"events":[...]}`` joined from already-encoded events."""
    return b'{"type":"events","room":"' + room_id + b'","events":[' + b",".join(events) + b"]}"
