"""Red packets with wallets over several slots (``money.wallet_buckets`` = 3): the launch runs on
the creator's bucket, each grab's credit on its grabber's, the refund on the creator's. A show
whose grabbers are on other buckets than the creator's pays each of them once, refunds the
creator once and keeps the books; a transfer left half-done (the first step's own script run
against the real Valkey, the second never, as a killed process leaves it) is finished by the
reconciler with the money moved once."""

from __future__ import annotations

import asyncio
from typing import Any

from live_server.protocol import now_ms
from live_server.services.red_packets import PacketClock
from live_server.services.wallets import audit
from live_server.store.keys import bucket_index
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import Viewer
from tests.integration.test_money_transfers import (
    clock,
    grab_first_step_only,
    launch_first_step_only,
    looked_at,
)
from tests.integration.test_red_packets import (
    assert_audit_clean,
    balance,
    grab,
    launch,
    topup,
)

BUCKETS = 3
CREATOR = "alice"


def elsewhere(n: int, creator: str = CREATOR, prefix: str = "fan") -> list[str]:
    """``n`` user ids (``<prefix><i>``) none of which is on the creator's bucket, taken in turn
    from each of the other buckets (so two in a row are on two different buckets)."""
    home = bucket_index(creator, BUCKETS)
    found: dict[int, list[str]] = {b: [] for b in range(BUCKETS) if b != home}
    i = 0
    while min(len(users) for users in found.values()) < n:
        user = f"{prefix}{i}"
        found.get(bucket_index(user, BUCKETS), []).append(user)
        i += 1
    rows = zip(*(users[:n] for users in found.values()), strict=True)
    return [u for row in rows for u in row][:n]


async def bucketed(live_app_factory: Any) -> LiveApp:
    return await live_app_factory(money={"wallet_buckets": BUCKETS})


async def funded_room(live_app_factory: Any, cents: int = 1000) -> tuple[LiveApp, str]:
    """A server with 3 buckets, a live room of the creator's and ``cents`` in their wallet."""
    live = await bucketed(live_app_factory)
    room = await live.live_room(CREATOR)
    await topup(live, CREATOR, cents, "creator")
    return live, room


async def entries(live: LiveApp, user: str) -> list[tuple[int, str]]:
    status, wallet = await live.call("GET", "/api/me/wallet", user)
    assert status == 200, wallet
    return [(e["amount"], e["reason"]) for e in wallet["entries"]]


def test_the_grabbers_here_are_on_other_buckets_than_the_creator() -> None:
    fans = elsewhere(12)
    assert len(set(fans)) == 12
    assert {bucket_index(u, BUCKETS) for u in fans} == (
        set(range(BUCKETS)) - {bucket_index(CREATOR, BUCKETS)})


async def test_a_show_pays_grabbers_on_other_buckets_once_and_refunds_the_creator(
        live_app_factory: Any) -> None:
    live = await bucketed(live_app_factory)
    room = await live.live_room(CREATOR)
    await topup(live, CREATOR, 10_000, "creator")
    fans = elsewhere(24)
    on_socket = fans[:4]
    viewers = [await Viewer.connect(live.base, room, token(u)) for u in on_socket]
    for v in viewers:
        await v.wait_welcome()
    status, made = await launch(live, room, total=3000, shares=30, split="random",
                                duration_s=3600, idempotency_key="show-1")
    assert status == 201 and made["balance"] == 7000, made
    packet = made["packet"]
    await viewers[0].wait_for(lambda: viewers[0].of_type("red_packet"))

    async def over_socket(v: Viewer) -> int:
        reply = await v.request("grab", packet_id=packet["id"])
        assert reply["type"] == "reply", reply
        return int(reply["data"]["amount"])

    async def over_http(user: str) -> int:
        status, body = await grab(live, packet["id"], user)
        assert status == 200, body
        return int(body["amount"])

    amounts = await asyncio.gather(*(over_socket(v) for v in viewers),
                                   *(over_http(u) for u in fans[4:]))
    got = dict(zip(on_socket + fans[4:], amounts, strict=True))
    assert len(got) == 24 and min(got.values()) >= 1
    # everyone sees exactly their share in their wallet, once
    for user, amount in got.items():
        assert await balance(live, user) == amount
        assert await entries(live, user) == [(amount, "grab")]
    # grabbing again moves nothing
    status, err = await grab(live, packet["id"], fans[5])
    assert status == 409 and err["error"]["code"] == "already_grabbed"
    assert err["error"]["amount"] == got[fans[5]]
    assert await balance(live, fans[5]) == got[fans[5]]
    # the room's list and the packet as anyone reads them
    status, listing = await live.call("GET", f"/api/rooms/{room}/red-packets", fans[0])
    assert status == 200 and [p["id"] for p in listing["packets"]] == [packet["id"]]
    assert listing["packets"][0]["shares_left"] == 6
    status, view = await live.call("GET", f"/api/red-packets/{packet['id']}", fans[0])
    assert status == 200 and view["mine"] == got[fans[0]]
    assert {r["user"]: r["amount"] for r in view["record"]} == got
    # it expires: the clock refunds what is left to the creator, once
    left = 3000 - sum(got.values())
    services = live.client.app[SERVICES]
    later = packet["expires_at"] + 1
    await asyncio.gather(*(services.packet_clock.run_once(later) for _ in range(3)))
    finished = await viewers[0].wait_for(lambda: viewers[0].of_type("red_packet_finished"))
    assert finished[0]["data"]["reason"] == "expired"
    assert finished[0]["data"]["refunded"] == left
    assert await balance(live, CREATOR) == 7000 + left
    assert (await entries(live, CREATOR))[0] == (left, "refund")
    status, view = await live.call("GET", f"/api/red-packets/{packet['id']}", CREATOR)
    assert view["state"] == "finished" and view["refunded"] == left
    # the launch retried with its key is the same packet, debited once
    status, again = await launch(live, room, total=3000, shares=30, idempotency_key="show-1")
    assert status == 200 and again["packet"]["id"] == packet["id"]
    assert again["created"] is False
    assert await balance(live, CREATOR) == 7000 + left
    for v in viewers:
        await v.close()
    await assert_audit_clean(live)


async def test_concurrent_launches_with_one_key_on_the_creators_bucket_debit_once(
        live_app_factory: Any) -> None:
    live, room = await funded_room(live_app_factory, 5000)
    answers = await asyncio.gather(*(
        launch(live, room, total=1000, shares=4, split="equal", idempotency_key="once")
        for _ in range(10)))
    assert sorted(status for status, _ in answers) == [200] * 9 + [201], answers
    assert len({made["packet"]["id"] for _, made in answers}) == 1
    assert await balance(live, CREATOR) == 4000
    pid = answers[0][1]["packet"]["id"]
    fans = elsewhere(6)
    results = await asyncio.gather(*(grab(live, pid, u) for u in fans for _ in range(3)))
    paid = {body["amount"] for status, body in results if status == 200}
    codes = sorted(body["error"]["code"] for status, body in results if status != 200)
    assert paid == {250} and len([s for s, _ in results if s == 200]) == 4
    assert codes.count("none_left") + codes.count("already_grabbed") == 14
    assert sum([await balance(live, u) for u in fans]) == 1000
    assert await balance(live, CREATOR) == 4000
    await assert_audit_clean(live)


async def test_a_keyword_packet_admits_who_said_it_from_any_bucket(
        live_app_factory: Any) -> None:
    live, room = await funded_room(live_app_factory, 2000)
    said, silent = elsewhere(2)
    _, made = await launch(live, room, total=400, shares=4, split="equal",
                           condition="keyword", keyword="lucky day")
    pid = made["packet"]["id"]
    viewer = await Viewer.connect(live.base, room, token(said))
    await viewer.wait_welcome()
    reply = await viewer.request("chat", text="Lucky  DAY")
    assert reply["type"] == "reply", reply
    status, body = await grab(live, pid, said)
    assert status == 200 and body["amount"] == 100, body
    status, err = await grab(live, pid, silent)
    assert err["error"]["code"] == "not_eligible", (status, err)
    assert err["error"]["keyword"] == "lucky day"
    assert await balance(live, said) == 100 and await balance(live, silent) == 0
    await viewer.close()
    await assert_audit_clean(live)


async def test_a_fan_club_packet_admits_a_member_on_another_bucket(
        live_app_factory: Any) -> None:
    live, room = await funded_room(live_app_factory, 2000)
    member, other = elsewhere(2)
    await topup(live, member, 500)
    status, card = await live.call("POST", f"/api/creators/{CREATOR}/fan-club", member)
    assert status == 200 and card["fan_club_member"], card
    _, club = await launch(live, room, total=200, shares=2, split="equal",
                           condition="fan_club")
    status, body = await grab(live, club["packet"]["id"], member)
    assert status == 200 and body["amount"] == 100, body
    status, err = await grab(live, club["packet"]["id"], other)
    assert err["error"]["code"] == "not_eligible", (status, err)
    assert await balance(live, other) == 0
    await assert_audit_clean(live)


async def test_a_grab_cut_before_its_credit_on_another_bucket_is_credited_once(
        live_app_factory: Any) -> None:
    live, room = await funded_room(live_app_factory)
    _, made = await launch(live, room, total=1000, shares=4, split="random")
    packet = made["packet"]
    vic, wen = elsewhere(2)
    amount = await grab_first_step_only(live, packet, vic)
    assert await balance(live, vic) == 0  # not credited yet
    status, err = await grab(live, packet["id"], vic)
    assert status == 409 and err["error"]["code"] == "already_grabbed"
    assert err["error"]["amount"] == amount
    status, body = await grab(live, packet["id"], wen)  # the others go on meanwhile
    assert status == 200
    await assert_audit_clean(live)  # the pending share is in the books
    results = await asyncio.gather(*(clock(live).reconcile(looked_at()) for _ in range(5)))
    assert sum(results) >= 1  # processes racing may each run the step: it credits once
    assert await balance(live, vic) == amount
    assert await entries(live, vic) == [(amount, "grab")]
    assert await clock(live).reconcile(looked_at()) == 0
    # the clock every process runs finds nothing more to do either
    await live.client.app[SERVICES].packet_clock.run_once(now_ms() + 6000)
    assert await balance(live, vic) == amount and await balance(live, wen) == body["amount"]
    assert await balance(live, CREATOR) == 0
    await assert_audit_clean(live)


async def test_the_running_clock_finishes_a_grab_cut_before_its_credit(
        live_app_factory: Any) -> None:
    """Nobody calls the reconciler by hand: the server's own packet clock finishes it."""
    live = await live_app_factory(money={"wallet_buckets": BUCKETS,
                                         "scheduler_interval_ms": 100})
    room = await live.live_room(CREATOR)
    await topup(live, CREATOR, 600, "creator")
    _, made = await launch(live, room, total=600, shares=3, split="equal")
    (vic,) = elsewhere(1)
    assert await grab_first_step_only(live, made["packet"], vic) == 200
    for _ in range(600):  # the reconciler looks a grace (5 s) after the launch
        if await balance(live, vic) == 200:
            break
        await asyncio.sleep(0.1)
    assert await balance(live, vic) == 200
    assert await entries(live, vic) == [(200, "grab")]
    await assert_audit_clean(live)


async def test_a_launch_cut_after_the_creators_debit_is_put_in_escrow(
        live_app_factory: Any) -> None:
    live, room = await funded_room(live_app_factory, 1200)
    vic, wen = elsewhere(2)
    await launch_first_step_only(live, room, "rp-cut-1")
    await launch_first_step_only(live, room, "rp-cut-2")
    assert await balance(live, CREATOR) == 0
    await assert_audit_clean(live)  # the debited totals are pending, not lost
    # read by id before the reconciler gets to it: found on the creator's bucket
    status, view = await live.call("GET", "/api/red-packets/rp-cut-1", vic)
    assert status == 200 and view["shares_left"] == 3, view
    assert await clock(live).reconcile(looked_at()) == 1  # the other one
    status, listing = await live.call("GET", f"/api/rooms/{room}/red-packets", vic)
    assert sorted(p["id"] for p in listing["packets"]) == ["rp-cut-1", "rp-cut-2"]
    for pid in ("rp-cut-1", "rp-cut-2"):
        for user in (vic, wen):
            status, body = await grab(live, pid, user)
            assert status == 200 and body["amount"] == 200, body
    assert await clock(live).reconcile(looked_at()) == 0
    assert await balance(live, vic) == 400 and await balance(live, wen) == 400
    await assert_audit_clean(live)


async def test_a_refund_cut_before_its_credit_is_paid_to_the_creator_once(
        live_app_factory: Any) -> None:
    live, room = await funded_room(live_app_factory)
    _, made = await launch(live, room, total=1000, shares=10, split="equal", duration_s=3600)
    packet = made["packet"]
    (vic,) = elsewhere(1)
    assert (await grab(live, packet["id"], vic))[0] == 200
    store = live.client.app[SERVICES].red_packets.store
    base = store.keys.packet(packet["id"])
    later = packet["expires_at"] + 1
    reply = await store.core.script("rp_tick", [base, f"{base}:shares", f"{base}:out"],
                                    [later, packet["id"]])
    assert reply[0] == b"ok" and int(reply[3]) == 900
    assert await balance(live, CREATOR) == 0
    await assert_audit_clean(live)
    await asyncio.gather(*(clock(live).reconcile(later) for _ in range(5)))
    assert await balance(live, CREATOR) == 900
    assert [e for e in await entries(live, CREATOR) if e[1] == "refund"] == [(900, "refund")]
    assert await balance(live, vic) == 100
    await assert_audit_clean(live)


async def test_a_lost_escrow_is_rebuilt_without_the_grabs_credited_on_every_bucket(
        live_app_factory: Any) -> None:
    """The escrow lost in a failover after grabbers on two other buckets were credited: the
    reconciler rebuilds it from the launch record less both credits (each read on its
    grabber's bucket), so nobody grabs twice and the books add up."""
    live, room = await funded_room(live_app_factory)
    _, made = await launch(live, room, total=900, shares=3, split="equal", duration_s=3600)
    pid = made["packet"]["id"]
    first, second, third = elsewhere(3)
    assert bucket_index(first, BUCKETS) != bucket_index(second, BUCKETS)
    for user in (first, second):
        assert (await grab(live, pid, user))[1]["amount"] == 300
    store = live.client.app[SERVICES].red_packets.store
    base = store.keys.packet(pid)
    await store.core.client.delete(base, f"{base}:shares", f"{base}:claims", f"{base}:rec",
                                   f"{base}:out")
    assert await clock(live).reconcile(looked_at()) == 1
    _status, view = await live.call("GET", f"/api/red-packets/{pid}", CREATOR)
    assert view["shares_left"] == 1 and view["amount_left"] == 300, view
    assert sorted(r["user"] for r in view["record"]) == sorted([first, second])
    for user in (first, second):
        status, err = await grab(live, pid, user)
        assert status == 409 and err["error"]["code"] == "already_grabbed"
    assert (await grab(live, pid, third))[1]["amount"] == 300
    assert [await balance(live, u) for u in (first, second, third)] == [300, 300, 300]
    assert await balance(live, CREATOR) == 100
    await assert_audit_clean(live)


async def test_a_credit_step_run_again_on_the_grabbers_bucket_credits_once(
        live_app_factory: Any) -> None:
    live, room = await funded_room(live_app_factory)
    _, made = await launch(live, room, total=1000, shares=2, split="equal")
    (vic,) = elsewhere(1)
    status, body = await grab(live, made["packet"]["id"], vic)
    assert status == 200 and body["amount"] == 500
    store = live.client.app[SERVICES].red_packets.store
    again = await asyncio.gather(*(store.credit(made["packet"]["id"], room, vic, vic, 500,
                                                now_ms()) for _ in range(10)))
    assert all(again)
    assert await balance(live, vic) == 500
    assert await entries(live, vic) == [(500, "grab")]
    await assert_audit_clean(live)


async def test_the_audit_sees_a_credit_on_a_grabbers_bucket_the_escrow_never_paid(
        live_app_factory: Any) -> None:
    """Money out of nowhere on another bucket than the creator's is seen."""
    live, room = await funded_room(live_app_factory)
    _, made = await launch(live, room, total=1000, shares=2, split="equal")
    (vic,) = elsewhere(1)
    store = live.client.app[SERVICES].red_packets.store
    # a credit step for a grab the escrow never made
    assert await store.credit(made["packet"]["id"], room, vic, vic, 500, now_ms())
    s = live.client.app[SERVICES]
    report = await audit(s.wallets.store, s.red_packets.store)
    assert any("claims differ" in m for m in report.mismatches), report.mismatches


async def test_a_process_in_a_fleet_polls_its_share_of_the_buckets_and_reaches_them_all(
        live_app_factory: Any) -> None:
    """With three processes sharing three buckets' due schedules, a process's pass looks at
    one bucket (the fleet covers them all); passes in turn still reach every bucket, so each
    creator's expired packet is refunded once."""
    live = await bucketed(live_app_factory)
    creators = [next(f"host{i}" for i in range(100) if bucket_index(f"host{i}", BUCKETS) == b)
                for b in range(BUCKETS)]
    packets = []
    for creator in creators:
        room = await live.live_room(creator)
        await topup(live, creator, 300, "creator")
        status, made = await launch(live, room, creator, total=300, shares=3, split="equal",
                                    duration_s=60)
        assert status == 201, made
        packets.append(made["packet"])
    services = live.client.app[SERVICES]

    async def fleet_of_three() -> int:
        return 3

    one_of_three = PacketClock(services.red_packets, 200, fleet=fleet_of_three)
    later = max(p["expires_at"] for p in packets) + 1
    await one_of_three.run_once(later)
    assert sorted([await balance(live, c) for c in creators]) == [0, 0, 300]
    await one_of_three.run_once(later + 1)
    await one_of_three.run_once(later + 2)
    assert [await balance(live, c) for c in creators] == [300, 300, 300]
    await one_of_three.run_once(later + 3)
    assert [await balance(live, c) for c in creators] == [300, 300, 300]
    await assert_audit_clean(live)
