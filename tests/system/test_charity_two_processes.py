"""Gifts in a charity show raced over two real server processes sharing one Valkey: many
senders on both processes at once (with retries of the same key), while the creator tries to
change the terms mid-burst. Every earmark follows one set of terms (the version each send
script checks), the beneficiary's total is exactly the documented share of each send, the
receipt agrees, and `live_server audit` passes."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from live_server.domain.charity import earmark
from tests.conftest import ServerProcess
from tests.system.test_gifts_two_processes import (
    SHARE_BP,
    STAR,
    _audit,
    _balance,
    _call,
    _fund,
    _http_send,
    _room,
)

pytestmark = pytest.mark.system
SENDERS, SENDS, RETRIES, BP = 20, 3, 1, 3333


async def _beneficiary(http: aiohttp.ClientSession, server: ServerProcess, name: str) -> str:
    status, body = await _call(http, "POST", server.url + "/api/charity/beneficiaries", "olga",
                               {"name": name}, "ops")
    assert status == 201, body
    return str(body["beneficiary"]["id"])


async def _terms(http: aiohttp.ClientSession, server: ServerProcess, room: str, ben: str,
                 go: asyncio.Event | None = None) -> int:
    if go is not None:
        await go.wait()
        await asyncio.sleep(0.005)
    status, _ = await _call(http, "PUT", f"{server.url}/api/rooms/{room}/charity", "alice",
                            {"beneficiary_id": ben, "bp": BP, "sources": ["gifts"]},
                            "creator")
    return status


async def test_concurrent_gifts_on_both_processes_earmark_exactly(server_factory: Any) -> None:
    one, two = await server_factory(), await server_factory()
    async with aiohttp.ClientSession() as http:
        room = await _room(http, one)
        first = await _beneficiary(http, one, "Clean Water Fund")
        second = await _beneficiary(http, two, "Books for All")
        assert await _terms(http, one, room, first) == 200
        await asyncio.gather(*(_fund(http, one, f"s{i}", SENDS * STAR)
                               for i in range(SENDERS)))
        go = asyncio.Event()
        tasks = []
        for i in range(SENDERS):
            for n in range(SENDS):
                body = {"gift_id": "star", "idempotency_key": f"s{i}-{n}"}
                for attempt in range(1 + RETRIES):
                    server = (one, two)[(i + n + attempt) % 2]
                    tasks.append(asyncio.create_task(
                        _http_send(http, server, room, f"s{i}", body, go)))
        change = asyncio.create_task(_terms(http, two, room, second, go))
        go.set()
        answers = await asyncio.gather(*tasks)
        changed = await change
        assert changed in (200, 409)  # before the first earmark, or locked
        moved = [a for a in answers if not a["repeated"]]
        assert len(moved) == SENDERS * SENDS
        share = STAR * SHARE_BP // 10_000
        each = earmark(share, BP)
        status, receipt = await _call(http, "GET", f"{two.url}/api/rooms/{room}/charity",
                                      "vic")
        assert status == 200
        assert receipt["terms"]["locked"] is True
        ben = receipt["beneficiary"]["id"]
        assert ben == (second if changed == 200 else first)
        assert receipt["totals"]["gifts"] == {"amount": SENDERS * SENDS * each,
                                              "entries": SENDERS * SENDS}
        assert await _balance(http, one, "alice") == SENDERS * SENDS * (share - each)
        status, ops = await _call(http, "GET", f"{one.url}/api/ops/charity", "olga",
                                  role="ops")
        assert status == 200
        held = {b["id"]: b["wallet"] for b in ops["beneficiaries"]}
        assert held == {ben: SENDERS * SENDS * each, ({first, second} - {ben}).pop(): 0}
        status, listed = await _call(http, "GET",
                                     f"{one.url}/api/rooms/{room}/charity/entries", "vic")
        assert len({e["ref"] for e in listed["entries"]}) == SENDERS * SENDS
        assert {e["amount"] for e in listed["entries"]} == {each}
    done = _audit(one)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 mismatches" in done.stdout
