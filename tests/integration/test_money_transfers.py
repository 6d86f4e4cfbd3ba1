"""Money moving between the wallet slot and a red packet's escrow (its own slot) in two steps:
a process that dies between the steps leaves the transfer pending; the audit counts it and
stays clean, the packet clock's reconciler finishes it, and however often a step runs the
money moves once.

A process dying between the two steps is reproduced exactly: the first step's own script runs
against the real Valkey and the second never does (what a killed process leaves)."""

from __future__ import annotations

import asyncio
from typing import Any

from live_server.protocol import dumps, now_ms
from live_server.services.red_packets import PacketClock
from live_server.services.wallets import audit
from live_server.store.red_packets import SETTLE_GRACE_MS
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp
from tests.integration.test_red_packets import (
    assert_audit_clean,
    balance,
    grab,
    launch,
    topup,
)


async def launched(live: LiveApp, **how: Any) -> tuple[str, dict[str, Any]]:
    """A live room of alice's, 1,000 cents in her wallet, and a packet launched in it."""
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    _, made = await launch(live, room, **how)
    return room, made["packet"]


def looked_at() -> int:
    """A time at which the reconciler looks at a packet launched now (a grace later)."""
    return now_ms() + SETTLE_GRACE_MS


def clock(live: LiveApp) -> PacketClock:
    """A second process's packet clock, with no grace: every pending transfer is due."""
    return PacketClock(live.client.app[SERVICES].red_packets, 200, settle_grace_ms=0)


async def grab_first_step_only(live: LiveApp, packet: dict[str, Any], user: str) -> int:
    """The grab script on the packet's slot, and the process dies before the credit."""
    store = live.client.app[SERVICES].red_packets.store
    base = store.keys.packet(packet["id"])
    reply = await store.core.script(
        "rp_grab", [base, f"{base}:shares", f"{base}:claims", f"{base}:rec", f"{base}:elig",
                    f"{base}:out"],
        [now_ms(), user, packet["id"], dumps(user), 1000, "0", "0"])
    assert reply[0] == b"ok", reply
    return int(reply[1])


async def test_a_grab_cut_between_escrow_and_credit_is_credited_once_by_the_reconciler(
        live: LiveApp) -> None:
    _room, packet = await launched(live, total=1000, shares=4, split="random")
    amount = await grab_first_step_only(live, packet, "vic")
    assert await balance(live, "vic") == 0  # not credited yet
    status, err = await grab(live, packet["id"], "vic")  # the retried grab is refused ...
    assert status == 409 and err["error"]["code"] == "already_grabbed"
    assert err["error"]["amount"] == amount
    await assert_audit_clean(live)  # ... and the pending share is in the books
    other = clock(live)
    results = await asyncio.gather(*(other.reconcile(looked_at()) for _ in range(5)))
    assert sum(results) >= 1
    assert await balance(live, "vic") == amount
    assert await other.reconcile(looked_at()) == 0  # nothing left to finish
    assert await balance(live, "vic") == amount
    status, body = await live.call("GET", "/api/me/wallet", "vic")
    assert [(e["amount"], e["reason"]) for e in body["entries"]] == [(amount, "grab")]
    await assert_audit_clean(live)


async def test_a_credit_step_run_twice_credits_once(live: LiveApp) -> None:
    room, packet = await launched(live, total=1000, shares=2, split="equal")
    status, body = await grab(live, packet["id"], "vic")
    assert status == 200 and body["amount"] == 500
    store = live.client.app[SERVICES].red_packets.store
    again = await asyncio.gather(*(store.credit(packet["id"], room, "vic", "vic", 500, now_ms())
                                   for _ in range(10)))
    assert all(again)
    assert await balance(live, "vic") == 500
    await assert_audit_clean(live)


async def launch_first_step_only(live: LiveApp, room: str, packet_id: str) -> None:
    """The launch's debit on the creator's wallet bucket, and the process dies before the
    escrow."""
    store = live.client.app[SERVICES].red_packets.store
    now = now_ms()
    packet = {"id": packet_id, "room_id": room, "creator_id": "alice", "creator_name": "alice",
              "created_at": now, "total": 600, "shares": 3, "split": "equal",
              "condition": "anyone", "keyword": "", "open_at": now,
              "expires_at": now + 60_000}
    reply = await store.core.script(
        "rp_create", store.create_keys(room, "alice"),
        [now, "alice", packet_id,
         dumps({"packet": packet, "shares": [200, 200, 200], "at": now}),
         600, 50, now + 60_000, "", "", now])
    assert reply[0] == b"ok"


async def test_a_launch_cut_after_the_debit_is_put_in_escrow_by_the_reconciler(
        live: LiveApp) -> None:
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    await launch_first_step_only(live, room, "rp-cut")
    assert await balance(live, "alice") == 400
    await assert_audit_clean(live)  # the debited total is pending, not lost
    assert await clock(live).reconcile(looked_at()) == 1
    status, body = await grab(live, "rp-cut", "vic")
    assert status == 200 and body["amount"] == 200
    assert await clock(live).reconcile(looked_at()) == 0
    assert await balance(live, "alice") == 400 and await balance(live, "vic") == 200
    await assert_audit_clean(live)


async def test_a_launch_cut_after_the_debit_is_never_not_found(live: LiveApp) -> None:
    """Before the reconciler gets to it, the first read or grab of the packet puts it in
    escrow from its launch record: a listed packet is never answered ``not_found``."""
    room = await live.live_room()
    await topup(live, "alice", 1200, "creator")
    await launch_first_step_only(live, room, "rp-cut-1")
    status, body = await grab(live, "rp-cut-1", "vic")
    assert status == 200 and body["amount"] == 200, body
    await launch_first_step_only(live, room, "rp-cut-2")
    status, view = await live.call("GET", "/api/red-packets/rp-cut-2", "wen")
    assert status == 200 and view["shares_left"] == 3, view
    assert await clock(live).reconcile(looked_at()) == 0  # nothing left for it to finish
    assert await balance(live, "alice") == 0 and await balance(live, "vic") == 200
    await assert_audit_clean(live)


async def test_a_refund_cut_before_the_credit_is_paid_once_by_the_reconciler(
        live: LiveApp) -> None:
    _room, packet = await launched(live, total=1000, shares=10, split="equal", duration_s=3600)
    assert (await grab(live, packet["id"], "vic"))[0] == 200
    store = live.client.app[SERVICES].red_packets.store
    base = store.keys.packet(packet["id"])
    later = packet["expires_at"] + 1
    reply = await store.core.script("rp_tick", [base, f"{base}:shares", f"{base}:out"],
                                    [later, packet["id"]])
    assert reply[0] == b"ok" and reply[1] == b"expired" and int(reply[3]) == 900
    assert await balance(live, "alice") == 0
    await assert_audit_clean(live)
    await asyncio.gather(*(clock(live).reconcile(later) for _ in range(5)))
    assert await balance(live, "alice") == 900
    _status, view = await live.call("GET", f"/api/red-packets/{packet['id']}", "alice")
    assert view["state"] == "finished" and view["refunded"] == 900
    await assert_audit_clean(live)


async def test_the_audit_sees_a_transfer_whose_two_sides_disagree(live: LiveApp) -> None:
    _room, packet = await launched(live, total=1000, shares=2, split="equal")
    assert (await grab(live, packet["id"], "vic"))[0] == 200
    store = live.client.app[SERVICES].red_packets.store
    # the escrow forgets the claim its wallet-side credit answers to
    await store.core.client.hdel(f"{store.keys.packet(packet['id'])}:claims", "vic")
    s = live.client.app[SERVICES]
    report = await audit(s.wallets.store, s.red_packets.store)
    assert any("claims differ" in m for m in report.mismatches), report.mismatches


async def test_an_escrow_lost_in_a_failover_is_rebuilt_without_what_was_credited(
        live: LiveApp) -> None:
    """Unacknowledged writes (``store.ack_replicas`` = 0) on a cluster: the packet's master
    dies and its replica never had the escrow, while the wallet slot kept the launch's debit
    and a grab's credit. The packet stays readable, and the reconciler rebuilds the escrow
    from the launch record less the credited grab: the money adds up and nobody grabs twice."""
    _room, packet = await launched(live, total=900, shares=3, split="equal", duration_s=3600)
    status, first = await grab(live, packet["id"], "vic")
    assert status == 200 and first["amount"] == 300
    store = live.client.app[SERVICES].red_packets.store
    base = store.keys.packet(packet["id"])
    await store.core.client.delete(base, f"{base}:shares", f"{base}:claims", f"{base}:rec",
                                   f"{base}:out")  # what the promoted replica never received
    assert await clock(live).reconcile(looked_at()) == 1
    _status, view = await live.call("GET", f"/api/red-packets/{packet['id']}", "alice")
    assert view["shares_left"] == 2 and view["amount_left"] == 600, view
    assert [(r["user"], r["amount"]) for r in view["record"]] == [("vic", 300)]
    status, err = await grab(live, packet["id"], "vic")
    assert status == 409 and err["error"]["code"] == "already_grabbed"
    assert (await grab(live, packet["id"], "wen"))[1]["amount"] == 300
    assert await balance(live, "vic") == 300 and await balance(live, "wen") == 300
    assert await balance(live, "alice") == 100
    await assert_audit_clean(live)


async def test_a_settled_packet_leaves_the_reconcilers_list(live: LiveApp) -> None:
    """Every share grabbed and credited: one pass drops the credited marks, and the packet
    is settled (no longer walked, its launch record gone)."""
    _room, packet = await launched(live, total=400, shares=2, split="equal")
    for user in ("vic", "wen"):
        assert (await grab(live, packet["id"], user))[0] == 200
    store = live.client.app[SERVICES].red_packets.store
    assert packet["id"] in await store.unsettled()
    assert await clock(live).reconcile(looked_at()) == 0  # nothing to finish, only to tidy
    assert packet["id"] not in await store.unsettled()
    assert packet["id"] not in await store.launches_recorded()
    assert await store.core.client.hlen(f"{store.keys.packet(packet['id'])}:out") == 0
    await assert_audit_clean(live)


async def test_many_processes_look_at_each_packet_once_per_grace(live: LiveApp) -> None:
    """The reconciler's packets are a leased schedule: of several processes passing at the same
    moment one looks at a packet, and the transfer is finished once."""
    _room, packet = await launched(live, total=1000, shares=4, split="random")
    amount = await grab_first_step_only(live, packet, "vic")
    processes = [PacketClock(live.client.app[SERVICES].red_packets, 200) for _ in range(4)]
    at = looked_at()
    results = await asyncio.gather(*(p.reconcile(at) for p in processes))
    assert sorted(results) == [0, 0, 0, 1]
    assert await balance(live, "vic") == amount
    assert await asyncio.gather(*(p.reconcile(at + 1) for p in processes)) == [0, 0, 0, 0]
    await assert_audit_clean(live)
