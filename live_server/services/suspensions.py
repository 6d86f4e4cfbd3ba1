"""Platform-wide suspensions: ops suspend and lift, every process keeps a current view.

Each process holds every suspension in memory (``SuspensionView``), so the check that runs on
every command (``commands/access.py``) costs no round trip. The view follows the store's
change channel and is also read whole every ``RELOAD_S``, which repairs anything a lost
pub/sub message or a restart of Valkey left out. A suspension heard of closes the user's
sockets in this process the way a room ban does (``Hub.kick`` with 4003), so with every
process listening their sockets close everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from live_server.auth import Identity, require_ops
from live_server.domain.suspensions import Suspension, SuspensionView, new_suspension
from live_server.errors import CloseCode, NotFound
from live_server.protocol import Json, now_ms
from live_server.realtime.hub import Hub
from live_server.services.moderation_log import ModerationLog
from live_server.store.suspensions import SuspensionStore

log = logging.getLogger(__name__)

RELOAD_S = 5.0
RETRY_S = 1.0


class SuspensionService:
    def __init__(self, store: SuspensionStore, modlog: ModerationLog, hub: Hub) -> None:
        self.store = store
        self.modlog = modlog
        self.hub = hub
        self.view = SuspensionView()
        self._task: asyncio.Task[None] | None = None

    # The check (in memory) -------------------------------------------------------------

    def until(self, user_id: str | None) -> int | None:
        """When ``user_id``'s suspension ends (0 = until lifted), None if not suspended."""
        return self.view.until(user_id, now_ms())

    # Ops' actions ---------------------------------------------------------------------

    async def suspend(self, who: Identity, user_id: str, reason: str, duration: str) -> Json:
        uid = require_ops(who)
        record = new_suspension(user_id, reason, uid, duration, now_ms())
        await self.store.put(record)
        self._heard(record)  # this process at once; the others from the channel
        await self.modlog.record("", uid, "suspend", user_id, record.reason,
                                 {"at": record.at, "until": record.until,
                                  "duration": duration})
        return record.public()

    async def unsuspend(self, who: Identity, user_id: str, at: int | None = None,
                        reason: str = "") -> Json | None:
        """Lift ``user_id``'s suspension (only the one that began at ``at``, if given): the
        lifted record, or None when there was none to lift. Logged when something was
        lifted."""
        uid = require_ops(who)
        if await self.current(user_id) is None:  # none, or ended on its own
            return None
        lifted = await self.store.remove(user_id, at)
        if lifted is None:
            return None
        self.view.drop(user_id)
        await self.modlog.record("", uid, "unsuspend", user_id, reason, {"at": lifted.at})
        return lifted.public()

    async def lift(self, who: Identity, user_id: str, reason: str) -> Json:
        """:meth:`unsuspend`, for the command: a user who is not suspended is ``not_found``."""
        lifted = await self.unsuspend(who, user_id, reason=reason)
        if lifted is None:
            raise NotFound("the user is not suspended")
        return lifted

    async def active(self, who: Identity) -> list[Json]:
        """The suspensions in force, newest first (ended ones are removed on the way)."""
        require_ops(who)
        now = now_ms()
        records = await self.store.all()
        ended = [s.user_id for s in records if not s.active(now)]
        await self.store.forget_ended(ended)
        live = sorted((s for s in records if s.active(now)), key=lambda s: -s.at)
        return [s.public() for s in live]

    async def current(self, user_id: str) -> Suspension | None:
        record = await self.store.get(user_id)
        return record if record is not None and record.active(now_ms()) else None

    # Following the store --------------------------------------------------------------

    def _heard(self, record: Suspension) -> None:
        self.view.put(record)
        if record.active(now_ms()):
            for room_id in list(self.hub.rooms):
                for conn in self.hub.conns_of(room_id, record.user_id):
                    self.hub.kick(conn, CloseCode.BANNED, "suspended")

    def _apply(self, change: dict[str, Any]) -> None:
        if change.get("op") == "put":
            self._heard(Suspension.from_json(change["record"]))
        elif change.get("op") == "drop":
            self.view.drop(str(change.get("user_id")))

    async def reload(self) -> None:
        """Read every suspension again; one this process had not heard of (a lost message)
        closes its user's sockets here too."""
        records = await self.store.all()
        now = now_ms()
        new = [s for s in records if self.view.until(s.user_id, now) is None]
        self.view.replace_all(records)
        for record in new:
            self._heard(record)

    async def start(self) -> None:
        """Read every suspension before serving (so the first command is checked), then follow
        the changes in the background."""
        with contextlib.suppress(Exception):
            await self.reload()
        self._task = asyncio.create_task(self._follow(), name="suspensions")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=2)

    async def _follow(self) -> None:
        while True:
            try:
                loaded = float("-inf")
                async for change in self.store.changes():  # subscribed before the first
                    if change is not None:
                        self._apply(change)
                    if time.monotonic() - loaded >= RELOAD_S:
                        await self.reload()
                        loaded = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception:  # the store is away: keep the view, try again shortly
                log.warning("following suspensions failed; retrying", exc_info=True)
                await asyncio.sleep(RETRY_S)
