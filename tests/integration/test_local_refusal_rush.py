"""Exactness is unchanged by local refusals: 500 buyers and 500 grabbers at once, over two
processes (two apps on the same keys, each following the room through a viewer), never take
more than there is, every loser is told the script's refusal, and the money adds up."""

from __future__ import annotations

import asyncio
from typing import Any

from live_server.services.wallets import audit
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import Viewer
from tests.integration.test_local_refusal import launch, local_refusals, other_process
from tests.integration.test_shelf import on_sale, product

RUSH = 500


async def two_processes(live: LiveApp, factory: Any, room: str) -> tuple[LiveApp, list[Viewer]]:
    other = await other_process(live, factory)
    watchers = [await Viewer.connect(app.base, room, token(f"w{n}"))
                for n, app in enumerate((live, other))]
    for w in watchers:
        await w.wait_welcome()
    return other, watchers


async def test_five_hundred_buyers_over_two_processes_take_exactly_the_units(
        live: LiveApp, live_app_factory: Any) -> None:
    room = await live.live_room()
    p = await product(live, per_buyer_limit=1)
    other, watchers = await two_processes(live, live_app_factory, room)
    units = 50
    sale = await on_sale(live, room, p["id"], stock=units)
    apps = (live, other)

    async def buy(n: int) -> tuple[int, Any]:
        return await apps[n % 2].call("POST", f"/api/rooms/{room}/buy", f"b{n}", json={
            "product_id": p["id"], "quantity": 1, "sale_id": sale["id"],
            "idempotency_key": f"k{n}"})

    results = await asyncio.gather(*(buy(n) for n in range(RUSH)))
    won = [body["order"] for status, body in results if status == 201]
    lost = [body["error"] for status, body in results if status != 201]
    assert len(won) == units and len({o["buyer"] for o in won}) == units
    assert {e["code"] for e in lost} == {"sold_out"} and len(lost) == RUSH - units
    assert all(e == {"code": "sold_out", "message": "sold out"} for e in lost)
    status, orders = await live.call("GET", f"/api/rooms/{room}/orders?limit=1000", "alice",
                                     "creator")
    assert status == 200 and len(orders["orders"]) == units
    here = sum(local_refusals(app).get(("sold_out", stage), 0)
               for app in apps for stage in ("at_once", "after_wait"))
    assert here <= RUSH - units  # every one of them a loser
    # after the rush every late buy is answered by the process, wherever it lands
    await asyncio.gather(*(w.wait_for(lambda w=w: w.of_type("sale_ended")) for w in watchers))
    late = await asyncio.gather(*(buy(n) for n in range(RUSH, RUSH + 20)))
    assert {body["error"]["code"] for _s, body in late} == {"sold_out"}
    after = sum(local_refusals(app).get(("sold_out", "at_once"), 0) for app in apps)
    assert after >= 20
    for w in watchers:
        await w.close()


async def test_five_hundred_grabbers_over_two_processes_take_exactly_the_packet(
        live: LiveApp, live_app_factory: Any) -> None:
    room = await live.live_room()
    other, watchers = await two_processes(live, live_app_factory, room)
    shares = 50
    pid = await launch(live, room, shares)
    apps = (live, other)

    async def grab(n: int) -> tuple[int, Any]:
        return await apps[n % 2].call("POST", f"/api/red-packets/{pid}/grab", f"g{n}")

    results = await asyncio.gather(*(grab(n) for n in range(RUSH)))
    won = [body for status, body in results if status == 200]
    lost = [body["error"] for status, body in results if status != 200]
    assert len(won) == shares
    assert {e["code"] for e in lost} == {"none_left"} and len(lost) == RUSH - shares
    status, packet = await live.call("GET", f"/api/red-packets/{pid}", "alice")
    assert status == 200 and packet["shares_left"] == 0 and packet["amount_left"] == 0
    record = packet["record"]
    assert len(record) == shares and len({r["user"] for r in record}) == shares
    assert sum(r["amount"] for r in record) == packet["total"] == sum(w["amount"] for w in won)
    # every winner retrying is told their own amount, wherever the retry lands
    again = await asyncio.gather(*(apps[(n + 1) % 2].call(
        "POST", f"/api/red-packets/{pid}/grab", r["user"]) for n, r in enumerate(record)))
    assert all(body["error"]["code"] == "already_grabbed" for _s, body in again)
    assert [body["error"]["amount"] for _s, body in again] == [r["amount"] for r in record]
    s = live.client.app[SERVICES]
    report = await audit(s.wallets.store, s.red_packets.store)
    assert report.mismatches == [], report.mismatches
    for w in watchers:
        await w.close()
