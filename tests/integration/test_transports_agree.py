"""One command table behind both transports: the same op over the room socket and over HTTP
gives the same answer and refuses with the same code and message."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import LiveApp, token
from tests.helpers import Viewer
from tests.integration.test_shelf import on_sale, product


async def _socket(live: LiveApp, room: str, user: str, role: Any = "viewer") -> Viewer:
    viewer = await Viewer.connect(live.base, room, token(user, role))
    await viewer.wait_welcome()
    return viewer


async def _log(live: LiveApp, room: str) -> list[dict[str, Any]]:
    status, body = await live.call("GET", f"/api/ops/moderation?room={room}", "olga", "ops")
    assert status == 200, body
    return list(body["actions"])


async def test_moderation_reasons_are_trimmed_on_both(live: LiveApp) -> None:
    room = await live.live_room()
    mod = await _socket(live, room, "alice", "creator")
    chatter = await _socket(live, room, "bob")
    sent = [(await chatter.request("chat", text=f"m{i}"))["data"]["seq"] for i in range(2)]

    over_ws = await mod.request("delete", seq=sent[0], reason="  off topic  ")
    status, over_http = await live.call("DELETE", f"/api/rooms/{room}/messages/{sent[1]}",
                                        "alice", "creator", json={"reason": "  off topic  "})
    assert status == 200 and set(over_http) == set(over_ws["data"]) == {"seq"}

    ws_mute = await mod.request("mute", user_id="eve", duration_s=60, reason="  spam ")
    status, http_mute = await live.call("POST", f"/api/rooms/{room}/mutes", "alice",
                                        "creator", json={"user_id": "fay", "duration_s": 60,
                                                         "reason": "  spam "})
    assert status == 200 and set(http_mute) == set(ws_mute["data"]) == {"until"}

    actions = await _log(live, room)
    reasons = {(a["action"], a["target"]): a["reason"] for a in actions}
    assert reasons[("delete", "bob")] == "off topic"
    assert reasons[("mute", "eve")] == reasons[("mute", "fay")] == "spam"
    assert [a["reason"] for a in actions if a["action"] == "delete"] == ["off topic"] * 2
    await mod.close()
    await chatter.close()


@pytest.mark.parametrize(("op", "method", "path", "fields", "code"), [
    ("mute", "POST", "/mutes", {"user_id": "eve", "duration_s": 5, "colour": "red"},
     "invalid_field"),
    ("mute", "POST", "/mutes", {"user_id": "eve"}, "missing_field"),
    ("mute", "POST", "/mutes", {"user_id": "eve", "duration_s": 0}, "invalid_field"),
    ("ban", "POST", "/bans", {"user_id": "alice"}, "invalid_field"),  # the room's creator
    ("pin", "PUT", "/pinned", {}, "missing_field"),
    ("pin", "PUT", "/pinned", {"product_id": 5}, "invalid_field"),
    ("slow_mode", "PUT", "/slow-mode", {"seconds": 3601}, "invalid_field"),
    ("announce", "PUT", "/announcement", {"text": "x" * 501}, "invalid_field"),
    ("report", "POST", "/reports", {"seq": 1, "reason": "   "}, "invalid_field"),
    ("delete", "DELETE", "/messages/999", {}, "not_found"),
    ("unban", "DELETE", "/bans/nobody", {}, "not_found"),
])
async def test_the_same_refusal_on_both(live: LiveApp, op: str, method: str, path: str,
                                        fields: dict[str, Any], code: str) -> None:
    room = await live.live_room()
    mod = await _socket(live, room, "alice", "creator")
    ws_fields = dict(fields)
    if op == "delete":
        ws_fields["seq"] = 999
    if op == "unban":
        ws_fields["user_id"] = "nobody"
    over_ws = await mod.request(op, **ws_fields)
    status, over_http = await live.call(method, f"/api/rooms/{room}{path}", "alice", "creator",
                                        json=fields)
    assert over_ws["type"] == "error", over_ws
    assert over_ws["error"]["code"] == over_http["error"]["code"] == code
    assert over_ws["error"]["message"] == over_http["error"]["message"]
    assert status >= 400
    await mod.close()


async def test_buy_answers_the_same_order_on_both(live: LiveApp) -> None:
    room = await live.live_room()
    p = await product(live)
    await on_sale(live, room, p["id"])
    buyer = await _socket(live, room, "bob")
    first = await buyer.request("buy", product_id=p["id"], idempotency_key="k-1")
    status, again = await live.call("POST", f"/api/rooms/{room}/buy", "bob", json={
        "product_id": p["id"], "idempotency_key": "k-1"})
    assert first["data"]["created"] is True and status == 200 and again["created"] is False
    assert again["order"]["id"] == first["data"]["order"]["id"]
    # the product card a viewer sees, over both
    card = await buyer.request("product", product_id=p["id"])
    status, http_card = await live.call("GET", f"/api/rooms/{room}/products/{p['id']}", "bob")
    assert status == 200
    assert {k: v for k, v in card["data"].items() if k != "server_time"} == {
        k: v for k, v in http_card.items() if k != "server_time"}
    refused = await buyer.request("buy", product_id=p["id"], idempotency_key="bad key")
    status, http_refused = await live.call("POST", f"/api/rooms/{room}/buy", "bob", json={
        "product_id": p["id"], "idempotency_key": "bad key"})
    assert refused["error"] == http_refused["error"] and status == 400
    await buyer.close()


async def test_history_and_shelf_read_the_same(live: LiveApp) -> None:
    room = await live.live_room()
    viewer = await _socket(live, room, "bob")
    for i in range(3):
        await viewer.request("chat", text=f"hello {i}")
    over_ws = await viewer.request("history", limit=2)
    status, over_http = await live.call("GET", f"/api/rooms/{room}/history?limit=2", "bob")
    assert status == 200 and over_ws["data"] == over_http
    assert [e["data"]["text"] for e in over_http["events"]] == ["hello 1", "hello 2"]
    shelf = await viewer.request("shelf")
    status, http_shelf = await live.call("GET", f"/api/rooms/{room}/shelf")
    assert status == 200 and shelf["data"] == http_shelf
    await viewer.close()


async def test_every_http_body_and_query_is_validated(live: LiveApp) -> None:
    room = await live.live_room()
    # POSTs without fields still read their body: unknown fields and broken JSON are refused
    status, body = await live.call("POST", f"/api/rooms/{room}/end", "alice", "creator",
                                   json={"now": True})
    assert (status, body["error"]["code"]) == (400, "invalid_field")
    assert "'now'" in body["error"]["message"]
    headers = {**live.headers("alice", "creator"), "Content-Type": "application/json"}
    async with live.client.post(f"/api/rooms/{room}/end", data="{oops",
                                headers=headers) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_json"
    status, body = await live.call("GET", f"/api/rooms/{room}/history?colour=red")
    assert (status, body["error"]["code"]) == (400, "invalid_field")
    status, body = await live.call("GET", f"/api/rooms/{room}/history?limit=0")
    assert (status, body["error"]["code"]) == (400, "invalid_field")
    # a path parameter is a field: it may not come again in the body
    status, body = await live.call("PATCH", f"/api/rooms/{room}/shelf/p_abc", "alice",
                                   "creator", json={"product_id": "p_xyz", "position": 0})
    assert (status, body["error"]["code"]) == (400, "invalid_field")
    status, body = await live.call("DELETE", f"/api/rooms/{room}/mutes/bad%20id", "alice",
                                   "creator")
    assert (status, body["error"]["code"]) == (400, "invalid_field")
    # and nothing of it changed the room
    status, got = await live.call("GET", f"/api/rooms/{room}")
    assert got["state"] == "live"


async def test_head_reads_the_query_like_get(live: LiveApp) -> None:
    async with live.client.head("/api/rooms?state=live&limit=5") as resp:
        assert resp.status == 200
    async with live.client.head("/api/rooms?limit=abc") as resp:
        assert resp.status == 400
