"""The live shelf end to end through the real app and a real Valkey: catalogue, shelf, pin,
flash sales, buying, orders, payments, permissions and bad input."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from typing import Any

import orjson

from live_server.protocol import now_ms
from live_server.services.orders import sign
from tests.conftest import LiveApp, token
from tests.helpers import Viewer

PRODUCT = {"title": "Tea", "description": "Green tea", "image_url": "https://x.test/t.png",
           "list_price": 2000, "live_price": 1500, "currency": "CNY", "stock": 500,
           "per_buyer_limit": 2, "commission_bp": 1250}


async def product(live: LiveApp, creator: str = "alice", **fields: Any) -> dict[str, Any]:
    status, body = await live.call("POST", "/api/products", creator, "creator",
                                   json={**PRODUCT, **fields})
    assert status == 201, body
    return dict(body)


async def on_sale(live: LiveApp, room: str, pid: str, *, stock: int = 10, price: int = 999,
                  start_in: int = 0, length: int = 600_000) -> dict[str, Any]:
    status, _ = await live.call("POST", f"/api/rooms/{room}/shelf", "alice", "creator",
                                json={"product_id": pid})
    assert status in (201, 400)
    start = now_ms() + start_in
    status, sale = await live.call("POST", f"/api/rooms/{room}/sales", "alice", "creator",
                                   json={"product_id": pid, "price": price, "stock": stock,
                                         "start_at": start, "end_at": start + length})
    assert status == 201, sale
    return dict(sale)


async def buy(live: LiveApp, room: str, pid: str, user: str, key: str,
              quantity: int = 1, **more: Any) -> tuple[int, Any]:
    """A purchase; ``more``: variant_id, sale_id (a flash-sale button sends it), coupon_id,
    expected_amount."""
    return await live.call("POST", f"/api/rooms/{room}/buy", user, json={
        "product_id": pid, "quantity": quantity, "idempotency_key": key, **more})


ADDRESS = {"name": "Vic Buyer", "phone": "+86 138 0000 0000", "country": "CN",
           "region": "Zhejiang", "city": "Hangzhou", "line1": "1 Tea Road", "line2": "",
           "postal_code": "310000"}


async def save_address(live: LiveApp, user: str) -> None:
    """The buyer's shipping address: paying needs one."""
    status, body = await live.call("PUT", "/api/me/address", user, json=ADDRESS)
    assert status == 200, body


async def test_catalogue_crud_and_permissions(live: LiveApp) -> None:
    p = await product(live)
    assert p["status"] == "on_sale" and p["commission_bp"] == 1250
    status, listing = await live.call("GET", "/api/products", "alice", "creator")
    assert [x["id"] for x in listing["products"]] == [p["id"]]
    status, body = await live.call("PATCH", f"/api/products/{p['id']}", "alice", "creator",
                                   json={"live_price": 1200, "title": "Tea 2"})
    assert status == 200 and body["live_price"] == 1200 and body["title"] == "Tea 2"
    # other creators, viewers and guests may not edit
    for user, role in (("bob", "creator"), ("vic", "viewer")):
        status, body = await live.call("PATCH", f"/api/products/{p['id']}", user, role,
                                       json={"live_price": 1})
        assert status == 403, body
    status, _ = await live.call("PATCH", f"/api/products/{p['id']}", json={"live_price": 1})
    assert status == 401
    status, body = await live.call("POST", "/api/products", "vic", "viewer", json=PRODUCT)
    assert status == 403
    # ops may take down, not edit
    status, body = await live.call("PATCH", f"/api/products/{p['id']}", "olga", "ops",
                                   json={"live_price": 1})
    assert status == 403
    status, body = await live.call("POST", f"/api/products/{p['id']}/takedown", "olga", "ops",
                                   json={"reason": "fake"})
    assert status == 200 and body["status"] == "taken_down"
    status, body = await live.call("DELETE", f"/api/products/{p['id']}", "alice", "creator")
    assert status == 200
    status, body = await live.call("GET", f"/api/products/{p['id']}", "alice", "creator")
    assert status == 404


async def test_bad_product_input_is_refused(live: LiveApp) -> None:
    for bad in ({"list_price": -1}, {"stock": 10**12}, {"live_price": 3000},
                {"currency": "yuan"}, {"per_buyer_limit": 0}, {"commission_bp": 10001},
                {"title": ""}, {"list_price": "12"}, {"colour": "red"}, {"stock": True}):
        status, body = await live.call("POST", "/api/products", "alice", "creator",
                                       json={**PRODUCT, **bad})
        assert status == 400, (bad, body)
        assert body["error"]["code"] in ("invalid_field", "missing_field"), body
    status, body = await live.call("GET", "/api/products/nonsense!", "alice", "creator")
    assert status == 400


async def test_shelf_pin_and_sale_events_and_late_joiner_snapshot(live: LiveApp) -> None:
    room = await live.live_room()
    a, b = await product(live, title="A"), await product(live, title="B")
    viewer = await Viewer.connect(live.base, room, token("vic"))
    await viewer.wait_welcome()
    for p in (a, b):
        status, _ = await live.call("POST", f"/api/rooms/{room}/shelf", "alice", "creator",
                                    json={"product_id": p["id"]})
        assert status == 201
    status, _ = await live.call("PUT", f"/api/rooms/{room}/shelf", "alice", "creator",
                                json={"product_ids": [b["id"], a["id"]]})
    assert status == 200
    status, _ = await live.call("PUT", f"/api/rooms/{room}/pinned", "alice", "creator",
                                json={"product_id": a["id"]})
    assert status == 200
    start = now_ms() + 400
    status, sale = await live.call("POST", f"/api/rooms/{room}/sales", "alice", "creator",
                                   json={"product_id": a["id"], "price": 500, "stock": 3,
                                         "start_at": start, "end_at": start + 60_000})
    assert status == 201 and sale["state"] == "scheduled"
    await viewer.wait_for(lambda: viewer.of_type("sale_started"))  # opened by the scheduler
    shelves = viewer.of_type("shelf_updated")
    assert [p["title"] for p in shelves[-1]["data"]["products"]] == ["B", "A"]
    assert "commission_bp" not in shelves[-1]["data"]["products"][0]
    assert viewer.of_type("product_pinned")[-1]["data"]["product"]["id"] == a["id"]
    countdown = viewer.of_type("sale_countdown")[-1]["data"]
    assert countdown["sale"]["start_at"] == start and countdown["left"] == 3
    seqs = viewer.seqs()
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    late = await Viewer.connect(live.base, room, token("lou"))
    snap = (await late.wait_welcome())["snapshot"]
    assert [p["id"] for p in snap["shelf"]] == [b["id"], a["id"]]
    assert snap["pinned"]["id"] == a["id"]
    assert snap["sales"][a["id"]]["state"] == "open" and snap["sales"][a["id"]]["left"] == 3
    # product card for a viewer
    reply = await late.request("product", product_id=a["id"])
    card = reply["data"]
    assert card["price"] == 500 and card["window"] == "open" and card["may_buy"] == 2
    # removing the pinned product clears the pin
    status, _ = await live.call("DELETE", f"/api/rooms/{room}/shelf/{a['id']}", "alice",
                                "creator")
    assert status == 200
    await late.wait_for(lambda: late.of_type("product_pinned"))
    assert late.of_type("product_pinned")[-1]["data"]["product"] is None
    for v in (viewer, late):
        await v.close()


async def test_shelf_permissions(live: LiveApp) -> None:
    room = await live.live_room()
    p = await product(live)
    other = await product(live, creator="bob")
    for user, role in (("bob", "creator"), ("vic", "viewer"), ("olga", "ops")):
        status, _ = await live.call("POST", f"/api/rooms/{room}/shelf", user, role,
                                    json={"product_id": p["id"]})
        assert status == 403
    status, _ = await live.call("POST", f"/api/rooms/{room}/shelf", None,
                                json={"product_id": p["id"]})
    assert status == 401
    # someone else's product cannot go on my shelf
    status, _ = await live.call("POST", f"/api/rooms/{room}/shelf", "alice", "creator",
                                json={"product_id": other["id"]})
    assert status == 404
    await on_sale(live, room, p["id"])
    for user, role in (("bob", "creator"), ("vic", "viewer")):
        status, _ = await live.call("PUT", f"/api/rooms/{room}/pinned", user, role,
                                    json={"product_id": p["id"]})
        assert status == 403
        status, _ = await live.call("POST", f"/api/rooms/{room}/sales", user, role,
                                    json={"product_id": p["id"], "price": 1, "stock": 1,
                                          "end_at": now_ms() + 1000})
        assert status == 403
    viewer = await Viewer.connect(live.base, room, token("vic"))
    await viewer.wait_welcome()
    reply = await viewer.request("pin", product_id=p["id"])
    assert reply["error"]["code"] == "forbidden"
    # orders of the room: creator and ops only
    status, _ = await live.call("GET", f"/api/rooms/{room}/orders", "vic")
    assert status == 403
    status, _ = await live.call("GET", f"/api/rooms/{room}/orders", "olga", "ops")
    assert status == 200
    await viewer.close()


async def test_sale_rules_and_bad_input_reserve_nothing(live: LiveApp) -> None:
    room = await live.live_room()
    p = await product(live)
    await live.call("POST", f"/api/rooms/{room}/shelf", "alice", "creator",
                    json={"product_id": p["id"]})
    now = now_ms()
    for bad in ({"price": -5, "stock": 1, "end_at": now + 1000},
                {"price": 5, "stock": 0, "end_at": now + 1000},
                {"price": 5, "stock": 1, "start_at": now + 5000, "end_at": now + 1000},
                {"price": 5, "stock": 1, "end_at": now - 1},
                {"price": 5.5, "stock": 1, "end_at": now + 1000},
                {"price": 5, "stock": 1, "end_at": now + 1000, "variant_id": "v_nope"}):
        status, body = await live.call("POST", f"/api/rooms/{room}/sales", "alice", "creator",
                                       json={"product_id": p["id"], **bad})
        assert status == 400, (bad, body)
    # more than the catalogue holds: refused with what it has, nothing drawn
    status, body = await live.call("POST", f"/api/rooms/{room}/sales", "alice", "creator",
                                   json={"product_id": p["id"], "price": 5, "stock": 501,
                                         "end_at": now + 1000})
    assert status == 409 and body["error"]["code"] == "insufficient_stock", body
    assert body["error"]["left"] == 500
    # the sale's button (sale_id) before the start, after the cancel
    sale = await on_sale(live, room, p["id"], stock=5, start_in=60_000)
    status, body = await buy(live, room, p["id"], "vic", "k1", sale_id=sale["id"])
    assert status == 409 and body["error"]["code"] == "not_started"
    status, body = await live.call("DELETE", f"/api/rooms/{room}/sales/{p['id']}", "alice",
                                   "creator")
    assert status == 200
    status, body = await buy(live, room, p["id"], "vic", "k1", sale_id=sale["id"])
    assert body["error"]["code"] == "sale_ended"
    _, owner = await live.call("GET", f"/api/products/{p['id']}", "alice", "creator")
    assert owner["stock"] == 500  # the cancelled sale's units are back in the catalogue
    await on_sale(live, room, p["id"], stock=5)
    for bad in ({"quantity": 0}, {"quantity": -1}, {"quantity": 10**9}, {"quantity": "2"},
                {"idempotency_key": ""}, {"idempotency_key": "a b"}, {"product_id": "x"},
                {"variant_id": "v_other"}, {"variant_id": 3}, {"colour": "red"},
                {"expected_amount": -1}, {"coupon_id": "nonsense"}):
        body_ = {"product_id": p["id"], "quantity": 1, "idempotency_key": "k", **bad}
        status, body = await live.call("POST", f"/api/rooms/{room}/buy", "vic", json=body_)
        assert status == 400, (bad, body)
    status, body = await live.call("POST", f"/api/rooms/{room}/buy", "vic",
                                   json={"product_id": "p_nothere", "idempotency_key": "k"})
    assert status == 404
    status, body = await buy(live, room, p["id"], "vic", "k2", quantity=3)
    assert body["error"]["code"] == "limit_reached" and body["error"]["may_buy"] == 2
    status, body = await buy(live, room, p["id"], None, "k3")  # type: ignore[arg-type]
    assert status == 403
    status, view = await live.call("GET", f"/api/rooms/{room}/products/{p['id']}", "vic")
    assert view["stock_left"] == 5 and view["bought"] == 0  # nothing reserved
    status, body = await live.call("POST", f"/api/products/{p['id']}/takedown", "olga", "ops")
    status, body = await buy(live, room, p["id"], "vic", "k4")
    assert status == 409 and body["error"]["code"] == "taken_down"


async def test_idempotent_buy_over_websocket_after_reconnect(live: LiveApp) -> None:
    room = await live.live_room()
    p = await product(live)
    await on_sale(live, room, p["id"], stock=5)
    v = await Viewer.connect(live.base, room, token("vic"))
    await v.wait_welcome()
    first = await v.request("buy", product_id=p["id"], quantity=1, idempotency_key="abc")
    assert first["type"] == "reply", first
    order = first["data"]["order"]
    assert first["data"]["created"] is True and order["state"] == "reserved"
    await v.close()
    v = await Viewer.connect(live.base, room, token("vic"))
    await v.wait_welcome()
    again = await asyncio.gather(*(v.request("buy", product_id=p["id"], quantity=1,
                                             idempotency_key="abc") for _ in range(5)))
    assert {r["data"]["order"]["id"] for r in again} == {order["id"]}
    assert all(r["data"]["created"] is False for r in again)
    _status, view = await live.call("GET", f"/api/rooms/{room}/products/{p['id']}", "vic")
    assert view["stock_left"] == 4 and view["bought"] == 1 and view["may_buy"] == 1
    _status, mine = await live.call("GET", "/api/me/orders", "vic")
    assert [o["id"] for o in mine["orders"]] == [order["id"]]
    await v.close()


async def test_per_buyer_limit_under_concurrency_and_sold_out_event(live: LiveApp) -> None:
    room = await live.live_room()
    p = await product(live, per_buyer_limit=3)
    sale = await on_sale(live, room, p["id"], stock=8)
    watcher = await Viewer.connect(live.base, room, token("wat"))
    await watcher.wait_welcome()
    results = await asyncio.gather(*(buy(live, room, p["id"], "greedy", f"g{i}",
                                         sale_id=sale["id"]) for i in range(20)))
    assert sum(1 for s, _ in results if s == 201) == 3
    assert {b["error"]["code"] for s, b in results if s != 201} == {"limit_reached"}
    results = await asyncio.gather(*(buy(live, room, p["id"], f"u{i}", "k", sale_id=sale["id"])
                                     for i in range(10)))
    assert sum(1 for s, _ in results if s == 201) == 5
    assert {b["error"]["code"] for s, b in results if s != 201} == {"sold_out"}
    await watcher.wait_for(lambda: watcher.of_type("sale_ended"))
    ended = watcher.of_type("sale_ended")[-1]["data"]
    assert ended["reason"] == "sold_out" and ended["left"] == 0
    await watcher.wait_for(lambda: any(e["data"]["left"] == 0
                                       for e in watcher.of_type("stock")))
    # coalesced: far fewer stock events than purchases, the last one is the truth
    assert len(watcher.of_type("stock")) <= 8
    await watcher.close()


async def test_orders_pay_refund_cancel_restore_stock_and_commission(live: LiveApp) -> None:
    room = await live.live_room()
    p = await product(live, commission_bp=1250, per_buyer_limit=5)
    sale = await on_sale(live, room, p["id"], stock=4, price=999)
    _, one = await buy(live, room, p["id"], "vic", "a", quantity=2, sale_id=sale["id"])
    _, two = await buy(live, room, p["id"], "vic", "b", quantity=2, sale_id=sale["id"])
    o1, o2 = one["order"]["id"], two["order"]["id"]
    status, body = await buy(live, room, p["id"], "zed", "c", sale_id=sale["id"])
    assert body["error"]["code"] == "sold_out"
    # somebody else cannot pay or see my order
    status, _ = await live.call("POST", f"/api/orders/{o1}/pay", "zed", json={})
    assert status == 404
    # no shipping address: refused before any charge; then saved, and copied at pay
    status, body = await live.call("POST", f"/api/orders/{o1}/pay", "vic", json={})
    assert status == 409 and body["error"]["code"] == "address_required", body
    await save_address(live, "vic")
    status, body = await live.call("POST", f"/api/orders/{o1}/pay", "vic",
                                   json={"outcome": "decline"})
    assert status == 402 and body["error"]["code"] == "payment_declined"
    status, paid = await live.call("POST", f"/api/orders/{o1}/pay", "vic",
                                   json={"outcome": "confirm"})
    assert status == 200 and paid["state"] == "paid"
    assert {k: paid["address"][k] for k in ADDRESS} == ADDRESS
    assert paid["paid_at"] >= paid["created_at"]
    assert paid["commission"] == 1998 * 1250 // 10000 == 249
    status, body = await live.call("POST", f"/api/orders/{o1}/pay", "vic", json={})
    assert status == 409 and body["error"]["code"] == "invalid_state"
    # cancel the other reservation: 2 units back, the sale reopens
    status, cancelled = await live.call("POST", f"/api/orders/{o2}/cancel", "vic")
    assert cancelled["state"] == "cancelled"
    status, body = await live.call("POST", f"/api/orders/{o2}/cancel", "vic")
    assert status == 409
    status, view = await live.call("GET", f"/api/rooms/{room}/products/{p['id']}", "zed")
    assert view["stock_left"] == 2 and view["window"] == "open"
    status, earn = await live.call("GET", "/api/me/earnings", "alice", "creator")
    assert earn["totals"]["commission"] == 249 and earn["totals"]["gmv"] == 1998
    status, body = await live.call("POST", f"/api/orders/{o1}/refund", "vic")
    assert status == 403
    status, refunded = await live.call("POST", f"/api/orders/{o1}/refund", "alice", "creator")
    assert refunded["state"] == "refunded"
    status, earn = await live.call("GET", "/api/me/earnings", "alice", "creator")
    assert earn["totals"]["commission"] == 0 and earn["totals"]["refunded"] == 1998
    assert [e["kind"] for e in earn["ledger"]] == ["reversal", "credit"]
    status, view = await live.call("GET", f"/api/rooms/{room}/products/{p['id']}", "zed")
    assert view["stock_left"] == 4
    status, listing = await live.call("GET", f"/api/rooms/{room}/orders", "alice", "creator")
    assert {o["state"] for o in listing["orders"]} == {"refunded", "cancelled"}
    assert listing["totals"]["net"] == 0
    for user, role, expected in (("olga", "ops", 200), ("bob", "creator", 403),
                                 ("vic", "viewer", 403)):
        async with live.client.get(f"/api/rooms/{room}/orders.csv",
                                   headers=live.headers(user, role)) as resp:
            assert resp.status == expected, (user, resp.status)
    async with live.client.get(f"/api/rooms/{room}/orders.csv",
                               headers=live.headers("alice", "creator")) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert len(rows) == 2
    # the creator ships from it: the paid order's row carries the shipping address
    paid_row = next(r for r in rows if r["id"] == o1)
    # (a cell a spreadsheet would run as a formula, like "+86 ...", gets a leading quote)
    assert {k: paid_row[f"ship_{k}"] for k in ADDRESS} == {
        **ADDRESS, "phone": "'" + ADDRESS["phone"]}
    assert all(r["ship_name"] == "" for r in rows if r["id"] != o1)
    # the order stream has every order event, in order
    from live_server.web.keys import SERVICES
    svc = live.client.server.app[SERVICES]
    entries = await svc.client.xrange(svc.core.keys.shelf(room).order_stream)
    assert [f[b"type"].decode() for _id, f in entries] == [
        "reserved", "reserved", "paid", "cancelled", "refunded"]


async def test_expiry_returns_stock_exactly_once(live_app_factory: Any) -> None:
    live = await live_app_factory(shelf={"reservation_ttl_ms": 1})
    room = await live.live_room()
    p = await product(live, per_buyer_limit=5)
    await on_sale(live, room, p["id"], stock=5)
    orders = [(await buy(live, room, p["id"], f"b{i}", "k"))[1]["order"]["id"] for i in range(3)]
    from live_server.web.keys import SERVICES
    svc = live.client.server.app[SERVICES]
    await asyncio.sleep(0.01)
    now = now_ms()
    # many "processes" notice the same expiries at once
    results = await asyncio.gather(
        *(svc.orders.store.transition(o, "expire", actor="system", now=now) for o in orders
          for _ in range(6)), return_exceptions=True)
    ok = [r for r in results if not isinstance(r, BaseException)]
    assert len(ok) == 3
    await asyncio.gather(*(svc.scheduler.run_once(now) for _ in range(4)))
    status, view = await live.call("GET", f"/api/rooms/{room}/products/{p['id']}", "zz")
    assert view["stock_left"] == 5
    status, body = await live.call("POST", f"/api/orders/{orders[0]}/pay", "b0", json={})
    assert status == 409 and body["error"]["state"] == "expired"
    entries = await svc.client.xrange(svc.core.keys.shelf(room).order_stream)
    kinds = [f[b"type"].decode() for _id, f in entries]
    assert kinds.count("reserved") == 3 and kinds.count("expired") == 3


async def test_paying_after_expiry_expires(live_app_factory: Any) -> None:
    live = await live_app_factory(shelf={"reservation_ttl_ms": 1, "scheduler_interval_ms": 60000})
    room = await live.live_room()
    p = await product(live)
    await on_sale(live, room, p["id"], stock=2)
    _, body = await buy(live, room, p["id"], "vic", "k")
    await asyncio.sleep(0.01)
    status, body = await live.call("POST", f"/api/orders/{body['order']['id']}/pay", "vic",
                                   json={})
    assert status == 409 and body["error"]["state"] == "expired"
    status, view = await live.call("GET", f"/api/rooms/{room}/products/{p['id']}", "vic")
    assert view["stock_left"] == 2 and view["bought"] == 0


async def test_signed_webhook_pays_once_and_rejects_replays_and_bad_signatures(
        live: LiveApp) -> None:
    room = await live.live_room()
    p = await product(live)
    await on_sale(live, room, p["id"], stock=2, price=1000)
    _, body = await buy(live, room, p["id"], "vic", "k")
    order = body["order"]
    secret = live.settings.payments.webhook_secret
    payload = orjson.dumps({"id": "evt_1", "type": "payment.succeeded", "order_id": order["id"],
                            "amount": order["amount"], "reference": "gw_1"})

    async def post(raw: bytes, signature: str) -> tuple[int, Any]:
        async with live.client.post("/api/payments/webhook", data=raw,
                                    headers={"X-Live-Signature": signature}) as resp:
            return resp.status, await resp.json()

    stamp = int(time.time())
    status, body = await post(payload, sign("wrong", stamp, payload))
    assert status == 401 and body["error"]["code"] == "invalid_signature"
    status, body = await post(payload, sign(secret, stamp - 3600, payload))
    assert status == 401
    status, body = await post(payload, "garbage")
    assert status == 401
    status, body = await post(payload, sign(secret, stamp, payload))
    assert status == 200 and body["order"]["state"] == "paid"
    assert body["order"]["payment_ref"] == "gw_1"
    status, body = await post(payload, sign(secret, stamp, payload))
    assert status == 409 and body["error"]["code"] == "replayed"


async def test_websocket_bad_buys_are_refused_and_reserve_nothing(live: LiveApp) -> None:
    room = await live.live_room()
    p = await product(live)
    await on_sale(live, room, p["id"], stock=3)
    v = await Viewer.connect(live.base, room, token("vic"))
    guest = await Viewer.connect(live.base, room, guest=True)
    await v.wait_welcome()
    await guest.wait_welcome()
    cases = [
        ({"product_id": p["id"]}, "missing_field"),
        ({"product_id": p["id"], "idempotency_key": "k", "quantity": -1}, "invalid_field"),
        ({"product_id": p["id"], "idempotency_key": "k", "quantity": 10**12}, "invalid_field"),
        ({"product_id": p["id"], "idempotency_key": "k", "quantity": 1.5}, "invalid_field"),
        ({"product_id": 7, "idempotency_key": "k"}, "invalid_field"),
        ({"product_id": "p_unknown", "idempotency_key": "k"}, "not_found"),
        ({"product_id": p["id"], "idempotency_key": "x" * 65}, "invalid_field"),
    ]
    for fields, code in cases:
        reply = await v.request("buy", **fields)
        assert reply["type"] == "error" and reply["error"]["code"] == code, (fields, reply)
    reply = await guest.request("buy", product_id=p["id"], idempotency_key="g")
    assert reply["error"]["code"] == "forbidden"
    view = (await v.request("product", product_id=p["id"]))["data"]
    assert view["stock_left"] == 3 and view["bought"] == 0
    # a take-down reaches the room at once and stops purchases
    status, _ = await live.call("POST", f"/api/products/{p['id']}/takedown", "alice", "creator")
    assert status == 200
    await v.wait_for(lambda: v.of_type("product_updated"))
    assert v.of_type("product_updated")[-1]["data"]["product"]["status"] == "taken_down"
    reply = await v.request("buy", product_id=p["id"], idempotency_key="k")
    assert reply["error"]["code"] == "taken_down"
    for c in (v, guest):
        await c.close()


async def test_a_paid_order_earns_the_buyer_intimacy_toward_the_creator_up_to_the_cap(
        live_app_factory: Any) -> None:
    live = await live_app_factory(fans={"buy_points": 4, "buy_daily_cap": 6})
    room = await live.live_room()
    p = await product(live, per_buyer_limit=5)
    await on_sale(live, room, p["id"], stock=5, price=100)
    await save_address(live, "vic")
    paid = []
    for key in "abc":
        _, made = await buy(live, room, p["id"], "vic", key)
        status, order = await live.call("POST", f"/api/orders/{made['order']['id']}/pay", "vic",
                                        json={"outcome": "confirm"})
        assert status == 200 and order["state"] == "paid"
        status, card = await live.call("GET", "/api/creators/alice/fans", "vic")
        paid.append(card["intimacy"])
    assert paid == [4, 6, 6]  # 4 per paid order, at most 6 a day
    _, made = await buy(live, room, p["id"], "zed", "d")  # reserved, not paid: nothing
    status, card = await live.call("GET", "/api/creators/alice/fans", "zed")
    assert card["intimacy"] == 0
