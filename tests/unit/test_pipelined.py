"""Pipelined and Shared (services/pipelined.py): calls that arrive while a batch is out go as
the next batch, each with its own answer or error; concurrent reads of one key share a read."""

from __future__ import annotations

import asyncio

import pytest

from live_server.services.pipelined import Pipelined, Shared


async def test_calls_arriving_meanwhile_go_as_the_next_batch_each_with_its_answer() -> None:
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def send_many(items: list[int]) -> list[int | Exception]:
        batches.append(items)
        await gate.wait()
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]

    p: Pipelined[int, int] = Pipelined(send_many, batch_max=3)
    first = asyncio.ensure_future(p.call(0))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(p.call(i)) for i in range(1, 6)]
    await asyncio.sleep(0)
    gate.set()
    assert await first == 0
    results = await asyncio.gather(*rest, return_exceptions=True)
    assert batches == [[0], [1, 2, 3], [4, 5]]
    assert [r if isinstance(r, int) else str(r) for r in results] == [
        "odd 1", 20, "odd 3", 40, "odd 5"]
    assert p.sending is None and p.waiting == []


async def test_a_failed_batch_fails_its_calls_and_the_next_batch_still_goes() -> None:
    calls = 0

    async def send_many(items: list[str]) -> list[str | Exception]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        if calls == 1:
            raise ConnectionError("store down")
        return [s.upper() for s in items]

    p: Pipelined[str, str] = Pipelined(send_many)
    a = asyncio.ensure_future(p.call("a"))
    await asyncio.sleep(0)
    b = asyncio.ensure_future(p.call("b"))
    with pytest.raises(ConnectionError):
        await a
    assert await b == "B"


async def test_concurrent_reads_share_one_read_and_a_later_one_reads_again() -> None:
    reads = 0

    async def read(key: str) -> str:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.01)
        return f"{key}{reads}"

    s: Shared[str, str] = Shared(read)
    assert await asyncio.gather(*(s.get("r") for _ in range(20))) == ["r1"] * 20
    assert await s.get("r") == "r2"
    assert reads == 2 and s.reading == {}
    # a caller that goes away does not cancel the read the others wait for
    waiter = asyncio.ensure_future(s.get("q"))
    other = asyncio.ensure_future(s.get("q"))
    await asyncio.sleep(0)
    waiter.cancel()
    assert await other == "q3"
