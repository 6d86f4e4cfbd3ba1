"""The ops console for a busy evening: live rooms busiest first with their sales, and the reports
queue (resolve or dismiss once, recorded in the moderation log; delete the message and ban its
author so nobody sees it again)."""

from __future__ import annotations

from typing import Any

from live_server.services.ops import by_load
from tests.conftest import LiveApp, token
from tests.helpers import Viewer
from tests.integration.test_shelf import buy, on_sale, product, save_address


async def _join(live: LiveApp, room: str, user: str) -> Viewer:
    viewer = await Viewer.connect(live.base, room, token(user))
    await viewer.wait_welcome()
    return viewer


async def _reported(live: LiveApp, room: str, text: str) -> tuple[Viewer, int, str]:
    """Bob says ``text`` in ``room`` and carol reports it: bob, the seq, the report id."""
    bob = await _join(live, room, "bob")
    carol = await _join(live, room, "carol")
    seq = (await bob.request("chat", text=text))["data"]["seq"]
    report_id = (await carol.request("report", seq=seq, reason="spam link"))["data"]["report_id"]
    await carol.close()
    return bob, seq, str(report_id)


async def _reports(live: LiveApp, state: str = "all") -> list[dict[str, Any]]:
    status, body = await live.call("GET", f"/api/ops/reports?state={state}", "olga", "ops")
    assert status == 200, body
    return list(body["reports"])


def test_busiest_room_first_then_most_chat() -> None:
    rooms = [{"id": "quiet", "counters": {"online": 1}, "chat_per_min": 9},
             {"id": "chatty", "counters": {"online": 5}, "chat_per_min": 30},
             {"id": "big", "counters": {"online": 5}, "chat_per_min": 2},
             {"id": "new", "counters": {}}]
    assert [r["id"] for r in sorted(rooms, key=by_load)] == ["chatty", "big", "quiet", "new"]


async def test_live_rooms_come_busiest_first_with_their_sales(live: LiveApp) -> None:
    busy = await live.live_room(title="Tea tasting")
    quiet = await live.live_room(title="Late show")  # newer: listed first before sorting
    p = await product(live)
    await on_sale(live, busy, p["id"], stock=5, price=1250)
    await save_address(live, "vic")
    status, made = await buy(live, busy, p["id"], "vic", "k1")
    assert status in (200, 201), made
    status, paid = await live.call("POST", f"/api/orders/{made['order']['id']}/pay", "vic",
                                   json={"outcome": "confirm"})
    assert status == 200 and paid["state"] == "paid", paid
    viewers = [await _join(live, busy, f"v{i}") for i in range(2)]
    await viewers[0].wait_for(lambda: (viewers[0].last_counters() or {}).get("online") == 2)
    status, body = await live.call("GET", "/api/ops/rooms", "olga", "ops")
    assert status == 200, body
    mine = [r for r in body["rooms"] if r["id"] in (busy, quiet)]
    assert [r["id"] for r in mine] == [busy, quiet]
    assert (mine[0]["gmv"], mine[0]["paid_orders"]) == (1250, 1)
    assert (mine[1]["gmv"], mine[1]["paid_orders"]) == (0, 0)
    assert mine[0]["title"] == "Tea tasting"
    for v in viewers:
        await v.close()


async def test_a_report_is_handled_once_and_the_decision_is_logged(live: LiveApp) -> None:
    room = await live.live_room(title="Tea tasting")
    bob, _seq, report_id = await _reported(live, room, "buy followers at example")
    [open_one] = [r for r in await _reports(live, "open") if r["id"] == report_id]
    assert open_one["state"] == "open" and open_one["room_title"] == "Tea tasting"
    path = f"/api/ops/reports/{report_id}/resolve"

    # only ops decide, and a refused call changes nothing
    for user, role in (("alice", "creator"), ("carol", "viewer")):
        status, body = await live.call("POST", path, user, role, json={"outcome": "resolved"})
        assert (status, body["error"]["code"]) == (403, "forbidden")
    status, body = await live.call("POST", path, None, json={"outcome": "resolved"})
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    status, body = await live.call("POST", path, "olga", "ops", json={"outcome": "ignored"})
    assert (status, body["error"]["code"]) == (400, "invalid_field")
    assert report_id in [r["id"] for r in await _reports(live, "open")]

    status, done = await live.call("POST", path, "olga", "ops",
                                   json={"outcome": "dismissed", "note": "a real shop"})
    assert status == 200, done
    assert (done["id"], done["state"], done["handled_by"], done["note"]) == (
        report_id, "dismissed", "olga", "a real shop")
    assert isinstance(done["handled_at"], int)

    # the first decision stands
    status, again = await live.call("POST", path, "olga2", "ops", json={"outcome": "resolved"})
    assert status == 409 and again["error"]["code"] == "invalid_state", again
    assert again["error"]["state"] == "dismissed"
    assert report_id not in [r["id"] for r in await _reports(live, "open")]
    [handled] = [r for r in await _reports(live, "handled") if r["id"] == report_id]
    assert (handled["state"], handled["handled_by"]) == ("dismissed", "olga")
    assert [r["state"] for r in await _reports(live) if r["id"] == report_id] == ["dismissed"]

    status, log = await live.call("GET", f"/api/ops/moderation?room={room}", "olga", "ops")
    assert status == 200
    first = log["actions"][0]
    assert (first["action"], first["by"], first["target"], first["reason"]) == (
        "report_dismissed", "olga", "bob", "a real shop")
    assert first["data"]["report_id"] == report_id

    status, missing = await live.call("POST", "/api/ops/reports/rep_nosuchreport/resolve",
                                      "olga", "ops", json={"outcome": "resolved"})
    assert status == 404 and missing["error"]["code"] == "not_found"
    await bob.close()


async def test_delete_and_ban_hide_the_message_and_resolve_the_report(live: LiveApp) -> None:
    """What the console's "Delete message + ban author" does, in the same three calls."""
    room = await live.live_room()
    bob, seq, report_id = await _reported(live, room, "cheap pills here")
    await bob.request("chat", text="and more")
    status, _ = await live.call("DELETE", f"/api/rooms/{room}/messages/{seq}", "olga", "ops",
                                json={"reason": "report: spam link"})
    assert status == 200
    status, _ = await live.call("POST", f"/api/rooms/{room}/bans", "olga", "ops",
                                json={"user_id": "bob", "reason": "report: spam link"})
    assert status == 200
    assert await bob.wait_closed() == 4003
    status, done = await live.call("POST", f"/api/ops/reports/{report_id}/resolve", "olga",
                                   "ops", json={"outcome": "resolved",
                                                "note": "message deleted, author banned"})
    assert status == 200 and done["state"] == "resolved", done

    _, page = await live.call("GET", f"/api/rooms/{room}/history")
    assert [e["data"]["text"] for e in page["events"]] == ["and more"]
    late = await _join(live, room, "dora")
    assert late.welcome is not None
    assert [m["data"]["text"] for m in late.welcome["snapshot"]["recent_chat"]] == ["and more"]
    status, log = await live.call("GET", f"/api/ops/moderation?room={room}", "olga", "ops")
    assert [a["action"] for a in log["actions"][:3]] == ["report_resolved", "ban", "delete"]
    await late.close()
