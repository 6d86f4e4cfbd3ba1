"""The client half of RFC 6455, just enough for a load generator.

Why not a websocket library: a generator that simulates thousands of viewers must cost far less
than the server it measures. Library clients decode every frame into objects, validate UTF-8 and
keep per-connection queues; a *light sink* only needs the frame boundaries. This module holds the
pure (I/O-free) parts so they can be tested against crafted frames: the opening handshake, an
incremental frame reader that enforces the rules a client must enforce, and the masked frame
encoder a client must use.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from typing import Final

OP_CONT: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA

_DATA_OPS: Final = frozenset({OP_CONT, OP_TEXT, OP_BINARY})
_CONTROL_OPS: Final = frozenset({OP_CLOSE, OP_PING, OP_PONG})
_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CLOSE_NORMAL: Final = 1000
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_TOO_BIG: Final = 1009
#: Pseudo close code recorded when the peer vanished without a close frame (never sent on the wire).
CLOSE_ABNORMAL: Final = 1006

DEFAULT_MAX_MESSAGE: Final = 16 * 1024 * 1024


class ProtocolError(Exception):
    """The server broke RFC 6455; `code` is the close code a client answers with.

    `frames` holds the good messages that came before the violation in the same read, so a
    caller can still act on them (a welcome followed by a bad frame is a join, then an error).
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason
        self.frames: list[tuple[int, bytes]] = []


class HandshakeError(Exception):
    """The server did not upgrade the connection (status other than 101, bad accept key)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status
        self.reason = reason


def new_key() -> str:
    """A fresh random Sec-WebSocket-Key (16 random bytes, base64)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_for(key: str) -> str:
    """The Sec-WebSocket-Accept value a conforming server answers to `key`."""
    digest = hashlib.sha1(key.encode("ascii") + _GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def build_handshake(host: str, port: int, path: str, key: str) -> bytes:
    """The HTTP/1.1 upgrade request; `path` includes the query string."""
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "\r\n"
    ).encode("ascii")


def parse_handshake(buf: bytes | bytearray, key: str) -> int:
    """Check the server's upgrade response at the start of `buf`.

    Returns the number of bytes the response took (frames may follow in the same read), or 0
    when the response is not complete yet. Raises HandshakeError when the server refused.
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > 16384:
            raise HandshakeError(0, "response head too long")
        return 0
    head = bytes(buf[:end]).decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise HandshakeError(0, f"bad status line {lines[0]!r}")
    status = int(parts[1])
    if status != 101:
        raise HandshakeError(status, parts[2] if len(parts) > 2 else "")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("upgrade", "").lower() != "websocket":
        raise HandshakeError(status, "missing Upgrade: websocket")
    if headers.get("sec-websocket-accept") != accept_for(key):
        raise HandshakeError(status, "wrong Sec-WebSocket-Accept")
    if headers.get("sec-websocket-extensions"):
        raise HandshakeError(status, "server chose an extension the client did not offer")
    return end + 4


def mask_bytes(payload: bytes, key: bytes) -> bytes:
    """XOR `payload` with the 4-byte masking `key` (one big-int XOR: fast for short frames)."""
    n = len(payload)
    if n == 0:
        return b""
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        n, "little"
    )


def encode_frame(opcode: int, payload: bytes, *, mask: bool = True, fin: bool = True) -> bytes:
    """One frame; clients must mask (RFC 6455 5.3), so `mask` defaults to True."""
    head = bytearray()
    head.append((0x80 if fin else 0) | opcode)
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head.append(mbit | n)
    elif n < 65536:
        head.append(mbit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(mbit | 127)
        head += struct.pack("!Q", n)
    if not mask:
        return bytes(head) + payload
    key = os.urandom(4)
    return bytes(head) + key + mask_bytes(payload, key)


def encode_close(code: int, reason: str = "", *, mask: bool = True) -> bytes:
    """A close frame carrying `code` and a short reason."""
    return encode_frame(OP_CLOSE, struct.pack("!H", code) + reason.encode()[:120], mask=mask)


def parse_close(payload: bytes) -> tuple[int, str]:
    """(code, reason) of a close frame; 1005 (no status) when the payload is empty."""
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, "close payload of 1 byte")
    code = struct.unpack("!H", payload[:2])[0]
    if code < 1000 or code in (1004, 1005, 1006, 1015) or 1016 <= code < 3000 or code >= 5000:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"invalid close code {code}")
    return code, payload[2:].decode("utf-8", "replace")


class FrameReader:
    """Incremental parser of server frames into whole messages.

    `feed` returns (opcode, payload) for every complete message (text, binary, reassembled from
    fragments) and every control frame, in wire order. It raises ProtocolError for what a client
    must reject: masked server frames, reserved bits without an extension, unknown opcodes,
    fragmented or oversized control frames, a continuation with nothing to continue, a new data
    frame inside a fragmented message, and messages above `max_message` bytes.
    """

    __slots__ = ("_buf", "_frag_len", "_frag_op", "_frag_parts", "max_message")

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        self._buf = bytearray()
        self._frag_op = -1
        self._frag_parts: list[bytes] = []
        self._frag_len = 0
        self.max_message = max_message

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        try:
            return self._feed(data, out)
        except ProtocolError as exc:
            exc.frames = out
            raise

    def _feed(self, data: bytes, out: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        if self._buf:
            self._buf += data
            buf = bytes(self._buf)
            self._buf.clear()
        else:
            buf = data
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            if b0 & 0x70:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set")
            if b1 & 0x80:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "server frames must not be masked")
            fin = b0 & 0x80
            opcode = b0 & 0x0F
            n = b1 & 0x7F
            head = 2
            if n == 126:
                if size - pos < 4:
                    break
                n = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = struct.unpack_from("!Q", buf, pos + 2)[0]
                if n >> 63:
                    raise ProtocolError(CLOSE_PROTOCOL_ERROR, "64-bit length with top bit set")
                head = 10
            if opcode in _CONTROL_OPS:
                if not fin:
                    raise ProtocolError(CLOSE_PROTOCOL_ERROR, "fragmented control frame")
                if n > 125:
                    raise ProtocolError(CLOSE_PROTOCOL_ERROR, "control frame over 125 bytes")
            elif opcode not in _DATA_OPS:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode}")
            if n > self.max_message or self._frag_len + n > self.max_message:
                raise ProtocolError(CLOSE_TOO_BIG, "message too big")
            if size - pos - head < n:
                break
            start = pos + head
            payload = buf[start : start + n]
            pos = start + n
            if opcode >= OP_CLOSE:
                out.append((opcode, payload))
            elif opcode == OP_CONT:
                if self._frag_op < 0:
                    raise ProtocolError(CLOSE_PROTOCOL_ERROR, "continuation without a start")
                self._frag_parts.append(payload)
                self._frag_len += n
                if fin:
                    out.append((self._frag_op, b"".join(self._frag_parts)))
                    self._frag_op = -1
                    self._frag_parts = []
                    self._frag_len = 0
            else:
                if self._frag_op >= 0:
                    raise ProtocolError(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
                if fin:
                    out.append((opcode, payload))
                else:
                    self._frag_op = opcode
                    self._frag_parts = [payload]
                    self._frag_len = n
        if pos < size:
            self._buf += buf[pos:]
        return out
