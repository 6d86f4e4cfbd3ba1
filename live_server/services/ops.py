"""The ops console: every live room with its figures, sales and video, the processes, the chat
reports and their handling, and the moderation log. Only ops may read or act."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from live_server.auth import Identity, require_ops
from live_server.errors import InvalidState, NotFound
from live_server.protocol import Json, now_ms
from live_server.services.moderation_log import ModerationLog
from live_server.store.chat import ChatStore
from live_server.store.gifts import GiftStore
from live_server.store.media import MediaStore
from live_server.store.orders import OrderStore
from live_server.store.presence import PresenceStore
from live_server.store.room_series import RoomSeriesStore
from live_server.store.rooms import RoomStore

REPORT_OUTCOMES = ("resolved", "dismissed")
REPORT_STATES = ("all", "open", "handled")
OPEN_REPORTS_READ = 1000  # open reports read to count them per live room


def by_load(room: Json) -> tuple[int, float]:
    """The busiest room first: most people watching, then most chat per minute."""
    online = int((room.get("counters") or {}).get("online") or 0)
    return -online, -float(room.get("chat_per_min") or 0)


class OpsService:
    def __init__(self, rooms: RoomStore, presence: PresenceStore, chat: ChatStore,
                 modlog: ModerationLog, media: MediaStore, orders: OrderStore, *,
                 series: RoomSeriesStore, gifts: GiftStore | None = None,
                 has_picture: Callable[[str], bool] | None = None) -> None:
        self.rooms = rooms
        # whether this process has a picture of a room's video (the thumbnail)
        self.has_picture = has_picture or (lambda _room_id: False)
        self.gifts = gifts  # each live room's gift spending (a column of the list)
        self.presence = presence
        self.chat = chat
        self.modlog = modlog
        self.media = media
        self.orders = orders
        self.series = series

    async def live_rooms(self, who: Identity, limit: int) -> Json:
        """The newest ``limit`` live rooms, busiest first, with their counters, presence per
        process, chat per minute, media home, sales (``gmv`` cents and ``paid_orders``), the
        load history (``series``, ``store/room_series.py``) and open chat reports
        (``reports``), and the live processes: four pipelines at once and three reads."""
        require_ops(who)
        now = now_ms()
        rooms = await self.rooms.many(await self.rooms.live_ids(limit))
        ids = [r.id for r in rooms]
        figures, homes, earnings, series, open_reports = await asyncio.gather(
            self.rooms.figures_many(ids, now), self.media.homes(ids),
            self.orders.earnings_many(ids), self.series.read_many(ids, now),
            self.open_reports_by_room())
        gifts = (await self.gifts.rooms_figures({r.id: r.creator_id for r in rooms})
                 if self.gifts is not None else {})
        out = [
            {**r.public(), **figures[r.id], "gmv": money["gmv"],
             "paid_orders": money["paid_orders"], "series": series[r.id],
             "reports": open_reports.get(r.id, 0),
             "gift_spent": gifts.get(r.id, {}).get("spent", 0),
             "video": ({"publishing": True, "codecs": home.codecs, "home": home.url,
                        "picture": self.has_picture(r.id)}
                       if home is not None else {"publishing": False})}
            for r, home, money in zip(rooms, homes, earnings, strict=True)
        ]
        return {"rooms": sorted(out, key=by_load),
                "processes": await self.presence.processes(now)}

    async def open_reports_by_room(self) -> dict[str, int]:
        """Open chat reports per room, from the newest ``OPEN_REPORTS_READ`` open ones (the
        reports stream is capped, and a busy evening's open queue is far shorter)."""
        counts: dict[str, int] = {}
        for report in await self.chat.reports(OPEN_REPORTS_READ, "open"):
            room_id = str(report.get("room_id", ""))
            counts[room_id] = counts.get(room_id, 0) + 1
        return counts

    async def reports(self, who: Identity, limit: int, state: str = "all") -> list[Json]:
        """The newest reports (only the open or the handled ones if ``state`` says so), each
        with its state and its room's title, so ops see what show it came from."""
        require_ops(who)
        if state not in REPORT_STATES:
            raise ValueError(f"unknown report state {state!r}")
        reports = await self.chat.reports(limit, state)
        titles = {r.id: r.title for r in await self.rooms.many(
            sorted({str(rep.get("room_id")) for rep in reports}))}
        return [{**rep, "room_title": titles.get(str(rep.get("room_id")), "")}
                for rep in reports]

    async def handle_report(self, who: Identity, report_id: str, outcome: str,
                            note: str) -> Json:
        """Mark a report resolved (acted on) or dismissed (nothing wrong); the first decision
        stands (a second is ``invalid_state``), and it is written to the moderation log
        against the reported message's author."""
        uid = require_ops(who)
        if outcome not in REPORT_OUTCOMES:
            raise ValueError(f"unknown report outcome {outcome!r}")
        report = await self.chat.report(report_id)
        if report is None:
            raise NotFound("no such report")
        if report["state"] != "open":
            raise InvalidState("the report is already handled", state=report["state"])
        handled: Json = {"state": outcome, "handled_by": uid, "handled_at": now_ms(),
                         "note": note}
        if not await self.chat.handle_report(report_id, handled):
            current = await self.chat.report(report_id)
            raise InvalidState("the report is already handled",
                               state=(current or {}).get("state", "handled"))
        message = report.get("message") or {}
        author = ((message.get("data") or {}).get("user") or {}).get("id")
        await self.modlog.record(str(report.get("room_id", "")), uid, f"report_{outcome}",
                                 author, note,
                                 {"report_id": report_id, "seq": message.get("seq")})
        return {**report, **handled}

    async def moderation(self, who: Identity, limit: int, room_id: str | None) -> list[Json]:
        require_ops(who)
        return await self.modlog.actions(limit, room_id)
