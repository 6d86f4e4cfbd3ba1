"""Gifts and the fan club with wallets over several slots (``money.wallet_buckets`` = 3): a send
and a join run on the creator's bucket, where the creator's money, the room's gift figures and
the club are; a sender or a member whose wallet is on another bucket pays through a transfer
first. Seen as users see it: the answers, both sides' balances and wallet entries, the room's
`gift` events, the figures, the report, the ops console, the earnings; a key used again moves
the money once, concurrent sends add up exactly, and a send or a join whose process died after
the payment (the paying step's own script run against the real Valkey, nothing else) is
finished by the reconciler with the money moved once. The audit stays clean throughout."""

from __future__ import annotations

import asyncio
from typing import Any

from live_server.domain.charity import earmark
from live_server.protocol import now_ms
from live_server.services.charity import CharityAudit
from live_server.services.gifts import GiftAudit
from live_server.services.topups import TopupAudit
from live_server.services.transfers import TransferClock
from live_server.services.wallets import audit
from live_server.store.gifts import GiftSend, memo_of
from live_server.store.keys import bucket_index
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import Viewer
from tests.integration.test_buckets_red_packets import elsewhere as users_elsewhere
from tests.integration.test_charity import beneficiary, mark
from tests.integration.test_gifts import send
from tests.integration.test_red_packets import balance, topup

BUCKETS = 3
CREATOR = "alice"
HEART = {"gift_id": "heart", "name": "Heart", "icon": "heart", "price": 100}


def elsewhere(n: int, creator: str = CREATOR) -> list[str]:
    """``n`` senders none of which is on the creator's bucket, from each other bucket in turn."""
    return users_elsewhere(n, creator, prefix="gfan")


def at_home(n: int, creator: str = CREATOR) -> list[str]:
    """``n`` user ids on the creator's bucket."""
    home = bucket_index(creator, BUCKETS)
    found: list[str] = []
    i = 0
    while len(found) < n:
        if bucket_index(f"hfan{i}", BUCKETS) == home:
            found.append(f"hfan{i}")
        i += 1
    return found


async def bucketed(live_app_factory: Any, **sections: Any) -> LiveApp:
    return await live_app_factory(money={"wallet_buckets": BUCKETS}, **sections)


async def books(live: LiveApp) -> list[str]:
    """The money audit over every bucket's ledger, with the gifts', top-ups' and charity's
    checks."""
    s = live.client.app[SERVICES]
    report = await audit(s.wallets.store, s.red_packets.store,
                         (GiftAudit(s.gifts.store), TopupAudit(s.topups.store),
                          CharityAudit(s.charity.store, s.orders.store)))
    return report.mismatches


async def pending(live: LiveApp) -> set[str]:
    """The transfers between buckets not ended yet."""
    return set(await live.client.app[SERVICES].transfers.store.all_pending())


async def entries(live: LiveApp, user: str) -> list[tuple[str, str, int, str]]:
    """The user's latest wallet entries as their wallet page lists them, newest first."""
    status, wallet = await live.call("GET", "/api/me/wallet", user)
    assert status == 200, wallet
    return [(e["from"], e["to"], e["amount"], e["reason"]) for e in wallet["entries"]]


def clocks(live: LiveApp, n: int) -> list[TransferClock]:
    """The transfer reconcilers of ``n`` other processes."""
    return [TransferClock(live.client.app[SERVICES].transfers) for _ in range(n)]


async def test_a_gift_from_another_bucket_end_to_end(live_app_factory: Any) -> None:
    live = await bucketed(live_app_factory)
    room = await live.live_room()
    sender, poor = elsewhere(2)
    assert bucket_index(sender, BUCKETS) != bucket_index(CREATOR, BUCKETS)
    await topup(live, sender, 10_000)
    await topup(live, poor, 50)
    watcher = await Viewer.connect(live.base, room, token("wes"))
    await watcher.wait_welcome()
    status, body = await send(live, room, sender, gift_id="heart", quantity=3,
                              idempotency_key="k1")
    assert status == 200, body
    assert body["amount"] == 300 and body["quantity"] == 3 and body["combo"] == 3
    assert body["balance"] == 9_700 and body["repeated"] is False
    assert await balance(live, sender) == 9_700
    assert await balance(live, CREATOR) == 210  # 70 % of 300
    s = live.client.app[SERVICES]
    assert await s.gifts.store.platform_books() == {"gifts": 90}
    transfer = f"xfer:{body['send_id']}"
    assert (await entries(live, sender))[0] == (f"user:{sender}", transfer, 300,
                                                "gift_transfer")
    assert (await entries(live, CREATOR))[0] == (transfer, "user:alice", 210, "gift")
    events = await watcher.wait_for(lambda: watcher.of_type("gift"))
    data = events[0]["data"]
    assert data["from"] == sender and data["gift_id"] == "heart" and data["combo"] == 3
    # the gift over the room socket, and a sender short of money
    viewer = await Viewer.connect(live.base, room, token(sender))
    await viewer.wait_welcome()
    reply = await viewer.request("send_gift", gift_id="rose", quantity=5,
                                 idempotency_key="ws-1")
    assert reply["type"] == "reply", reply
    assert reply["data"]["amount"] == 50 and reply["data"]["balance"] == 9_650
    status, err = await send(live, room, poor, gift_id="heart")
    assert status == 402 and err["error"]["code"] == "insufficient_funds"
    assert err["error"]["balance"] == 50 and err["error"]["needed"] == 100
    assert await balance(live, poor) == 50 and len(await entries(live, poor)) == 1  # top-up
    # the figures the creator, the report, ops and the earnings read
    status, figs = await live.call("GET", f"/api/rooms/{room}/gifts", CREATOR, "creator")
    assert status == 200 and figs["gifts"] == 8 and figs["spent"] == 350
    assert figs["creator"] == 245 and figs["platform"] == 105
    assert figs["by_gift"] == {"heart": 3, "rose": 5}
    status, report = await live.call("GET", f"/api/rooms/{room}/report", CREATOR, "creator")
    assert status == 200 and report["headline"]["gifts"] == 8
    assert report["headline"]["gift_income"] == 245
    status, ops = await live.call("GET", "/api/ops/rooms", "olga", "ops")
    assert [r["gift_spent"] for r in ops["rooms"] if r["id"] == room] == [350]
    status, earned = await live.call("GET", "/api/me/earnings", CREATOR, "creator")
    assert status == 200 and earned["gifts"]["creator"] == 245
    assert await balance(live, CREATOR) == 245 and await balance(live, sender) == 9_650
    for v in (watcher, viewer):
        await v.close()
    assert await pending(live) == set()
    assert await books(live) == []


async def test_a_key_used_again_from_another_bucket_moves_the_money_once(
        live_app_factory: Any) -> None:
    live = await bucketed(live_app_factory)
    room = await live.live_room()
    sender = elsewhere(1)[0]
    await topup(live, sender, 1_000)
    first = await send(live, room, sender, gift_id="star", idempotency_key="same")
    assert first[0] == 200 and first[1]["repeated"] is False
    again = await asyncio.gather(*(send(live, room, sender, gift_id="star",
                                        idempotency_key="same") for _ in range(10)))
    for status, body in again:
        assert status == 200 and body["repeated"] is True
        assert {k: body[k] for k in ("send_id", "amount", "balance", "combo")} == {
            k: first[1][k] for k in ("send_id", "amount", "balance", "combo")}
    assert await balance(live, sender) == 500
    # concurrent first sends with one key: one charge, every answer the same send
    keyed = await asyncio.gather(*(send(live, room, sender, gift_id="rose",
                                        idempotency_key="race") for _ in range(10)))
    assert all(status == 200 for status, _ in keyed), keyed
    assert sum(not b["repeated"] for _, b in keyed) == 1
    assert len({b["send_id"] for _, b in keyed}) == 1
    assert await balance(live, sender) == 490
    assert await balance(live, CREATOR) == 350 + 7
    status, figs = await live.call("GET", f"/api/rooms/{room}/gifts", CREATOR, "creator")
    assert figs["sends"] == 2 and figs["spent"] == 510
    assert [e[3] for e in await entries(live, sender)] == ["gift_transfer", "gift_transfer",
                                                          "topup"]
    assert await pending(live) == set()
    assert await books(live) == []


async def test_concurrent_gifts_from_every_bucket_add_up_exactly(
        live_app_factory: Any) -> None:
    live = await bucketed(live_app_factory)
    room = await live.live_room()
    away, home = elsewhere(12), at_home(4)
    users = away + home
    for user in users:
        await topup(live, user, 1_000)
    # every sender sends 3 gifts at once, each twice with its key (a retried send)
    calls = [send(live, room, user, gift_id="heart", idempotency_key=f"{user}-{n}")
             for n in range(3) for user in users for _ in range(2)]
    answers = await asyncio.gather(*calls)
    assert all(status == 200 for status, _ in answers), [b for s, b in answers if s != 200]
    assert len([b for _, b in answers if not b["repeated"]]) == 3 * len(users)
    for user in users:
        assert await balance(live, user) == 700
    assert await balance(live, CREATOR) == 16 * 3 * 70
    status, figs = await live.call("GET", f"/api/rooms/{room}/gifts", CREATOR, "creator")
    assert status == 200 and figs["sends"] == 48 and figs["spent"] == 4_800
    assert await live.client.app[SERVICES].gifts.store.platform_books() == {"gifts": 1_440}
    # a sender on the creator's bucket pays the creator directly, one from elsewhere through a
    # transfer
    assert {e[:2] for e in (await entries(live, home[0]))[:6]} == {
        (f"user:{home[0]}", "user:alice"), (f"user:{home[0]}", "platform:gifts")}
    assert [(e[0], e[1][:5], e[3]) for e in (await entries(live, away[0]))[:3]] == [
        (f"user:{away[0]}", "xfer:", "gift_transfer")] * 3
    status, card = await live.call("GET", "/api/creators/alice/fans", away[0])
    assert status == 200 and card["intimacy"] >= 3
    assert await pending(live) == set()
    assert await books(live) == []


async def test_a_gift_whose_process_died_after_the_payment_is_finished_by_the_reconciler(
        live_app_factory: Any) -> None:
    """The sender paid on their bucket and the process died: the reconciler makes the send
    on the creator's bucket once, its charity earmark on the room's terms as they are then."""
    live = await bucketed(live_app_factory)
    room = await live.live_room()
    ben = await beneficiary(live)
    assert (await mark(live, room, ben, bp=1000, sources=("gifts",)))[0] == 200
    sender = elsewhere(1)[0]
    await topup(live, sender, 1_000)
    store = live.client.app[SERVICES].gifts.store
    gift = GiftSend(sender=sender, sender_name=sender, creator=CREATOR, room_id=room,
                    gift=HEART, quantity=3, to_creator=210, to_platform=90,
                    idempotency_key="cut", send_id="gdead1")
    now = now_ms()
    record = store.transfer_record(gift, now)
    held = await store.transfers.hold(sender, "gdead1", record, now, reason=record["reason"],
                                      ref=record["ref"], memo=memo_of(record))
    assert held.status == "ok" and held.balance == 700
    assert await balance(live, sender) == 700 and await balance(live, CREATOR) == 0
    assert await pending(live) == {"gdead1"}
    assert await books(live) == []  # the paid amount is in the transfer, not lost
    # the room's terms change before anyone finishes the send
    assert (await mark(live, room, ben, bp=2000, sources=("gifts",)))[0] == 200
    # three processes' reconcilers at once (or this one's own, had the grace passed already)
    finished = await asyncio.gather(*(c.finish_pending(now_ms() + 6000) for c in clocks(live, 3)))
    assert sum(finished) <= 1
    assert await balance(live, sender) == 700
    assert await balance(live, CREATOR) == 210 - earmark(210, 2000)
    # the fan points the dead caller never gave: given once, by whoever made the send
    status, card = await live.call("GET", f"/api/creators/{CREATOR}/fans", sender)
    assert status == 200 and card["intimacy"] == 3 * live.settings.fans.gift_points
    status, receipt = await live.call("GET", f"/api/rooms/{room}/charity")
    assert status == 200 and receipt["totals"]["gifts"] == {"amount": 42, "entries": 1}
    # the sender's retry (the same key) answers the send, moving nothing more
    status, body = await send(live, room, sender, gift_id="heart", quantity=3,
                              idempotency_key="cut")
    assert status == 200 and body["repeated"] is True
    assert body["send_id"] == "gdead1" and body["amount"] == 300 and body["balance"] == 700
    assert sum(await asyncio.gather(*(c.finish_pending(now_ms() + 6000)
                                      for c in clocks(live, 3)))) == 0
    assert await balance(live, sender) == 700 and await balance(live, CREATOR) == 168
    status, figs = await live.call("GET", f"/api/rooms/{room}/gifts", CREATOR, "creator")
    assert figs["sends"] == 1 and figs["spent"] == 300
    assert await pending(live) == set()
    assert await books(live) == []


async def test_a_retried_send_finishes_the_one_its_dead_process_left(
        live_app_factory: Any) -> None:
    """Before the reconciler gets to it, the sender's retry with the same key finishes the
    send left in flight instead of paying again."""
    live = await bucketed(live_app_factory)
    room = await live.live_room()
    sender = elsewhere(1)[0]
    await topup(live, sender, 1_000)
    store = live.client.app[SERVICES].gifts.store
    gift = GiftSend(sender=sender, sender_name=sender, creator=CREATOR, room_id=room,
                    gift=HEART, quantity=1, to_creator=70, to_platform=30,
                    idempotency_key="again", send_id="gdead2")
    now = now_ms()
    record = store.transfer_record(gift, now)
    assert (await store.transfers.hold(sender, "gdead2", record, now,
                                       reason=record["reason"], ref=record["ref"],
                                       memo=memo_of(record))).status == "ok"
    retried = await asyncio.gather(*(send(live, room, sender, gift_id="heart",
                                          idempotency_key="again") for _ in range(5)))
    for status, body in retried:
        assert status == 200 and body["repeated"] is True and body["send_id"] == "gdead2"
    assert await balance(live, sender) == 900 and await balance(live, CREATOR) == 70
    assert await pending(live) == set()
    assert sum(await asyncio.gather(*(c.finish_pending(now_ms() + 6000)
                                      for c in clocks(live, 2)))) == 0
    assert await books(live) == []


async def test_a_fan_club_join_from_another_bucket(live_app_factory: Any) -> None:
    live = await bucketed(live_app_factory)
    room = await live.live_room()
    fee = live.settings.money.fan_club_fee_cents
    member, racer = elsewhere(2)
    await topup(live, member, fee + 50)
    status, card = await live.call("POST", "/api/creators/alice/fan-club", member)
    assert status == 200, card
    assert card["fan_club_member"] and card["balance"] == 50 and card["fan_club_members"] == 1
    assert await balance(live, member) == 50 and await balance(live, CREATOR) == fee
    transfer = (await entries(live, member))[0][1]
    assert transfer.startswith("xfer:")
    assert (await entries(live, member))[0] == (f"user:{member}", transfer, fee,
                                                "fan_club_transfer")
    assert (await entries(live, CREATOR))[0] == (transfer, "user:alice", fee, "fan_club")
    # a second join: refused as ever, nothing moves
    status, err = await live.call("POST", "/api/creators/alice/fan-club", member)
    assert status == 409 and err["error"]["code"] == "already_member"
    assert await balance(live, member) == 50 and len(await entries(live, member)) == 2
    # concurrent joins of one member: one pays and joins, the others are refused
    await topup(live, racer, 3 * fee)
    joins = await asyncio.gather(*(live.call("POST", "/api/creators/alice/fan-club", racer)
                                   for _ in range(5)))
    assert sorted(status for status, _ in joins) == [200, 409, 409, 409, 409], joins
    assert {b["error"]["code"] for status, b in joins if status != 200} == {"already_member"}
    assert await balance(live, racer) == 2 * fee
    assert await balance(live, CREATOR) == 2 * fee
    # the member's badge on chat, the club in the card and in the show's report
    host = await Viewer.connect(live.base, room, token(CREATOR, "creator"))
    chatter = await Viewer.connect(live.base, room, token(member))
    for v in (host, chatter):
        await v.wait_welcome()
    assert (await chatter.request("chat", text="hi"))["type"] == "reply"
    said = await host.wait_for(lambda: host.of_type("chat"))
    assert said[0]["data"]["user"]["fan_club"] is True
    status, card = await live.call("GET", "/api/creators/alice/fans", racer)
    assert card["fan_club_member"] and card["fan_club_members"] == 2
    status, report = await live.call("GET", f"/api/rooms/{room}/report", CREATOR, "creator")
    assert status == 200 and report["headline"]["fan_club_joins"] == 2
    for v in (host, chatter):
        await v.close()
    assert await pending(live) == set()
    assert await books(live) == []


async def test_a_join_whose_process_died_is_finished_by_the_reconciler(
        live_app_factory: Any) -> None:
    """The member paid on their bucket and the process died: the reconciler makes them a
    member once. A member already (a join that raced another) gets the fee back."""
    live = await bucketed(live_app_factory)
    fee = live.settings.money.fan_club_fee_cents
    member = elsewhere(1)[0]
    await topup(live, member, 2 * fee)
    store = live.client.app[SERVICES].fans.store
    now = now_ms()
    transfer_id, record, memo = store.join_transfer(member, CREATOR, fee, now)
    held = await store.transfers.hold(member, transfer_id, record, now,
                                      reason=record["reason"], ref=record["ref"], memo=memo)
    assert held.status == "ok" and held.balance == fee
    status, card = await live.call("GET", "/api/creators/alice/fans", member)
    assert status == 200 and card["fan_club_member"] is False
    assert await books(live) == []
    # three processes' reconcilers at once (or this one's own, had the grace passed already)
    finished = await asyncio.gather(*(c.finish_pending(now_ms() + 6000) for c in clocks(live, 3)))
    assert sum(finished) <= 1
    status, card = await live.call("GET", "/api/creators/alice/fans", member)
    assert card["fan_club_member"] is True and card["fan_club_members"] == 1
    assert card["intimacy"] == live.settings.fans.fan_club_points  # given once
    assert await balance(live, member) == fee and await balance(live, CREATOR) == fee
    # the same join paid again (its key remembered) moves nothing
    again = await store.transfers.hold(member, "c-again", record, now_ms(),
                                       reason=record["reason"], ref=record["ref"], memo=memo)
    assert again.status == "repeat" and await balance(live, member) == fee
    # a join that raced past the membership check (no key): refused for good, fee back
    late_id, late, _ = store.join_transfer(member, CREATOR, fee, now_ms())
    del late["memo"]
    assert (await store.transfers.hold(member, late_id, late, now_ms(),
                                       reason=late["reason"], ref=late["ref"])).status == "ok"
    assert await balance(live, member) == 0
    assert sum(await asyncio.gather(*(c.finish_pending(now_ms() + 6000)
                                      for c in clocks(live, 3)))) <= 1
    assert await balance(live, member) == fee and await balance(live, CREATOR) == fee
    assert [e[3] for e in await entries(live, member)][:3] == [
        "xfer_return", "fan_club_transfer", "fan_club_transfer"]
    status, card = await live.call("GET", "/api/creators/alice/fans", member)
    assert status == 200 and card["fan_club_members"] == 1
    assert await pending(live) == set()
    assert await books(live) == []
