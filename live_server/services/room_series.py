"""The live rooms' load history behind the ops console's sparklines: every process runs this
clock, and once per slot (``interval_ms``, 30 s by default) the one process that claims the
slot samples every live room (online viewers, chat in the last whole minute, GMV) and writes
one point per room (``store/room_series.py``). A slot every process missed (all of them down)
is a gap, not a made-up point."""

from __future__ import annotations

from live_server.services.periodic import ClockStats, Periodic
from live_server.store.orders import OrderStore
from live_server.store.room_series import Point, RoomSeriesStore
from live_server.store.rooms import RoomStore

INTERVAL_MS = 30_000  # one point per room every 30 s...
POINTS = 60  # ...for the last 30 minutes
MAX_ROOMS = 1000  # live rooms sampled per slot, newest first (the console lists at most this)


class SeriesClock(Periodic):
    name = "room_series"

    def __init__(self, series: RoomSeriesStore, rooms: RoomStore, orders: OrderStore, *,
                 stats: ClockStats | None = None) -> None:
        # a pass several times per slot, so a slot is sampled soon after it begins
        super().__init__(max(series.interval_ms // 6, 50), stats=stats)
        self.series = series
        self.rooms = rooms
        self.orders = orders
        self._done_slot = -1

    async def run_once(self, now: int) -> int:
        """Sample the current slot if no process has; returns the points written."""
        slot = self.series.slot(now)
        if slot == self._done_slot:
            return 0
        claimed = await self.series.claim(slot)
        self._done_slot = slot
        if not claimed:
            return 0
        ids = await self.rooms.live_ids(MAX_ROOMS)
        if not ids:
            return 0
        figures = await self.rooms.figures_many(ids, now)
        earnings = await self.orders.earnings_many(ids)
        points = {
            rid: Point(online=int(figures[rid]["counters"]["online"]),
                       chat_per_min=int(figures[rid]["chat_per_min"]),
                       gmv=int(money["gmv"]))
            for rid, money in zip(ids, earnings, strict=True)
        }
        return await self.series.put(slot, points)
