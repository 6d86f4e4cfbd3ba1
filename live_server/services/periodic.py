"""A per-process loop that runs a pass every interval: the shelf's scheduler and the red-packet
clock. Every process may run its pass at once, because each step it takes is a script that acts
only if the step is still to be done."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from live_server.protocol import now_ms

log = logging.getLogger(__name__)


class Periodic:
    name = "periodic"

    def __init__(self, interval_ms: int) -> None:
        self.interval_s = interval_ms / 1000
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def run_once(self, now: int) -> int:
        """One pass; returns how many due items it looked at."""
        raise NotImplementedError

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
            except Exception:
                log.warning("%s pass failed", self.name, exc_info=True)
