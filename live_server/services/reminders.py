"""Show reminders (预约): a logged-in user subscribes to a scheduled room; when it goes live
every subscriber hears ``show_starting`` on whatever socket they have open, and the operator's
webhook gets the subscriber ids in pages (for push notifications).

The start is told here by the room service after its commit (``room_started``): one publish on
the global notices channel (each process finds its own subscribers, ``realtime/notices.py``),
the count frozen for the show report, then the webhook pages. All of it is after-commit work:
a failure is counted and logged, and the room is live all the same.
"""

from __future__ import annotations

from live_server import events
from live_server.auth import Identity, require_user
from live_server.domain.reminders import (
    MINE_LIMIT,
    WEBHOOK_EVENT,
    WEBHOOK_PAGE,
    StartMessage,
)
from live_server.protocol import Json, now_ms
from live_server.services.after_commit import AfterCommit
from live_server.services.webhooks import WebhookService
from live_server.store.reminders import ReminderStore
from live_server.store.rooms import RoomStore


class ReminderService:
    def __init__(self, rooms: RoomStore, store: ReminderStore,
                 webhooks: WebhookService | None = None, after: AfterCommit | None = None,
                 webhook_page: int = WEBHOOK_PAGE) -> None:
        self.rooms = rooms
        self.store = store
        self.webhooks = webhooks
        self.after = after or AfterCommit()
        self.webhook_page = webhook_page

    async def remind(self, who: Identity, room_id: str) -> Json:
        """Subscribe ``who`` to the scheduled room (again: no change)."""
        uid = require_user(who)
        count = await self.store.add(room_id, uid, now_ms())
        return {"room_id": room_id, "subscribed": True, "reminders": count}

    async def cancel(self, who: Identity, room_id: str) -> Json:
        """Unsubscribe (not subscribed: no change), in any state of the room."""
        uid = require_user(who)
        await self.rooms.require(room_id)
        count = await self.store.remove(room_id, uid)
        return {"room_id": room_id, "subscribed": False, "reminders": count}

    async def mine(self, who: Identity) -> list[Json]:
        """The rooms ``who`` asked to be reminded of, newest reminder first, with counts."""
        uid = require_user(who)
        rooms = await self.rooms.many(await self.store.mine(uid, MINE_LIMIT))
        counts = await self.store.counts([r.id for r in rooms])
        return [{**r.public(), "reminders": counts[r.id]} for r in rooms]

    async def counts(self, room_ids: list[str]) -> dict[str, int]:
        return await self.store.counts(room_ids)

    async def room_started(self, room_id: str, view: Json) -> None:
        """The room went live (its ``view`` as the start answered it); must not raise."""
        started_at = int(view.get("started_at") or now_ms())
        notice = events.show_starting(room_id, str(view.get("title", "")),
                                      str(view.get("creator_id", "")), started_at)
        await self.after.run("reminder_notice", self.store.publish(
            StartMessage(room_id, notice.body).encode()))
        await self.after.run("reminder_count", self.store.freeze_count(room_id))
        await self.after.run("reminder_webhook", self._webhook(room_id, view, started_at))

    async def _webhook(self, room_id: str, view: Json, started_at: int) -> None:
        """``show.starting`` with the subscriber ids, ``webhook_page`` per delivery; nothing is
        read when no endpoint takes the event."""
        if self.webhooks is None or await self.webhooks.wants(
                frozenset({WEBHOOK_EVENT})) is None:
            return
        room = {"id": room_id, "title": view.get("title", ""), "started_at": started_at}
        total = (await self.store.counts([room_id]))[room_id]
        pages = -(-total // self.webhook_page)
        page_no = 0
        async for page in self.store.pages(room_id, self.webhook_page):
            page_no += 1
            await self.webhooks.emit(WEBHOOK_EVENT, room_id, str(view.get("creator_id", "")),
                                     {"room": room, "page": page_no, "pages": pages,
                                      "subscribers": total, "user_ids": page})
