"""Every room websocket, from the 101 on: one protocol object, whichever code read the request.

A fresh connection's upgrade is read by the front door (``web.front``), which writes the 101 and
hands the transport to a ``RoomSocket``. An upgrade that arrives on a keep-alive connection that
already carried HTTP is read by aiohttp; its handler (``web.ws``) writes the 101 and feeds the
bytes that follow to a ``RoomSocket`` too. So the rules of a room socket exist once, here:

- **auth**: credentials in the query, or a first ``auth`` frame within ``ws.auth_timeout_ms``;
- **flood**: every client frame counts (text, binary, ping, pong, close, each fragment), over
  one-second windows; more than ``ws.max_frames_per_s`` closes with 4029;
- **requests** are handled one at a time, in order, by one task that exists only while some are
  queued; the queue holds at most ``ws.max_queued_requests``, and reading pauses while it is full
  (TCP back-pressure instead of an ever-growing list);
- **kick and close**: our close frame, then the client's answer or an abort after the grace
  period; a ban or a shutdown cuts the socket off at once (``Hub.kick``).

Why a protocol object rather than a task per socket: an idle viewer is most of a live room, and
under aiohttp each one kept a parsed request, a request handler with its parser, a websocket
reader and writer and a handler task parked in ``receive()`` (about 13 KB, measured). Here an
idle viewer is the transport, this object, its frame reader, the ``Conn`` and the ``Session``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from live_server.auth import Identity
from live_server.container import Services
from live_server.errors import CloseCode
from live_server.protocol import error_frame
from live_server.realtime.conn import Conn
from live_server.realtime.frames import close_frame, pong_frame, text_frame
from live_server.web import gateway
from live_server.web.gateway import Position, Refused
from live_server.web.session import Session
from live_server.web.wsproto import (
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Fault,
    FrameReader,
    close_payload,
)

_AUTH, _JOINING, _OPEN, _CLOSING = 0, 1, 2, 3
_NO_QUERY: Mapping[str, str] = {}


class RoomSocket(asyncio.Protocol):
    """One room websocket. ``start`` is called right after the 101 was written, with the bytes
    that came after the request head; ``on_gone`` is called once, when the socket is done."""

    __slots__ = (
        "close_code",
        "conn",
        "count",
        "finished",
        "inbox",
        "lost",
        "max_queued",
        "on_gone",
        "paused",
        "query",
        "reader",
        "room_id",
        "s",
        "session",
        "state",
        "task",
        "timer",
        "transport",
        "window",
    )

    def __init__(self, s: Services, room_id: str, query: Mapping[str, str],
                 on_gone: Callable[[RoomSocket], None]) -> None:
        self.s = s
        self.room_id = room_id
        self.query = query
        self.transport: Any = None
        self.reader = FrameReader(s.settings.ws.max_frame_bytes)
        self.state = _AUTH
        self.session: Session | None = None
        self.conn: Conn | None = None
        self.inbox: deque[bytes] | None = None
        self.max_queued = s.settings.ws.max_queued_requests
        self.paused = False
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.window = 0.0
        self.count = 0
        self.lost = False
        self.close_code: int | None = None
        self.finished = False
        self.on_gone = on_gone

    # Start and input ------------------------------------------------------------------------

    def start(self, transport: Any, rest: bytes) -> None:
        self.transport = transport
        gateway.tune_socket(self.s, transport)
        try:
            found = gateway.from_query(self.s, self.query)
        except Refused as refused:
            self._refuse(refused)
            return
        if found is None:
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(self.s.settings.ws.auth_timeout_ms / 1000,
                                         self._auth_timeout)
        else:
            self._join(*found)
        if rest:
            self.data_received(rest)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        read_before = self.reader.frames
        try:
            messages = self.reader.feed(data)
        except Fault as fault:
            if self.state == _CLOSING:
                self.transport.close()
            else:
                self.close(fault.code, fault.reason)
            return
        frames = self.reader.frames - read_before  # fragments count, not only whole messages
        if not frames:
            return
        now = asyncio.get_running_loop().time()
        if self.conn is not None:
            self.conn.seen_at = now
        if self.state != _CLOSING and self._flooded(frames, now):
            self.close(CloseCode.FLOOD, "flood")
            return
        for op, payload in messages:
            if self.state == _CLOSING:
                if op == OP_CLOSE:  # the answer to our close: done
                    self.transport.close()
                    return
            elif op == OP_TEXT:
                self._text(payload)
            elif op == OP_PING:
                self._send(pong_frame(payload))
            elif op == OP_CLOSE:
                self._client_close(payload)
                return
            elif op == OP_PONG:
                pass  # seen_at is all a pong is for
            elif self.state == _AUTH:  # binary first frame
                self._refuse(gateway.not_text_first())
            else:
                self.close(CloseCode.BINARY, "binary_not_supported")

    def _flooded(self, frames: int, now: float) -> bool:
        """Count client frames in the current one-second window; True past the limit."""
        if now - self.window >= 1.0:
            self.window, self.count = now, 0
        self.count += frames
        return self.count > self.s.settings.ws.max_frames_per_s

    def _text(self, payload: bytes) -> None:
        if self.state == _AUTH:
            self._cancel_timer()
            try:
                who, position = gateway.from_auth_frame(self.s, payload, self.query)
            except Refused as refused:
                self._refuse(refused)
                return
            self._join(who, position)
            return
        inbox = self.inbox
        if inbox is None:
            inbox = self.inbox = deque()
        inbox.append(payload)
        if len(inbox) >= self.max_queued and not self.paused:
            self.paused = True
            self.transport.pause_reading()
            self.s.metrics.read_pauses.inc()
        if self.state == _OPEN and self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._drain())

    def _resume(self) -> None:
        if self.paused:
            self.paused = False
            if not self.transport.is_closing():
                self.transport.resume_reading()

    # Join and requests ----------------------------------------------------------------------

    def _join(self, who: Identity, position: Position) -> None:
        self.state = _JOINING
        self.query = _NO_QUERY  # the token and the rest are read: keep no copy per viewer
        self.task = asyncio.get_running_loop().create_task(self._open(who, position))

    async def _open(self, who: Identity, position: Position) -> None:
        s = self.s
        try:
            room = await gateway.admit(s, self.room_id, who)
            if self.lost:
                return
            session = gateway.session_for(s, who, room, self.transport)
            self.session, self.conn = session, session.conn
            session.conn.on_kick = self._kicked
            gateway.count_join(s)
            await session.open(position.since, position.epoch)
            if self.state == _JOINING:
                self.state = _OPEN
        except gateway.JOIN_FAILURES as exc:
            self._refuse(gateway.refusal(exc))
        finally:
            self.task = None
            if self.lost:
                self._finish()
            elif self.state == _OPEN and self.inbox:
                self.task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        """The viewer's requests one at a time, in the order they came; reading resumes once
        the queue is down to half its bound."""
        session, inbox = self.session, self.inbox
        assert session is not None and inbox is not None
        hub = self.s.node.hub
        conn = session.conn
        try:
            while inbox and self.state == _OPEN and not conn.closed:
                reply = await session.handle(inbox.popleft())
                hub.send(conn, text_frame(reply))
                if self.paused and len(inbox) <= self.max_queued // 2:
                    self._resume()
        finally:
            self.task = None

    def _send(self, frame: bytes) -> None:
        """A frame this socket writes itself (a pong, a refusal), under the hub's buffer limit
        like everything the hub writes: a client that pings and never reads is a slow
        consumer, with or without a ``Conn`` yet. Only close frames are written directly: one
        per socket, and an abort follows it."""
        hub = self.s.node.hub
        if self.conn is not None:
            hub.send(self.conn, frame)
        elif hub.write(self.transport, frame):
            self.state = _CLOSING
            self.close_code = CloseCode.SLOW_CONSUMER
            self._cancel_timer()
            hub.cut_slow(self.transport)

    # Closing --------------------------------------------------------------------------------

    def close(self, code: int, reason: str) -> None:
        """Send our close frame; the client answers with its own, or is cut off after the
        grace period. Reading resumes, so that answer can arrive."""
        if self.state == _CLOSING or self.transport.is_closing():
            return
        self.state = _CLOSING
        self.close_code = code
        if self.conn is not None and self.conn.close_code is None:
            self.conn.close_code = code
        self._cancel_timer()
        self._resume()
        self.transport.write(close_frame(code, reason))
        self.timer = asyncio.get_running_loop().call_later(
            self.s.settings.ws.slow_close_grace_ms / 1000, self.transport.abort)

    def _refuse(self, refused: Refused) -> None:
        """An error frame with id null, then the close code that goes with it."""
        gateway.count_refusal(self.s, refused)
        if self.state != _CLOSING:
            self._send(text_frame(error_frame(None, refused.err)))
        self.close(refused.close_code, refused.reason)

    def _kicked(self, code: int, reason: str) -> None:
        """Ban or shutdown: close, and let the shutdown wait for the socket to be gone."""
        conn = self.conn
        if conn is not None and conn.closing_task is None:
            conn.close_code = code
            conn.closing_task = asyncio.get_running_loop().create_future()
            self.close(code, reason)
            if self.lost:
                conn.closing_task.set_result(None)

    def _client_close(self, payload: bytes) -> None:
        try:
            code, _reason = close_payload(payload)
        except Fault as fault:
            self.close(fault.code, fault.reason)
            return
        self.state = _CLOSING
        self.close_code = code
        self.transport.write(close_frame(code) if code != 1005 else b"\x88\x00")
        self.transport.close()
        # closing waits for the buffer to drain, which a client that does not read never lets
        self._cancel_timer()
        self.timer = asyncio.get_running_loop().call_later(
            self.s.settings.ws.slow_close_grace_ms / 1000, self.transport.abort)

    def _auth_timeout(self) -> None:
        self.timer = None
        if self.state == _AUTH:
            self._refuse(gateway.auth_timeout())

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._cancel_timer()
        gone = self.conn.closing_task if self.conn is not None else None
        if gone is not None and not gone.done():
            gone.set_result(None)
        if self.state != _JOINING or self.task is None:
            self._finish()

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        if self.conn is not None:
            self.conn.closed = True
        gateway.count_leave(self.s, self.conn, self.close_code)
        self.on_gone(self)
