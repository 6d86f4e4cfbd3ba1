"""Wallets spread over several slots (``money.wallet_buckets``) and money between two of them
as a transfer: debited and pending on the payer's bucket, received once on the payee's, then
forgotten (or given back). A process that dies between the steps is reproduced exactly: the
paying step's own script runs against the real Valkey and nothing else does; the reconciler
clock of any process then finishes the transfer, and however often a step runs the money moves
once. The audit walks every bucket's ledger and checks each transfer against its record."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from live_server.protocol import now_ms
from live_server.services.periodic import BucketTurns
from live_server.services.transfers import TransferClock, Transfers
from live_server.services.wallets import audit
from live_server.store.keys import Keys, bucket_index
from live_server.store.transfers import GRACE_MS, Memo, TransferStore
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp

BUCKETS = 3


def apart(n: int = 2, *, prefix: str = "u") -> list[str]:
    """``n`` user ids each on a bucket of its own."""
    found: dict[int, str] = {}
    i = 0
    while len(found) < n:
        user = f"{prefix}{i}"
        found.setdefault(bucket_index(user, BUCKETS), user)
        i += 1
    return list(found.values())[:n]


async def bucketed(live_app_factory: Any) -> LiveApp:
    return await live_app_factory(money={"wallet_buckets": BUCKETS})


def transfers_of(live: LiveApp) -> Transfers:
    return live.client.app[SERVICES].transfers


async def balance(live: LiveApp, user: str) -> int:
    status, body = await live.call("GET", "/api/me/wallet", user)
    assert status == 200, body
    return int(body["balance"])


async def topup(live: LiveApp, user: str, amount: int) -> None:
    status, body = await live.call("POST", "/api/dev/wallet/topup", user,
                                   json={"amount": amount})
    assert status == 200, body


async def assert_books_clean(live: LiveApp) -> None:
    s = live.client.app[SERVICES]
    report = await audit(s.wallets.store, s.red_packets.store)
    assert report.mismatches == []


def credit_record(store: TransferStore, payer: str, payee: str, amount: int) -> dict[str, Any]:
    return {"kind": "credit", "amount": amount, "payer": payer, "payee": payee,
            "from": store.keys.wallet(payer).index, "to": store.keys.wallet(payee).index,
            "reason": "test_pay", "ref": "t", "at": now_ms()}


async def pay(transfers: Transfers, payer: str, payee: str, amount: int, *,
              finish: bool = True) -> str:
    """One plain transfer, paid and (unless the process 'dies') finished."""
    store = transfers.store
    tid = "t" + secrets.token_hex(6)
    record = credit_record(store, payer, payee, amount)
    held = await store.hold(payer, tid, record, now_ms(), reason="test_pay", ref="t")
    assert held.status in ("ok", "insufficient_funds")
    if held.status == "ok" and finish:
        await transfers.finish(tid, record, now_ms())
    return tid if held.status == "ok" else ""


def test_one_bucket_keeps_every_name() -> None:
    """With one bucket (the default) the money keys are the ones every deployment already has,
    so nothing moves when this release arrives."""
    keys = Keys("p")
    assert {keys.wallet(u).balances for u in ("a", "b", "creator1")} == {"p:{wallets}:bal"}
    assert keys.wallet("a").ledger == "p:{wallets}:ledger"
    spread = Keys("p", 3)
    assert {spread.wallet(u).base for u in apart(3)} == {
        "p:{wallets}", "p:{wallets:1}", "p:{wallets:2}"}


async def test_a_transfer_between_buckets_moves_the_money_once(live_app_factory: Any) -> None:
    live = await bucketed(live_app_factory)
    payer, payee = apart()
    await topup(live, payer, 1000)
    transfers = transfers_of(live)
    tid = await pay(transfers, payer, payee, 300)
    assert (await balance(live, payer), await balance(live, payee)) == (700, 300)
    # finishing it again (a slow caller and the reconciler) changes nothing
    record = credit_record(transfers.store, payer, payee, 300)
    await transfers.finish(tid, record, now_ms())
    assert (await balance(live, payer), await balance(live, payee)) == (700, 300)
    _, wallet = await live.call("GET", "/api/me/wallet", payee)
    assert wallet["entries"][0]["from"] == f"xfer:{tid}"
    assert await transfers.store.all_pending() == {}
    await assert_books_clean(live)


async def test_a_transfer_left_half_done_is_finished_by_the_reconciler(
        live_app_factory: Any) -> None:
    live = await bucketed(live_app_factory)
    payer, payee = apart()
    await topup(live, payer, 1000)
    transfers = transfers_of(live)
    tid = await pay(transfers, payer, payee, 250, finish=False)  # the process dies here
    assert (await balance(live, payer), await balance(live, payee)) == (750, 0)
    assert set(await transfers.store.all_pending()) == {tid}
    await assert_books_clean(live)  # in transit: held by the transfer, not lost
    # another process's reconciler, before the grace: the caller may still finish it
    other = TransferClock(Transfers(transfers.store))
    assert await other.finish_pending(now_ms()) == 0
    assert await other.finish_pending(now_ms() + GRACE_MS + 1000) == 1
    assert (await balance(live, payer), await balance(live, payee)) == (750, 250)
    assert await other.finish_pending(now_ms() + 3 * GRACE_MS) == 0
    assert await balance(live, payee) == 250
    await assert_books_clean(live)


async def test_a_refused_transfer_goes_back_once_and_frees_its_key(
        live_app_factory: Any) -> None:
    live = await bucketed(live_app_factory)
    payer, payee = apart()
    await topup(live, payer, 500)
    store = transfers_of(live).store
    memo = Memo(store.keys.wallet(payer).key(f"idem:{payer}"), "key-1", 60_000)
    record = credit_record(store, payer, payee, 200)
    held = await store.hold(payer, "r1", record, now_ms(), reason="test_pay", ref="t", memo=memo)
    assert (held.status, held.balance) == ("ok", 300)
    # the same key again while in flight: the same transfer, no second debit
    again = await store.hold(payer, "r2", record, now_ms(), reason="test_pay", ref="t",
                             memo=memo)
    assert (again.status, again.transfer_id) == ("held", "r1")
    assert await balance(live, payer) == 300
    assert await store.give_back(payer, "r1", now_ms(), ref="t", memo=memo)
    assert not await store.give_back(payer, "r1", now_ms(), ref="t", memo=memo)
    assert (await balance(live, payer), await balance(live, payee)) == (500, 0)
    await assert_books_clean(live)
    # the key is free again: a new attempt pays
    fresh = await store.hold(payer, "r3", record, now_ms(), reason="test_pay", ref="t",
                             memo=memo)
    assert fresh.status == "ok"


async def test_concurrent_transfers_never_overdraw_and_add_up(live_app_factory: Any) -> None:
    """Forty payers' transfers at once from one wallet that can afford ten: exactly ten go
    through, across three buckets, and every cent is accounted for."""
    live = await bucketed(live_app_factory)
    payer, *payees = apart(3)
    await topup(live, payer, 1000)
    transfers = transfers_of(live)
    done = await asyncio.gather(*(pay(transfers, payer, payees[i % 2], 100)
                                  for i in range(40)))
    assert sum(1 for t in done if t) == 10
    got = [await balance(live, p) for p in payees]
    assert await balance(live, payer) == 0
    assert sum(got) == 1000
    await assert_books_clean(live)


async def test_the_audit_finds_money_lost_in_transit(live_app_factory: Any) -> None:
    live = await bucketed(live_app_factory)
    payer, payee = apart()
    await topup(live, payer, 1000)
    transfers = transfers_of(live)
    tid = await pay(transfers, payer, payee, 400, finish=False)
    # the pending record vanishes (what a failover without acknowledged writes can do)
    out = transfers.store.keys.wallet(payer).transfers_out
    await live.client.app[SERVICES].client.hdel(out, tid)
    s = live.client.app[SERVICES]
    report = await audit(s.wallets.store, s.red_packets.store)
    assert any(f"transfer {tid}" in m for m in report.mismatches), report.mismatches


async def test_the_servers_own_clock_finishes_a_transfer_on_any_bucket(
        live_app_factory: Any) -> None:
    """Nobody calls the reconciler by hand: each pass of the server's transfer clock looks at
    one bucket in turn, and a transfer left half-done on any bucket is finished within a few
    passes after its grace."""
    live = await bucketed(live_app_factory)
    payers = apart(BUCKETS)
    payee = payers[0]
    transfers = transfers_of(live)
    for payer in payers[1:]:
        await topup(live, payer, 100)
        await pay(transfers, payer, payee, 100, finish=False)
    for _ in range(600):  # a grace (5 s), then one bucket a second
        if await balance(live, payee) == 100 * (BUCKETS - 1):
            break
        await asyncio.sleep(0.1)
    assert await balance(live, payee) == 100 * (BUCKETS - 1)
    assert await transfers.store.all_pending() == {}
    await assert_books_clean(live)


def test_reconciler_passes_take_every_bucket_in_turn() -> None:
    turns = BucketTurns(5)
    first = [turns.next() for _ in range(5)]
    assert sorted(first) == [0, 1, 2, 3, 4]
    assert [turns.next() for _ in range(5)] == first
    assert {BucketTurns(1).next() for _ in range(3)} == {0}
