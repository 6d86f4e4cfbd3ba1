"""The server side of RFC 6455 without I/O: the upgrade request, the 101 answer, and a reader of
client frames.

Every room socket (``web.room_socket``) reads its client's frames with ``FrameReader``; the front
door (``web.front``) reads fresh upgrades with ``parse_upgrade``, and aiohttp's handler
(``web.ws``) checks the upgrades it parsed with the same ``handshake_key``. This is the part that
is pure protocol, kept apart so it can be tested frame by frame (and against the ``websockets``
package's own parser, ``tests/unit/test_ws_codec.py``). ``parse_upgrade`` is deliberately strict:
whatever it does not recognise as a plain, valid upgrade is left to aiohttp, which answers it.

Why a reader of our own rather than ``websockets``' sans-I/O ``ServerProtocol``: that object,
its parser generator and its buffer would be kept for every idle viewer (measured: see
``docs/ARCHITECTURE.md``, "The websocket gateway"); this reader is one small object with a
bytes buffer. Unmasking uses ``websockets``' C ``apply_mask``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import struct
from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote

try:  # the C version that ships with the websockets package; the same function in Python else
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the wheel has it on every platform we run on
    from websockets.utils import apply_mask

from live_server.errors import CloseCode

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD_BYTES = 8192  # aiohttp's own request-line limit; a longer head goes to aiohttp
# Frames one message may arrive in. Browsers never fragment a message this small; without a cap,
# empty continuation frames (0 bytes each, so the byte limit never trips) grow a message forever.
MAX_FRAGMENTS = 64

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
PROTOCOL_ERROR = 1002
INVALID_DATA = 1007


@dataclasses.dataclass(frozen=True, slots=True)
class Upgrade:
    """A websocket upgrade request as the gateway needs it."""

    path: str
    query: dict[str, str]
    key: str


def parse_upgrade(head: bytes, path_prefix: str) -> Upgrade | None:
    """The upgrade in a request head (without the final blank line), or None for anything that is
    not a well-formed ``GET`` websocket upgrade under ``path_prefix``: aiohttp then handles it,
    with its own answers for malformed requests."""
    lines = head.decode("latin-1").split("\r\n")  # latin-1 decodes every byte
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[0] != "GET" or parts[2] != "HTTP/1.1":
        return None
    target = parts[1]
    path, _, query_text = target.partition("?")
    if not path.startswith(path_prefix) or "%" in path:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or line[0] in " \t":
            return None  # obsolete folding, or no colon: not ours to interpret
        key = name.lower()
        if key in headers:
            if key in ("upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
                       "host", "content-length", "transfer-encoding"):
                return None
            headers[key] += "," + value.strip()
        else:
            headers[key] = value.strip()
    if "content-length" in headers or "transfer-encoding" in headers:
        return None
    ws_key = handshake_key(headers)
    if ws_key is None:
        return None
    query: dict[str, str] = {}
    for name, value in parse_qsl(query_text, keep_blank_values=True):
        query.setdefault(name, value)  # like aiohttp's MultiDict.get: the first value wins
    return Upgrade(path=unquote(path), query=query, key=ws_key)


def handshake_key(headers: Mapping[str, str]) -> str | None:
    """The client's ``Sec-WebSocket-Key`` if the headers (looked up by lower-case name) make a
    valid RFC 6455 upgrade: ``Upgrade: websocket``, ``Connection: upgrade``, version 13, a
    host, and a key of 16 base64 bytes. Both ways into a room socket check the same rules."""
    if "websocket" not in _tokens(headers.get("upgrade", "")):
        return None
    if "upgrade" not in _tokens(headers.get("connection", "")):
        return None
    if headers.get("sec-websocket-version") != "13" or headers.get("host") is None:
        return None
    key = headers.get("sec-websocket-key", "")
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return None
    except (binascii.Error, ValueError):
        return None
    return key


def _tokens(value: str) -> set[str]:
    return {t.strip().lower() for t in value.split(",")}


def accept_value(key: str) -> bytes:
    """``Sec-WebSocket-Accept`` for a client's key."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest())


def accept_response(key: str) -> bytes:
    """The 101 answer; no extensions (frames are never compressed, so the fan-out can write the
    same bytes to everyone) and no subprotocol."""
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_value(key) + b"\r\n\r\n")


class Fault(Exception):
    """The client broke the protocol; close with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


class FrameReader:
    """Turns client bytes into whole messages: ``(opcode, payload)`` with text, binary, close,
    ping and pong opcodes; fragments are joined, control frames may come between them.
    Raises ``Fault`` with the close code a server must send (1002 protocol error, 1007 bad
    UTF-8, 1009 too big: over ``max_size`` bytes or ``max_fragments`` frames).

    ``frames`` counts every frame read, whole message or not, so the caller's flood limit sees
    fragments (an empty continuation frame included) and not only the messages they make."""

    __slots__ = ("_buf", "_part_len", "_part_op", "_parts", "frames", "max_fragments",
                 "max_size")

    def __init__(self, max_size: int, max_fragments: int = MAX_FRAGMENTS) -> None:
        self.max_size = max_size
        self.max_fragments = max_fragments
        self.frames = 0
        self._buf = b""
        self._parts: list[bytes] | None = None
        self._part_op = 0
        self._part_len = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buf + data if self._buf else data
        out: list[tuple[int, bytes]] = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            fin, op, length = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
            if b0 & 0x70:
                raise Fault(PROTOCOL_ERROR, "reserved bits set")
            if not b1 & 0x80:
                raise Fault(PROTOCOL_ERROR, "client frames must be masked")
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = struct.unpack_from("!H", buf, pos + 2)[0]
                head = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = struct.unpack_from("!Q", buf, pos + 2)[0]
                head = 10
            if op >= 0x8:
                if not fin or length > 125:
                    raise Fault(PROTOCOL_ERROR, "bad control frame")
                if op not in (OP_CLOSE, OP_PING, OP_PONG):
                    raise Fault(PROTOCOL_ERROR, "unknown opcode")
            elif op not in (OP_CONT, OP_TEXT, OP_BINARY):
                raise Fault(PROTOCOL_ERROR, "unknown opcode")
            elif length + self._part_len > self.max_size:
                raise Fault(CloseCode.TOO_LARGE, "message too big")
            if end - pos < head + 4 + length:
                break
            mask = buf[pos + head:pos + head + 4]
            start = pos + head + 4
            payload = apply_mask(buf[start:start + length], mask) if length else b""
            pos = start + length
            self.frames += 1
            if op >= 0x8:
                out.append((op, payload))
            elif op == OP_CONT:
                if self._parts is None:
                    raise Fault(PROTOCOL_ERROR, "continuation without a start")
                if len(self._parts) >= self.max_fragments:
                    raise Fault(CloseCode.TOO_LARGE, "too many fragments")
                self._parts.append(payload)
                self._part_len += length
                if fin:
                    out.append(_message(self._part_op, b"".join(self._parts)))
                    self._parts, self._part_len = None, 0
            elif self._parts is not None:
                raise Fault(PROTOCOL_ERROR, "new message inside a fragmented one")
            elif fin:
                out.append(_message(op, payload))
            else:
                self._parts, self._part_op, self._part_len = [payload], op, length
        self._buf = buf[pos:] if pos < end else b""
        if len(self._buf) > self.max_size + 14:
            raise Fault(CloseCode.TOO_LARGE, "message too big")
        return out


def _message(op: int, payload: bytes) -> tuple[int, bytes]:
    if op == OP_TEXT:
        try:
            payload.decode()
        except UnicodeDecodeError:
            raise Fault(INVALID_DATA, "text is not UTF-8") from None
    return op, payload


def close_payload(payload: bytes) -> tuple[int, str]:
    """The code and reason of a client's close frame (1005: none given)."""
    if not payload:
        return 1005, ""
    if len(payload) < 2:
        raise Fault(PROTOCOL_ERROR, "bad close frame")
    code = struct.unpack_from("!H", payload)[0]
    if not (1000 <= code <= 1014 and code not in (1004, 1005, 1006)) and not (
            3000 <= code <= 4999):
        raise Fault(PROTOCOL_ERROR, "bad close code")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        raise Fault(INVALID_DATA, "close reason is not UTF-8") from None
    return code, reason
