"""A per-process loop that runs a pass every interval, and the way a pass works its schedules:
the shelf's scheduler and the red-packet clock.

Every process runs its pass, and a pass claims its items with a lease (``store/due.py``), so N
processes do each item once. Items are isolated from one another: one that fails is counted
(``live_scheduler_failures_total{clock}``), skipped until its lease runs out, then tried again;
after ``park_after`` failures it is parked, logged once and shown in ``live_scheduler_parked``,
so one bad item never stalls the expiries and refunds of everyone else. A Valkey outage is not
an item's failure: it ends the pass, and the next pass tries again."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from live_server import logs
from live_server.protocol import now_ms
from live_server.store.core import StoreCore
from live_server.store.due import OUTAGE, Schedule

log = logging.getLogger(__name__)

LEASE_MS = 10_000  # an item claimed by a process is not seen by others for this long
PARK_AFTER = 5  # failures of one item before it is moved aside
BATCH = 500  # most items of one schedule claimed in one pass
PARKED_REFRESH_S = 10.0  # how often the parked gauge is read from Valkey


@dataclasses.dataclass(frozen=True, slots=True)
class ClockStats:
    """What a clock reports (the container hands it the metrics' callbacks)."""

    failed: Callable[[str], None]  # clock name: one item failed
    parked: Callable[[str, int], None]  # clock name, items parked in all its schedules


class Periodic:
    name = "periodic"

    def __init__(self, interval_ms: int, *, stats: ClockStats | None = None,
                 lease_ms: int = LEASE_MS, park_after: int = PARK_AFTER) -> None:
        self.interval_s = interval_ms / 1000
        self.stats = stats
        self.lease_ms = lease_ms
        self.park_after = park_after
        self._schedules: list[Schedule] = []
        self._parked_read_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def schedule(self, core: StoreCore, key: str) -> Schedule:
        """One of this clock's schedules, with the clock's lease and parking limit."""
        made = Schedule(core, key, lease_ms=self.lease_ms, park_after=self.park_after)
        self._schedules.append(made)
        return made

    async def run_once(self, now: int) -> int:
        """One pass; returns how many due items it claimed."""
        raise NotImplementedError

    async def work(self, schedule: Schedule, now: int,
                   step: Callable[[str], Awaitable[object]]) -> int:
        """Claim the due items of ``schedule`` and run ``step`` on each, one failure at a time;
        returns how many were claimed."""
        claimed = await schedule.claim(now, BATCH)
        done: list[str] = []
        for member in claimed:
            try:
                await step(member)
            except OUTAGE:
                raise
            except Exception:
                await self._failed(schedule, member, now)
            else:
                done.append(member)
        await schedule.succeeded(done)
        return len(claimed)

    async def _failed(self, schedule: Schedule, member: str, now: int) -> None:
        log.warning("%s: item failed", self.name, exc_info=True,
                    extra={"clock": self.name, "schedule": schedule.key, "item": member})
        if self.stats is not None:
            self.stats.failed(self.name)
        if await schedule.failed(member, now):
            log.error("%s: item parked after %d failures", self.name, self.park_after,
                      extra={"clock": self.name, "parked_in": schedule.parked_key,
                             **logs.about(schedule=schedule.key, item=member)})
            self._parked_read_at = 0.0
        await self._report_parked()

    async def _report_parked(self) -> None:
        """The parked gauge, read at most every ``PARKED_REFRESH_S`` (an operator may empty
        the parked sets by hand; every process shows the shared count)."""
        if self.stats is None or time.monotonic() - self._parked_read_at < PARKED_REFRESH_S:
            return
        self._parked_read_at = time.monotonic()
        total = 0
        for schedule in self._schedules:
            total += await schedule.parked()
        self.stats.parked(self.name, total)

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """Ask the loop to finish its pass and end. Not by cancelling it first: a cancel that
        lands inside a Valkey call can be turned into a connection error by the client, and
        the loop would then never end."""
        self._stop.set()
        if self._task is None:
            return
        done, _ = await asyncio.wait({self._task}, timeout=5)
        if not done:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=1)

    async def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval_s)
                return
            try:
                await self.run_once(now_ms())
                await self._report_parked()
            except Exception:
                log.warning("%s pass failed", self.name, exc_info=True,
                            extra={"clock": self.name})


class BucketTurns:
    """Which wallet buckets a pass looks at: each in turn, starting at a random one so that
    the processes of a fleet do not all look at the same bucket at once."""

    def __init__(self, buckets: int) -> None:
        self.buckets = buckets
        self._next = secrets.randbelow(buckets)

    def next(self) -> int:
        return self.take(1)[0]

    def take(self, count: int) -> list[int]:
        """The next ``count`` buckets (every bucket at most once)."""
        count = max(1, min(count, self.buckets))
        turn = [(self._next + i) % self.buckets for i in range(count)]
        self._next = (self._next + count) % self.buckets
        return turn


FLEET_REFRESH_S = 30.0  # how often a clock reads how many processes share its schedules


class FleetShare:
    """How many of N per-bucket schedules one process polls a pass: all of them alone, and
    fewer as the fleet grows (ceil(N / processes)), so the fleet's polls of each bucket stay
    about one per pass whatever the number of processes, instead of one per process. The
    fleet's size is read at most every ``FLEET_REFRESH_S`` (the process registry's size)."""

    def __init__(self, buckets: int, fleet: Callable[[], Awaitable[int]] | None) -> None:
        self.buckets = buckets
        self.fleet = fleet
        self._size = 1
        self._read_at = -FLEET_REFRESH_S

    async def per_pass(self) -> int:
        if self.fleet is None or self.buckets == 1:
            return self.buckets
        if time.monotonic() - self._read_at >= FLEET_REFRESH_S:
            self._read_at = time.monotonic()
            with contextlib.suppress(*OUTAGE):
                self._size = max(1, await self.fleet())
        return -(-self.buckets // self._size)
