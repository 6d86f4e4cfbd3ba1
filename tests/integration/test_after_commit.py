"""Bookkeeping after a committed action never turns it into an error reply (one that would
invite the client to chat, buy, grab, join or pay again): the store is made to fail the step
for real (a key of the wrong type, a count that is not a number), the action is answered as
done, the money moves once, the failure is counted, and what matters (a reservation's expiry
entry) is written once the store takes it again."""

from __future__ import annotations

import asyncio
from typing import Any

from live_server.container import Services
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import WAIT_S, Viewer
from tests.integration.test_red_packets import assert_audit_clean, balance, grab, launch, topup
from tests.integration.test_shelf import buy, on_sale, product
from tests.integration.test_shelf_payments import charges, reserved


def services(live: LiveApp) -> Services:
    app = live.client.server.app
    assert app is not None
    found: Services = app[SERVICES]
    return found


def failures(live: LiveApp, step: str) -> float:
    value: float = services(live).metrics.after_commit_failures.labels(step)._value.get()
    return value


async def test_a_chat_whose_intimacy_fails_is_still_sent(live: LiveApp) -> None:
    room = await live.live_room()
    s = services(live)
    viewer = await Viewer.connect(live.base, room, token("bob"))
    await viewer.wait_welcome()
    # today's intimacy caps of the creator are broken: every intimacy write fails (WRONGTYPE)
    await s.client.set(s.core.keys.intimacy_day("alice", s.fans.day()), "not a hash")
    before = failures(live, "chat_listener")
    reply = await viewer.request("chat", text="still here")
    assert reply["type"] == "reply" and isinstance(reply["data"]["seq"], int)
    await viewer.wait_for(lambda: viewer.chat_texts() == ["still here"])
    assert failures(live, "chat_listener") > before
    await viewer.close()


async def test_a_purchase_whose_index_fails_is_bought_once_and_expires_later(
        live_app_factory: Any) -> None:
    live: LiveApp = await live_app_factory(shelf={"reservation_ttl_ms": 1500})
    room = await live.live_room()
    p = await product(live)
    await on_sale(live, room, p["id"], stock=5)
    s = services(live)
    due = s.core.keys.orders_due
    await s.client.set(due, "broken")  # the expiry schedule cannot be written
    status, body = await buy(live, room, p["id"], "bob", "k-after-commit")
    assert status == 201, body  # bought: not an error that invites a second purchase
    order = body["order"]
    assert failures(live, "order_index") >= 1
    assert order["id"] in s.shelf.store.unindexed
    await s.client.delete(due)  # the store takes it again: the scheduler writes the entry
    for _ in range(int(WAIT_S / 0.05)):
        if order["id"] not in s.shelf.store.unindexed:
            break
        await asyncio.sleep(0.05)
    assert order["id"] not in s.shelf.store.unindexed
    # and the reservation expires as it should, giving its unit back
    for _ in range(int(WAIT_S / 0.1)):
        _status, seen = await live.call("GET", f"/api/orders/{order['id']}", "bob")
        if seen["state"] == "expired":
            break
        await asyncio.sleep(0.1)
    assert seen["state"] == "expired"
    status, again = await buy(live, room, p["id"], "bob", "k-after-commit")
    assert again["order"]["id"] == order["id"] and again["created"] is False  # once


async def test_a_grab_whose_notice_and_points_fail_is_still_paid(live: LiveApp) -> None:
    room = await live.live_room()
    s = services(live)
    await topup(live, "alice", 1000, "creator")
    status, body = await launch(live, room, total=100, shares=1)
    assert status == 201, body
    pid = body["packet"]["id"]
    await s.client.set(s.core.keys.intimacy_day("alice", s.fans.day()), "not a hash")
    before = await balance(live, "bob")
    status, got = await grab(live, pid, "bob")
    assert status == 200 and got["amount"] == 100, got  # the money moved: answered as such
    assert await balance(live, "bob") == before + 100
    assert failures(live, "grab_intimacy") >= 1
    status, again = await grab(live, pid, "bob")
    assert status == 409 and again["error"]["code"] == "already_grabbed"  # and only once
    await assert_audit_clean(live)


async def test_a_fan_club_join_whose_intimacy_fails_is_joined_once(live: LiveApp) -> None:
    s = services(live)
    fee = live.settings.money.fan_club_fee_cents
    await topup(live, "fan", fee + 50)
    creator_before = await balance(live, "alice")
    # the fan's club points of today are not a number: the intimacy step fails in the store
    await s.client.hset(s.core.keys.intimacy_day("alice", s.fans.day()), "fan|fan_club", "x")
    before = failures(live, "club_intimacy")
    status, card = await live.call("POST", "/api/creators/alice/fan-club", "fan")
    assert status == 200 and card["fan_club_member"] and card["balance"] == 50, card
    assert failures(live, "club_intimacy") == before + 1
    assert await balance(live, "fan") == 50
    assert await balance(live, "alice") == creator_before + fee
    status, again = await live.call("POST", "/api/creators/alice/fan-club", "fan")
    assert status == 409 and again["error"]["code"] == "already_member"  # and paid once
    assert await balance(live, "fan") == 50
    assert await balance(live, "alice") == creator_before + fee
    await assert_audit_clean(live)


async def test_a_payment_whose_bookkeeping_fails_is_paid_once_and_counted(
        live: LiveApp) -> None:
    _, _, order = await reserved(live, stock=2, price=500)
    order_id = order["id"]
    s = services(live)
    # the buyer's purchase points of today are not a number: the paid-order intimacy fails
    await s.client.hset(s.core.keys.intimacy_day("alice", s.fans.day()), "vic|buy", "x")
    before = failures(live, "paid_listener")
    status, paid = await live.call("POST", f"/api/orders/{order_id}/pay", "vic",
                                   json={"outcome": "confirm"})
    assert status == 200 and paid["state"] == "paid", paid
    assert charges(live, order_id) == 1
    assert failures(live, "paid_listener") == before + 1
    status, again = await live.call("POST", f"/api/orders/{order_id}/pay", "vic",
                                    json={"outcome": "confirm"})
    assert status == 409 and again["error"]["code"] == "invalid_state"
    assert charges(live, order_id) == 1


async def test_hearts_whose_intimacy_fails_are_still_counted(live: LiveApp) -> None:
    """The tick report counts the hearts; the fan points they earn fail after it (the creator's
    intimacy caps broken): the counters hold every heart and the failure is counted."""
    room = await live.live_room()
    s = services(live)
    viewer = await Viewer.connect(live.base, room, token("bob"))
    await viewer.wait_welcome()
    await s.client.set(s.core.keys.intimacy_day("alice", s.fans.day()), "not a hash")
    before = failures(live, "heart_intimacy")
    reply = await viewer.request("heart", count=3)
    assert reply["type"] == "reply", reply
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while failures(live, "heart_intimacy") <= before:
        assert asyncio.get_running_loop().time() < deadline, "the failure was not counted"
        await asyncio.sleep(0.05)
    status, body = await live.call("GET", f"/api/rooms/{room}", "alice", "creator")
    assert status == 200 and body["counters"]["hearts"] == 3, body
    await viewer.close()
