"""Wallet top-ups through the payment provider, through the real app and a real Valkey: the
development provider confirms from the page, the webhook provider waits for the gateway's
signed notice, the wallet is credited exactly once (a replayed notice, a second notice, a
concurrent confirm credit nothing), bad input, and the audit over top-ups."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from live_server.services.orders import sign
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp
from tests.integration.test_gifts import full_audit
from tests.integration.test_red_packets import balance


async def start(live: LiveApp, user: str, amount: Any) -> tuple[int, Any]:
    return await live.call("POST", "/api/me/topups", user, json={"amount": amount})


async def notify(live: LiveApp, event_id: str, topup_id: str, amount: int,
                 reference: str | None = None, kind: str = "payment.succeeded",
                 secret: str | None = None) -> tuple[int, Any]:
    raw = orjson.dumps({"id": event_id, "type": kind, "order_id": topup_id, "amount": amount,
                        "reference": reference or "gw_" + event_id})
    signature = sign(secret or live.settings.payments.webhook_secret, int(time.time()), raw)
    async with live.client.post("/api/payments/webhook", data=raw,
                                headers={"X-Live-Signature": signature}) as resp:
        return resp.status, await resp.json()


async def test_dev_provider_credits_once(live: LiveApp) -> None:
    status, body = await start(live, "vic", 3000)
    assert status == 201, body
    topup = body["topup"]
    assert topup["state"] == "pending" and topup["amount"] == 3000 and body["confirm"] == "page"
    path = f"/api/me/topups/{topup['id']}/pay"
    status, err = await live.call("POST", path, "vic", json={"outcome": "decline"})
    assert status == 402 and err["error"]["code"] == "payment_declined"
    assert await balance(live, "vic") == 0
    results = await asyncio.gather(*(live.call("POST", path, "vic", json={"outcome": "confirm"})
                                     for _ in range(5)))
    assert sorted(s for s, _ in results).count(200) == 1, results
    assert await balance(live, "vic") == 3000
    status, seen = await live.call("GET", f"/api/me/topups/{topup['id']}", "vic")
    assert status == 200 and seen["state"] == "paid" and seen["reference"].startswith("dev_")
    status, listing = await live.call("GET", "/api/me/topups", "vic")
    assert [t["id"] for t in listing["topups"]] == [topup["id"]]
    status, wallet = await live.call("GET", "/api/me/wallet", "vic")
    entry = wallet["entries"][0]
    assert (entry["from"], entry["to"], entry["amount"], entry["reason"], entry["ref"]) == (
        "gateway:dev", "user:vic", 3000, "topup", topup["id"])
    # another user cannot see or pay it
    status, _ = await live.call("GET", f"/api/me/topups/{topup['id']}", "wes")
    assert status == 404
    status, _ = await live.call("POST", path, "wes", json={"outcome": "confirm"})
    assert status == 404
    assert await full_audit(live) == []


async def test_amounts_and_bad_input(live: LiveApp) -> None:
    packs = live.settings.gifts.topup_packs
    for amount in (packs[0], 100, 500_000):
        assert (await start(live, "vic", amount))[0] == 201
    for bad in (0, 99, 500_001, -5, "600", 1.5, None):
        status, err = await start(live, "vic", bad)
        assert status == 400 and err["error"]["code"] in ("invalid_field", "missing_field"), bad
    status, _ = await live.call("POST", "/api/me/topups", None, json={"amount": 600})
    assert status in (401, 403)
    for bad in ("tu_zz", "o.x.y", "tu_" + "0" * 20):
        status, _ = await live.call("GET", f"/api/me/topups/{bad}", "vic")
        assert status in (400, 404), bad


async def test_webhook_provider_credits_once_on_the_gateway_notice(
        live_app_factory: Any) -> None:
    live = await live_app_factory(payments={"provider": "webhook"})
    status, body = await start(live, "vic", 9800)
    assert status == 201 and body["confirm"] == "gateway"
    tid = body["topup"]["id"]
    status, err = await live.call("POST", f"/api/me/topups/{tid}/pay", "vic",
                                  json={"outcome": "confirm"})
    assert status == 400 and err["error"]["code"] == "bad_request"
    status, err = await notify(live, "evt_1", tid, 9800, secret="not-the-secret")
    assert status == 401 or err["error"]["code"] == "invalid_signature"
    status, err = await notify(live, "evt_1", tid, 1)
    assert status == 400 and err["error"]["code"] == "invalid_field"
    assert await balance(live, "vic") == 0
    status, body = await notify(live, "evt_1", tid, 9800)
    assert status == 200 and body["topup"]["state"] == "paid", body
    assert await balance(live, "vic") == 9800
    status, err = await notify(live, "evt_1", tid, 9800)  # the same notice, replayed
    assert status == 409 and err["error"]["code"] == "replayed"
    status, err = await notify(live, "evt_2", tid, 9800)  # another notice for a paid top-up
    assert status == 409 and err["error"]["code"] == "invalid_state"
    assert await balance(live, "vic") == 9800
    # concurrent replays of a fresh top-up's notice: one credit
    status, body = await start(live, "vic", 3000)
    tid2 = body["topup"]["id"]
    answers = await asyncio.gather(*(notify(live, "evt_3", tid2, 3000) for _ in range(8)))
    assert [s for s, _ in answers].count(200) == 1
    assert await balance(live, "vic") == 12_800
    status, err = await notify(live, "evt_4", "tu_" + "a" * 20, 100)
    assert status == 404
    assert await full_audit(live) == []


async def test_audit_fails_on_a_tampered_top_up(live: LiveApp) -> None:
    status, body = await start(live, "vic", 600)
    assert status == 201, body
    tid = body["topup"]["id"]
    await live.call("POST", f"/api/me/topups/{tid}/pay", "vic", json={"outcome": "confirm"})
    assert await full_audit(live) == []
    s = live.client.app[SERVICES]
    await s.client.hset(s.topups.store.topup(tid), "amount", 700)
    assert any(f"top-up {tid}" in m for m in await full_audit(live))
    await s.client.hset(s.topups.store.topup(tid), "amount", 600)
    await s.client.hincrby(s.wallets.store.keys.wallet("vic").balances, "vic", 1)
    assert any("wallet vic" in m for m in await full_audit(live))
