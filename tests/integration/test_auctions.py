"""Live auctions end to end through the real app and a real Valkey: opening one, bids with the
increment table and proxy maxima, idempotent retries, anti-snipe and sudden death by the
server's clock, the winner's one order paid through the normal flow, an unpaid order offered to
the next bidder, cancelling, and who may do what."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from live_server.protocol import now_ms
from live_server.services.auctions import AuctionAudit
from live_server.services.wallets import audit
from live_server.store.red_packets import RedPacketStore
from live_server.store.wallets import WalletStore
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import Viewer
from tests.integration.test_shelf import product, save_address

FAST = {"min_duration_ms": 100, "scheduler_interval_ms": 30}


async def shelf_product(live: LiveApp, room: str, stock: int = 5) -> str:
    p = await product(live, stock=stock)
    status, body = await live.call("POST", f"/api/rooms/{room}/shelf", "alice", "creator",
                                   json={"product_id": p["id"]})
    assert status == 201, body
    return str(p["id"])


async def open_auction(live: LiveApp, room: str, pid: str, **fields: Any) -> dict[str, Any]:
    body = {"product_id": pid, "start_price": 1000, "duration_ms": 60_000, **fields}
    status, made = await live.call("POST", f"/api/rooms/{room}/auctions", "alice", "creator",
                                   json=body)
    assert status == 201, made
    return dict(made)


async def bid(live: LiveApp, room: str, auction_id: str, user: str | None, amount: int, key: str,
              max_amount: int | None = None) -> tuple[int, Any]:
    body: dict[str, Any] = {"amount": amount, "idempotency_key": key}
    if max_amount is not None:
        body["max_amount"] = max_amount
    return await live.call("POST", f"/api/rooms/{room}/auctions/{auction_id}/bids", user,
                           json=body)


async def event(v: Viewer, kind: str) -> dict[str, Any]:
    found: dict[str, Any] = await v.wait_for(lambda: next(iter(v.of_type(kind)), None))
    return found


async def room_events(live: LiveApp, room: str, kind: str) -> list[dict[str, Any]]:
    svc = live.client.app[SERVICES]
    entries = await svc.client.xrange(svc.core.keys.room(room).events)
    out = []
    for _id, fields in entries:
        if fields[b"t"].decode() == kind:
            out.append(orjson.loads(fields[b"e"]))
    return out


async def audit_mismatches(live: LiveApp) -> list[str]:
    """What the money audit's auction check finds (wallets and packets are not at stake)."""
    svc = live.client.app[SERVICES]
    report = await audit(WalletStore(svc.core, recent_max=10),
                         RedPacketStore(svc.core, history_max=10, recent_max=10),
                         (AuctionAudit(svc.auctions.store),))
    return [m for m in report.mismatches if m.startswith("auction")]


async def wait_state(live: LiveApp, room: str, *states: str) -> dict[str, Any]:
    for _ in range(200):
        status, view = await live.call("GET", f"/api/rooms/{room}/auction", "vic")
        assert status == 200, view
        if view["auction"]["state"] in states:
            return dict(view["auction"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"the auction never reached {states}: {view}")


async def allotment(live: LiveApp, room: str, pid: str) -> int:
    svc = live.client.app[SERVICES]
    raw = await svc.client.hget(svc.core.keys.allotment(room), f"{pid}:v0")
    return int(raw or 0)


async def test_bids_follow_the_increments_and_proxy_maxima(live: LiveApp) -> None:
    room = await live.live_room()
    pid = await shelf_product(live, room)
    a = await open_auction(live, room, pid, increments=[{"below": 2000, "step": 100},
                                                         {"step": 500}])
    assert a["state"] == "open" and a["price"] == 0 and a["title"] == "Tea"
    aid = a["id"]
    status, view = await live.call("GET", f"/api/rooms/{room}/auction", "vic")
    assert status == 200 and view["next_min"] == 1000 and view["auction"]["id"] == aid
    assert abs(view["server_time"] - now_ms()) < 5000
    # below the start: refused with the minimum
    status, body = await bid(live, room, aid, "vic", 999, "k0")
    assert status == 409 and body["error"]["code"] == "bid_too_low"
    assert body["error"]["min"] == 1000
    # vic opens at the start with a proxy maximum of 1500
    status, body = await bid(live, room, aid, "vic", 1000, "k1", max_amount=1500)
    assert status == 200 and body["price"] == 1000 and body["leading"] is True, body
    # the same key again: the same reply, nothing new
    status, again = await bid(live, room, aid, "vic", 1000, "k1", max_amount=1500)
    assert again == body
    # the leader may not outbid themselves, but may raise their maximum (no event)
    status, body = await bid(live, room, aid, "vic", 1100, "k2")
    assert status == 409 and body["error"]["code"] == "already_leading"
    status, body = await bid(live, room, aid, "vic", 1100, "k3", max_amount=1600)
    assert status == 200 and body["raised"] is True and body["price"] == 1000
    # bob bids 1100 (max 1400): vic's proxy answers at 1400 + 100, capped at 1600 → 1500
    status, body = await bid(live, room, aid, "bob", 1100, "b1", max_amount=1400)
    assert status == 200 and body["leading"] is False and body["price"] == 1500, body
    # bob bids 1500 with a max of 3000 (under the minimum 1600: refused)
    status, body = await bid(live, room, aid, "bob", 1500, "b2", max_amount=3000)
    assert status == 409 and body["error"]["min"] == 1600
    # bob 1600 max 3000: he leads at vic's max plus one step (1600 + 100)
    status, body = await bid(live, room, aid, "bob", 1600, "b3", max_amount=3000)
    assert status == 200 and body["leading"] is True and body["price"] == 1700, body
    # above 2000 the step is 500: carol bids 2500 (max 2500); bob's proxy answers 2500 + 500
    # capped at 3000; a tie at 3000 goes to the earlier maximum
    status, body = await bid(live, room, aid, "carol", 2500, "c1")
    assert status == 200 and body["price"] == 3000 and body["leading"] is False, body
    status, body = await bid(live, room, aid, "carol", 3500, "c2")
    assert status == 200 and body["price"] == 3500 and body["leading"] is True, body
    # every accepted bid is one event, prices strictly increasing, every one saying who leads
    events = await room_events(live, room, "auction_bid")
    prices = [e["data"]["price"] for e in events]
    assert prices == [1000, 1500, 1700, 3000, 3500]
    assert [e["data"]["leader_name"] for e in events] == ["Vic", "Vic", "Bob", "Bob", "Carol"]
    assert all(e["data"]["now"] <= e["data"]["end_at"] for e in events)
    status, view = await live.call("GET", f"/api/rooms/{room}/auction", "bob")
    assert view["next_min"] == 4000 and view["you"] == {"max": 3000, "leading": False}


async def test_anti_snipe_extends_and_the_winner_pays_one_order(live_app_factory: Any) -> None:
    live = await live_app_factory(auctions=FAST)
    room = await live.live_room()
    pid = await shelf_product(live, room, stock=3)
    v = await Viewer.connect(live.base, room, token("vic"))
    try:
        await v.wait_welcome()
        a = await open_auction(live, room, pid, duration_ms=1200, snipe_ms=1000)
        started = await event(v, "auction_started")
        assert started["data"]["auction"]["id"] == a["id"]
        await asyncio.sleep(0.5)  # inside the last second: the end moves to now + 1 s
        status, body = await bid(live, room, a["id"], "vic", 1000, "k1")
        assert status == 200, body
        ev = await event(v, "auction_bid")
        assert ev["data"]["extended"] is True
        assert ev["data"]["end_at"] == ev["data"]["now"] + 1000 > a["end_at"]
        ended = await event(v, "auction_ended")
        assert ended["data"]["result"] == "sold"
        assert ended["data"]["server_time"] >= ev["data"]["end_at"]
        # a late bid is refused by the server's clock
        status, body = await bid(live, room, a["id"], "bob", 5000, "late")
        assert status == 409 and body["error"]["code"] == "auction_closed"
    finally:
        await v.close()
    done = await wait_state(live, room, "awaiting")
    assert done["buyer"] == "vic" and done["offer_price"] == 1000
    status, mine = await live.call("GET", "/api/me/orders", "vic")
    orders = [o for o in mine["orders"] if o.get("auction_id") == a["id"]]
    assert len(orders) == 1 and orders[0]["amount"] == 1000 and orders[0]["state"] == "reserved"
    # the clock may run the settled auction again: still one order
    svc = live.client.app[SERVICES]
    await svc.auctions.tick(f"{room}|{a['id']}", now_ms())
    status, listing = await live.call("GET", f"/api/rooms/{room}/orders", "alice", "creator")
    assert [o["id"] for o in listing["orders"] if o.get("auction_id")] == [orders[0]["id"]]
    await save_address(live, "vic")
    status, paid = await live.call("POST", f"/api/orders/{orders[0]['id']}/pay", "vic",
                                   json={"outcome": "confirm"})
    assert status == 200 and paid["state"] == "paid", paid
    assert (await wait_state(live, room, "paid"))["state"] == "paid"
    status, listing = await live.call("GET", f"/api/rooms/{room}/orders", "alice", "creator")
    assert listing["totals"]["gmv"] == 1000 and listing["totals"]["paid_orders"] == 1
    # the show report counts it: one auction held, sold, 10.00 of revenue
    status, report = await live.call("GET", f"/api/rooms/{room}/report", "alice", "creator")
    assert status == 200, report
    h = report["headline"]
    assert (h["auctions"], h["auctions_sold"], h["auction_revenue"]) == (1, 1, 1000)
    assert h["gmv"] == 1000
    # the audit agrees with the books, and sees a tampered order
    assert await audit_mismatches(live) == []
    svc = live.client.app[SERVICES]
    orders_key = svc.core.keys.shelf(room).orders
    order = orjson.loads(await svc.client.hget(orders_key, orders[0]["id"]))
    await svc.client.hset(orders_key, order["id"], orjson.dumps({**order, "amount": 900}))
    found = await audit_mismatches(live)
    assert any("the winner's order is" in m for m in found), found
    await svc.client.hset(orders_key, order["id"], orjson.dumps(order))
    assert await audit_mismatches(live) == []


async def test_sudden_death_never_extends(live_app_factory: Any) -> None:
    live = await live_app_factory(auctions=FAST)
    room = await live.live_room()
    pid = await shelf_product(live, room)
    a = await open_auction(live, room, pid, duration_ms=800, mode="sudden_death")
    await asyncio.sleep(0.5)
    status, body = await bid(live, room, a["id"], "vic", 1000, "k1")
    assert status == 200 and body["end_at"] == a["end_at"], body
    ended = await wait_state(live, room, "awaiting")
    assert ended["end_at"] == a["end_at"] and ended["extended"] == 0


async def test_an_unpaid_win_goes_to_the_next_bidder_at_their_max_then_is_cancelled(
        live_app_factory: Any) -> None:
    live = await live_app_factory(auctions={**FAST, "pay_within_ms": 300},
                                  shelf={"scheduler_interval_ms": 30})
    room = await live.live_room()
    pid = await shelf_product(live, room, stock=1)
    a = await open_auction(live, room, pid, duration_ms=600, mode="sudden_death")
    assert (await bid(live, room, a["id"], "bob", 1000, "b1", max_amount=1300))[0] == 200
    assert (await bid(live, room, a["id"], "vic", 1100, "v1", max_amount=2000))[0] == 200
    assert (await bid(live, room, a["id"], "carol", 1500, "c1"))[0] == 200
    first = await wait_state(live, room, "awaiting")
    assert first["buyer"] == "vic" and first["price"] == 1600  # carol's 1500 + 100
    # vic never pays: the order expires, carol (the next highest max) is offered it at 1500
    for _ in range(100):
        second = await wait_state(live, room, "awaiting", "cancelled")
        if second["offers"] == 2:
            break
        await asyncio.sleep(0.05)
    assert second["buyer"] == "carol" and second["offer_price"] == 1500, second
    status, carols = await live.call("GET", "/api/me/orders", "carol")
    assert [o["amount"] for o in carols["orders"] if o.get("auction_id")] == [1500]
    # carol does not pay either: cancelled after one second chance (bob is not asked)
    final = await wait_state(live, room, "cancelled")
    assert final["reason"] == "unpaid"
    status, bobs = await live.call("GET", "/api/me/orders", "bob")
    assert not [o for o in bobs["orders"] if o.get("auction_id")]
    # the unit went back with each expired order: nothing is held by the room for it
    await asyncio.sleep(0.3)
    status, p = await live.call("GET", f"/api/products/{pid}", "alice", "creator")
    assert status == 200 and p["stock"] + await allotment(live, room, pid) == 1
    assert await audit_mismatches(live) == []  # two offers, both expired, nothing sold


async def test_unsold_and_cancelled_auctions_give_the_unit_back(live_app_factory: Any) -> None:
    live = await live_app_factory(auctions=FAST)
    room = await live.live_room()
    pid = await shelf_product(live, room, stock=1)
    a = await open_auction(live, room, pid, duration_ms=300)
    # one open auction per room
    status, body = await live.call("POST", f"/api/rooms/{room}/auctions", "alice", "creator",
                                   json={"product_id": pid, "start_price": 100,
                                         "duration_ms": 1000})
    assert status == 409 and body["error"]["code"] == "auction_exists"
    assert body["error"]["auction_id"] == a["id"]
    unsold = await wait_state(live, room, "unsold")
    assert unsold["reason"] == "no_bids"
    assert await allotment(live, room, pid) == 1
    # the unit is there again: a new auction, cancelled before its first bid
    b = await open_auction(live, room, pid)
    status, body = await live.call("DELETE", f"/api/rooms/{room}/auctions/{b['id']}", "alice",
                                   "creator")
    assert status == 200 and body["state"] == "cancelled", body
    assert await allotment(live, room, pid) == 1
    # after a bid it cannot be cancelled
    c = await open_auction(live, room, pid)
    assert (await bid(live, room, c["id"], "vic", 1000, "k"))[0] == 200
    status, body = await live.call("DELETE", f"/api/rooms/{room}/auctions/{c['id']}", "alice",
                                   "creator")
    assert status == 409 and body["error"]["code"] == "auction_has_bids"
    # no unit left anywhere: a new auction is refused
    status, body = await live.call("POST", f"/api/rooms/{room}/auctions", "alice", "creator",
                                   json={"product_id": pid, "start_price": 100,
                                         "duration_ms": 1000})
    assert status == 409 and body["error"]["code"] in ("auction_exists", "sold_out")
    assert await audit_mismatches(live) == []


async def test_who_may_do_what_and_bad_input(live: LiveApp) -> None:
    room = await live.live_room()
    pid = await shelf_product(live, room)
    body = {"product_id": pid, "start_price": 1000, "duration_ms": 60_000}
    for user, role, code in (("vic", "viewer", 403), ("bob", "creator", 403),
                             (None, "viewer", 401), ("ops1", "ops", 403)):
        status, _ = await live.call("POST", f"/api/rooms/{room}/auctions", user, role,
                                    json=body)
        assert status == code, (user, role, status)
    for bad in ({"start_price": 0}, {"duration_ms": 5}, {"mode": "slow"},
                {"increments": [{"below": 100, "step": 0}, {"step": 10}]},
                {"increments": [{"below": 500, "step": 10}, {"below": 100, "step": 10},
                                {"step": 10}]},
                {"increments": [{"step": 10, "below": 100}]}, {"nope": 1}):
        status, err = await live.call("POST", f"/api/rooms/{room}/auctions", "alice",
                                      "creator", json={**body, **bad})
        assert status == 400 and err["error"]["code"] == "invalid_field", (bad, err)
    a = await open_auction(live, room, pid)
    status, err = await bid(live, room, a["id"], None, 1000, "k")
    assert status == 403 and err["error"]["code"] == "forbidden"  # a logged-in user only
    status, err = await bid(live, room, a["id"], "vic", 1000, "k", max_amount=900)
    assert status == 400 and err["error"]["code"] == "invalid_field"
    status, err = await bid(live, room, "a_0000", "vic", 1000, "k")
    assert status == 404
    status, err = await live.call("GET", f"/api/rooms/{room}/auctions", "vic")
    assert status == 403
    status, listing = await live.call("GET", f"/api/rooms/{room}/auctions", "alice", "creator")
    assert [x["id"] for x in listing["auctions"]] == [a["id"]]
    status, live_list = await live.call("GET", "/api/ops/auctions", "ops1", "ops")
    assert status == 200 and a["id"] in [x["id"] for x in live_list["auctions"]]
    assert (await live.call("GET", "/api/ops/auctions", "vic"))[0] == 403


async def test_bids_over_the_room_socket(live: LiveApp) -> None:
    room = await live.live_room()
    pid = await shelf_product(live, room)
    a = await open_auction(live, room, pid)
    v = await Viewer.connect(live.base, room, token("vic"))
    try:
        await v.wait_welcome()
        view = (await v.request("auction"))["data"]
        assert view["auction"]["id"] == a["id"] and view["next_min"] == 1000
        reply = (await v.request("auction_bid", auction_id=a["id"], amount=1000,
                                 idempotency_key="w1"))["data"]
        assert reply["leading"] is True and reply["price"] == 1000
        err = await v.request("auction_bid", auction_id=a["id"], amount=1000,
                              idempotency_key="w2")
        assert err["type"] == "error" and err["error"]["code"] == "already_leading"
        event_ = await event(v, "auction_bid")
        assert event_["data"]["price"] == 1000 and event_["data"]["leader_id"] == "vic"
    finally:
        await v.close()
