"""Notices addressed to users rather than rooms: a show the user asked to be reminded of went
live (``show_starting``), written to every socket the user has open here, whatever room it is in.

Delivery costs one publish per show start, not one per subscriber: every process hears the start
on one global channel (taken by the node's one pub/sub connection) and asks Valkey which of its
own connected users are subscribed (SMISMEMBER in chunks, one pipelined round trip), then writes
the notice to their sockets. A process with no subscriber connected writes nothing; one with
many asks ``ceil(users / chunk)`` small questions. Per-user channels would cost a subscription
per connected user in every process and a publish per subscriber (50,000 for a big show) to
reach what is usually a small connected fraction.

A socket in the room that is starting is left out: it hears ``room_state`` anyway.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from live_server.domain.reminders import MEMBER_CHUNK, StartMessage
from live_server.realtime.conn import Conn
from live_server.realtime.frames import batch_payload, text_frame
from live_server.realtime.hub import Hub

log = logging.getLogger(__name__)


class Subscribers(Protocol):
    """Which users of a list are subscribed to a room (``store/reminders.py``)."""

    async def members(self, room_id: str, user_ids: list[str], chunk: int) -> set[str]: ...


class Notices:
    def __init__(self, hub: Hub, subscribers: Subscribers, channel: str,
                 chunk: int = MEMBER_CHUNK) -> None:
        self.hub = hub
        self.subscribers = subscribers
        self.channel = channel
        self.chunk = chunk
        self._tasks: set[asyncio.Task[int]] = set()

    def on_message(self, data: bytes) -> None:
        """One message from the notices channel (inside the broker's reader: must not block)."""
        try:
            message = StartMessage.decode(data)
        except ValueError:
            log.warning("dropping a malformed notice message")
            return
        task = asyncio.create_task(self.deliver(message))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[int]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("show_starting delivery failed: %s", task.exception())

    async def deliver(self, message: StartMessage) -> int:
        """Write the notice to this process's sockets of the room's subscribers; how many."""
        local = self.local_users(message.room_id)
        if not local:
            return 0
        wanted = await self.subscribers.members(message.room_id, list(local), self.chunk)
        frames: dict[str, bytes] = {}
        written = 0
        for user_id in wanted:
            for conn in local.get(user_id, ()):
                if conn.closed:
                    continue
                frame = frames.get(conn.room_id)
                if frame is None:
                    frame = text_frame(batch_payload(conn.room_id.encode(), [message.notice]))
                    frames[conn.room_id] = frame
                self.hub.send(conn, frame, 1)
                written += 1
        return written

    def local_users(self, skip_room: str) -> dict[str, list[Conn]]:
        """Logged-in user → their sockets here in the fan-out, outside ``skip_room``."""
        users: dict[str, list[Conn]] = {}
        for room_id, room in self.hub.rooms.items():
            if room_id == skip_room:
                continue
            for user_id, conns in room.by_user.items():
                users.setdefault(user_id, []).extend(conns)
        return users

    async def drain(self) -> None:
        """Wait for the deliveries under way (tests, shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
