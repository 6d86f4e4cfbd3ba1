"""The losers of a rush are answered by the process, without Valkey, with the script's own answer
(live_server/realtime/gone.py, services/local_refusals.py), through the real app, a real Valkey
and real websocket clients.

"Without Valkey" is proven by pausing the Valkey server (``CLIENT PAUSE ... ALL``): any Valkey
call hangs until it is unpaused, so a reply that arrives meanwhile was answered locally. The
same request sent to a second app on the same keys (a process that follows no socket of the
room, so it knows nothing and asks Valkey) gives the reference answer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

from live_server.realtime.gone import SaleBuy
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import Viewer
from tests.integration.test_shelf import on_sale, product

PAUSE_MS = 3_000  # every Valkey command waits this long (CLIENT UNPAUSE would wait too)


@contextlib.asynccontextmanager
async def valkey_paused(live: LiveApp) -> AsyncIterator[asyncio.Task[Any]]:
    """Every Valkey command of every client waits until the pause ends by itself. Yields a
    PING sent once the pause began: while it is pending, Valkey has answered nobody."""
    url = live.settings.store.url
    pauser = aioredis.Redis.from_url(url, single_connection_client=True)
    probe = aioredis.Redis.from_url(url, single_connection_client=True)
    try:
        await probe.ping()  # connected before the pause
        await pauser.execute_command("CLIENT", "PAUSE", PAUSE_MS, "ALL")
        pending = asyncio.create_task(probe.ping())
        try:
            yield pending
        finally:
            await pending
    finally:
        await pauser.aclose()
        await probe.aclose()


async def other_process(live: LiveApp, factory: Any) -> LiveApp:
    """Another app on the same keys, with no socket in the room: it asks Valkey."""
    return await factory(store={"key_prefix": live.settings.store.key_prefix})


def local_refusals(live: LiveApp) -> dict[tuple[str, str], float]:
    counter = live.client.app[SERVICES].metrics.local_refusals
    return {(s.labels["kind"], s.labels["stage"]): s.value
            for m in counter.collect() for s in m.samples if s.name.endswith("_total")}


def answer(frame: dict[str, Any]) -> Any:
    """A reply's error as a client reads it (or its data)."""
    return frame.get("error", frame.get("data"))


async def viewers(live: LiveApp, room: str, *users: str) -> list[Viewer]:
    out = [await Viewer.connect(live.base, room, token(u)) for u in users]
    for v in out:
        await v.wait_welcome()
    return out


async def test_a_late_buy_of_a_sold_out_sale_is_answered_without_valkey(
        live: LiveApp, live_app_factory: Any) -> None:
    room = await live.live_room()
    p = await product(live, per_buyer_limit=1)
    win1, win2, late = await viewers(live, room, "win1", "win2", "late")
    sale = await on_sale(live, room, p["id"], stock=2)  # watched: its start came here
    buy = {"product_id": p["id"], "quantity": 1, "sale_id": sale["id"]}
    firsts = await asyncio.gather(win1.request("buy", **buy, idempotency_key="k1"),
                                  win2.request("buy", **buy, idempotency_key="k2"))
    assert all(f["type"] == "reply" and f["data"]["created"] for f in firsts), firsts
    await late.wait_for(lambda: late.of_type("sale_ended"))
    before = local_refusals(live)
    async with valkey_paused(live) as valkey:
        refused = await late.request("buy", **buy, idempotency_key="k3")
        # no variant named: a flash-sale button buys the sale's variant
        named = await late.request("buy", **buy, variant_id="v0", idempotency_key="k4")
        assert not valkey.done()  # both answered while Valkey answered nobody
    assert answer(refused)["code"] == answer(named)["code"] == "sold_out"
    assert local_refusals(live).get(("sold_out", "at_once"), 0) == before.get(
        ("sold_out", "at_once"), 0) + 2
    # the script's own answer to the same buy, from a process that knows nothing
    other = await other_process(live, live_app_factory)
    status, reference = await other.call("POST", f"/api/rooms/{room}/buy", "late",
                                         json={**buy, "idempotency_key": "k3"})
    assert status == 409 and reference["error"] == answer(refused)
    # a buy the record cannot answer goes to Valkey: a variant that is not the sale's
    status, body = await live.call("POST", f"/api/rooms/{room}/buy", "late",
                                   json={**buy, "variant_id": "v_nope", "idempotency_key": "k5"})
    assert status == 400 and body["error"]["field"] == "variant_id", body
    for v in (win1, win2, late):
        await v.close()


async def test_a_retry_of_a_winning_key_still_gets_its_order(live: LiveApp,
                                                             live_app_factory: Any) -> None:
    room = await live.live_room()
    p = await product(live, per_buyer_limit=1)
    (winner,) = await viewers(live, room, "winner")
    sale = await on_sale(live, room, p["id"], stock=1)
    buy = {"product_id": p["id"], "quantity": 1, "sale_id": sale["id"],
           "idempotency_key": "mine"}
    first = await winner.request("buy", **buy)
    assert first["type"] == "reply" and first["data"]["created"], first
    await winner.wait_for(lambda: winner.of_type("sale_ended"))
    again = await winner.request("buy", **buy)  # the reply was lost: the same key again
    assert again["type"] == "reply", again
    assert again["data"]["order"]["id"] == first["data"]["order"]["id"]
    assert again["data"]["created"] is False
    # a new key of the same buyer is a new attempt: sold out, answered here
    async with valkey_paused(live) as valkey:
        fresh = await winner.request("buy", **{**buy, "idempotency_key": "mine2"})
        assert not valkey.done()
    assert answer(fresh)["code"] == "sold_out"
    # another process knows nothing of the sale: it asks Valkey and answers the order too
    other = await other_process(live, live_app_factory)
    status, body = await other.call("POST", f"/api/rooms/{room}/buy", "winner", json=buy)
    assert status == 200 and body["order"]["id"] == first["data"]["order"]["id"], body
    await winner.close()


async def test_a_sale_that_ended_is_refused_with_its_end(live: LiveApp) -> None:
    room = await live.live_room()
    p = await product(live)
    (late,) = await viewers(live, room, "late")
    sale = await on_sale(live, room, p["id"], stock=5)
    status, _ = await live.call("DELETE", f"/api/rooms/{room}/sales/{p['id']}", "alice",
                                "creator")
    assert status in (200, 204)
    await late.wait_for(lambda: late.of_type("sale_ended"))
    buy = {"product_id": p["id"], "quantity": 1, "sale_id": sale["id"], "idempotency_key": "x"}
    async with valkey_paused(live) as valkey:
        refused = await late.request("buy", **buy)
        assert not valkey.done()
    ended = late.of_type("sale_ended")[-1]["data"]
    assert ended["reason"] == "cancelled"
    assert answer(refused)["code"] == "sale_ended"
    assert answer(refused)["end_at"] == ended["sale"]["end_at"]
    await late.close()


async def launch(live: LiveApp, room: str, shares: int) -> str:
    status, body = await live.call("POST", "/api/dev/wallet/topup", "alice", "creator",
                                   json={"amount": shares * 100})
    assert status == 200, body
    status, body = await live.call("POST", f"/api/rooms/{room}/red-packets", "alice",
                                   "creator", json={"total": shares * 100, "shares": shares})
    assert status == 201, body
    return str(body["packet"]["id"])


async def claims_known(live: LiveApp, packet_id: str) -> None:
    gone = live.client.app[SERVICES].local_refusals.gone
    for _ in range(200):
        if not gone.claims_wanted(packet_id):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the empty packet's claims were never read")


async def test_an_empty_packet_is_answered_without_valkey_and_keeps_each_grab(
        live: LiveApp, live_app_factory: Any) -> None:
    room = await live.live_room()
    here, there, late = await viewers(live, room, "here", "there", "late")
    pid = await launch(live, room, 2)
    other = await other_process(live, live_app_factory)
    mine = await here.request("grab", packet_id=pid)
    status, theirs = await other.call("POST", f"/api/red-packets/{pid}/grab", "there")
    assert mine["type"] == "reply" and status == 200, (mine, theirs)
    # the last share went through the other process: this one learns it from a refusal
    first_loser = await late.request("grab", packet_id=pid)
    assert answer(first_loser)["code"] == "none_left"
    await claims_known(live, pid)
    async with valkey_paused(live) as valkey:
        refused = await late.request("grab", packet_id=pid)
        again_here = await here.request("grab", packet_id=pid)
        again_there = await there.request("grab", packet_id=pid)  # grabbed elsewhere
        assert not valkey.done()
    assert answer(refused) == answer(first_loser)
    assert answer(again_here)["code"] == answer(again_there)["code"] == "already_grabbed"
    assert answer(again_here)["amount"] == mine["data"]["amount"]
    assert answer(again_there)["amount"] == theirs["amount"]
    counted = local_refusals(live)
    assert counted.get(("none_left", "at_once")) == 1
    assert counted.get(("already_grabbed", "at_once")) == 2
    # the script's own answers, from the process that knows nothing of the packet
    for user, expected in (("late", refused), ("there", again_there)):
        status, body = await other.call("POST", f"/api/red-packets/{pid}/grab", user)
        assert status == 409 and body["error"] == answer(expected), body
    for v in (here, there, late):
        await v.close()


async def test_a_lost_pubsub_link_forgets_what_is_gone(live: LiveApp) -> None:
    # events may have been missed meanwhile: the process asks Valkey again until it hears anew
    room = await live.live_room()
    p = await product(live, per_buyer_limit=1)
    winner, late = await viewers(live, room, "winner", "late")
    sale = await on_sale(live, room, p["id"], stock=1)
    buy = {"product_id": p["id"], "quantity": 1, "sale_id": sale["id"]}
    assert (await winner.request("buy", **buy, idempotency_key="w"))["type"] == "reply"
    await late.wait_for(lambda: late.of_type("sale_ended"))
    gone = live.client.app[SERVICES].local_refusals.gone
    asked = SaleBuy(sale["id"], p["id"], None, "late", "k")
    assert gone.sale_refusal(room, asked) is not None
    admin = aioredis.Redis.from_url(live.settings.store.url)
    try:
        await admin.client_kill_filter(_type="pubsub")
    finally:
        await admin.aclose()
    for _ in range(200):
        if gone.sale_refusal(room, asked) is None:
            break
        await asyncio.sleep(0.02)
    assert gone.sale_refusal(room, asked) is None
    before = local_refusals(live)
    refused = await late.request("buy", **buy, idempotency_key="k")
    assert answer(refused)["code"] == "sold_out"  # Valkey's answer
    assert local_refusals(live) == before
    await winner.close()
    await late.close()
