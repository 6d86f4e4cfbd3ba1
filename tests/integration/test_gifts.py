"""Virtual gifts end to end through the real app and a real Valkey: the catalogue, a send over
HTTP and the room socket (the split, the ledger, the `gift` event with its combo), the
idempotency key, short balances, bad input, who may send, intimacy, the figures, the audit."""

from __future__ import annotations

import asyncio
from typing import Any

from live_server.services.gifts import GiftAudit
from live_server.services.topups import TopupAudit
from live_server.services.wallets import audit
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import Viewer
from tests.integration.test_red_packets import balance, topup


async def send(live: LiveApp, room: str, user: str, **fields: Any) -> tuple[int, Any]:
    return await live.call("POST", f"/api/rooms/{room}/gifts", user, json=fields)


async def full_audit(live: LiveApp) -> list[str]:
    s = live.client.app[SERVICES]
    report = await audit(s.wallets.store, s.red_packets.store,
                         (GiftAudit(s.gifts.store), TopupAudit(s.topups.store)))
    return report.mismatches


async def test_catalogue_over_http_and_socket(live: LiveApp) -> None:
    status, body = await live.call("GET", "/api/gifts")
    assert status == 200
    ids = [g["id"] for g in body["gifts"]]
    assert ids[:2] == ["rose", "heart"] and "rocket" in ids
    rose = body["gifts"][0]
    assert rose == {"id": "rose", "name": "Rose", "price": 10, "icon": "rose"}
    assert body["topup"]["packs"] and body["topup"]["provider"] == "dev"
    room = await live.live_room()
    viewer = await Viewer.connect(live.base, room, token("vic"))
    await viewer.wait_welcome()
    reply = await viewer.request("gift_catalogue")
    assert reply["type"] == "reply" and reply["data"]["gifts"] == body["gifts"]
    await viewer.close()


async def test_send_splits_into_creator_and_platform_with_ledger_and_event(
        live: LiveApp) -> None:
    room = await live.live_room()
    await topup(live, "vic", 10_000)
    watcher = await Viewer.connect(live.base, room, token("wes"))
    await watcher.wait_welcome()
    status, body = await send(live, room, "vic", gift_id="heart", quantity=3,
                              idempotency_key="k1")
    assert status == 200, body
    assert body["amount"] == 300 and body["quantity"] == 3 and body["combo"] == 3
    assert body["balance"] == 9_700 and body["repeated"] is False
    assert await balance(live, "vic") == 9_700
    assert await balance(live, "alice") == 210  # 70 % of 300
    s = live.client.app[SERVICES]
    assert await s.gifts.store.platform_books() == {"gifts": 90}
    status, wallet = await live.call("GET", "/api/me/wallet", "vic")
    assert sorted((e["to"], e["amount"], e["reason"]) for e in wallet["entries"][:2]) == [
        ("platform:gifts", 90, "gift_fee"), ("user:alice", 210, "gift")]
    events = await watcher.wait_for(lambda: watcher.of_type("gift"))
    data = events[0]["data"]
    assert data["from"] == "vic" and data["gift_id"] == "heart" and data["combo"] == 3
    assert data["gift"] == {"gift_id": "heart", "name": "Heart", "icon": "heart", "price": 100}
    assert "seq" not in events[0]  # unsequenced: not replayed on recovery
    # the studio's figures
    status, figs = await live.call("GET", f"/api/rooms/{room}/gifts", "alice", "creator")
    assert status == 200 and figs["gifts"] == 3 and figs["spent"] == 300
    assert figs["creator"] == 210 and figs["platform"] == 90 and figs["by_gift"] == {"heart": 3}
    status, _ = await live.call("GET", f"/api/rooms/{room}/gifts", "vic")
    assert status == 403
    status, report = await live.call("GET", f"/api/rooms/{room}/report", "alice", "creator")
    assert status == 200 and report["headline"]["gifts"] == 3
    assert report["headline"]["gift_income"] == 210
    status, ops = await live.call("GET", "/api/ops/rooms", "olga", "ops")
    assert status == 200
    assert [r["gift_spent"] for r in ops["rooms"] if r["id"] == room] == [300]
    await watcher.close()
    assert await full_audit(live) == []


async def test_same_key_charges_once_and_answers_the_first_answer(live: LiveApp) -> None:
    room = await live.live_room()
    await topup(live, "vic", 1_000)
    first = await send(live, room, "vic", gift_id="star", idempotency_key="same")
    again = await asyncio.gather(*(send(live, room, "vic", gift_id="star",
                                        idempotency_key="same") for _ in range(10)))
    assert first[0] == 200
    for status, body in again:
        assert status == 200 and body["repeated"] is True
        assert {k: body[k] for k in ("send_id", "amount", "balance", "combo")} == {
            k: first[1][k] for k in ("send_id", "amount", "balance", "combo")}
    assert await balance(live, "vic") == 500
    # concurrent first sends with one key: one charge
    keyed = await asyncio.gather(*(send(live, room, "vic", gift_id="rose",
                                        idempotency_key="race") for _ in range(10)))
    assert sum(not b["repeated"] for _, b in keyed) == 1
    assert await balance(live, "vic") == 490
    assert await full_audit(live) == []


async def test_combo_grows_within_the_window_and_coalesces_per_tick(live: LiveApp) -> None:
    room = await live.live_room()
    await topup(live, "vic", 10_000)
    watcher = await Viewer.connect(live.base, room, token("wes"))
    await watcher.wait_welcome()
    combos = []
    for _ in range(12):
        status, body = await send(live, room, "vic", gift_id="rose")
        assert status == 200
        combos.append(body["combo"])
    assert combos == list(range(1, 13))
    await watcher.wait_for(lambda: [e for e in watcher.of_type("gift")
                                    if e["data"]["combo"] == 12])
    seen = [e["data"]["combo"] for e in watcher.of_type("gift")]
    assert seen == sorted(seen) and seen[-1] == 12
    await watcher.close()


async def test_short_balance_and_bad_input(live: LiveApp) -> None:
    room = await live.live_room()
    await topup(live, "vic", 50)
    status, err = await send(live, room, "vic", gift_id="heart")
    assert status == 402 and err["error"]["code"] == "insufficient_funds"
    assert err["error"]["balance"] == 50 and err["error"]["needed"] == 100
    assert await balance(live, "vic") == 50
    for fields, code in (({"gift_id": "nope"}, "not_found"),
                         ({"gift_id": "rose", "quantity": 0}, "invalid_field"),
                         ({"gift_id": "rose", "quantity": 100}, "invalid_field"),
                         ({"gift_id": "rose", "quantity": "2"}, "invalid_field"),
                         ({"gift_id": "rose", "idempotency_key": "a b"}, "invalid_field"),
                         ({}, "missing_field"),
                         ({"gift_id": "rose", "extra": 1}, "invalid_field")):
        status, err = await send(live, room, "vic", **fields)
        assert err["error"]["code"] == code, (fields, err)
    status, err = await live.call("POST", f"/api/rooms/{room}/gifts", None,
                                  json={"gift_id": "rose"})
    assert status in (401, 403)
    status, err = await send(live, room, "alice", gift_id="rose")
    assert status == 400 and err["error"]["code"] == "invalid_field"  # own room
    status, err = await send(live, "nosuchroom", "vic", gift_id="rose")
    assert status == 404
    status, _ = await live.call("POST", f"/api/rooms/{room}/end", "alice", "creator")
    status, err = await send(live, room, "vic", gift_id="rose")
    assert status == 409 and err["error"]["code"] == "invalid_state"
    assert await balance(live, "vic") == 50
    assert await full_audit(live) == []


async def test_gifts_over_the_socket_and_intimacy(live: LiveApp) -> None:
    room = await live.live_room()
    await topup(live, "vic", 1_000)
    viewer = await Viewer.connect(live.base, room, token("vic"))
    await viewer.wait_welcome()
    reply = await viewer.request("send_gift", gift_id="rose", quantity=5,
                                 idempotency_key="ws-1")
    assert reply["type"] == "reply", reply
    assert reply["data"]["amount"] == 50 and reply["data"]["combo"] == 5
    short = await viewer.request("send_gift", gift_id="rocket")
    assert short["error"]["code"] == "insufficient_funds"
    status, card = await live.call("GET", "/api/creators/alice/fans", "vic")
    assert status == 200 and card["intimacy"] >= 5
    await viewer.close()


async def test_audit_fails_on_tampered_platform_and_figures(live: LiveApp) -> None:
    room = await live.live_room()
    await topup(live, "vic", 1_000)
    assert (await send(live, room, "vic", gift_id="heart"))[0] == 200
    assert await full_audit(live) == []
    s = live.client.app[SERVICES]
    store = s.gifts.store
    await s.client.hincrby(store.platform_balances, "gifts", 1)
    assert any("platform gifts" in m for m in await full_audit(live))
    await s.client.hincrby(store.platform_balances, "gifts", -1)
    await s.client.hincrby(store.room_figures(room, "alice"), "spent", 5)
    assert any(f"gifts in room {room}" in m for m in await full_audit(live))


async def test_earnings_include_the_gifts_over_every_room(live: LiveApp) -> None:
    first, second = await live.live_room(), await live.live_room()
    await topup(live, "vic", 1_000)
    assert (await send(live, first, "vic", gift_id="heart", quantity=2))[0] == 200
    assert (await send(live, second, "vic", gift_id="rose", quantity=3))[0] == 200
    status, earned = await live.call("GET", "/api/me/earnings", "alice", "creator")
    assert status == 200, earned
    gifts = earned["gifts"]
    assert gifts["gifts"] == 5 and gifts["sends"] == 2 and gifts["spent"] == 230
    assert gifts["creator"] == 161 and gifts["platform"] == 69  # 70 % of 200, of 30
    assert gifts["by_gift"] == {"heart": 2, "rose": 3}
    assert "totals" in earned and "ledger" in earned  # the orders' books as before
    assert await balance(live, "alice") == 161
    status, other = await live.call("GET", "/api/me/earnings", "bob", "creator")
    assert status == 200 and other["gifts"]["creator"] == 0 and other["gifts"]["by_gift"] == {}
    status, _ = await live.call("GET", "/api/me/earnings", "vic")
    assert status == 403
