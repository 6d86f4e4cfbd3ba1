"""This process's part of the real-time system: joins and leaves, the tick, presence reports.

It ties the hub (local sockets) to the broker (pub/sub) and the store (history, counters). One
subscription per room per process: taken when the first local viewer arrives, dropped when the
last one leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from live_server import logs
from live_server.protocol import Json, now_ms
from live_server.realtime.broker import Broker
from live_server.realtime.conn import Conn
from live_server.realtime.hub import Hub
from live_server.realtime.notices import Notices
from live_server.store.presence import PresenceStore, TickReport
from live_server.store.rooms import RoomStore

log = logging.getLogger(__name__)


def new_process_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


class AudienceListener(Protocol):
    """Told what this process's viewers did, in batches: the hearts each tick flushed, and
    once a minute who is watching (intimacy toward each room's creator)."""

    async def note_hearts(self, by_room: dict[str, dict[str, int]]) -> None:
        """room → user → hearts sent, after the tick's report is stored."""
        ...

    async def note_watch(self, by_room: dict[str, list[str]]) -> None:
        """room → logged-in users connected here, each once."""
        ...


class Node:
    def __init__(self, *, hub: Hub, broker_client: Any, rooms: RoomStore,
                 presence: PresenceStore, audience: AudienceListener, tick_ms: int,
                 heartbeat_ms: int, ping_s: float, info: Json,
                 figures: Callable[[], Awaitable[Json]] | None = None,
                 notices: Notices | None = None,
                 after_failed: Callable[[str], None] | None = None) -> None:
        self.id = new_process_id()
        self.hub = hub
        self.rooms = rooms
        self.presence = presence
        self.tick_s = tick_ms / 1000
        self.heartbeat_s = heartbeat_ms / 1000
        self.ping_s = ping_s
        self.info = {"id": self.id, "pid": os.getpid(), "host": socket.gethostname(),
                     "started_at": now_ms(), **info}
        self.broker = Broker(broker_client, self._on_message, self._on_resubscribed)
        self._subscribed: dict[str, asyncio.Future[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._flushing: asyncio.Task[None] | None = None
        # Counter reports carry an increasing id; one that failed is kept and sent again with
        # the same id (the script counts an id once), before anything newer.
        self._tick_ids = itertools.count(1)
        self._unsent: tuple[int, dict[str, TickReport]] | None = None
        self._last_presence = 0.0
        self.audience = audience
        self.watch_interval_s = 60.0
        self.figures = figures  # extra heartbeat figures (the ops alerts read them)
        self.notices = notices  # user notices (show reminders) on one global channel
        # a fan-score step that failed after its hearts or minutes were counted: counted as
        # the after-commit steps are (live_after_commit_failures_total{step})
        self.after_failed = after_failed or (lambda _step: None)

    async def start(self) -> None:
        self.broker.start()
        if self.notices is not None:
            await self.broker.subscribe(self.notices.channel)
        await self._register()
        self._tasks = [asyncio.create_task(self._tick_loop(), name="tick"),
                       asyncio.create_task(self._heartbeat_loop(), name="process-heartbeat"),
                       asyncio.create_task(self._ping_loop(), name="websocket-pings"),
                       asyncio.create_task(self._watch_loop(), name="watch-intimacy")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        # Bounded: a cancel that lands inside a client library call could be swallowed there,
        # and shutdown must not hang on it.
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
        if self._flushing is not None:
            with contextlib.suppress(Exception):
                await self._flushing
        # One last report: our viewers are gone, our hearts are counted.
        for room in list(self.hub.rooms.values()):
            room.conns.clear()
            room.joining.clear()
            room.dirty = True
        with contextlib.suppress(Exception):
            if self._unsent is not None:
                await self.presence.tick(self.id, self._unsent[0], now_ms(), self._unsent[1])
            await self.presence.tick(self.id, next(self._tick_ids), now_ms(),
                                     self.hub.take_reports(True))
        with contextlib.suppress(Exception):
            await self.presence.unregister_process(self.id)
        await self.broker.close()

    # Joining and leaving -----------------------------------------------------------------

    async def join(self, conn: Conn) -> None:
        """Attach (events are held from here on) and make sure the room is subscribed."""
        channel = self.rooms.keys.room(conn.room_id).channel
        first = self.hub.attach(conn)
        fut = self._subscribed.get(conn.room_id)
        if first or fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._subscribed[conn.room_id] = fut
            try:
                await self.broker.subscribe(channel)
            except BaseException as exc:
                if not fut.done():
                    fut.set_exception(exc)
                    fut.exception()  # retrieved: no "never retrieved" warning
                self.leave(conn)
                raise
            if not fut.done():
                fut.set_result(None)
        else:
            try:
                await asyncio.shield(fut)
            except BaseException:
                self.leave(conn)
                raise

    def leave(self, conn: Conn) -> None:
        if self.hub.detach(conn):
            self._subscribed.pop(conn.room_id, None)
            channel = self.rooms.keys.room(conn.room_id).channel
            room_id = conn.room_id
            task = asyncio.create_task(
                self.broker.unsubscribe(channel, lambda: room_id in self.hub.rooms))
            task.add_done_callback(_log_failure)

    # Pub/sub ------------------------------------------------------------------------------

    def _on_message(self, channel: str, data: bytes) -> None:
        if self.notices is not None and channel == self.notices.channel:
            self.notices.on_message(data)
            return
        self.hub.deliver(self.rooms.keys.room_from_channel(channel), data)

    async def _on_resubscribed(self, channels: list[str]) -> None:
        """Fill what pub/sub lost while it was down from each room's history. Where that is
        impossible the room's sockets resynchronise (``Hub.resync``): the history no longer
        reaches back, or the store came back without its last writes (its seq went back, or
        the last event delivered here is not in it any more); in that case the room's stream
        also gets a new epoch, so that no client's old position passes for a new one. What the
        events said is gone is forgotten first: some may be missing (the refill brings the
        sequenced ones back)."""
        self.hub.gone.forget_gone()
        for room in list(self.hub.rooms.values()):
            delivered = room.last_seq
            state, events, current = await self.rooms.resume(room.id, delivered,
                                                              room.last_event)
            if state == "ok":
                for raw in events:
                    self.hub.deliver(room.id, raw)
                continue
            if state == "rollback":
                await self.rooms.reset_epoch(room.id)
            closed = self.hub.resync(room.id, current)
            log.warning("room %s: %s after a pub/sub outage (delivered up to %d, the store is at "
                        "%d): %d sockets resynchronise", room.id, state, delivered, current,
                        closed, extra=logs.about(room_id=room.id))

    # Tick ---------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += self.tick_s
            delay = next_at - loop.time()
            if delay < 0:  # overloaded: do not try to catch up with a burst of ticks
                next_at = loop.time()
                delay = 0
            await asyncio.sleep(delay)
            try:
                self.hub.tick()
            except Exception:
                log.exception("fan-out tick failed")
            if self._flushing is None or self._flushing.done():
                everything = time.monotonic() - self._last_presence >= self.heartbeat_s
                if everything:
                    self._last_presence = time.monotonic()
                if self._unsent is not None:
                    tick_id, reports = self._unsent
                else:
                    tick_id, reports = next(self._tick_ids), self.hub.take_reports(
                        everything, time.monotonic())
                if reports:
                    self._flushing = asyncio.create_task(self._flush_reports(tick_id, reports))

    async def _flush_reports(self, tick_id: int, reports: dict[str, TickReport]) -> None:
        """Store one tick's reports. A failure (even one whose reply alone was lost) keeps them
        for the next tick, sent again as they were under the same id: counted exactly once."""
        try:
            await self.presence.tick(self.id, tick_id, now_ms(), reports)
        except Exception:
            self._unsent = (tick_id, reports)
            log.warning("counter report failed; will retry next tick", exc_info=True)
            return
        self._unsent = None
        hearts = {room_id: rep.heart_users for room_id, rep in reports.items()
                  if rep.heart_users}
        if hearts:
            try:
                await self.audience.note_hearts(hearts)
            except Exception:  # the counters are in; only these points are lost
                self.after_failed("heart_intimacy")
                log.warning("heart intimacy failed", exc_info=True)

    async def _ping_loop(self) -> None:
        """Websocket heartbeats: every ``ping_s`` ping every socket; one that answered nothing
        (no pong, no frame) for a whole period after a ping is dead and is aborted."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.ping_s)
            self.hub.ping_all(loop.time(), self.ping_s * 1.5)

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(self.watch_interval_s)
            try:
                await self.award_watch()
            except Exception:
                self.after_failed("watch_intimacy")
                log.warning("watch intimacy failed", exc_info=True)

    async def award_watch(self, limit: int = 20_000) -> None:
        """One minute watched for every logged-in user connected here (each user once per room,
        at most ``limit`` of them): one call, one pipelined round."""
        watching: dict[str, list[str]] = {}
        left = limit
        for room_id, room in self.hub.rooms.items():
            users = list(room.by_user)[:left]
            if users:
                watching[room_id] = users
                left -= len(users)
            if left <= 0:
                break
        if watching:
            await self.audience.note_watch(watching)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self._register()
            except Exception:
                log.warning("process heartbeat failed", exc_info=True)

    async def _register(self) -> None:
        if self.figures is not None:
            self.info.update(await self.figures())
        self.info.update(seen_at=now_ms(), connections=self.hub.connection_count,
                         rooms=len(self.hub.rooms))
        await self.presence.register_process(self.id, self.info)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("unsubscribe failed: %s", task.exception())
