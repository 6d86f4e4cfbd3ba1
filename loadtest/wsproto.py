"""The client half of RFC 6455 for the load generator, on the `websockets` package's sans-I/O
`ClientProtocol`.

Why the library's protocol object rather than its client: a generator that simulates thousands
of viewers must cost far less than the server it measures, so the viewers stay raw asyncio
protocols that never decode JSON they only count. What a client must get right — the upgrade
request, the 101 and its Sec-WebSocket-Accept, refusing what a client must refuse (masked server
frames, reserved bits without an extension, bad or fragmented control frames, broken
fragmentation, oversized messages, bad close codes), masking its own frames, answering pings and
echoing the close — is the library's, tested there and here. This module only joins fragments
into messages and turns the library's outcome into the two errors the viewers act on. Reading a
frame costs about 3.5 µs (against 0.7 µs for the hand-written reader it replaced); see
`loadtest/README.md`, "Why it costs less than the server it measures".
"""

from __future__ import annotations

from typing import Final

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus, PayloadTooBig
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

OP_CONT: Final = Opcode.CONT
OP_TEXT: Final = Opcode.TEXT
OP_BINARY: Final = Opcode.BINARY
OP_CLOSE: Final = Opcode.CLOSE
OP_PING: Final = Opcode.PING
OP_PONG: Final = Opcode.PONG

CLOSE_NORMAL: Final = 1000
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_INVALID_DATA: Final = 1007
CLOSE_TOO_BIG: Final = 1009
#: Pseudo close code recorded when the peer vanished without a close frame (never sent on the wire).
CLOSE_ABNORMAL: Final = 1006

DEFAULT_MAX_MESSAGE: Final = 16 * 1024 * 1024

#: A whole message or a control frame: (opcode, payload).
Message = tuple[int, bytes]


class ProtocolError(Exception):
    """The server broke RFC 6455; `code` is the close code the client answered with.

    `frames` holds the good messages that came before the violation in the same read, so a
    caller can still act on them (a welcome followed by a bad frame is a join, then an error).
    """

    def __init__(self, code: int, reason: str, frames: list[Message]) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason
        self.frames = frames


class HandshakeError(Exception):
    """The server did not upgrade the connection (status other than 101, bad accept key);
    `status` is 0 when the answer was not HTTP at all."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status
        self.reason = reason


def _close_code(exc: BaseException) -> int:
    """The close code the library's parser failed the connection with for `exc`."""
    if isinstance(exc, PayloadTooBig):
        return CLOSE_TOO_BIG
    if isinstance(exc, UnicodeDecodeError):
        return CLOSE_INVALID_DATA
    return CLOSE_PROTOCOL_ERROR


class Client:
    """One client connection without I/O: feed it what the socket read, write what it returns.

    The upgrade request is queued at construction. `feed` returns the messages (text and binary
    reassembled from fragments) and control frames in wire order, after the library has queued
    what the client must answer (a pong for a ping, the echo of a close); `data_to_send` hands
    those bytes over. `feed` raises HandshakeError when the server did not upgrade and
    ProtocolError when it broke the protocol (a close frame with the code is then queued).
    """

    __slots__ = ("_part_op", "_parts", "_proto", "upgraded")

    def __init__(
        self, host: str, port: int, path: str, max_message: int = DEFAULT_MAX_MESSAGE
    ) -> None:
        proto = ClientProtocol(parse_uri(f"ws://{host}:{port}{path}"), max_size=max_message)
        proto.send_request(proto.connect())
        self._proto = proto
        self._part_op = -1
        self._parts: list[bytes] = []
        #: True once the server's 101 was accepted.
        self.upgraded = False

    @property
    def key(self) -> str:
        """The Sec-WebSocket-Key the upgrade request carries."""
        return self._proto.key

    @property
    def is_open(self) -> bool:
        """Upgraded, and no close frame sent or received yet."""
        return self._proto.state is State.OPEN

    def data_to_send(self) -> bytes:
        """Everything queued for the server: the upgrade, pongs, close frames, our messages."""
        return b"".join(self._proto.data_to_send())

    def feed(self, data: bytes) -> list[Message]:
        proto = self._proto
        proto.receive_data(data)
        return self._collect(proto)

    def feed_eof(self) -> list[Message]:
        """The server closed the TCP connection: what its last bytes completed (a refusal
        whose body ran to the end of the stream, for one)."""
        proto = self._proto
        proto.receive_eof()
        return self._collect(proto, at_eof=True)

    def _collect(self, proto: ClientProtocol, at_eof: bool = False) -> list[Message]:
        out: list[Message] = []
        response: Response | None = None
        for event in proto.events_received():
            if isinstance(event, Frame):
                self._message(event, out)
            elif isinstance(event, Response):
                response = event
        failed = proto.handshake_exc
        if failed is not None:
            if isinstance(failed, InvalidStatus):
                raise HandshakeError(failed.response.status_code, failed.response.reason_phrase)
            raise HandshakeError(response.status_code if response is not None else 0, str(failed))
        if response is not None:
            self.upgraded = True
        broken = proto.parser_exc
        if broken is not None and not (at_eof and isinstance(broken, EOFError)):
            raise ProtocolError(_close_code(broken), str(broken), out)
        return out

    def _message(self, frame: Frame, out: list[Message]) -> None:
        # The library has checked the fragmentation rules; only the joining is left.
        opcode = frame.opcode
        if opcode is OP_TEXT or opcode is OP_BINARY:
            if frame.fin:
                out.append((opcode, bytes(frame.data)))
            else:
                self._part_op = opcode
                self._parts = [bytes(frame.data)]
        elif opcode is OP_CONT:
            self._parts.append(bytes(frame.data))
            if frame.fin:
                out.append((self._part_op, b"".join(self._parts)))
                self._part_op = -1
                self._parts = []
        else:
            out.append((opcode, bytes(frame.data)))

    def send_text(self, text: bytes) -> None:
        """Queue a text message (masked, as a client must); dropped once closing."""
        if self._proto.state is State.OPEN:
            self._proto.send_text(text)

    def send_close(self, code: int = CLOSE_NORMAL) -> None:
        """Queue a close frame carrying `code`; nothing once a close was sent or received."""
        if self._proto.state is State.OPEN:
            self._proto.send_close(code)

    def close_received(self) -> tuple[int, str] | None:
        """(code, reason) of the server's close frame, 1005 when it carried none."""
        rcvd = self._proto.close_rcvd
        return None if rcvd is None else (int(rcvd.code), rcvd.reason)
