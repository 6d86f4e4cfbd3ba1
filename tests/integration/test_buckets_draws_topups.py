"""Cash draws and top-ups with the wallets spread over 3 buckets (``money.wallet_buckets``):
a draw's cash stays on its creator's bucket, a winner on another bucket is paid by a transfer
(credited once however often the draw is settled, and by the transfers' reconciler when the
process that settled it died before crediting); a top-up lives on its user's bucket under an
id that says which, and a gateway notice credits it once. Through the real app and a real
Valkey, checked as users see it (balances, wallet entries, answers) and by the money audit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from live_server.domain.draws import entrants_hash, pick_winners
from live_server.events import draw_result
from live_server.protocol import now_ms
from live_server.services.draws import DrawAudit
from live_server.services.topups import TopupAudit
from live_server.services.wallets import audit
from live_server.store.draws import prize_transfer_id
from live_server.store.keys import bucket_index
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp
from tests.helpers import Viewer
from tests.integration.test_draws import FAST, create, drawn, viewers
from tests.integration.test_red_packets import balance, topup
from tests.integration.test_topups import notify, start

BUCKETS = 3
MONEY = {"wallet_buckets": BUCKETS}


def home(user: str) -> int:
    return bucket_index(user, BUCKETS)


def named(prefix: str) -> Iterator[str]:
    i = 0
    while True:
        yield f"{prefix}{i}"
        i += 1


def away_from(user: str, n: int, prefix: str = "fan") -> list[str]:
    """``n`` user ids on buckets other than ``user``'s."""
    out: list[str] = []
    for name in named(prefix):
        if home(name) != home(user):
            out.append(name)
        if len(out) == n:
            return out
    raise AssertionError("unreachable")


def beside(user: str, prefix: str = "near") -> str:
    """A user id on ``user``'s bucket (not ``user``)."""
    return next(name for name in named(prefix) if home(name) == home(user) and name != user)


def one_per_bucket(prefix: str) -> list[str]:
    """A user id on each bucket, bucket 0 first."""
    found: dict[int, str] = {}
    for name in named(prefix):
        found.setdefault(home(name), name)
        if len(found) == BUCKETS:
            return [found[b] for b in range(BUCKETS)]
    raise AssertionError("unreachable")


async def money_mismatches(live: LiveApp) -> list[str]:
    """The money audit over every bucket's ledger, with the draws' and top-ups' books."""
    s = live.client.app[SERVICES]
    report = await audit(s.wallets.store, s.red_packets.store,
                         (DrawAudit(s.draws.store), TopupAudit(s.topups.store)))
    return report.mismatches


async def entries(live: LiveApp, user: str) -> list[tuple[str, str, int, str, str]]:
    status, wallet = await live.call("GET", "/api/me/wallet", user)
    assert status == 200, wallet
    return [(e["from"], e["to"], e["amount"], e["reason"], e["ref"]) for e in wallet["entries"]]


async def nothing_in_flight(live: LiveApp) -> None:
    assert await live.client.app[SERVICES].transfers.store.all_pending() == {}


async def enter(crowd: list[Viewer], draw_id: str) -> None:
    for v in crowd:
        reply = await v.request("draw_enter", draw_id=draw_id)
        assert reply["type"] == "reply", reply


async def close_all(crowd: list[Viewer]) -> None:
    for v in crowd:
        await v.close()


# cash draws ---------------------------------------------------------------------------------


async def test_cash_draw_pays_winners_on_other_buckets(live_app_factory: Any) -> None:
    live = await live_app_factory(draws=FAST, money=MONEY)
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    far = away_from("alice", 2)
    near = beside("alice")
    assert {home(u) for u in far} - {home("alice")} == {home(u) for u in far}
    crowd = await viewers(live, room, [*far, near])
    status, made = await create(live, room, amount=150, winners=3)
    assert status == 201 and made["balance"] == 550, made
    did = made["draw"]["id"]
    await enter(crowd, did)
    done = await drawn(live, room, did)
    assert sorted(done["result"]["winners"]) == sorted([*far, near])
    event = await crowd[0].wait_for(lambda: crowd[0].of_type("draw_result"))
    assert sorted(event[0]["data"]["result"]["winners"]) == sorted([*far, near])
    for user in [*far, near]:
        assert await balance(live, user) == 150, user
    assert await balance(live, "alice") == 550
    for user in far:  # credited on their own bucket out of the prize's transfer
        assert await entries(live, user) == [
            (f"xfer:{prize_transfer_id(did, user)}", f"user:{user}", 150, "draw_prize", did)]
    assert await entries(live, near) == [(f"draw:{did}", f"user:{near}", 150, "draw_prize", did)]
    await nothing_in_flight(live)
    assert await money_mismatches(live) == []
    _, report = await live.call("GET", f"/api/rooms/{room}/report", "alice", "creator")
    assert report["headline"]["draw_cash"] == 450
    await close_all(crowd)


async def test_fewer_entrants_on_other_buckets_than_winners_refunds_the_rest(
        live_app_factory: Any) -> None:
    live = await live_app_factory(draws=FAST, money=MONEY)
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    far = away_from("alice", 2)
    crowd = await viewers(live, room, far)
    status, made = await create(live, room, amount=100, winners=5)
    assert status == 201 and made["balance"] == 500
    await enter(crowd, made["draw"]["id"])
    done = await drawn(live, room, made["draw"]["id"])
    assert sorted(done["result"]["winners"]) == sorted(far)

    async def refunded() -> None:
        while True:  # settled just after the result is recorded: three prizes come back
            if await balance(live, "alice") == 800:
                return
            await asyncio.sleep(0.05)
    await asyncio.wait_for(refunded(), 10)
    assert [await balance(live, u) for u in far] == [100, 100]
    await nothing_in_flight(live)
    assert await money_mismatches(live) == []
    # the draw's books say a prize that went by transfer was bigger: the audit sees it
    s = live.client.app[SERVICES]
    await s.client.hset(s.draws.store.money_key(made["draw"]["id"], "alice") + ":paid",
                        far[0], 101)
    problems = await money_mismatches(live)
    assert any("payouts differ from the ledger's prizes" in p for p in problems), problems
    await close_all(crowd)


async def test_a_draw_settled_by_many_processes_at_once_pays_each_winner_once(
        live_app_factory: Any) -> None:
    live = await live_app_factory(draws=FAST, money=MONEY)
    s = live.client.app[SERVICES]
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    far = away_from("alice", 3)
    crowd = await viewers(live, room, far)
    status, made = await create(live, room, amount=100, winners=3, duration_s=60)
    assert status == 201, made
    draw = made["draw"]
    await enter(crowd, draw["id"])
    member = f"{room}|{draw['id']}"
    later = draw["end_at"] + 1
    # every process's draw clock draws and settles it at once, then each again
    await asyncio.gather(*(s.draws.tick(member, later) for _ in range(6)))
    await asyncio.gather(*(s.draws.tick(member, later) for _ in range(3)))
    assert [await balance(live, u) for u in far] == [100, 100, 100]
    assert await balance(live, "alice") == 700
    for user in far:
        assert [e[3] for e in await entries(live, user)] == ["draw_prize"]
    await nothing_in_flight(live)
    assert await money_mismatches(live) == []
    await close_all(crowd)


async def test_draws_of_creators_on_two_buckets_settled_at_once_add_up(
        live_app_factory: Any) -> None:
    live = await live_app_factory(draws=FAST, money=MONEY)
    s = live.client.app[SERVICES]
    other = away_from("alice", 1, prefix="host")[0]
    fans: list[str] = []  # two on each bucket
    for name in named("crowd"):
        if sum(1 for u in fans if home(u) == home(name)) < 2:
            fans.append(name)
        if len(fans) == 2 * BUCKETS:
            break
    made: dict[str, tuple[str, dict[str, Any]]] = {}
    sockets: list[Viewer] = []
    for creator, amount in (("alice", 100), (other, 70)):
        room = await live.live_room(creator)
        await topup(live, creator, 10_000, "creator")
        status, body = await create(live, room, creator, amount=amount, winners=len(fans),
                                    duration_s=60)
        assert status == 201, body
        made[creator] = (room, body["draw"])
        crowd = await viewers(live, room, fans)
        await enter(crowd, body["draw"]["id"])
        sockets += crowd
    ticks = [s.draws.tick(f"{room}|{draw['id']}", draw["end_at"] + 1)
             for room, draw in made.values() for _ in range(3)]
    await asyncio.gather(*ticks)
    for user in fans:
        assert await balance(live, user) == 170, user
    assert await balance(live, "alice") == 10_000 - 100 * len(fans)
    assert await balance(live, other) == 10_000 - 70 * len(fans)
    await nothing_in_flight(live)
    assert await money_mismatches(live) == []
    await close_all(sockets)


async def settle_and_die(live: LiveApp, room: str, draw: dict[str, Any], now: int,
                         ) -> list[str]:
    """What a process's draw clock does for a draw whose entries have closed, up to the
    settling script on the creator's bucket, and then the process dies: no transfer credited.
    The winners."""
    store = live.client.app[SERVICES].draws.store
    status, seed, entrants = await store.close(room, draw["id"], now)
    assert status == "drawing"
    found = await store.draw(room, draw["id"])
    assert found is not None
    winners = pick_winners(seed, entrants, found["winners"])
    result = {"seed": seed.hex(), "commitment": found["commitment"],
              "entrants_hash": entrants_hash(entrants), "entrant_count": len(entrants),
              "winners": winners,
              "winner_names": await store.names(room, draw["id"], winners), "drawn_at": now}
    assert await store.record(found, result, draw_result(draw["id"], result, now), now,
                              claim_within_ms=60_000, order_stream_max=1000)
    settled = await store.settle(draw["id"], draw["creator_id"], winners, now)
    assert settled.paid == draw["prize"]["amount"] * len(winners) and settled.transfers
    return winners


async def half_settled(live_app_factory: Any) -> tuple[LiveApp, str, dict[str, Any], str]:
    """A draw of alice's won by one viewer on another bucket, settled by a process that died
    before crediting the prize's transfer. This app's draw clock and transfers' reconciler are
    stopped, so only what the test runs finishes it: (app, room, draw, the winner)."""
    live = await live_app_factory(draws=FAST, money=MONEY)
    s = live.client.app[SERVICES]
    await s.draw_clock.stop()
    await s.transfer_clock.stop()
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    (winner,) = away_from("alice", 1)
    (v,) = await viewers(live, room, [winner])
    status, made = await create(live, room, amount=250, winners=1)
    assert status == 201, made
    draw = made["draw"]
    await enter([v], draw["id"])
    await v.close()
    await asyncio.sleep(max(0, draw["end_at"] + 1 - now_ms()) / 1000)  # its entries close
    assert await settle_and_die(live, room, draw, max(now_ms(), draw["end_at"] + 1)) == [winner]
    return live, room, draw, winner


async def test_a_prize_transfer_left_by_a_dead_process_is_credited_once_by_the_reconciler(
        live_app_factory: Any) -> None:
    live, _room, draw, winner = await half_settled(live_app_factory)
    s = live.client.app[SERVICES]
    tid = prize_transfer_id(draw["id"], winner)
    assert await balance(live, winner) == 0  # not credited yet ...
    assert await balance(live, "alice") == 750
    assert list(await s.transfers.store.all_pending()) == [tid]  # ... the money in flight
    assert await money_mismatches(live) == []
    looked = now_ms() + 6000  # past the transfer's grace
    finished = await asyncio.gather(*(s.transfer_clock.finish_pending(looked) for _ in range(3)))
    assert sum(finished) == 1
    assert await balance(live, winner) == 250
    assert await s.transfer_clock.finish_pending(now_ms() + 6000) == 0
    assert await balance(live, winner) == 250 and await balance(live, "alice") == 750
    assert await entries(live, winner) == [
        (f"xfer:{tid}", f"user:{winner}", 250, "draw_prize", draw["id"])]
    await nothing_in_flight(live)
    assert await money_mismatches(live) == []


async def test_a_prize_transfer_left_by_a_dead_process_is_credited_once_by_the_next_pass(
        live_app_factory: Any) -> None:
    live, room, draw, winner = await half_settled(live_app_factory)
    s = live.client.app[SERVICES]
    member = f"{room}|{draw['id']}"
    # the draw clock's next pass over the draw (its lease ran out) in two processes and the
    # transfers' reconciler, at once, then the draw clock again
    await asyncio.gather(s.draws.tick(member, now_ms()), s.draws.tick(member, now_ms()),
                         s.transfer_clock.finish_pending(now_ms() + 6000))
    await s.draws.tick(member, now_ms())
    assert await balance(live, winner) == 250
    assert await balance(live, "alice") == 750
    assert [e[3] for e in await entries(live, winner)] == ["draw_prize"]
    await nothing_in_flight(live)
    assert await money_mismatches(live) == []
    status, seen = await live.call("GET", f"/api/draws/{draw['id']}", winner)
    assert status == 200 and seen["won"] is True


# top-ups ------------------------------------------------------------------------------------


async def test_top_ups_on_every_bucket_are_credited_once(live_app_factory: Any) -> None:
    live = await live_app_factory(money=MONEY)
    s = live.client.app[SERVICES]
    users = one_per_bucket("payer")
    for user in users:
        status, body = await start(live, user, 3000)
        assert status == 201, body
        topup_id = body["topup"]["id"]
        assert s.topups.store.bucket(topup_id).index == home(user)  # the id says where
        path = f"/api/me/topups/{topup_id}/pay"
        results = await asyncio.gather(*(live.call("POST", path, user,
                                                   json={"outcome": "confirm"})
                                          for _ in range(5)))
        assert [st for st, _ in results].count(200) == 1, results
        assert await balance(live, user) == 3000
        status, listing = await live.call("GET", "/api/me/topups", user)
        assert [(t["id"], t["state"]) for t in listing["topups"]] == [(topup_id, "paid")]
        assert await entries(live, user) == [
            ("gateway:dev", f"user:{user}", 3000, "topup", topup_id)]
        stranger = next(u for u in users if u != user)
        status, _ = await live.call("GET", f"/api/me/topups/{topup_id}", stranger)
        assert status == 404
    assert await money_mismatches(live) == []


async def test_gateway_notices_for_top_ups_on_every_bucket_credit_once(
        live_app_factory: Any) -> None:
    live = await live_app_factory(payments={"provider": "webhook"}, money=MONEY)
    users = one_per_bucket("buyer")
    for n, user in enumerate(users):
        status, body = await start(live, user, 9800)
        assert status == 201, body
        tid = body["topup"]["id"]
        status, paid = await notify(live, f"evt_{n}", tid, 9800)
        assert status == 200 and paid["topup"]["state"] == "paid", paid
        status, err = await notify(live, f"evt_{n}", tid, 9800)  # replayed
        assert status == 409 and err["error"]["code"] == "replayed"
        status, err = await notify(live, f"evt_{n}b", tid, 9800)  # another notice, paid
        assert status == 409 and err["error"]["code"] == "invalid_state"
        status, body = await start(live, user, 3000)
        tid2 = body["topup"]["id"]
        answers = await asyncio.gather(*(notify(live, f"evt_{n}c", tid2, 3000)
                                         for _ in range(8)))
        assert [st for st, _ in answers].count(200) == 1
        assert await balance(live, user) == 12_800
    status, _ = await notify(live, "evt_x", "tu_" + "b" * 20, 100)
    assert status == 404
    assert await money_mismatches(live) == []


async def test_many_top_ups_on_every_bucket_at_once_add_up(live_app_factory: Any) -> None:
    live = await live_app_factory(money=MONEY)
    s = live.client.app[SERVICES]
    users = one_per_bucket("many")

    async def one(user: str, amount: int) -> None:
        status, body = await start(live, user, amount)
        assert status == 201, body
        status, paid = await live.call("POST", f"/api/me/topups/{body['topup']['id']}/pay",
                                       user, json={"outcome": "confirm"})
        assert status == 200, paid

    amounts = [600, 1000, 3000, 600]
    await asyncio.gather(*(one(u, a) for u in users for a in amounts),
                         *(topup(live, u, 7) for u in users for _ in range(3)))
    for user in users:
        assert await balance(live, user) == sum(amounts) + 21, user
    listed = [t async for t in s.topups.store.every_topup()]
    assert sorted((t["user"], t["amount"]) for t in listed) == sorted(
        (u, a) for u in users for a in amounts)
    assert await money_mismatches(live) == []
