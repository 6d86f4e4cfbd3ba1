"""The creator's numbers per show: the live report while the room is live, the report frozen
when it ends, the CSV, a creator's shows, and the product-card views the report counts.

A report is built from facts the store reads (``store/show_report.py``) by the rules in
``domain/show_report.py``. What the show sold is the orders placed during it, so a reservation
made in its last minutes and paid after the end still counts. The report is frozen once, when
the room has ended and no order placed during the show can still be paid (at the end, by
``room_ended``, called by the room service, when nothing is open; else by the first read after
the last reservation expired or was paid), so what the show did stays as it was; the one figure
that follows later changes is the refunds (a refund after the show is still the show's refund).
Only the room's creator and ops read it.
"""

from __future__ import annotations

from live_server.auth import Identity, require_creator, require_moderator
from live_server.config import Settings
from live_server.domain.rooms import Room
from live_server.domain.show_report import build, summary, to_csv, with_refunds
from live_server.errors import InvalidState
from live_server.protocol import Json, now_ms
from live_server.services.after_commit import AfterCommit
from live_server.store.rooms import RoomStore
from live_server.store.show_report import ReportStore


class ShowReportService:
    def __init__(self, settings: Settings, rooms: RoomStore, store: ReportStore,
                 after: AfterCommit) -> None:
        self.currency = settings.shelf.currency
        self.rooms = rooms
        self.store = store
        self.after = after

    async def report(self, who: Identity, room_id: str) -> Json:
        """The room's report (its creator or ops): live figures, or the frozen ones."""
        room = await self.rooms.require(room_id)
        require_moderator(who, room.creator_id)
        if room.started_at is None:
            raise InvalidState("the show has not started: no report yet", state=room.state)
        return await self._current(room, await self.store.frozen(room.id))

    async def csv(self, who: Identity, room_id: str) -> str:
        return to_csv(await self.report(who, room_id))

    async def my_shows(self, who: Identity, limit: int, offset: int) -> Json:
        """The caller's shows (rooms that went live), newest first, with their headline
        figures; ``next_offset`` is null on the last page."""
        uid = require_creator(who)
        shows = [r for r in await self.rooms.many(await self.rooms.owned_ids(uid))
                 if r.started_at is not None]
        shows.sort(key=lambda r: (r.started_at or 0, r.id), reverse=True)
        page = shows[offset:offset + limit]
        out = []
        for room, frozen in zip(page, await self.store.frozen_many([r.id for r in page]),
                                strict=True):
            out.append(summary(await self._current(room, frozen)))
        after = offset + len(page)
        return {"shows": out, "total": len(shows), "currency": self.currency,
                "next_offset": after if after < len(shows) else None}

    async def _current(self, room: Room, frozen: Json | None) -> Json:
        """Live while live; after the end, the show as of its end, stored once no order placed
        during it can still be paid (until then a reservation paid after the end still
        counts, and ``frozen`` is false)."""
        if room.state != "ended":
            now = now_ms()
            return build(await self.store.facts(room, now, self.currency), now)
        report = frozen or await self._freeze(room)
        return with_refunds(report, await self.store.refunds(room.id))

    async def _freeze(self, room: Room) -> Json:
        """The report as of the room's end, stored unless an order placed during the show may
        still be paid (a stored one wins: the first freeze is the report)."""
        assert room.ended_at is not None
        report = build(await self.store.facts(room, room.ended_at, self.currency),
                       room.ended_at)
        if await self.store.open_orders(room.id, room.ended_at, now_ms()):
            return report
        return await self.store.freeze(room.id, {**report, "frozen": True,
                                                 "frozen_at": now_ms()})

    # What happened elsewhere -------------------------------------------------------------

    async def room_ended(self, room_id: str, now: int) -> None:
        """The room service ended a room: freeze its report now. A failure is counted and
        logged, never the end's (the first read freezes it instead)."""
        await self.after.run("report_freeze", self._freeze_ended(room_id))

    async def _freeze_ended(self, room_id: str) -> None:
        room = await self.rooms.get(room_id)
        if room is not None and room.started_at is not None and room.ended_at is not None:
            await self._freeze(room)

    async def note_card_view(self, who: Identity, room_id: str, product_id: str) -> None:
        """A product card was answered: counted for the report (a failure never fails the
        card)."""
        await self.after.run("card_view",
                             self.store.note_card_view(room_id, product_id, who.user_id))
