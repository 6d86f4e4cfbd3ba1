"""Rate pacing with hard bounds on count and time.

Why batches on a 10 ms clock instead of one sleep per item: at thousands of items per second a
sleep per item costs more than the item. The pacer wakes every few milliseconds and releases as
many items as the elapsed time allows, so the mean rate is exact and the loop always ends: after
`count` items or at `deadline`, whichever comes first.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator

#: How often the pacer wakes up; items due in between are released together.
STEP_S = 0.01


async def paced(count: int, rate: float, deadline: float) -> AsyncIterator[range]:
    """Yield ranges of item indices (0..count-1) at `rate` per second until `deadline`.

    `deadline` is a `time.monotonic()` value. A `rate` of 0 or infinity releases everything at
    once. The ranges are consecutive and never overlap.
    """
    if count <= 0:
        return
    if rate <= 0 or math.isinf(rate):
        if time.monotonic() < deadline:
            yield range(count)
        return
    start = time.monotonic()
    done = 0
    while done < count:
        now = time.monotonic()
        if now >= deadline:
            return
        due = min(count, int((now - start) * rate) + 1)
        if due > done:
            yield range(done, due)
            done = due
        if done >= count:
            return
        wait = (done / rate) - (time.monotonic() - start)
        await asyncio.sleep(min(STEP_S, max(0.0, wait)) or 0.001)
