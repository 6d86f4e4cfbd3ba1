"""Simulated viewers on raw asyncio protocols: sinks, talkers and tracers.

Why three kinds: almost every simulated viewer is a *sink* — it completes the handshake, answers
pings, and counts frames, bytes and events without decoding JSON, so one generator core can hold
thousands. A *talker* is a sink that also sends requests (chat, hearts) and reads only the
answers to them. A *tracer* decodes everything: it measures end-to-end chat latency from the
send time embedded in the text, checks sequence numbers for gaps and duplicates, and watches
the counters event. All of them add into one `Tally` per generator process, so the hot path
touches a few integer attributes and nothing else.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from loadtest import wsproto
from loadtest.dialects import FAILED, JOINED, Dialect
from loadtest.stats import Histogram

HANDSHAKE, JOINING, OPEN, CLOSING, CLOSED = range(5)


class Tally:
    """Everything the clients of one generator process count, cumulative since the start."""

    def __init__(self) -> None:
        self.attempts = 0
        self.joined = 0
        self.connected = 0
        self.failed = 0
        self.fail_reasons: dict[str, int] = {}
        self.closes: dict[int, int] = {}
        self.frames = 0
        self.bytes = 0
        self.events = 0
        self.chats = 0
        self.pings = 0
        self.sent: dict[str, int] = {}
        self.accepted: dict[str, int] = {}
        self.rejected: dict[str, int] = {}
        self.hearts_accepted = 0
        self.accepted_chat_seqs: list[int] = []
        self.connect_ms = Histogram()
        self.chat_ms = Histogram()
        self.reply_ms = Histogram()
        # tracers
        self.seq_gaps = 0
        self.seq_dups = 0
        self.seq_reorders = 0
        self.tracer_chats = 0
        self.counters_events = 0
        self.counters_max_per_frame = 0
        self.counters_min_gap_ms: float | None = None
        self.last_hearts: int | None = None
        self.protocol_errors = 0
        self.first_attempt_t: float | None = None
        self.last_join_t: float | None = None

    def fail(self, reason: str) -> None:
        self.failed += 1
        self.fail_reasons[reason] = self.fail_reasons.get(reason, 0) + 1

    def closed(self, code: int) -> None:
        self.closes[code] = self.closes.get(code, 0) + 1


class Sink(asyncio.Protocol):
    """A viewer that only counts. `joined` resolves True once in the room, False on failure."""

    def __init__(
        self, tally: Tally, dialect: Dialect, host: str, port: int, room: str, token: str | None
    ) -> None:
        self.tally = tally
        self.dialect = dialect
        self.host = host
        self.port = port
        self.room = room
        self.token = token
        self.state = HANDSHAKE
        self.transport: asyncio.Transport | None = None
        self.ws = wsproto.Client(host, port, dialect.path(room, token))
        self.t0 = time.perf_counter()
        loop = asyncio.get_running_loop()
        self.joined: asyncio.Future[bool] = loop.create_future()
        self.done: asyncio.Future[int] = loop.create_future()
        self.close_code: int | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.ws.data_to_send())

    def data_received(self, data: bytes) -> None:
        self.tally.bytes += len(data)
        try:
            frames = self.ws.feed(data)
        except wsproto.HandshakeError as exc:
            self._fail(f"http_{exc.status}" if exc.status else "bad_handshake")
            return
        except wsproto.ProtocolError as exc:
            # The library has queued a close frame with exc.code (after any pongs it owed).
            self._upgraded()
            self._frames(exc.frames)
            self._flush()
            self.tally.protocol_errors += 1
            if self.state != CLOSED:
                self._record_close(exc.code)
            self._abort("protocol_error")
            return
        if self._upgraded():
            self._frames(frames)
            self._flush()

    def _upgraded(self) -> bool:
        """Leave HANDSHAKE once the server's 101 is accepted; False while it has not come."""
        if self.state == HANDSHAKE:
            if not self.ws.upgraded:
                return False
            self.state = JOINING
        return True

    def _frames(self, frames: list[wsproto.Message]) -> None:
        # Pongs and the echo of a close are the library's; a viewer only counts and reacts.
        for opcode, payload in frames:
            if opcode == wsproto.OP_TEXT:
                self.on_text(payload)
            elif opcode == wsproto.OP_PING:
                self.tally.pings += 1
            elif opcode == wsproto.OP_CLOSE:
                self._on_close()
                return
            elif opcode == wsproto.OP_BINARY:
                self.tally.frames += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self.state == HANDSHAKE and exc is None:
            # A refusal whose body runs to the end of the stream is complete only now.
            try:
                self.ws.feed_eof()
            except wsproto.HandshakeError as err:
                if err.status:
                    self._fail(f"http_{err.status}")
            except wsproto.ProtocolError:
                pass
        if self.state in (HANDSHAKE, JOINING):
            self._fail(f"closed_{self.close_code}" if self.close_code else "reset")
        elif self.state in (OPEN, CLOSING):
            self.tally.connected -= 1
            if self.close_code is None:
                self._record_close(wsproto.CLOSE_ABNORMAL)
        self.state = CLOSED
        if not self.joined.done():
            self.joined.set_result(False)
        if not self.done.done():
            self.done.set_result(self.close_code or wsproto.CLOSE_ABNORMAL)

    # -- frames -----------------------------------------------------------------------------
    def on_text(self, payload: bytes) -> None:
        tally = self.tally
        tally.frames += 1
        if self.state == JOINING:
            self._joining(payload)
            return
        ka = self.dialect.keepalive(payload)
        if ka is not None:
            self.send_text(ka)
            return
        ev, chat = self.dialect.count(payload)
        tally.events += ev
        tally.chats += chat

    def _joining(self, payload: bytes) -> None:
        state, answer = self.dialect.before_join(payload, self.room, self.token)
        if answer is not None:
            self.send_text(answer)
        if state == JOINED:
            self.state = OPEN
            tally = self.tally
            tally.joined += 1
            tally.connected += 1
            tally.connect_ms.add((time.perf_counter() - self.t0) * 1000.0)
            tally.last_join_t = time.time()
            self.on_joined(payload)
            if not self.joined.done():
                self.joined.set_result(True)
        elif state == FAILED:
            self._fail("refused_in_band")

    def on_joined(self, payload: bytes) -> None:
        """Hook for tracers, which want the welcome's sequence number."""

    def _on_close(self) -> None:
        received = self.ws.close_received()
        code = received[0] if received is not None else 1005
        self._record_close(code)
        self._flush()  # the library's echo of the close, unless this viewer closed first
        if self.state == JOINING:
            self._fail(f"closed_{code}")
        elif self.state == OPEN:
            self.state = CLOSING
        if self.transport is not None:
            self.transport.close()

    def _record_close(self, code: int) -> None:
        if self.close_code is None:
            self.close_code = code
            if self.state in (OPEN, CLOSING):
                self.tally.closed(code)

    # -- sending ----------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(data)

    def _flush(self) -> None:
        out = self.ws.data_to_send()
        if out:
            self._write(out)

    def send_text(self, text: str) -> None:
        self.ws.send_text(text.encode())
        self._flush()

    def close(self) -> None:
        """Start a clean close (1000); the server's close frame or a timeout ends it."""
        if self.state == OPEN:
            self.state = CLOSING
            self.ws.send_close(wsproto.CLOSE_NORMAL)
            self._flush()
        elif self.state in (HANDSHAKE, JOINING):
            self._abort("cancelled")

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, reason: str) -> None:
        if self.state in (HANDSHAKE, JOINING):
            self.state = CLOSED
            self.tally.fail(reason)
            if not self.joined.done():
                self.joined.set_result(False)
            if self.transport is not None:
                self.transport.close()

    def _abort(self, reason: str) -> None:
        self._fail(reason)
        if self.transport is not None:
            self.transport.abort()


class Talker(Sink):
    """A sink that also sends requests and reads the answers to them (and nothing else)."""

    def __init__(
        self, tally: Tally, dialect: Dialect, host: str, port: int, room: str, token: str | None
    ) -> None:
        super().__init__(tally, dialect, host, port, room, token)
        self.next_id = 0
        self.pending: dict[int, tuple[str, float, int]] = {}

    def request(self, op: str, fields: dict[str, Any], weight: int = 1) -> bool:
        """Send `op`; False when not in the room. `weight` is what acceptance counts (hearts)."""
        if self.state != OPEN:
            return False
        self.next_id += 1
        rid = self.next_id
        if len(self.pending) < 10000:
            self.pending[rid] = (op, time.perf_counter(), weight)
        self.tally.sent[op] = self.tally.sent.get(op, 0) + 1
        self.send_text(self.dialect.request(rid, op, fields))
        return True

    def on_text(self, payload: bytes) -> None:
        if self.state == OPEN:
            rep = self.dialect.reply(payload)
            if rep is not None:
                self.tally.frames += 1
                self._on_reply(rep.rid, rep.data, rep.error)
                return
        super().on_text(payload)

    def _on_reply(
        self, rid: int, data: dict[str, Any] | None, error: dict[str, Any] | None
    ) -> None:
        tally = self.tally
        entry = self.pending.pop(rid, None)
        op = entry[0] if entry else "?"
        if entry:
            tally.reply_ms.add((time.perf_counter() - entry[1]) * 1000.0)
        if error is not None:
            code = str(error.get("code", "unknown"))
            key = f"{op}:{code}"
            tally.rejected[key] = tally.rejected.get(key, 0) + 1
            return
        tally.accepted[op] = tally.accepted.get(op, 0) + 1
        if data is None:
            return
        if op == "chat":
            seq = data.get("seq")
            if isinstance(seq, int):
                tally.accepted_chat_seqs.append(seq)
        elif op == "heart":
            acc = data.get("accepted")
            if isinstance(acc, bool):
                tally.hearts_accepted += entry[2] if (acc and entry) else 0
            elif isinstance(acc, int):
                tally.hearts_accepted += acc


class Tracer(Sink):
    """A viewer that decodes everything: latency, sequence checks, counters cadence."""

    def __init__(
        self, tally: Tally, dialect: Dialect, host: str, port: int, room: str, token: str | None
    ) -> None:
        super().__init__(tally, dialect, host, port, room, token)
        self.last_seq: int | None = None
        self.max_seq: int | None = None
        self.seen: set[int] = set()
        self.chat_seqs: list[int] = []
        self.first_counters_ts: float | None = None
        self.last_counters_ts: float | None = None
        self.counters_seen = 0
        self.joined_at_ms = 0.0
        self.welcome_seq: int | None = None

    def on_joined(self, payload: bytes) -> None:
        self.joined_at_ms = time.time() * 1000.0
        dec = self.dialect.decode(payload)
        if dec.seq is not None:
            self.last_seq = dec.seq
            self.welcome_seq = dec.seq

    def on_text(self, payload: bytes) -> None:
        if self.state != OPEN:
            super().on_text(payload)
            return
        ka = self.dialect.keepalive(payload)
        if ka is not None:
            self.tally.frames += 1
            self.send_text(ka)
            return
        now_ms = time.time() * 1000.0
        tally = self.tally
        tally.frames += 1
        dec = self.dialect.decode(payload)
        if dec.kind != "events":
            return
        counters_here = 0
        for ev in dec.events:
            tally.events += 1
            kind = ev.get("type")
            seq = ev.get("seq")
            if isinstance(seq, int):
                self._check_seq(seq)
            if kind == "chat":
                tally.chats += 1
                self._on_chat(ev, seq, now_ms)
            elif kind == "counters":
                counters_here += 1
                self._on_counters(ev, now_ms)
        if counters_here > tally.counters_max_per_frame:
            tally.counters_max_per_frame = counters_here

    def _check_seq(self, seq: int) -> None:
        # Duplicates are counted as they come; gaps only at the end (`missing_seqs`), since a
        # server without an ordering guarantee may deliver a late sequence number later.
        seen = self.seen
        if seq in seen:
            self.tally.seq_dups += 1
            return
        if self.max_seq is not None and seq < self.max_seq:
            self.tally.seq_reorders += 1
        if self.welcome_seq is not None and seq <= self.welcome_seq:
            self.tally.seq_dups += 1
            return
        seen.add(seq)
        if self.max_seq is None or seq > self.max_seq:
            self.max_seq = seq

    def missing_seqs(self) -> int:
        """Sequence numbers between the welcome and the highest seen that never arrived."""
        if not self.seen or self.max_seq is None:
            return 0
        base = self.welcome_seq if self.welcome_seq is not None else min(self.seen) - 1
        return (self.max_seq - base) - len(self.seen)

    def _on_chat(self, ev: dict[str, Any], seq: object, now_ms: float) -> None:
        tally = self.tally
        tally.tracer_chats += 1
        if isinstance(seq, int):
            self.chat_seqs.append(seq)
        data = ev.get("data")
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.startswith("t="):
            return
        sent = text[2 : text.find(" ")] if " " in text else text[2:]
        try:
            tally.chat_ms.add(now_ms - float(sent))
        except ValueError:
            pass

    def _on_counters(self, ev: dict[str, Any], now_ms: float) -> None:
        tally = self.tally
        tally.counters_events += 1
        ts = ev.get("ts")
        t = float(ts) if isinstance(ts, int | float) else now_ms
        if self.last_counters_ts is not None:
            gap = t - self.last_counters_ts
            if tally.counters_min_gap_ms is None or gap < tally.counters_min_gap_ms:
                tally.counters_min_gap_ms = gap
        else:
            self.first_counters_ts = t
        self.last_counters_ts = t
        self.counters_seen += 1
        data = ev.get("data")
        if isinstance(data, dict):
            hearts = data.get("hearts")
            if isinstance(hearts, int):
                tally.last_hearts = hearts if tally.last_hearts is None else max(
                    tally.last_hearts, hearts
                )


async def open_client(
    cls: type[Sink],
    tally: Tally,
    dialect: Dialect,
    host: str,
    port: int,
    room: str,
    token: str | None,
    limit_s: float,
) -> Sink | None:
    """Connect one client and wait until it is in the room; None (and a counted failure) if not."""
    loop = asyncio.get_running_loop()
    tally.attempts += 1
    if tally.first_attempt_t is None:
        tally.first_attempt_t = time.time()
    t0 = time.perf_counter()
    holder: list[Sink] = []

    def factory() -> Sink:
        c = cls(tally, dialect, host, port, room, token)
        c.t0 = t0
        holder.append(c)
        return c

    try:
        async with asyncio.timeout(limit_s):
            await loop.create_connection(factory, host, port)
            client = holder[0]
            ok = await client.joined
    except TimeoutError:
        if holder:
            holder[0]._fail("timeout")
            holder[0].abort()
        else:
            tally.fail("connect_timeout")
        return None
    except ConnectionRefusedError:
        tally.fail("refused")
        return None
    except OSError as exc:
        tally.fail(f"os_{exc.errno}")
        return None
    return client if ok else None
