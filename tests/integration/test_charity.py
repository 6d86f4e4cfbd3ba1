"""Charity shows end to end through the real app and a real Valkey: a room marked as a
charity show; a paid order, a gift and a red packet's remainder each earmark exactly the
documented share to the beneficiary (a refund reverses the order's); the public receipt and
its entries; who may do what; the terms lock once proceeds were earmarked; the audit passes,
and fails after a total or a balance is tampered with."""

from __future__ import annotations

from typing import Any

from live_server.domain.charity import earmark
from live_server.services.charity import CharityAudit
from live_server.services.gifts import GiftAudit
from live_server.services.wallets import audit
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp
from tests.integration.test_red_packets import balance, grab, launch, topup
from tests.integration.test_shelf import buy, on_sale, product, save_address


async def beneficiary(live: LiveApp, name: str = "Clean Water Fund") -> str:
    status, body = await live.call("POST", "/api/charity/beneficiaries", "olga", "ops",
                                   json={"name": name, "description": "Wells for villages",
                                         "url": "https://water.example.org"})
    assert status == 201, body
    return str(body["beneficiary"]["id"])


async def mark(live: LiveApp, room: str, ben: str, bp: int = 1000,
               sources: tuple[str, ...] = ("orders", "gifts", "red_packets"),
               user: str = "alice") -> tuple[int, Any]:
    return await live.call("PUT", f"/api/rooms/{room}/charity", user, "creator",
                           json={"beneficiary_id": ben, "bp": bp, "sources": list(sources)})


async def charity_audit(live: LiveApp) -> list[str]:
    s = live.client.app[SERVICES]
    report = await audit(s.wallets.store, s.red_packets.store,
                         (GiftAudit(s.gifts.store),
                          CharityAudit(s.charity.store, s.orders.store)))
    return report.mismatches


async def test_order_gift_and_packet_remainder_earmark_exactly_and_the_receipt(
        live: LiveApp) -> None:
    ben = await beneficiary(live)
    room = await live.live_room()
    status, receipt = await mark(live, room, ben, bp=1250)
    assert status == 200, receipt
    assert receipt["charity"] is True and receipt["terms"]["percent"] == "12.5%"
    assert receipt["terms"]["locked"] is False and receipt["total"] == 0
    # a paid order: 12.5 % of 999, rounded down
    p = await product(live)
    await on_sale(live, room, p["id"], stock=5, price=999)
    await save_address(live, "vic")
    status, made = await buy(live, room, p["id"], "vic", "k1")
    assert status == 201, made
    oid = made["order"]["id"]
    status, paid = await live.call("POST", f"/api/orders/{oid}/pay", "vic",
                                   json={"outcome": "confirm"})
    assert status == 200 and paid["state"] == "paid", paid
    assert paid["charity"] == earmark(999, 1250) == 124
    # the terms are locked now
    status, err = await mark(live, room, ben, bp=5000)
    assert status == 409 and err["error"]["code"] == "charity_locked"
    # a gift: 300 spent, the creator's 70 % is 210, 12.5 % of that is 26
    await topup(live, "gus", 1000)
    status, sent = await live.call("POST", f"/api/rooms/{room}/gifts", "gus",
                                   json={"gift_id": "heart", "quantity": 3})
    assert status == 200, sent
    assert await balance(live, "alice") == 210 - 26
    # a red packet's remainder: 1000 in 10 equal shares, 3 grabbed, 700 back, 87 earmarked
    await topup(live, "alice", 1000, "creator")
    _, launched = await launch(live, room, total=1000, shares=10, split="equal",
                               duration_s=3600)
    packet = launched["packet"]
    for user in ("a1", "a2", "a3"):
        assert (await grab(live, packet["id"], user))[0] == 200
    svc = live.client.app[SERVICES]
    assert await svc.red_packets.tick(packet["id"], packet["expires_at"] + 1) == "expired"
    assert await svc.red_packets.tick(packet["id"], packet["expires_at"] + 2) == ""
    assert await balance(live, "alice") == 210 - 26 + 700 - 87
    status, receipt = await live.call("GET", f"/api/rooms/{room}/charity")
    assert status == 200
    assert receipt["beneficiary"]["name"] == "Clean Water Fund"
    assert receipt["totals"] == {"orders": {"amount": 124, "entries": 1},
                                 "gifts": {"amount": 26, "entries": 1},
                                 "red_packets": {"amount": 87, "entries": 1}}
    assert receipt["total"] == 237 and receipt["entries"] == 3
    assert receipt["terms"]["locked"] is True and "audit" in receipt["statement"]
    status, listed = await live.call("GET", f"/api/rooms/{room}/charity/entries")
    assert status == 200
    rows = sorted((e["source"], e["amount"], e["base"]) for e in listed["entries"])
    assert rows == [("gifts", 26, 210), ("orders", 124, 999), ("red_packets", 87, 700)]
    assert all("vic" not in str(e) and "gus" not in str(e) for e in listed["entries"])
    # the beneficiary's wallet-side balance, and ops' view
    assert await svc.charity.store.balances() == {ben: 26 + 87}
    status, ops = await live.call("GET", "/api/ops/charity", "olga", "ops")
    assert status == 200
    assert [(b["id"], b["wallet"], b["orders"], b["total"]) for b in ops["beneficiaries"]] == [
        (ben, 113, 124, 237)]
    assert [(s["room_id"], s["total"]) for s in ops["shows"]] == [(room, 237)]
    assert await charity_audit(live) == []
    status, report = await live.call("GET", f"/api/rooms/{room}/report", "alice", "creator")
    assert status == 200 and report["headline"]["charity"] == 237
    # a refund reverses the order's earmark, once
    status, refunded = await live.call("POST", f"/api/orders/{oid}/refund", "alice",
                                       "creator")
    assert status == 200 and refunded["state"] == "refunded", refunded
    status, receipt = await live.call("GET", f"/api/rooms/{room}/charity")
    assert receipt["totals"]["orders"] == {"amount": 0, "entries": 1}
    assert receipt["reversed_orders"] == 1 and receipt["total"] == 113
    status, listed = await live.call("GET", f"/api/rooms/{room}/charity/entries")
    assert sorted(e["amount"] for e in listed["entries"] if e["source"] == "orders") == [
        -124, 124]
    assert await charity_audit(live) == []


async def test_uncovered_sources_earmark_nothing_and_terms_change_until_locked(
        live: LiveApp) -> None:
    ben = await beneficiary(live)
    other = await beneficiary(live, "Books for All")
    room = await live.live_room()
    assert (await mark(live, room, ben, sources=("orders",)))[0] == 200
    assert (await mark(live, room, other, bp=10_000, sources=("gifts",)))[0] == 200
    await topup(live, "gus", 1000)
    status, _ = await live.call("POST", f"/api/rooms/{room}/gifts", "gus",
                                json={"gift_id": "rose", "quantity": 1})
    assert status == 200
    # 100 % of the creator's 7 cents
    assert await balance(live, "alice") == 0
    svc = live.client.app[SERVICES]
    assert await svc.charity.store.balances() == {other: 7}
    status, err = await live.call("DELETE", f"/api/rooms/{room}/charity", "alice", "creator")
    assert status == 409 and err["error"]["code"] == "charity_locked"
    assert await charity_audit(live) == []


async def test_who_may_do_what_and_bad_input(live: LiveApp) -> None:
    status, err = await live.call("POST", "/api/charity/beneficiaries", "alice", "creator",
                                  json={"name": "Me Myself"})
    assert status == 403
    status, err = await live.call("POST", "/api/charity/beneficiaries", "olga", "ops",
                                  json={"name": "X", "url": "javascript:alert(1)"})
    assert status == 400 and err["error"]["code"] == "invalid_field"
    ben = await beneficiary(live)
    room = await live.live_room()
    assert (await mark(live, room, ben, user="bob"))[0] == 403
    assert (await live.call("PUT", f"/api/rooms/{room}/charity", "vic", json={
        "beneficiary_id": ben, "bp": 100, "sources": ["gifts"]}))[0] == 403
    status, err = await mark(live, room, "b_000000000000")
    assert status == 404
    for bad in ({"bp": 0}, {"bp": 10_001}, {"sources": []}, {"sources": ["tips"]}):
        body = {"beneficiary_id": ben, "bp": 100, "sources": ["gifts"], **bad}
        status, err = await live.call("PUT", f"/api/rooms/{room}/charity", "alice", "creator",
                                      json=body)
        assert status == 400, (bad, err)
    status, plain = await live.call("GET", f"/api/rooms/{room}/charity")
    assert status == 200 and plain["charity"] is False
    status, _ = await live.call("GET", "/api/ops/charity", "alice", "creator")
    assert status == 403
    status, _ = await live.call("GET", "/api/rooms/nope/charity")
    assert status == 404


async def test_the_audit_fails_after_tampering(live: LiveApp) -> None:
    ben = await beneficiary(live)
    room = await live.live_room()
    assert (await mark(live, room, ben, bp=5000))[0] == 200
    await topup(live, "gus", 1000)
    status, _ = await live.call("POST", f"/api/rooms/{room}/gifts", "gus",
                                json={"gift_id": "heart", "quantity": 1})
    assert status == 200
    assert await charity_audit(live) == []
    svc = live.client.app[SERVICES]
    store = svc.charity.store
    await svc.client.hincrby(store.totals_key(room, "alice"), "gifts", 1)
    found = await charity_audit(live)
    assert any("gifts" in m and room in m for m in found), found
    await svc.client.hincrby(store.totals_key(room, "alice"), "gifts", -1)
    await svc.client.hincrby(store.balances_key("alice"), ben, 5)
    found = await charity_audit(live)
    assert any(f"beneficiary {ben}" in m for m in found), found
    await svc.client.hincrby(store.balances_key("alice"), ben, -5)
    # an order earmark that is not the share of its order
    _totals, log = store.order_keys(room)
    await svc.client.xadd(log, {"kind": "earmark", "order": "o.x.y", "amount": 5,
                                 "base": 10, "to": ben, "ts": 1})
    found = await charity_audit(live)
    assert any("o.x.y" in m for m in found) and any("orders" in m for m in found), found
