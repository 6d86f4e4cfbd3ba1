"""What the pages need from the shelf API: restoring a taken-down product, one currency,
room titles and the payment provider with a buyer's orders, server time in the snapshot."""

from __future__ import annotations

from tests.conftest import LiveApp, token
from tests.helpers import Viewer
from tests.integration.test_shelf import buy, on_sale, product, save_address


async def test_restore_after_take_down_respects_who_took_it_down(live: LiveApp) -> None:
    p = await product(live)
    pid = p["id"]
    status, body = await live.call("POST", f"/api/products/{pid}/restore", "alice", "creator")
    assert status == 409 and body["error"]["code"] == "invalid_state"  # it is on sale
    # the owner's own take-down: the owner may restore
    status, _ = await live.call("POST", f"/api/products/{pid}/takedown", "alice", "creator",
                                json={"reason": "out of stock"})
    assert status == 200
    status, body = await live.call("POST", f"/api/products/{pid}/restore", "alice", "creator")
    assert status == 200 and body["status"] == "on_sale" and "takedown" not in body
    # ops' take-down: only ops may restore
    status, _ = await live.call("POST", f"/api/products/{pid}/takedown", "olga", "ops",
                                json={"reason": "counterfeit"})
    assert status == 200
    for user, role in (("alice", "creator"), ("bob", "creator"), ("vic", "viewer")):
        status, body = await live.call("POST", f"/api/products/{pid}/restore", user, role)
        assert status == 403, (user, body)
    _, still = await live.call("GET", f"/api/products/{pid}", "alice", "creator")
    assert still["status"] == "taken_down"
    status, body = await live.call("POST", f"/api/products/{pid}/restore", "olga", "ops")
    assert status == 200 and body["status"] == "on_sale"
    _, log = await live.call("GET", "/api/ops/moderation", "olga", "ops")
    assert [a["action"] for a in log["actions"]][:2] == ["restore", "take_down"]


async def test_one_currency_per_deployment(live: LiveApp) -> None:
    status, body = await live.call("POST", "/api/products", "alice", "creator", json={
        "title": "Mug", "list_price": 100, "live_price": 90, "stock": 5, "currency": "USD"})
    assert status == 400 and body["error"]["code"] == "invalid_field"
    _, mine = await live.call("GET", "/api/products", "alice", "creator")
    assert mine["products"] == []
    status, p = await live.call("POST", "/api/products", "alice", "creator", json={
        "title": "Mug", "list_price": 100, "live_price": 90, "stock": 5})
    assert status == 201 and p["currency"] == live.settings.shelf.currency


async def test_buyer_orders_carry_room_title_provider_and_totals_currency(live: LiveApp) -> None:
    room = await live.live_room(title="Tea tasting")
    p = await product(live)
    await on_sale(live, room, p["id"])
    status, reply = await buy(live, room, p["id"], "vic", "k1")
    assert status in (200, 201), reply
    _, mine = await live.call("GET", "/api/me/orders", "vic")
    assert mine["orders"][0]["room_title"] == "Tea tasting"
    assert mine["payment_provider"] == "dev" and mine["currency"] == "CNY"
    _, listing = await live.call("GET", f"/api/rooms/{room}/orders", "alice", "creator")
    assert listing["totals"]["currency"] == "CNY"
    _, earnings = await live.call("GET", "/api/me/earnings", "alice", "creator")
    assert earnings["totals"]["currency"] == "CNY"


async def test_snapshot_has_server_time(live: LiveApp) -> None:
    room = await live.live_room()
    viewer = await Viewer.connect(live.base, room, token("vic"))
    welcome = await viewer.wait_welcome()
    assert abs(welcome["snapshot"]["server_time"] - welcome["server_time"]) < 60_000
    reply = await viewer.request("snapshot")
    assert reply["data"]["server_time"] >= welcome["server_time"]
    await viewer.close()


async def test_order_updates_reach_only_the_buyer(live: LiveApp) -> None:
    room = await live.live_room()
    p = await product(live)
    await on_sale(live, room, p["id"])
    buyer = await Viewer.connect(live.base, room, token("vic"))
    buyer_tab2 = await Viewer.connect(live.base, room, token("vic"))
    other = await Viewer.connect(live.base, room, token("zed"))
    for v in (buyer, buyer_tab2, other):
        await v.wait_welcome()
    await save_address(live, "vic")
    status, reply = await buy(live, room, p["id"], "vic", "k-pay")
    assert status == 201, reply
    order_id = reply["order"]["id"]
    status, _ = await live.call("POST", f"/api/orders/{order_id}/pay", "vic",
                                json={"outcome": "confirm"})
    assert status == 200
    for tab in (buyer, buyer_tab2):
        await tab.wait_for(lambda tab=tab: [e for e in tab.of_type("order")
                                            if e["data"]["state"] == "paid"])
        assert all(e["data"]["id"] == order_id for e in tab.of_type("order"))
    # the other viewer hears the room (a chat, for instance) but never the order
    await other.request("chat", text="sync")
    await other.wait_for(lambda: other.of_type("chat"))
    assert other.of_type("order") == []
    for v in (buyer, buyer_tab2, other):
        await v.close()
