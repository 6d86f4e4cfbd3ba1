"""A websocket client that will send anything: frames built byte by byte (any opcode, reserved
bits, fragments, masks or none, lengths that lie), over a plain TCP stream, and a reader of what
the server answers. A regular client library refuses to send most of what a fuzzer needs."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import os
import struct
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import orjson

WAIT_S = 15.0  # hang guard only


@dataclasses.dataclass(frozen=True)
class Frame:
    """One client frame as it goes on the wire. ``mask`` None sends it unmasked (a protocol
    error for a client); ``length`` overrides the declared payload length."""

    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv: int = 0
    mask: bytes | None = b"\x00\x00\x00\x00"
    length: int | None = None

    def encode(self) -> bytes:
        size = len(self.payload) if self.length is None else self.length
        head = bytes([(0x80 if self.fin else 0) | (self.rsv & 7) << 4 | self.opcode & 0x0F])
        bit = 0x80 if self.mask is not None else 0
        if size < 126:
            head += bytes([bit | size])
        elif size < 1 << 16:
            head += bytes([bit | 126]) + struct.pack("!H", size)
        else:
            head += bytes([bit | 127]) + struct.pack("!Q", size)
        if self.mask is None:
            return head + self.payload
        masked = bytes(b ^ self.mask[i % 4] for i, b in enumerate(self.payload))
        return head + self.mask + masked


def close_body(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


class RawSocket:
    """A room websocket opened by hand; records every server frame: text frames decoded, the
    close code, and whether the TCP stream ended."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.texts: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.bad_frames: list[bytes] = []  # server frames that are not what a server may send
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, host: str, port: int, room: str,
                      query: dict[str, str] | None = None) -> RawSocket:
        reader, writer = await asyncio.open_connection(host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        target = f"/ws/rooms/{room}" + (f"?{urlencode(query)}" if query else "")
        writer.write((f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
        assert head.startswith(b"HTTP/1.1 101 "), head[:200]
        return cls(reader, writer)

    async def _read(self) -> None:
        try:
            while True:
                b0, b1 = await self.reader.readexactly(2)
                length = b1 & 0x7F
                if length == 126:
                    length = struct.unpack("!H", await self.reader.readexactly(2))[0]
                elif length == 127:
                    length = struct.unpack("!Q", await self.reader.readexactly(8))[0]
                if b1 & 0x80 or b0 & 0x70 or not b0 & 0x80:
                    self.bad_frames.append(bytes([b0, b1]))  # masked, reserved bits, fragments
                payload = await self.reader.readexactly(length)
                op = b0 & 0x0F
                if op == 0x1:
                    self.texts.append(orjson.loads(payload))
                elif op == 0x8:
                    self.close_code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                elif op not in (0x9, 0xA):
                    self.bad_frames.append(bytes([b0, b1]))
                self._changed.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._changed.set()

    @property
    def ended(self) -> bool:
        return self._task.done()

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = WAIT_S) -> Any:
        async def check() -> Any:
            while True:
                value = predicate()
                if value or self.ended:
                    return value
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(check(), timeout)

    async def wait_ended(self, timeout: float = WAIT_S) -> None:
        await asyncio.wait_for(asyncio.shield(self._task), timeout)

    def answers(self) -> list[dict[str, Any]]:
        """Replies, errors and pongs: one per request the server handled, in request order."""
        return [t for t in self.texts if t.get("type") in ("reply", "error", "pong")]

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
