"""The commit boundaries of paying, through the real app and a real Valkey: a gateway event is
recorded in the same step as its transition (a failed one is retried, not ``replayed``), a
payment for an ended reservation is kept as ``paid_late`` until refunded, and concurrent
``pay`` calls charge the development provider once, with a dead process's claim recovered when
its lease runs out."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from live_server.protocol import now_ms
from live_server.services.orders import DevProvider, sign
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp
from tests.integration.test_shelf import buy, on_sale, product, save_address


async def webhook(live: LiveApp, event_id: str, kind: str, order: dict[str, Any]
                  ) -> tuple[int, Any]:
    """The gateway's notice, freshly signed as a gateway signs each retry."""
    raw = orjson.dumps({"id": event_id, "type": kind, "order_id": order["id"],
                        "amount": order["amount"], "reference": "gw_" + event_id})
    signature = sign(live.settings.payments.webhook_secret, int(time.time()), raw)
    async with live.client.post("/api/payments/webhook", data=raw,
                                headers={"X-Live-Signature": signature}) as resp:
        return resp.status, await resp.json()


def charges(live: LiveApp, order_id: str) -> int:
    provider = live.client.app[SERVICES].orders.provider
    assert isinstance(provider, DevProvider)
    return provider.charged[order_id]


async def order_kinds(live: LiveApp, room: str) -> list[str]:
    svc = live.client.app[SERVICES]
    entries = await svc.client.xrange(svc.core.keys.shelf(room).order_stream)
    return [fields[b"type"].decode() for _id, fields in entries]


async def reserved(live: LiveApp, *, stock: int, price: int) -> tuple[str, str, dict[str, Any]]:
    """A live room with a product on sale and vic's reservation of one unit: (room, product
    id, order)."""
    room = await live.live_room()
    p = await product(live)
    await on_sale(live, room, p["id"], stock=stock, price=price)
    await save_address(live, "vic")
    status, made = await buy(live, room, p["id"], "vic", "k")
    assert status == 201, made
    return room, p["id"], made["order"]


async def test_a_gateway_event_whose_transition_failed_is_tried_again_not_replayed(
        live: LiveApp) -> None:
    room, _, order = await reserved(live, stock=2, price=1000)
    # the refund arrives before the payment: the order cannot be refunded yet
    status, body = await webhook(live, "evt_refund", "payment.refunded", order)
    assert status == 409 and body["error"]["code"] == "invalid_state", body
    status, body = await webhook(live, "evt_pay", "payment.succeeded", order)
    assert status == 200 and body["order"]["state"] == "paid", body
    # the gateway retries the refund: it is done now, not answered "replayed"
    status, body = await webhook(live, "evt_refund", "payment.refunded", order)
    assert status == 200 and body["order"]["state"] == "refunded", body
    for event_id, kind in (("evt_refund", "payment.refunded"), ("evt_pay", "payment.succeeded")):
        status, body = await webhook(live, event_id, kind, order)
        assert status == 409 and body["error"]["code"] == "replayed", body
    status, totals = await live.call("GET", f"/api/rooms/{room}/orders", "alice", "creator")
    assert totals["totals"]["paid_orders"] == totals["totals"]["refunded_orders"] == 1
    assert totals["totals"]["net"] == 0


async def test_a_payment_for_an_ended_reservation_is_kept_as_paid_late_until_refunded(
        live_app_factory: Any) -> None:
    live = await live_app_factory(shelf={"reservation_ttl_ms": 50,
                                         "scheduler_interval_ms": 60_000})
    room = await live.live_room()
    p = await product(live, per_buyer_limit=5)
    await on_sale(live, room, p["id"], stock=3, price=1000)
    _, one = await buy(live, room, p["id"], "vic", "a")   # will lapse, never expired by a pass
    _, two = await buy(live, room, p["id"], "vic", "b")   # cancelled by the buyer
    status, _ = await live.call("POST", f"/api/orders/{two['order']['id']}/cancel", "vic")
    assert status == 200
    await asyncio.sleep(0.1)
    status, body = await webhook(live, "evt_late_1", "payment.succeeded", one["order"])
    assert status == 200 and body["order"]["state"] == "paid_late", body
    assert body["order"]["payment_ref"] == "gw_evt_late_1"
    status, body = await webhook(live, "evt_late_2", "payment.succeeded", two["order"])
    assert status == 200 and body["order"]["state"] == "paid_late", body
    status, body = await webhook(live, "evt_late_2", "payment.succeeded", two["order"])
    assert status == 409 and body["error"]["code"] == "replayed"
    # no units held, nothing earned: the money is visible to ops as owed back
    status, view = await live.call("GET", f"/api/rooms/{room}/products/{p['id']}", "vic")
    assert view["stock_left"] == 3 and view["bought"] == 0
    status, listing = await live.call("GET", f"/api/rooms/{room}/orders", "olga", "ops")
    assert [o["state"] for o in listing["orders"]] == ["paid_late", "paid_late"]
    totals = listing["totals"]
    assert (totals["late_paid"], totals["late_paid_orders"]) == (2000, 2)
    assert totals["gmv"] == totals["commission"] == totals["paid_orders"] == 0
    assert await order_kinds(live, room) == [
        "reserved", "reserved", "cancelled", "expired", "paid_late", "paid_late"]
    # the late payment cannot be fulfilled; ops refund it, and it is no longer owed
    status, body = await live.call("POST", f"/api/orders/{one['order']['id']}/fulfil", "alice",
                                   "creator")
    assert status == 409 and body["error"]["state"] == "paid_late"
    status, refunded = await live.call("POST", f"/api/orders/{one['order']['id']}/refund",
                                       "olga", "ops")
    assert status == 200 and refunded["state"] == "refunded", refunded
    status, body = await webhook(live, "evt_late_2r", "payment.refunded", two["order"])
    assert status == 200 and body["order"]["state"] == "refunded", body
    status, listing = await live.call("GET", f"/api/rooms/{room}/orders", "alice", "creator")
    totals = listing["totals"]
    assert (totals["late_paid"], totals["late_paid_orders"]) == (0, 0)
    assert totals["refunded"] == totals["refunded_orders"] == totals["net"] == 0
    status, view = await live.call("GET", f"/api/rooms/{room}/products/{p['id']}", "vic")
    assert view["stock_left"] == 3


async def test_concurrent_pays_charge_the_provider_once(live: LiveApp) -> None:
    room = await live.live_room()
    p = await product(live, per_buyer_limit=5)
    await on_sale(live, room, p["id"], stock=5, price=700)
    await save_address(live, "vic")
    for key in "abc":
        _, made = await buy(live, room, p["id"], "vic", key)
        oid = made["order"]["id"]
        answers = await asyncio.gather(*(
            live.call("POST", f"/api/orders/{oid}/pay", "vic", json={"outcome": "confirm"})
            for _ in range(12)))
        paid = [body for status, body in answers if status == 200]
        refused = [body for status, body in answers if status != 200]
        assert len(paid) == 1 and paid[0]["state"] == "paid", answers
        assert all(body["error"]["code"] == "invalid_state"
                   and body["error"]["state"] in ("paying", "paid") for body in refused), answers
        assert charges(live, oid) == 1
    status, listing = await live.call("GET", f"/api/rooms/{room}/orders", "alice", "creator")
    assert status == 200, listing
    assert listing["totals"]["paid_orders"] == 3 and listing["totals"]["gmv"] == 2100
    assert (await order_kinds(live, room)).count("paid") == 3


async def test_a_claim_left_by_a_dead_process_holds_the_order_until_its_lease_runs_out(
        live: LiveApp) -> None:
    _, _, order = await reserved(live, stock=2, price=500)
    oid = order["id"]
    store = live.client.app[SERVICES].orders.store
    # a process claims the order for its charge, then dies before confirming
    claimed, _ = await store.transition(oid, "claim", actor="vic", now=now_ms(),
                                        claim="dead-process", lease_ms=400)
    assert claimed["state"] == "paying"
    status, body = await live.call("POST", f"/api/orders/{oid}/pay", "vic", json={})
    assert status == 409 and body["error"]["state"] == "paying", body
    status, body = await live.call("POST", f"/api/orders/{oid}/cancel", "vic")
    assert status == 409 and body["error"]["state"] == "paying", body
    assert charges(live, oid) == 0
    await asyncio.sleep(0.5)
    status, body = await live.call("POST", f"/api/orders/{oid}/pay", "vic", json={})
    assert status == 200 and body["state"] == "paid", body
    assert "pay_claim" not in body and charges(live, oid) == 1
    # the dead process's confirm, had it come back, finds the order no longer its own
    status, body = await live.call("GET", f"/api/orders/{oid}", "vic")
    assert body["state"] == "paid" and body["payment_ref"].startswith("dev_")


async def test_a_lapsed_claim_does_not_keep_units_past_the_reservation(
        live_app_factory: Any) -> None:
    live = await live_app_factory(shelf={"reservation_ttl_ms": 100,
                                         "scheduler_interval_ms": 60_000})
    room, pid, order = await reserved(live, stock=1, price=500)
    oid = order["id"]
    svc = live.client.app[SERVICES]
    start = now_ms()
    await svc.orders.store.transition(oid, "claim", actor="vic", now=start,
                                      claim="dead-process", lease_ms=300)
    # past the reservation, inside the lease: the charge may still confirm, the units stay
    await svc.scheduler.run_once(start + 200)
    status, body = await live.call("GET", f"/api/orders/{oid}", "vic")
    assert status == 200 and body["state"] == "paying"
    # past the lease: the pass expires it and the unit goes back
    await svc.scheduler.run_once(start + 350)
    status, body = await live.call("GET", f"/api/orders/{oid}", "vic")
    assert body["state"] == "expired", body
    status, view = await live.call("GET", f"/api/rooms/{room}/products/{pid}", "zed")
    assert status == 200 and view["stock_left"] == 1
