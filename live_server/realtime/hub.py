"""The local hub: room → sockets in this process, per-tick batching, fan-out, slow consumers.

Events reach the hub from the broker (one pub/sub subscription per room with local viewers). Each
room collects events into a batch; at every tick (or at once for a guaranteed event) the batch is
encoded once and the same bytes are written to every socket of the room. Nothing in the fan-out
awaits: a socket whose unsent bytes pass the limit is dropped as a slow consumer, and nobody else
waits for it. Counters and join notices are coalesced per room and ride with a tick flush at most
once per ``counters_interval`` (less often in rooms so big that they would cost more than
``max_notice_writes_per_s`` socket writes a second). In a room over ``chat_sample_above``
viewers, each flush sends a sample of its chat messages (``realtime/sampling.py``), the same
for every socket, and echoes a sampled-out message to its sender's sockets.

The hub applies one policy of its own: a ``user_banned`` event closes the banned user's sockets
in that room. Other reactions to a room's events (caches the services keep) are
``RoomEventListener``s given to the constructor. What the events say is gone (a closed flash
sale, an empty red packet) goes to the process's ``GoneRecord`` (``realtime/gone.py``) before
the room's flush is scheduled, and the hub tells it when it starts and stops following a room
and when a room resynchronises.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import orjson

from live_server import events as room_events
from live_server.errors import CloseCode
from live_server.protocol import GUARANTEED_EVENTS, LATEST_EVENTS
from live_server.realtime.conn import Conn, Transport
from live_server.realtime.frames import PING_FRAME, batch_payload, close_frame, text_frame
from live_server.realtime.gone import GONE_EVENTS, GoneRecord
from live_server.realtime.sampling import Candidate, ChatBudget, choose
from live_server.store.presence import TickReport

log = logging.getLogger(__name__)

HUGE_ROOM_REPORT_S = 1.0  # a sampled room's tick reports, at most this often (take_reports)


class RoomEventListener(Protocol):
    """Told of each event of a room this process serves, decoded once, except the frequent
    ones nobody reacts to (counters, joins, chat) and events addressed to one user. Called
    inside the fan-out: it must not block."""

    def note_room_event(self, room_id: str, ev: dict[str, Any]) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class HubStats:
    """Callbacks into metrics, so the hub does not depend on prometheus."""

    frames: Callable[[int, int, int], None]  # (frames written, bytes written, events delivered)
    slow_consumer: Callable[[], None]
    received: Callable[[], None]  # one pub/sub message taken in
    sampled_out: Callable[[int], None] = lambda n: None  # chat messages left out of a flush


@dataclasses.dataclass(eq=False, slots=True)
class LocalRoom:
    id: str
    id_bytes: bytes
    conns: set[Conn] = dataclasses.field(default_factory=set)
    # user id → their sockets in the fan-out set (events addressed to one user, bans)
    by_user: dict[str, set[Conn]] = dataclasses.field(default_factory=dict)
    joining: set[Conn] = dataclasses.field(default_factory=set)
    batch: list[bytes] = dataclasses.field(default_factory=list)
    batch_events: int = 0
    chats: list[Candidate] = dataclasses.field(default_factory=list)  # the batch's chat
    chat_budget: ChatBudget | None = None  # set once the room is sampled
    counters: bytes | None = None
    join_total: int = 0
    join_shown: list[str] = dataclasses.field(default_factory=list)
    joins_ts: int = 0
    notices_sent_at: float = -1e9  # loop time counters/joins last went out
    last_seq: int = 0
    # the last sequenced event delivered here, to tell after a pub/sub outage whether the store
    # still holds it (a store that lost writes reuses seqs for other events)
    last_event: tuple[int, bytes] | None = None
    latest: dict[str, bytes] = dataclasses.field(default_factory=dict)  # LATEST_EVENTS
    # per-tick report for the presence/counters flush
    hearts: int = 0
    fans: dict[str, tuple[int, str]] = dataclasses.field(default_factory=dict)
    heart_users: dict[str, int] = dataclasses.field(default_factory=dict)
    join_count: int = 0
    join_names: list[str] = dataclasses.field(default_factory=list)
    dirty: bool = True
    online_total: int = 0
    reported_at: float = -1e18  # time.monotonic() of this room's last tick report

    @property
    def local_online(self) -> int:
        return len(self.conns) + len(self.joining)


class Hub:
    def __init__(self, *, max_out_buffer: int, slow_close_grace_ms: int, join_names: int,
                 max_batch_events: int, stats: HubStats, counters_interval_ms: int = 0,
                 max_notice_writes_per_s: int = 10_000,
                 listeners: Sequence[RoomEventListener] = (),
                 gone: GoneRecord | None = None, chat_sample_above: int = 0,
                 chat_sample_per_s: float = 10.0, rng: random.Random | None = None) -> None:
        self.counters_interval_s = counters_interval_ms / 1000
        self.max_notice_writes = max_notice_writes_per_s
        self.rooms: dict[str, LocalRoom] = {}
        self.max_out_buffer = max_out_buffer
        self.slow_close_grace_s = slow_close_grace_ms / 1000
        self.join_names = join_names
        self.max_batch_events = max_batch_events
        self.stats = stats
        self.listeners = tuple(listeners)
        # what the rooms' events say is gone (closed sales, empty packets): the buy and grab
        # paths refuse from it without a Valkey round trip
        self.gone = gone if gone is not None else GoneRecord()
        # rooms with more viewers than this (0: never) get a sample of their chat
        self.chat_sample_above = chat_sample_above
        self.chat_sample_per_s = chat_sample_per_s
        self.rng = rng if rng is not None else random.Random()
        self._flush_soon: set[str] = set()
        self._flush_handle: asyncio.Handle | None = None
        # rooms that emptied and must report "0 here" once before being forgotten, with what
        # their last viewers did since the last tick (acknowledged hearts are never dropped)
        self.departed: dict[str, TickReport] = {}

    # Membership --------------------------------------------------------------------------

    def attach(self, conn: Conn) -> bool:
        """Add a joining connection; events for it are held until ``activate``.
        Returns whether the room is new here (the process must subscribe to it now)."""
        room = self.rooms.get(conn.room_id)
        first = room is None
        if room is None:
            room = LocalRoom(id=conn.room_id, id_bytes=conn.room_id.encode())
            self.rooms[conn.room_id] = room
            self.gone.follow(conn.room_id)
            gone = self.departed.pop(conn.room_id, None)
            if gone is not None:  # back before the tick: its pending report is the room's again
                _restore(room, gone)
        room.joining.add(conn)
        room.dirty = True
        return first

    def activate(self, conn: Conn, upto_seq: int, first_frames: list[bytes]) -> None:
        """Send the welcome (and any recovered events), then what was held with a seq above
        ``upto_seq``; from now on the connection takes part in the fan-out."""
        room = self.rooms.get(conn.room_id)
        if room is None or conn not in room.joining or conn.closed:
            return
        room.joining.discard(conn)
        # The heartbeat neither pinged it while joining nor may judge it by that time: a join
        # slower than the dead-after period would be cut off at the next round.
        conn.seen_at = asyncio.get_running_loop().time()
        # What this connection got from the store is what the process has delivered too: a
        # later gap fill (pub/sub reconnect) must start after it, not repeat it.
        room.last_seq = max(room.last_seq, upto_seq)
        # The room's pending batch may hold events this connection already has (in its
        # snapshot or recovery); send that batch to the others now, and give this connection
        # exactly what it was held, above upto_seq.
        self.flush(room)
        later = [raw for seq, raw in conn.held if seq is None or seq > upto_seq]
        conn.held.clear()
        for frame in first_frames:
            self.send(conn, frame)
        if later:
            self.send(conn, text_frame(batch_payload(room.id_bytes, later)), len(later))
        if not conn.closed:
            room.conns.add(conn)
            if conn.user_id is not None:
                room.by_user.setdefault(conn.user_id, set()).add(conn)

    def detach(self, conn: Conn) -> bool:
        """Remove a connection; returns True when the room has no local sockets left (the caller
        unsubscribes)."""
        room = self.rooms.get(conn.room_id)
        if room is None:
            return False
        _leave_fanout(room, conn)
        room.joining.discard(conn)
        room.dirty = True
        if not room.conns and not room.joining:
            del self.rooms[conn.room_id]
            self.departed[conn.room_id] = _take_report(room)
            self.gone.unfollow(conn.room_id)
            return True
        return False

    def note_join(self, room_id: str, name: str | None) -> None:
        room = self.rooms.get(room_id)
        if room is None:
            return
        room.join_count += 1
        if name and len(room.join_names) < self.join_names:
            room.join_names.append(name)
        room.dirty = True

    def add_hearts(self, room_id: str, user_id: str, name: str, count: int, score: int) -> None:
        room = self.rooms.get(room_id)
        if room is None:
            return
        room.hearts += count
        prev = room.fans.get(user_id, (0, name))[0]
        room.fans[user_id] = (prev + score, name)
        room.heart_users[user_id] = room.heart_users.get(user_id, 0) + count
        room.dirty = True

    def conns_of(self, room_id: str, user_id: str) -> list[Conn]:
        room = self.rooms.get(room_id)
        if room is None:
            return []
        joining = [c for c in room.joining if c.user_id == user_id]
        return [*room.by_user.get(user_id, ()), *joining]

    # Incoming events ---------------------------------------------------------------------

    def deliver(self, room_id: str, raw: bytes) -> None:
        """One event from pub/sub (decoded once per process, never per socket)."""
        self.stats.received()
        room = self.rooms.get(room_id)
        if room is None:
            return
        ev = orjson.loads(raw)
        kind = ev.get("type")
        seq = ev.get("seq")
        to = ev.get("to")
        if to is not None:
            # Addressed to one user (their order changed): their sockets only, at once; a
            # joining socket of theirs reads the state over HTTP anyway.
            mine = room.by_user.get(str(to))
            if mine:  # usually the buyer is connected to one process, if any
                frame = text_frame(batch_payload(room.id_bytes, [raw]))
                for conn in list(mine):
                    self.send(conn, frame, 1)
            return
        if kind == "counters":
            room.counters = raw
            data = ev.get("data") or {}
            room.online_total = int(data.get("online", room.online_total))
        elif kind in LATEST_EVENTS:
            # stock left, a coupon's copies left: keep the newest per subject; it rides with
            # the next tick
            data = ev.get("data") or {}
            subject = ":".join(str(data.get(name)) for name in LATEST_EVENTS[kind])
            room.latest[f"{kind}:{subject}"] = raw
            if kind in GONE_EVENTS:
                self.gone.note_event(room_id, ev)
        elif kind == "joins":
            # Several processes and ticks publish join notices; sum them until they go out.
            data = ev.get("data") or {}
            room.join_total += int(data.get("count", 0))
            for name in data.get("names", []):
                if len(room.join_shown) < self.join_names:
                    room.join_shown.append(str(name))
            room.joins_ts = int(ev.get("ts", 0))
        else:
            if isinstance(seq, int):
                if seq <= room.last_seq:
                    return  # already delivered (a resync overlapped the live stream)
                room.last_seq = seq
                room.last_event = (seq, raw)
            if kind in GONE_EVENTS:
                # before the room's flush is scheduled: the buys and grabs this refuses are
                # answered first (a sold-out sale's thousands of losers), then the room hears it
                self.gone.note_event(room_id, ev)
            room.batch.append(raw)
            room.batch_events += 1
            if kind in GUARANTEED_EVENTS or room.batch_events >= self.max_batch_events:
                self._schedule_flush(room_id)
            if kind == "chat":
                room.dirty = True  # the chat total changed: report counters this tick
                room.chats.append(_candidate(len(room.batch) - 1, ev))
        for conn in room.joining:
            conn.held.append((seq if isinstance(seq, int) else None, raw))
        if kind in ("counters", "joins", "chat"):
            return
        if kind == "user_banned":
            self._close_banned(room_id, (ev.get("data") or {}).get("user_id"))
        for listener in self.listeners:
            listener.note_room_event(room_id, ev)

    def _close_banned(self, room_id: str, user_id: object) -> None:
        """A user banned from a room loses their sockets in it, here and in every process
        serving the room (each gets the event)."""
        for conn in self.conns_of(room_id, str(user_id)):
            self.kick(conn, CloseCode.BANNED, "banned")

    def _schedule_flush(self, room_id: str) -> None:
        self._flush_soon.add(room_id)
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush_urgent)

    def _flush_urgent(self) -> None:
        self._flush_handle = None
        rooms, self._flush_soon = self._flush_soon, set()
        for room_id in rooms:
            room = self.rooms.get(room_id)
            if room is not None:
                self.flush(room)

    # Fan-out ------------------------------------------------------------------------------

    def tick(self) -> None:
        now = asyncio.get_running_loop().time()
        for room in list(self.rooms.values()):
            # A notice costs one write per socket: big rooms get them less often, so that
            # notices never cost more than max_notice_writes_per_s writes in a room.
            interval = max(self.counters_interval_s, len(room.conns) / self.max_notice_writes)
            notices_due = (room.counters is not None or room.join_total > 0) and (
                now - room.notices_sent_at >= interval)
            if room.latest:
                room.batch.extend(room.latest.values())
                room.latest.clear()
            if room.batch or notices_due:
                self.flush(room, with_notices=notices_due, now=now)

    def flush(self, room: LocalRoom, *, with_notices: bool = False, now: float = 0.0) -> None:
        """Send the pending batch; counters and join notices ride along only when due, so a
        big room sees them at most once per ``counters_interval`` however busy it is."""
        events = room.batch
        chats, room.chats = room.chats, []
        own: dict[str, set[int]] = {}
        if chats and self._sampled(room):
            events, own = self._sample(room, events, chats)
        tail: list[bytes] = []
        if with_notices:
            if room.join_total:
                tail.append(
                    room_events.joins(room.join_total, room.join_shown, room.joins_ts).body)
                room.join_total, room.join_shown = 0, []
            if room.counters is not None:
                tail.append(room.counters)
            room.counters = None
            room.notices_sent_at = now
        batch = room.batch
        room.batch, room.batch_events = [], 0
        events.extend(tail)
        # A sender whose message was sampled out gets the room's events with theirs in place
        # (in seq order: a client skips a seq below one it has seen).
        echo: dict[Conn, tuple[bytes, int]] = {}
        for uid, mine in own.items():
            theirs = [raw for i, raw in enumerate(batch) if i in mine] + tail
            frame = text_frame(batch_payload(room.id_bytes, theirs))
            for conn in room.by_user.get(uid, ()):
                echo[conn] = (frame, len(theirs))
        if events:
            self._write_all(room, text_frame(batch_payload(room.id_bytes, events)),
                            len(events), echo)
        for conn, (frame, n_events) in echo.items():
            self.send(conn, frame, n_events)

    def _sampled(self, room: LocalRoom) -> bool:
        """Whether the room is big enough to sample. The room-wide count (from the counters)
        decides, so a viewer's chat does not depend on how the room is spread over processes;
        this process's own sockets count too, before the first counters arrive."""
        above = self.chat_sample_above
        return above > 0 and max(room.online_total, room.local_online) > above

    def _sample(self, room: LocalRoom, batch: list[bytes],
                chats: list[Candidate]) -> tuple[list[bytes], dict[str, set[int]]]:
        """The batch without its sampled-out chat, and per sender the indices of the batch
        their sockets get (the kept ones and their own)."""
        now = asyncio.get_running_loop().time()
        if room.chat_budget is None:
            room.chat_budget = ChatBudget(self.chat_sample_per_s, now)
        priority = sum(1 for c in chats if c.priority)
        allowed = room.chat_budget.allow(now, priority, len(chats) - priority)
        choice = choose(chats, allowed, self.rng)
        if not choice.dropped:
            return batch, {}
        self.stats.sampled_out(len(choice.dropped))
        gone = {c.index for c in choice.dropped}
        own: dict[str, set[int]] = {}
        for c in choice.dropped:
            if c.user_id in room.by_user:
                own.setdefault(c.user_id, set()).add(c.index)
        keep = set(range(len(batch))) - gone
        for mine in own.values():
            mine |= keep
        return [raw for i, raw in enumerate(batch) if i not in gone], own

    def _write_all(self, room: LocalRoom, frame: bytes, n_events: int,
                   skip: dict[Conn, tuple[bytes, int]]) -> None:
        # The hot loop: one synchronous write of the same bytes per socket, nothing awaited.
        limit = self.max_out_buffer
        written = 0
        slow: list[Conn] = []
        for conn in room.conns:
            transport = conn.transport
            if transport.is_closing() or (skip and conn in skip):
                continue
            transport.write(frame)
            written += 1
            if transport.get_write_buffer_size() > limit:
                slow.append(conn)
        for conn in slow:
            self.drop_slow(conn)
        if written:
            self.stats.frames(written, written * len(frame), written * n_events)

    def send(self, conn: Conn, frame: bytes, n_events: int = 0) -> None:
        """One frame to one connection (a welcome, a reply, a pong), whether or not it is in a
        room's fan-out yet; past ``max_out_buffer`` unsent bytes it is dropped as a slow
        consumer, like a socket the fan-out filled."""
        if not conn.closed and self.write(conn.transport, frame, n_events):
            self.drop_slow(conn)

    def write(self, transport: Transport, frame: bytes, n_events: int = 0) -> bool:
        """Write a frame unless the transport is closing; True when the unsent bytes are now
        past the limit (the caller drops the socket: ``drop_slow``, or ``cut_slow`` for a
        socket that has no ``Conn`` yet)."""
        if transport.is_closing():
            return False
        transport.write(frame)
        self.stats.frames(1, len(frame), n_events)
        return transport.get_write_buffer_size() > self.max_out_buffer

    def drop_slow(self, conn: Conn) -> None:
        """Out of its room now, nothing more written to it but the close frame (``cut_slow``)."""
        room = self.rooms.get(conn.room_id)
        if room is not None:
            _cut_off(room, conn)
        conn.closed = True
        conn.close_code = CloseCode.SLOW_CONSUMER
        self.cut_slow(conn.transport)

    def cut_slow(self, transport: Transport) -> None:
        """The 4008 close frame is queued behind what the client has not read yet and the
        transport closes once that is flushed; after the grace period it is aborted whatever
        its state. A closing transport whose client never reads stays open with its whole
        buffer (closing waits for the flush), so "closing" is no reason to spare it."""
        self.stats.slow_consumer()
        with contextlib.suppress(Exception):
            transport.write(close_frame(CloseCode.SLOW_CONSUMER, "slow_consumer"))
            transport.close()
        asyncio.get_running_loop().call_later(self.slow_close_grace_s, transport.abort)

    def ping_all(self, now: float, dead_after: float) -> None:
        """One heartbeat round for the whole process (instead of a timer per socket): abort
        the sockets nothing was heard from for ``dead_after`` seconds, ping the others."""
        limit = self.max_out_buffer
        for room in list(self.rooms.values()):
            for conn in list(room.conns):
                transport = conn.transport
                if now - conn.seen_at > dead_after:
                    _cut_off(room, conn)
                    conn.close_code = 1006  # no close frame: the peer is gone
                    transport.abort()
                elif not transport.is_closing():
                    transport.write(PING_FRAME)  # not counted in the frame metrics
                    if transport.get_write_buffer_size() > limit:
                        self.drop_slow(conn)

    def resync(self, room_id: str, seq: int) -> int:
        """The room's stream is not the one this process followed (the store lost writes, or
        pub/sub was down longer than the history reaches): every socket of the room is closed
        with 4010 ``resync`` and reconnects (``since`` with its ``epoch``: a new snapshot), and
        the process follows the stream from ``seq`` on. Returns how many were closed."""
        room = self.rooms.get(room_id)
        if room is None:
            return 0
        conns = [*room.conns, *room.joining]
        for conn in conns:
            self.kick(conn, CloseCode.RESYNC, "resync")
        room.batch.clear()
        room.chats.clear()
        room.batch_events = 0
        room.last_seq, room.last_event = seq, None
        # what its events said may be what the store lost: known again from new events only
        self.gone.forget_room(room_id)
        self.gone.follow(room_id)
        return len(conns)

    def kick(self, conn: Conn, code: int, reason: str) -> None:
        """Ask the connection's handler to close it with ``code`` (bans, shutdown). The hub
        writes nothing more to it after the close frame: no batch, no reply, and no welcome if
        it was still joining."""
        if conn.closed:
            return
        room = self.rooms.get(conn.room_id)
        if room is not None:
            _cut_off(room, conn)
        if conn.on_kick is not None:
            conn.on_kick(code, reason)

    # Per-tick counters --------------------------------------------------------------------

    def take_reports(self, everything: bool, now: float = 0.0) -> dict[str, TickReport]:
        """What changed since the last call, per room, and reset it. ``everything`` also reports
        quiet rooms (the periodic presence refresh). A sampled (huge) room reports at most once
        every ``HUGE_ROOM_REPORT_S``: every process serving it reports, and each report re-adds
        every process's count on the room's shard, so per tick that costs the shard in the
        square of the processes (docs/CAPACITY.md, scenario A); its viewers see counters about
        once a second anyway. What it gathers meanwhile (hearts, joins, scores) waits in the
        room and goes with the next report."""
        reports: dict[str, TickReport] = {}
        for room in self.rooms.values():
            if not (room.dirty or everything):
                continue
            if (not everything and now - room.reported_at < HUGE_ROOM_REPORT_S
                    and self._sampled(room)):
                continue
            room.reported_at = now
            reports[room.id] = _take_report(room)
        reports.update(self.departed)  # a departed room has no entry in ``rooms``
        self.departed = {}
        return reports

    def restore_reports(self, reports: dict[str, TickReport]) -> None:
        """A failed flush puts hearts and scores back, so a Valkey hiccup loses none."""
        for room_id, rep in reports.items():
            room = self.rooms.get(room_id)
            if room is None:  # gone since: its "0 here" report carries these too
                gone = self.departed.setdefault(room_id, TickReport(online=0))
                _add_pending(gone, rep)
                continue
            _restore(room, rep)

    @property
    def connection_count(self) -> int:
        return sum(r.local_online for r in self.rooms.values())

    @property
    def room_count(self) -> int:
        """Rooms with at least one socket in this process."""
        return len(self.rooms)

    def busiest_rooms(self, limit: int) -> dict[str, int]:
        """The ``limit`` rooms served here with the most viewers online (across every
        process, as the last counters said): room id → online."""
        top = sorted(self.rooms.values(), key=lambda r: r.online_total, reverse=True)
        return {r.id: r.online_total for r in top[:limit]}

    def all_conns(self) -> list[Conn]:
        return [c for r in self.rooms.values() for c in (*r.conns, *r.joining)]


def _candidate(index: int, ev: dict[str, Any]) -> Candidate:
    """A chat event's sender, and whether it always passes sampling: the token's role as the
    message carries it (``creator`` or ``ops``; the hub does not know each room's creator, so a
    creator account's messages pass in any room, and creators are few)."""
    user = (ev.get("data") or {}).get("user") or {}
    return Candidate(index=index, user_id=str(user.get("id")),
                     priority=user.get("role") in ("creator", "ops"))


def _take_report(room: LocalRoom) -> TickReport:
    """The room's report for this tick; its pending hearts, joins and scores start again."""
    report = TickReport(online=room.local_online, hearts=room.hearts, joins=room.join_count,
                        join_names=room.join_names, fans=room.fans,
                        heart_users=room.heart_users)
    room.hearts, room.join_count, room.join_names, room.fans = 0, 0, [], {}
    room.heart_users = {}
    room.dirty = False
    return report


def _add_pending(into: LocalRoom | TickReport, rep: TickReport) -> None:
    """Add a report's hearts, scores and heart senders to a room's pending ones (or another
    report's): what was acknowledged is reported once, later rather than never."""
    into.hearts += rep.hearts
    for uid, (score, name) in rep.fans.items():
        into.fans[uid] = (into.fans.get(uid, (0, name))[0] + score, name)
    for uid, count in rep.heart_users.items():
        into.heart_users[uid] = into.heart_users.get(uid, 0) + count


def _restore(room: LocalRoom, rep: TickReport) -> None:
    _add_pending(room, rep)
    room.dirty = True


def _cut_off(room: LocalRoom, conn: Conn) -> None:
    """Nothing more is written to ``conn``: out of the fan-out, not joining any more."""
    _leave_fanout(room, conn)
    room.joining.discard(conn)
    room.dirty = True
    conn.closed = True


def _leave_fanout(room: LocalRoom, conn: Conn) -> None:
    room.conns.discard(conn)
    if conn.user_id is not None:
        mine = room.by_user.get(conn.user_id)
        if mine is not None:
            mine.discard(conn)
            if not mine:
                del room.by_user[conn.user_id]
