"""The clocks (the shelf's ``Scheduler`` and the ``PacketClock``) against a real Valkey: a poisoned
due item does not stop reservations from expiring or packets from being refunded, it is counted,
then parked where an operator finds it; and two processes sharing one Valkey do each item once."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from live_server import logs
from live_server.protocol import now_ms
from live_server.services.shelf import Scheduler
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp
from tests.integration.test_red_packets import balance, launch, topup
from tests.integration.test_shelf import buy, on_sale, product


def sample(live: LiveApp, name: str, **labels: str) -> float:
    """A metric's value as ``/metrics`` reports it to an operator (0 when absent)."""
    registry = live.client.server.app[SERVICES].metrics.registry
    return registry.get_sample_value(name, labels) or 0.0


@contextmanager
def process_log() -> Iterator[io.StringIO]:
    """The process's own logging (``logs.setup``: JSON, rate limited) into a buffer, as an
    operator would read it, for the duration of the block."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    server = logging.getLogger("aiohttp.server")
    server_filters = server.filters[:]
    stream = io.StringIO()
    logs.setup({"LIVE_LOG_FORMAT": "json"}, stream)
    try:
        yield stream
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)
        server.filters[:] = server_filters


async def stock_left(live: LiveApp, room: str, pid: str) -> int:
    status, view = await live.call("GET", f"/api/rooms/{room}/products/{pid}", "someone")
    assert status == 200, view
    return int(view["stock_left"])


async def reserve(live: LiveApp, buyers: int) -> tuple[str, str, list[str]]:
    """A live room with a product on sale and ``buyers`` expired reservations of it."""
    room = await live.live_room()
    p = await product(live, per_buyer_limit=5)
    await on_sale(live, room, p["id"], stock=buyers + 5)
    orders = []
    for i in range(buyers):
        status, body = await buy(live, room, p["id"], f"b{i}", "k")
        assert status == 201, body
        orders.append(body["order"]["id"])
    return room, p["id"], orders


async def test_poisoned_items_do_not_stop_expiry_and_are_parked(live_app_factory: Any) -> None:
    live = await live_app_factory(shelf={"reservation_ttl_ms": 1, "scheduler_interval_ms": 600000})
    svc = live.client.server.app[SERVICES]
    keys = svc.core.keys
    room, pid, _orders = await reserve(live, 3)
    # a malformed sale member (no "room|product|sale") and an order whose record is corrupt
    bad_order = f"o.{room}.0000000000000bad"
    await svc.client.zadd(keys.sales_due, {"garbage": 0})
    await svc.client.hset(keys.shelf(room).orders, bad_order, "{not json")
    await svc.client.zadd(keys.orders_due, {bad_order: 0})
    scheduler: Scheduler = svc.scheduler
    now = now_ms() + 10
    await scheduler.run_once(now)
    assert await stock_left(live, room, pid) == 8  # every good reservation expired
    entries = await svc.client.xrange(keys.shelf(room).order_stream)
    assert [f[b"type"].decode() for _id, f in entries].count("expired") == 3
    assert sample(live, "live_scheduler_failures_total", clock="shelf-scheduler") == 2
    # the bad items come back after their lease, fail again, and are parked, each logged
    with process_log() as log:
        for attempt in range(1, scheduler.park_after):
            now += scheduler.lease_ms + 1
            await scheduler.run_once(now)
            assert sample(live, "live_scheduler_failures_total",
                          clock="shelf-scheduler") == 2 * (attempt + 1)
    parked = [line for line in map(json.loads, log.getvalue().splitlines())
              if "item parked" in line["message"]]
    assert sorted(line["item"] for line in parked) == sorted(["garbage", bad_order])
    assert await svc.client.zscore(keys.sales_due, "garbage") is None  # the sale's end is left
    assert await svc.client.zrange(keys.orders_due, 0, -1) == []
    assert await svc.client.zrange(f"{keys.sales_due}:parked", 0, -1) == [b"garbage"]
    assert await svc.client.zrange(f"{keys.orders_due}:parked", 0, -1) == [bad_order.encode()]
    assert sample(live, "live_scheduler_parked", clock="shelf-scheduler") == 2
    # parked items are left alone: no more failures
    await scheduler.run_once(now + scheduler.lease_ms + 1)
    assert sample(live, "live_scheduler_failures_total",
                  clock="shelf-scheduler") == 2 * scheduler.park_after


async def test_a_poisoned_packet_does_not_stop_refunds(live_app_factory: Any) -> None:
    live = await live_app_factory(money={"scheduler_interval_ms": 600000})
    svc = live.client.server.app[SERVICES]
    keys = svc.core.keys
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    status, made = await launch(live, room, total=1000, shares=10, split="equal", duration_s=60)
    assert status == 201, made
    packet = made["packet"]
    # a packet record that is not a packet, due before the real one
    await svc.client.hset(keys.packet("rp-bogus"), "json", "{}")
    due = keys.buckets[0].key("rp:due")  # one bucket's due schedule (the clock walks each)
    await svc.client.zadd(due, {"rp-bogus": 0})
    clock = svc.packet_clock
    now = packet["expires_at"] + 1
    await clock.run_once(now)
    assert await balance(live, "alice") == 1000  # refunded in spite of the bad one
    status, view = await live.call("GET", f"/api/red-packets/{packet['id']}", "alice")
    assert view["state"] == "finished" and view["refunded"] == 1000
    for _ in range(1, clock.park_after):
        now += clock.lease_ms + 1
        await clock.run_once(now)
    assert await svc.client.zrange(due, 0, -1) == []
    assert await svc.client.zrange(f"{due}:parked", 0, -1) == [b"rp-bogus"]
    assert sample(live, "live_scheduler_failures_total",
                  clock="packet-clock") == clock.park_after
    assert sample(live, "live_scheduler_parked", clock="packet-clock") == 1


async def test_two_processes_transition_each_item_once(live_app_factory: Any) -> None:
    live = await live_app_factory(shelf={"reservation_ttl_ms": 1, "scheduler_interval_ms": 600000})
    svc = live.client.server.app[SERVICES]
    room, pid, _orders = await reserve(live, 30)
    mine: Scheduler = svc.scheduler
    theirs = Scheduler(mine.shelf, mine.orders, 600000)
    calls = sample(live, "live_valkey_seconds_count", op="order_transition")
    now = now_ms() + 10
    claimed = await asyncio.gather(mine.run_once(now), theirs.run_once(now))
    assert sum(claimed) == 30
    # each reservation was expired by one script call, not one per process
    assert sample(live, "live_valkey_seconds_count", op="order_transition") - calls == 30
    assert await stock_left(live, room, pid) == 35
    entries = await svc.client.xrange(svc.core.keys.shelf(room).order_stream)
    assert [f[b"type"].decode() for _id, f in entries].count("expired") == 30
