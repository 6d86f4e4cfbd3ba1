"""Polling waits for the media tests: what a peer's events do not announce (frames counted in
the server's relay, a room's state) is checked every 20 ms until it holds (a hang guard, not a
timing assertion)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tests.helpers import WAIT_S


async def until(check: Callable[[], bool], timeout: float = WAIT_S) -> None:
    """Return once ``check()`` holds; TimeoutError after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            if check():
                return
            await asyncio.sleep(0.02)
