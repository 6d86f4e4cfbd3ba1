"""Turns at Valkey for buys naming a sale and grabs (services/local_refusals.py): never more
than the permits at once, a whole queue answered the moment the record learns it is refused,
a key sent before always sent again, no turn lost to a cancelled waiter. The Valkey call is a
stand-in coroutine here; tests/integration/test_local_refusal*.py run the real thing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from live_server.errors import SoldOut
from live_server.realtime.gone import GoneRecord
from live_server.services.local_refusals import LocalRefusals

ROOM = "r1"


def sale_event(kind: str, **data: Any) -> dict[str, Any]:
    sale = {"id": "s1", "product_id": "p1", "variant_id": "v0", "start_at": 0, "end_at": 9}
    return {"type": kind, "ts": 1, "seq": 1, "data": {"sale": sale, "left": 0, **data}}


def args(user: int) -> dict[str, Any]:
    return {"product_id": "p1", "variant_id": "v0", "sale_id": "s1", "quantity": 1,
            "idempotency_key": f"k{user}"}


def setup(permits: int) -> tuple[GoneRecord, LocalRefusals, list[tuple[str, str]]]:
    gone = GoneRecord()
    gone.follow(ROOM)
    gone.note_event(ROOM, sale_event("sale_started", server_time=1))
    counted: list[tuple[str, str]] = []
    return gone, LocalRefusals(gone, permits=permits,
                               count=lambda code, stage: counted.append((code, stage))), counted


async def test_no_more_calls_at_once_than_permits() -> None:
    _gone, turns, _ = setup(3)
    busy = peak = 0

    async def call() -> dict[str, Any]:
        nonlocal busy, peak
        busy += 1
        peak = max(peak, busy)
        await asyncio.sleep(0.001)
        busy -= 1
        return {"created": True}

    results = await asyncio.gather(*(turns.buy(ROOM, f"u{n}", args(n), call)
                                     for n in range(20)))
    assert peak == 3 and len(results) == 20 and turns.waiting == 0


async def test_a_sell_out_answers_every_waiting_buy_at_once() -> None:
    gone, turns, counted = setup(1)
    release = asyncio.Event()
    calls = 0

    async def call() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await release.wait()
        return {"created": True}

    first = asyncio.create_task(turns.buy(ROOM, "u0", args(0), call))
    waiting = [asyncio.create_task(turns.buy(ROOM, f"u{n}", args(n), call))
               for n in range(1, 11)]
    await asyncio.sleep(0.01)
    assert turns.waiting == 10 and calls == 1
    gone.note_event(ROOM, sale_event("sale_ended", reason="sold_out"))  # via the hub
    done = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, SoldOut) for r in done)  # while the first still holds its turn
    assert not first.done() and calls == 1
    assert counted == [("sold_out", "after_wait")] * 10
    release.set()
    assert (await first)["created"]
    # later buys are refused on arrival, a retry of the key that was sent is not
    with pytest.raises(SoldOut):
        await turns.buy(ROOM, "u99", args(99), call)
    assert counted[-1] == ("sold_out", "at_once")
    assert (await turns.buy(ROOM, "u0", args(0), call))["created"] and calls == 2


async def test_buys_without_a_sale_are_not_queued() -> None:
    gone, turns, _ = setup(1)
    gone.note_event(ROOM, sale_event("sale_ended", reason="sold_out"))

    async def call() -> str:
        return "bought at the live price"

    plain = {"product_id": "p1", "quantity": 1, "idempotency_key": "k"}
    assert await turns.buy(ROOM, "u", plain, call) == "bought at the live price"


async def test_a_cancelled_waiter_loses_no_turn() -> None:
    _gone, turns, _ = setup(1)
    release = asyncio.Event()

    async def slow() -> dict[str, Any]:
        await release.wait()
        return {"created": True}

    async def quick() -> dict[str, Any]:
        return {"created": True}

    holder = asyncio.create_task(turns.buy(ROOM, "u0", args(0), slow))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(turns.buy(ROOM, "u1", args(1), quick))
    await asyncio.sleep(0)
    cancelled.cancel()
    release.set()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert (await asyncio.wait_for(turns.buy(ROOM, "u2", args(2), quick), 1))["created"]
    assert turns.waiting == 0
