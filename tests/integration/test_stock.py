"""Shared stock end to end through the real app and a real Valkey: every shelf product is
buyable at its live price from the catalogue's stock, variants with their own stock and price,
the per-buyer limit across variants, flash sales drawn from the catalogue and given back, units
coming back on expiry, quotes that equal the purchase, and transfers left half-done finished by
the reconciler exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

from live_server.protocol import now_ms
from live_server.store.stock import GRACE_MS
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp
from tests.integration.test_shelf import buy, on_sale, product, save_address

SHIRT = {"options": [{"name": "Size", "values": ["S", "M", "L"]}],
         "variants": [{"options": {"Size": "S"}, "stock": 3, "price_delta": -200},
                      {"options": {"Size": "M"}, "stock": 5},
                      {"options": {"Size": "L"}, "stock": 0, "price_delta": 300,
                       "image_url": "https://x.test/l.png"}]}


async def shirt(live: LiveApp, **fields: Any) -> dict[str, Any]:
    body = {"title": "Shirt", "list_price": 3000, "live_price": 2000, "per_buyer_limit": 4,
            **SHIRT, **fields}
    status, made = await live.call("POST", "/api/products", "alice", "creator", json=body)
    assert status == 201, made
    return dict(made)


async def shelved(live: LiveApp, room: str, pid: str) -> None:
    status, body = await live.call("POST", f"/api/rooms/{room}/shelf", "alice", "creator",
                                   json={"product_id": pid})
    assert status == 201, body


async def owner_view(live: LiveApp, pid: str) -> dict[str, Any]:
    status, body = await live.call("GET", f"/api/products/{pid}", "alice", "creator")
    assert status == 200, body
    return dict(body)


async def card(live: LiveApp, room: str, pid: str, user: str = "vic") -> dict[str, Any]:
    status, body = await live.call("GET", f"/api/rooms/{room}/products/{pid}", user)
    assert status == 200, body
    return dict(body)


def by_size(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["options"].get("Size", ""): v for v in view["variants"]}


async def test_a_product_without_a_sale_is_bought_at_its_live_price(live: LiveApp) -> None:
    room = await live.live_room()
    p = await product(live, stock=5, per_buyer_limit=3)
    assert [v["id"] for v in p["variants"]] == ["v0"] and p["stock"] == 5
    await shelved(live, room, p["id"])
    view = await card(live, room, p["id"])
    assert view["window"] == "none" and view["price"] == 1500 and view["stock_left"] == 5
    assert view["may_buy"] == 3
    status, made = await buy(live, room, p["id"], "vic", "k1", quantity=2)
    assert status == 201, made
    order = made["order"]
    assert (order["unit_price"], order["subtotal"], order["discount"], order["amount"]) == (
        1500, 3000, 0, 3000)
    assert order["variant_id"] == "v0" and order["variant"] == {} and order["sale_id"] is None
    assert order["coupon_id"] is None and order["address"] is None
    owner = await owner_view(live, p["id"])
    assert owner["stock"] == 3 and owner["variants"][0]["out"] == 2
    assert (await card(live, room, p["id"], "zed"))["stock_left"] == 3
    # the rest, then nothing: sold out, with what is left when asked for too many
    status, body = await buy(live, room, p["id"], "zed", "k", quantity=3)
    assert status == 201, body
    status, body = await buy(live, room, p["id"], "vic", "k2", quantity=1)
    assert status == 409 and body["error"]["code"] == "sold_out", body
    # a cancelled reservation's units go back to the catalogue
    status, _ = await live.call("POST", f"/api/orders/{order['id']}/cancel", "vic")
    assert status == 200
    assert (await owner_view(live, p["id"]))["stock"] == 2
    status, body = await buy(live, room, p["id"], "ann", "k", quantity=3)
    assert status == 409 and body["error"] == {
        "code": "insufficient_stock", "message": "not that many left", "left": 2}


async def test_variants_have_their_own_stock_price_and_the_limit_is_per_product(
        live: LiveApp) -> None:
    room = await live.live_room()
    p = await shirt(live)
    assert p["stock"] == 8 and len({v["id"] for v in p["variants"]}) == 3
    await shelved(live, room, p["id"])
    view = await card(live, room, p["id"])
    sizes = by_size(view)
    assert {s: (v["price"], v["left"]) for s, v in sizes.items()} == {
        "S": (1800, 3), "M": (2000, 5), "L": (2300, 0)}
    assert sizes["L"]["image_url"] == "https://x.test/l.png"
    assert view["options"] == SHIRT["options"] and view["stock_left"] == 8
    # a variant must be named when there are several; a foreign one is refused
    status, body = await buy(live, room, p["id"], "vic", "k0")
    assert status == 400 and "variant_id" in body["error"]["message"], body
    status, body = await buy(live, room, p["id"], "vic", "k0", variant_id="v_nothere")
    assert status == 400 and body["error"]["code"] == "invalid_field", body
    status, body = await buy(live, room, p["id"], "vic", "k1", variant_id=sizes["L"]["id"])
    assert status == 409 and body["error"]["code"] == "sold_out", body
    status, s = await buy(live, room, p["id"], "vic", "k2", quantity=3,
                          variant_id=sizes["S"]["id"])
    assert status == 201 and s["order"]["amount"] == 5400 and s["order"]["variant"] == {
        "Size": "S"}
    # the limit (4) counts every variant of the product
    status, body = await buy(live, room, p["id"], "vic", "k3", quantity=2,
                             variant_id=sizes["M"]["id"])
    assert status == 409 and body["error"] == {
        "code": "limit_reached", "message": "over the per-buyer limit", "may_buy": 1}
    status, body = await buy(live, room, p["id"], "vic", "k4", variant_id=sizes["M"]["id"])
    assert status == 201, body
    sizes = by_size(await card(live, room, p["id"], "zed"))
    assert (sizes["S"]["left"], sizes["M"]["left"]) == (0, 4)
    owner = {v["options"]["Size"]: v for v in (await owner_view(live, p["id"]))["variants"]}
    assert (owner["S"]["stock"], owner["S"]["out"], owner["M"]["out"]) == (0, 3, 1)
    # a variant with units out cannot be removed; its stock may be set, new ones added
    keep_m_l = [{"id": owner["M"]["id"]}, {"id": owner["L"]["id"], "stock": 7}]
    status, body = await live.call("PATCH", f"/api/products/{p['id']}", "alice", "creator",
                                   json={"variants": keep_m_l})
    assert status == 409 and body["error"]["state"] == "units_out", body
    assert body["error"]["variant_id"] == owner["S"]["id"]
    status, body = await live.call(
        "PATCH", f"/api/products/{p['id']}", "alice", "creator",
        json={"variants": [*keep_m_l, {"id": owner["S"]["id"]}]})
    assert status == 200, body
    after = {v["options"]["Size"]: v for v in body["variants"]}
    assert (after["S"]["stock"], after["M"]["stock"], after["L"]["stock"]) == (0, 4, 7)
    assert body["stock"] == 11
    # a variant not in the product's options, a price below zero: refused
    for bad in ({"variants": [{"options": {"Size": "XL"}, "stock": 1}]},
                {"variants": [{"options": {"Size": "S"}, "price_delta": -2001}]},
                {"stock": 3}, {"variants": []}):
        status, body = await live.call("PATCH", f"/api/products/{p['id']}", "alice",
                                       "creator", json=bad)
        assert status == 400, (bad, body)


async def test_a_flash_sale_draws_its_units_and_the_live_price_follows_it(
        live: LiveApp) -> None:
    room = await live.live_room()
    p = await shirt(live)
    await shelved(live, room, p["id"])
    m = next(v for v in p["variants"] if v["options"] == {"Size": "M"})
    start = now_ms()
    status, body = await live.call("POST", f"/api/rooms/{room}/sales", "alice", "creator",
                                   json={"product_id": p["id"], "price": 999, "stock": 6,
                                         "end_at": start + 60_000, "variant_id": m["id"]})
    assert status == 409 and body["error"]["code"] == "insufficient_stock"
    assert body["error"]["left"] == 5
    status, body = await live.call("POST", f"/api/rooms/{room}/sales", "alice", "creator",
                                   json={"product_id": p["id"], "price": 999, "stock": 1,
                                         "end_at": start + 60_000})
    assert status == 400 and "variant_id" in body["error"]["message"], body
    status, sale = await live.call("POST", f"/api/rooms/{room}/sales", "alice", "creator",
                                   json={"product_id": p["id"], "price": 999, "stock": 2,
                                         "end_at": start + 60_000, "variant_id": m["id"]})
    assert status == 201 and sale["variant_id"] == m["id"], sale
    owner = {v["id"]: v for v in (await owner_view(live, p["id"]))["variants"]}
    assert (owner[m["id"]]["stock"], owner[m["id"]]["out"]) == (3, 2)
    sizes = by_size(await card(live, room, p["id"]))
    assert (sizes["M"]["price"], sizes["M"]["left"]) == (999, 2)
    assert (sizes["S"]["price"], sizes["S"]["left"]) == (1800, 3)  # not on sale
    # the sale's button: the sale price while it lasts, sold out after
    status, one = await buy(live, room, p["id"], "vic", "a", quantity=2, sale_id=sale["id"])
    assert status == 201 and one["order"]["amount"] == 1998, one  # the sale's variant
    assert one["order"]["variant_id"] == m["id"]
    assert one["order"]["sale_id"] == sale["id"]
    status, body = await buy(live, room, p["id"], "zed", "a", sale_id=sale["id"],
                             variant_id=m["id"])
    assert status == 409 and body["error"]["code"] == "sold_out"
    # the product is still buyable, at the live price, from the catalogue
    status, live_buy = await buy(live, room, p["id"], "zed", "b", variant_id=m["id"])
    assert status == 201 and live_buy["order"]["unit_price"] == 2000, live_buy
    assert live_buy["order"]["sale_id"] is None
    # a cancelled sale's units go back to the catalogue
    s = next(v for v in p["variants"] if v["options"] == {"Size": "S"})
    status, sale2 = await live.call("POST", f"/api/rooms/{room}/sales", "alice", "creator",
                                    json={"product_id": p["id"], "price": 500, "stock": 3,
                                          "end_at": now_ms() + 60_000, "variant_id": s["id"]})
    assert status == 201, sale2
    assert {v["id"]: v["stock"] for v in (await owner_view(live, p["id"]))["variants"]}[
        s["id"]] == 0
    status, _ = await live.call("DELETE", f"/api/rooms/{room}/sales/{p['id']}", "alice",
                                "creator")
    assert status == 200
    owner = {v["id"]: v for v in (await owner_view(live, p["id"]))["variants"]}
    assert (owner[s["id"]]["stock"], owner[s["id"]]["out"]) == (3, 0)
    assert (owner[m["id"]]["stock"], owner[m["id"]]["out"]) == (2, 3)


async def test_expired_reservations_give_their_units_back_to_the_catalogue(
        live_app_factory: Any) -> None:
    live = await live_app_factory(shelf={"reservation_ttl_ms": 1})
    room = await live.live_room()
    p = await product(live, stock=4, per_buyer_limit=4)
    await shelved(live, room, p["id"])
    orders = [(await buy(live, room, p["id"], f"b{i}", "k", quantity=1))[1]["order"]["id"]
              for i in range(3)]
    assert (await owner_view(live, p["id"]))["stock"] == 1
    svc = live.client.app[SERVICES]
    await asyncio.sleep(0.01)
    now = now_ms()
    results = await asyncio.gather(
        *(svc.orders.store.transition(o, "expire", actor="system", now=now)
          for o in orders for _ in range(4)), return_exceptions=True)
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 3
    await asyncio.gather(*(svc.scheduler.run_once(now) for _ in range(3)))
    owner = await owner_view(live, p["id"])
    assert owner["stock"] == 4 and owner["variants"][0]["out"] == 0
    assert (await card(live, room, p["id"]))["stock_left"] == 4


async def test_ending_the_room_or_removing_the_product_gives_the_allotment_back(
        live: LiveApp) -> None:
    svc = live.client.app[SERVICES]
    room = await live.live_room()
    p = await product(live, stock=10, per_buyer_limit=5)
    await shelved(live, room, p["id"])
    # units drawn into the room but not sold (a draw whose buy went elsewhere)
    await svc.shelf.store.stock.draw("alice", room, p["id"], "v0", 4, now_ms())
    assert (await owner_view(live, p["id"]))["variants"][0]["out"] == 4
    status, _ = await live.call("DELETE", f"/api/rooms/{room}/shelf/{p['id']}", "alice",
                                "creator")
    assert status == 200
    owner = await owner_view(live, p["id"])
    assert owner["stock"] == 10 and owner["variants"][0]["out"] == 0
    await shelved(live, room, p["id"])
    await svc.shelf.store.stock.draw("alice", room, p["id"], "v0", 3, now_ms())
    status, _ = await live.call("POST", f"/api/rooms/{room}/end", "alice", "creator")
    assert status == 200
    later = now_ms() + 60_000  # past the allotment check's interval
    await svc.scheduler.run_once(later)
    owner = await owner_view(live, p["id"])
    assert owner["stock"] == 10 and owner["variants"][0]["out"] == 0


async def test_a_transfer_left_half_done_is_finished_once_by_the_reconciler(
        live: LiveApp) -> None:
    svc = live.client.app[SERVICES]
    stock = svc.shelf.store.stock
    room = await live.live_room()
    p = await product(live, stock=10, per_buyer_limit=5)
    await shelved(live, room, p["id"])
    now = now_ms()
    # the first step only: the units left the catalogue, the process "died"
    record, left = await stock.take_draw("alice", room, p["id"], "v0", 4, now)
    assert left == 6 and record["units"] == 4
    assert (await card(live, room, p["id"]))["stock_left"] == 6  # in flight: neither side
    # inside the grace the reconciler leaves it to its process
    await asyncio.gather(*(svc.scheduler.run_once(now + 100) for _ in range(3)))
    assert await stock.pending("u|alice")
    # after it, every process's pass at once: credited exactly once
    later = now + GRACE_MS + 1
    await asyncio.gather(*(svc.scheduler.run_once(later) for _ in range(4)))
    assert not await stock.pending("u|alice")
    assert await stock.allotment(room, [f"{p['id']}:v0"]) == {f"{p['id']}:v0": 4}
    assert (await card(live, room, p["id"]))["stock_left"] == 10
    # the dead process's own credit, had it come back, changes nothing
    assert await stock.finish({**record}, later) is False
    assert await stock.allotment(room, [f"{p['id']}:v0"]) == {f"{p['id']}:v0": 4}
    # the room sells them; the catalogue keeps its 6
    status, body = await buy(live, room, p["id"], "vic", "k", quantity=4)
    assert status == 201, body
    owner = await owner_view(live, p["id"])
    assert owner["stock"] == 6 and owner["variants"][0]["out"] == 4
    # a give-back recorded by an order's cancel, its process dead before the credit
    oid = body["order"]["id"]
    await stock.expect_room_transfer(room, later)  # as the order store does first
    reply = await svc.core.script(
        "order_transition", *_transition_call(svc, room, oid, "cancel", later))
    assert reply[0] == b"ok" and reply[2]
    assert (await owner_view(live, p["id"]))["stock"] == 6  # not credited yet
    await svc.scheduler.run_once(later + GRACE_MS + 1)
    owner = await owner_view(live, p["id"])
    assert owner["stock"] == 10 and owner["variants"][0]["out"] == 0
    await svc.scheduler.run_once(later + 2 * GRACE_MS + 2)
    assert (await owner_view(live, p["id"]))["stock"] == 10


def _transition_call(svc: Any, room: str, order_id: str, action: str,
                     now: int) -> tuple[list[str], list[Any]]:
    """The order transition script's keys and arguments, as the store passes them (to run the
    script alone, as a process that dies right after it would)."""
    keys = svc.core.keys
    k, s, c = keys.room(room), keys.shelf(room), keys.coupons(room)
    return ([s.orders, s.sales, s.left, s.bought, s.order_stream, s.earnings, s.ledger, k.seq,
             k.events, s.products, keys.transfers_out(f"r|{room}"), c.coupons, c.uses],
            [k.channel, 100, now, order_id, action, "vic", "", 1000, "", 0, "", ""])


async def test_quote_equals_the_purchase_with_the_best_coupon(live: LiveApp) -> None:
    room = await live.live_room()
    p = await shirt(live)
    await shelved(live, room, p["id"])
    m = next(v for v in p["variants"] if v["options"] == {"Size": "M"})
    now = now_ms()
    coupons = []
    for body in ({"title": "5 off", "kind": "amount", "amount_off": 500, "min_spend": 3000},
                 {"title": "10%", "kind": "percent", "percent_bp": 1000, "max_off": 450},
                 {"title": "Big", "kind": "amount", "amount_off": 3000, "min_spend": 90000}):
        status, made = await live.call("POST", f"/api/rooms/{room}/coupons", "alice",
                                       "creator", json={**body, "quota": 10,
                                                        "end_at": now + 600_000})
        assert status == 201, made
        coupons.append(made)
        status, claimed = await live.call(
            "POST", f"/api/rooms/{room}/coupons/{made['id']}/claim", "vic")
        assert status in (200, 201), claimed
    args = {"product_id": p["id"], "variant_id": m["id"], "quantity": 2, "coupon_id": "best"}
    status, quote = await live.call("POST", f"/api/rooms/{room}/quote", "vic", json=args)
    assert status == 200, quote
    assert (quote["unit_price"], quote["subtotal"], quote["discount"], quote["amount"]) == (
        2000, 4000, 500, 3500)
    assert quote["coupon_id"] == coupons[0]["id"] and quote["left"] == 5
    listed = {c["id"]: c for c in quote["coupons"]}
    assert listed[coupons[1]["id"]]["discount"] == 400 and listed[coupons[1]["id"]]["usable"]
    assert listed[coupons[2]["id"]]["reason"] == "min_spend"
    status, made = await live.call("POST", f"/api/rooms/{room}/buy", "vic",
                                   json={**args, "idempotency_key": "q1",
                                         "expected_amount": quote["amount"]})
    assert status == 201, made
    order = made["order"]
    assert (order["subtotal"], order["discount"], order["amount"], order["coupon_id"]) == (
        4000, 500, 3500, coupons[0]["id"])
    # the copy is used: the next best applies; a stale expected amount is refused
    status, body = await live.call("POST", f"/api/rooms/{room}/buy", "vic",
                                   json={**args, "quantity": 1, "idempotency_key": "q2",
                                         "expected_amount": 1500})
    assert status == 409 and body["error"] == {
        "code": "price_changed", "message": "the amount changed", "amount": 1800}, body
    status, body = await live.call("POST", f"/api/rooms/{room}/buy", "vic",
                                   json={**args, "quantity": 1, "idempotency_key": "q3",
                                         "coupon_id": coupons[0]["id"]})
    assert status == 409 and body["error"]["code"] == "coupon_unusable", body
    # cancelling gives the copy back, and paying the commission is on the amount paid
    status, _ = await live.call("POST", f"/api/orders/{order['id']}/cancel", "vic")
    assert status == 200
    status, quote = await live.call("POST", f"/api/rooms/{room}/quote", "vic", json=args)
    assert quote["coupon_id"] == coupons[0]["id"] and quote["amount"] == 3500
    status, made = await live.call("POST", f"/api/rooms/{room}/buy", "vic",
                                   json={**args, "idempotency_key": "q4"})
    await save_address(live, "vic")
    status, paid = await live.call("POST", f"/api/orders/{made['order']['id']}/pay", "vic",
                                   json={})
    assert status == 200 and paid["state"] == "paid", paid
    _, listing = await live.call("GET", f"/api/rooms/{room}/orders", "alice", "creator")
    assert listing["totals"]["gmv"] == 3500


async def test_bad_purchases_are_refused_and_reserve_nothing(live: LiveApp) -> None:
    room = await live.live_room()
    p = await shirt(live)
    other = await product(live, stock=5)
    await shelved(live, room, p["id"])
    await shelved(live, room, other["id"])
    m = next(v for v in p["variants"] if v["options"] == {"Size": "M"})
    before = await card(live, room, p["id"])
    cases = [
        ({"variant_id": "v0"}, 400, "invalid_field"),  # the other product's variant
        ({"variant_id": m["id"], "quantity": 10**9}, 400, "invalid_field"),
        ({"variant_id": m["id"], "quantity": -2}, 400, "invalid_field"),
        ({"variant_id": m["id"], "size": "M"}, 400, "invalid_field"),
        ({"variant_id": m["id"], "quantity": 6}, 409, "limit_reached"),
        ({"variant_id": m["id"], "sale_id": "s_0000"}, 409, "sale_ended"),
        ({"variant_id": m["id"], "coupon_id": "c_nothere"}, 409, "coupon_unusable"),
        ({"variant_id": m["id"], "expected_amount": 1}, 409, "price_changed"),
    ]
    for extra, code, err in cases:
        for path in ("buy", "quote"):
            body = {"product_id": p["id"], **extra}
            if path == "buy":
                body["idempotency_key"] = "k"
            status, answer = await live.call("POST", f"/api/rooms/{room}/{path}", "vic",
                                             json=body)
            assert (status, answer["error"]["code"]) == (code, err), (path, extra, answer)
    after = await card(live, room, p["id"])
    assert after["variants"] == before["variants"] and after["bought"] == 0
    assert (await owner_view(live, p["id"]))["stock"] == 8
    _, mine = await live.call("GET", "/api/me/orders", "vic")
    assert mine["orders"] == []


async def test_two_rooms_share_one_catalogue_without_overselling(live: LiveApp) -> None:
    """In-process twin of the two-process test (tests/integration/test_stock_processes.py):
    two rooms and a sale compete for 30 units."""
    rooms = [await live.live_room(), await live.live_room()]
    p = await product(live, stock=30, per_buyer_limit=1)
    for room in rooms:
        await shelved(live, room, p["id"])
    sale = await on_sale(live, rooms[0], p["id"], stock=10, price=500)
    results = await asyncio.gather(*(
        buy(live, rooms[i % 2], p["id"], f"u{i}", "k",
            **({"sale_id": sale["id"]} if i % 4 == 0 else {})) for i in range(60)))
    made = [body["order"] for status, body in results if status == 201]
    assert {body["error"]["code"] for status, body in results if status != 201} <= {
        "sold_out", "insufficient_stock"}
    assert len(made) == 30
    owner = await owner_view(live, p["id"])
    assert owner["stock"] == 0 and owner["variants"][0]["out"] == 30


async def test_the_demo_shelf_has_variants_with_stock(live: LiveApp) -> None:
    from live_server.demo import seed
    made = await seed(live.settings)
    room = made["room_id"]
    status, shelf = await live.call("GET", f"/api/rooms/{room}/shelf")
    assert status == 200, shelf
    cardigan, scarf, mug = shelf["products"]
    assert shelf["pinned"]["id"] == cardigan["id"]
    lefts = {(v["options"]["Size"], v["options"]["Colour"]): (v["price"], v["left"])
             for v in cardigan["variants"]}
    assert lefts[("M", "Oat")] == (39900, 20) and lefts[("L", "Forest")] == (41900, 0)
    assert [(v["id"], v["left"]) for v in scarf["variants"]] == [("v0", 50)]
    status, made_order = await buy(live, room, mug["id"], "vic", "demo")
    assert status == 201 and made_order["order"]["amount"] == 3500
