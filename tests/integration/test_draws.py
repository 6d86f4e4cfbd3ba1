"""Lucky draws end to end through the real app and a real Valkey: a cash draw entered over the
room socket, drawn by the clock, its result checked against the published entrant list, the
money through the ledger and the audit; a coupon draw; conditions; refusals; permissions."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import time
from typing import Any

import orjson

from live_server.domain.draws import check
from live_server.draw_verify import verify
from live_server.services.draws import DrawAudit
from live_server.services.wallets import audit
from live_server.web.keys import SERVICES
from tests.conftest import ROOT, LiveApp, token
from tests.helpers import Viewer
from tests.integration.test_auctions import allotment, shelf_product
from tests.integration.test_red_packets import balance, topup
from tests.integration.test_shelf import save_address

FAST = {"min_duration_ms": 1000, "scheduler_interval_ms": 50}


async def create(live: LiveApp, room: str, creator: str = "alice", **fields: Any
                 ) -> tuple[int, Any]:
    body = {"prize_kind": "cash", "amount": 100, "winners": 2, "duration_s": 1, **fields}
    return await live.call("POST", f"/api/rooms/{room}/draws", creator, "creator", json=body)


async def audit_mismatches(live: LiveApp) -> list[str]:
    s = live.client.app[SERVICES]
    report = await audit(s.wallets.store, s.red_packets.store, (DrawAudit(s.draws.store),))
    return report.mismatches


async def viewers(live: LiveApp, room: str, names: list[str]) -> list[Viewer]:
    out = [await Viewer.connect(live.base, room, token(n)) for n in names]
    for v in out:
        await v.wait_welcome()
    return out


async def drawn(live: LiveApp, room: str, draw_id: str, user: str | None = None) -> Any:
    async def poll() -> Any:
        while True:
            status, body = await live.call("GET", f"/api/draws/{draw_id}", user)
            assert status == 200, body
            if body["state"] == "drawn":
                return body
            await asyncio.sleep(0.05)
    return await asyncio.wait_for(poll(), 10)


async def test_cash_draw_entered_drawn_paid_and_verifiable(live_app_factory: Any) -> None:
    live = await live_app_factory(draws=FAST)
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    crowd = await viewers(live, room, ["v1", "v2", "v3"])
    status, made = await create(live, room, amount=150, winners=2, title="Thanks for watching")
    assert status == 201, made
    draw = made["draw"]
    assert made["balance"] == 700  # 2 winners x 150 left the wallet at once
    assert draw["state"] == "open" and len(draw["commitment"]) == 64 and "seed" not in draw
    ev = await crowd[0].wait_for(lambda: crowd[0].of_type("draw"))
    assert ev[0]["data"]["draw"]["commitment"] == draw["commitment"]
    for v in crowd:
        reply = await v.request("draw_enter", draw_id=draw["id"])
        assert reply["type"] == "reply" and reply["data"]["already"] is False, reply
    again = await crowd[0].request("draw_enter", draw_id=draw["id"])
    assert again["data"] == {"draw_id": draw["id"], "entered": True, "already": True,
                             "entrants": 3}
    status, early = await live.call("GET", f"/api/draws/{draw['id']}/entrants")
    assert status == 409 and early["error"]["code"] == "invalid_state"

    done = await drawn(live, room, draw["id"], "v1")
    result = done["result"]
    assert result["entrant_count"] == 3 and len(result["winners"]) == 2
    assert done["entered"] is True and done["won"] == ("v1" in result["winners"])
    status, listed = await live.call("GET", f"/api/draws/{draw['id']}/entrants")
    assert status == 200 and listed["entrants"] == ["v1", "v2", "v3"]
    assert check(result["seed"], draw["commitment"], listed["entrants"], 2,
                 result["entrants_hash"], result["winners"]) == []
    events = await crowd[1].wait_for(lambda: crowd[1].of_type("draw_result"))
    assert events[0]["data"]["result"]["winners"] == result["winners"]
    for name in ("v1", "v2", "v3"):
        assert await balance(live, name) == (150 if name in result["winners"] else 0)
    late = await crowd[2].request("draw_enter", draw_id=draw["id"])
    assert late["error"]["code"] == "draw_closed"
    assert await audit_mismatches(live) == []
    status, report = await live.call("GET", f"/api/rooms/{room}/report", "alice", "creator")
    assert status == 200, report
    h = report["headline"]
    assert (h["draws"], h["draw_entrants"], h["draw_cash"], h["draw_coupons"]) == (1, 3, 300, 0)
    for v in crowd:
        await v.close()


async def test_fewer_entrants_than_winners_refunds_the_rest(live_app_factory: Any) -> None:
    live = await live_app_factory(draws=FAST)
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    (v1,) = await viewers(live, room, ["solo"])
    status, made = await create(live, room, amount=100, winners=5)
    assert status == 201 and made["balance"] == 500
    assert (await v1.request("draw_enter", draw_id=made["draw"]["id"]))["type"] == "reply"
    done = await drawn(live, room, made["draw"]["id"])
    assert done["result"]["winners"] == ["solo"]
    assert await balance(live, "solo") == 100
    await asyncio.sleep(0.2)
    assert await balance(live, "alice") == 900  # four prizes came back
    assert await audit_mismatches(live) == []
    await v1.close()


async def test_audit_sees_a_draw_balance_broken(live_app_factory: Any) -> None:
    live = await live_app_factory(draws=FAST)
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    status, made = await create(live, room, amount=100, winners=3, duration_s=60)
    assert status == 201
    assert await audit_mismatches(live) == []
    s = live.client.app[SERVICES]
    await s.client.hincrby(s.draws.store.money_key(made["draw"]["id"], "alice"), "held", -1)
    problems = await audit_mismatches(live)
    assert any("ledger holds 300, the draw says 299" in p for p in problems), problems


async def test_coupon_draw_gives_copies_and_frees_the_rest(live_app_factory: Any) -> None:
    live = await live_app_factory(draws=FAST)
    room = await live.live_room()
    status, coupon = await live.call(
        "POST", f"/api/rooms/{room}/coupons", "alice", "creator",
        json={"title": "5 off", "kind": "amount", "amount_off": 500, "min_spend": 1000,
              "quota": 10, "end_at": int(time.time() * 1000) + 86_400_000})
    assert status == 201, coupon
    (v1, v2) = await viewers(live, room, ["c1", "c2"])
    status, made = await create(live, room, prize_kind="coupon", coupon_id=coupon["id"],
                                winners=4, amount=None)
    assert status == 201, made
    assert made["balance"] is None and made["draw"]["prize"]["coupon_title"] == "5 off"
    _, listed = await live.call("GET", f"/api/rooms/{room}/coupons")
    assert [c["left"] for c in listed["coupons"]] == [6]  # four copies held for the winners
    for v in (v1, v2):
        assert (await v.request("draw_enter", draw_id=made["draw"]["id"]))["type"] == "reply"
    done = await drawn(live, room, made["draw"]["id"])
    assert sorted(done["result"]["winners"]) == ["c1", "c2"]
    _, listed = await live.call("GET", f"/api/rooms/{room}/coupons")
    assert [c["left"] for c in listed["coupons"]] == [8]  # two unused copies came back
    status, mine = await live.call("GET", f"/api/rooms/{room}/my_coupons", "c1")
    assert status == 200 and mine["coupons"][0]["mine"]["claimed"] == 1
    _, report = await live.call("GET", f"/api/rooms/{room}/report", "alice", "creator")
    assert (report["headline"]["draws"], report["headline"]["draw_coupons"]) == (1, 2)
    await v1.close()
    await v2.close()


async def test_conditions_keyword_and_followers(live_app_factory: Any) -> None:
    live = await live_app_factory(draws=FAST)
    room = await live.live_room()
    (fan, other) = await viewers(live, room, ["fan", "other"])
    status, kw = await create(live, room, prize_kind="coupon", amount=None,
                              coupon_id="c_missing", duration_s=60)
    assert status == 404
    await topup(live, "alice", 1000, "creator")
    status, kw = await create(live, room, condition="keyword", keyword="Lucky Me",
                              duration_s=60)
    assert status == 201, kw
    refused = await fan.request("draw_enter", draw_id=kw["draw"]["id"])
    assert refused["error"]["code"] == "not_eligible"
    assert refused["error"]["keyword"] == "lucky me"
    await fan.request("chat", text="lucky   ME")
    await asyncio.sleep(0.1)
    ok = await fan.request("draw_enter", draw_id=kw["draw"]["id"])
    assert ok["type"] == "reply", ok
    status, fol = await create(live, room, condition="followers", duration_s=60)
    assert status == 201
    refused = await other.request("draw_enter", draw_id=fol["draw"]["id"])
    assert refused["error"]["code"] == "not_eligible"
    assert refused["error"]["condition"] == "followers"
    await live.call("POST", "/api/creators/alice/follow", "other")
    ok = await other.request("draw_enter", draw_id=fol["draw"]["id"])
    assert ok["type"] == "reply", ok
    await fan.close()
    await other.close()


async def test_permissions_and_bad_input(live_app_factory: Any) -> None:
    live = await live_app_factory(draws=FAST)
    room = await live.live_room()
    status, err = await live.call("POST", f"/api/rooms/{room}/draws", "vic", json={
        "prize_kind": "cash", "amount": 1, "winners": 1, "duration_s": 5})
    assert status == 403, err
    status, err = await live.call("POST", f"/api/rooms/{room}/draws", "bob", "creator", json={
        "prize_kind": "cash", "amount": 1, "winners": 1, "duration_s": 5})
    assert status == 403, err
    status, err = await create(live, room, amount=100, winners=1)
    assert status == 402 and err["error"]["code"] == "insufficient_funds"
    await topup(live, "alice", 10**7, "creator")
    for bad in ({"winners": 0}, {"duration_s": 10**6}, {"prize_kind": "car"},
                {"amount": 10**7, "winners": 1000}, {"condition": "keyword"}, {"amount": None}):
        status, err = await create(live, room, **bad)
        assert status == 400, (bad, err)
    status, made = await create(live, room, duration_s=60)
    host = await Viewer.connect(live.base, room, token("alice", "creator"))
    await host.wait_welcome()
    refused = await host.request("draw_enter", draw_id=made["draw"]["id"])
    assert refused["error"]["code"] == "forbidden"
    missing = await host.request("draw_enter", draw_id="d_nope")
    assert missing["error"]["code"] == "not_found"
    await host.close()
    assert await audit_mismatches(live) == []


async def test_verify_draw_command_line_ok_then_tampered(live_app_factory: Any) -> None:
    live = await live_app_factory(draws=FAST)
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    crowd = await viewers(live, room, [f"p{i}" for i in range(6)])
    status, made = await create(live, room, amount=10, winners=2)
    assert status == 201
    did = made["draw"]["id"]
    out = io.StringIO()
    assert await asyncio.to_thread(verify, did, live.base, out) == 2  # not drawn yet
    for v in crowd:
        assert (await v.request("draw_enter", draw_id=did))["type"] == "reply"
    await drawn(live, room, did)
    proc = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "live_server", "verify-draw", did, "--url",
                         live.base], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith(f"OK draw {did}"), proc
    # a server that changed its winners after the fact is caught
    s = live.client.app[SERVICES]
    key = s.draws.store.draw_key(room, did)
    result = orjson.loads(await s.client.hget(key, "result"))
    result["winners"] = [u for u in ("p0", "p1", "p2") if u not in result["winners"]][:2]
    await s.client.hset(key, "result", orjson.dumps(result))
    out = io.StringIO()
    assert await asyncio.to_thread(verify, did, live.base, out) == 1
    assert "DIFFERS the winners recomputed" in out.getvalue()
    for v in crowd:
        await v.close()


async def units_left(live: LiveApp, room: str, pid: str) -> int:
    """The units a buyer could still get: the catalogue's and the room's allotment."""
    status, p = await live.call("GET", f"/api/products/{pid}", "alice", "creator")
    assert status == 200, p
    return int(p["stock"]) + await allotment(live, room, pid)


async def product_draw_won(live: LiveApp, winners: int) -> tuple[str, str, int, Viewer, Any]:
    """A product prize for ``winners`` drawn with one entrant, w1, who wins: (room, product,
    units before the draw, w1's socket, the created draw)."""
    room = await live.live_room()
    pid = await shelf_product(live, room, stock=3)
    before = await units_left(live, room, pid)
    (w1,) = await viewers(live, room, ["w1"])
    status, made = await create(live, room, prize_kind="product", product_id=pid,
                                winners=winners, amount=None)
    assert status == 201, made
    assert made["draw"]["prize"]["product_id"] == pid
    assert await units_left(live, room, pid) == before - winners  # held for the winners
    assert (await w1.request("draw_enter", draw_id=made["draw"]["id"]))["type"] == "reply"
    done = await drawn(live, room, made["draw"]["id"])
    assert done["result"]["winners"] == ["w1"]
    assert await units_left(live, room, pid) == before - 1  # the units nobody won came back
    return room, pid, before, w1, made


async def test_product_prize_order_claimed_with_an_address(live_app_factory: Any) -> None:
    live = await live_app_factory(draws=FAST)
    room, _pid, _before, w1, made = await product_draw_won(live, winners=2)
    # the show report counts the product prize as a product given, not as a coupon
    _, report = await live.call("GET", f"/api/rooms/{room}/report", "alice", "creator")
    h = report["headline"]
    assert (h["draws"], h["draw_coupons"], h["draw_products"]) == (1, 0, 1)
    path = f"/api/draws/{made['draw']['id']}/claim"
    status, err = await live.call("POST", path, "w1")
    assert status == 409 and err["error"]["code"] == "address_required"
    status, err = await live.call("POST", path, "vic")
    assert status == 404
    await save_address(live, "w1")
    status, claimed = await live.call("POST", path, "w1")
    assert status == 200, claimed
    order = claimed["order"]
    assert (order["state"], order["amount"], order["buyer"]) == ("paid", 0, "w1")
    assert order["address"]["name"] and order["draw_id"] == made["draw"]["id"]
    status, again = await live.call("POST", path, "w1")
    assert status == 409, again
    await w1.close()


async def test_an_unclaimed_product_prize_returns(live_app_factory: Any) -> None:
    live = await live_app_factory(draws={**FAST, "claim_within_ms": 300},
                                  shelf={"scheduler_interval_ms": 50})
    room, pid, before, w1, made = await product_draw_won(live, winners=1)

    async def back() -> None:
        while True:  # the shelf scheduler expires the order and gives its unit back
            if await units_left(live, room, pid) == before:
                return
            await asyncio.sleep(0.05)
    await asyncio.wait_for(back(), 10)
    await save_address(live, "w1")  # too late now, address or not
    status, err = await live.call("POST", f"/api/draws/{made['draw']['id']}/claim", "w1")
    assert status == 409 and err["error"]["code"] == "invalid_state", err
    await w1.close()
