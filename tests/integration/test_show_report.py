"""The show report against a real server and Valkey: a short show (viewers join, chat, heart,
follow, join the fan club, open product cards, buy and pay with the development provider, a
refund, a red packet) read live, then ended and read again, frozen; every figure a creator
checks, the CSV with the same numbers, refunds after the end, who may read it, and My shows."""

from __future__ import annotations

import csv
import io
from typing import Any

from tests.conftest import LiveApp, token
from tests.helpers import Viewer
from tests.integration.test_shelf import buy, on_sale, product

ADDRESS = {"name": "Vic Buyer", "phone": "+86 10 1234 5678", "country": "CN",
           "city": "Beijing", "line1": "1 Tea Street"}


async def paid(live: LiveApp, room: str, pid: str, user: str, key: str,
               quantity: int = 1) -> dict[str, Any]:
    """``user`` buys and pays with the development provider: the paid order."""
    status, made = await buy(live, room, pid, user, key, quantity)
    assert status == 201, made
    status, order = await live.call("POST", f"/api/orders/{made['order']['id']}/pay", user,
                                    json={})
    assert status == 200 and order["state"] == "paid", order
    return dict(order)


async def report(live: LiveApp, room: str, user: str = "alice",
                 role: Any = "creator") -> dict[str, Any]:
    status, body = await live.call("GET", f"/api/rooms/{room}/report", user, role)
    assert status == 200, body
    return dict(body)


async def show(live: LiveApp) -> tuple[str, dict[str, str], list[Viewer], dict[str, Any]]:
    """A live show with three viewers and everything a report counts: (room, product ids by
    name, the viewers, what happened)."""
    # a follower from before the show is not one the show won
    assert (await live.call("POST", "/api/creators/alice/follow", "old"))[0] == 200
    room = await live.live_room()
    tea, cup = await product(live, title="Tea"), await product(live, title="Cup")
    await on_sale(live, room, tea["id"], price=999)
    await on_sale(live, room, cup["id"], price=1500)
    viewers = [await Viewer.connect(live.base, room, token(u)) for u in ("vic", "wen", "xia")]
    for v in viewers:
        await v.wait_welcome()
    vic, wen, xia = viewers
    for user in ("vic", "wen", "xia"):
        assert (await live.call("PUT", "/api/me/address", user, json=ADDRESS))[0] == 200
    # chat, hearts
    for v, text in ((vic, "hello"), (vic, "how much?"), (wen, "nice")):
        assert (await v.request("chat", text=text))["type"] == "reply"
    await vic.request("heart", count=5)
    await wen.request("heart", count=3)
    await vic.wait_for(lambda: (vic.last_counters() or {}).get("hearts") == 8
                       and (vic.last_counters() or {}).get("online") == 3)
    # new followers (a repeat follow is still one), a fan-club join
    for user in ("vic", "vic", "wen"):
        assert (await live.call("POST", "/api/creators/alice/follow", user))[0] == 200
    assert (await live.call("POST", "/api/dev/wallet/topup", "wen", json={"amount": 1000}))[0] \
        == 200
    assert (await live.call("POST", "/api/creators/alice/fan-club", "wen"))[0] == 200
    # product cards: tea three times by two people, cup once
    for _ in range(2):
        assert (await vic.request("product", product_id=tea["id"]))["type"] == "reply"
    assert (await live.call("GET", f"/api/rooms/{room}/products/{tea['id']}", "wen"))[0] == 200
    assert (await xia.request("product", product_id=cup["id"]))["type"] == "reply"
    # orders: three paid (one refunded), one reserved and never paid
    await paid(live, room, tea["id"], "vic", "k1")
    wen_order = await paid(live, room, cup["id"], "wen", "k2", quantity=2)
    xia_order = await paid(live, room, tea["id"], "xia", "k3")
    status, reserved = await buy(live, room, cup["id"], "vic", "k4")
    assert status == 201, reserved
    status, refunded = await live.call("POST", f"/api/orders/{xia_order['id']}/refund",
                                       "alice", "creator")
    assert status == 200 and refunded["state"] == "refunded", refunded
    # a red packet, one share grabbed
    assert (await live.call("POST", "/api/dev/wallet/topup", "alice", "creator",
                            json={"amount": 5000}))[0] == 200
    status, launched = await live.call("POST", f"/api/rooms/{room}/red-packets", "alice",
                                       "creator", json={"total": 300, "shares": 3})
    assert status == 201, launched
    status, grabbed = await live.call(
        "POST", f"/api/red-packets/{launched['packet']['id']}/grab", "vic")
    assert status == 200, grabbed
    return room, {"tea": tea["id"], "cup": cup["id"]}, viewers, {
        "grabbed": grabbed["amount"], "wen_order": wen_order,
        "vic_reserved": reserved["order"]}


def check_headline(h: dict[str, Any], grabbed: int) -> None:
    """The figures of the show above, as a creator reads them."""
    assert (h["orders_placed"], h["orders"], h["buyers"], h["units"]) == (4, 3, 3, 4)
    assert h["gmv"] == 999 + 2 * 1500 + 999
    assert (h["refunds"], h["refunded"]) == (1, 999)
    assert (h["unique_viewers"], h["pcu"]) == (3, 3)
    assert h["gpm"] == 4998 * 1000 // 3 and h["conversion_bp"] == 10_000
    assert (h["hearts"], h["chat_messages"]) == (8, 3)
    assert (h["new_followers"], h["fan_club_joins"]) == (2, 1)
    assert (h["card_views"], h["card_viewers"]) == (4, 3)
    assert (h["red_packets"], h["red_packets_launched"], h["red_packets_spent"]) == (1, 300,
                                                                                    grabbed)
    assert 0 < h["acu"] <= 3
    assert 0 < h["avg_watch_ms"] <= h["duration_ms"]


def check_products(rows: list[dict[str, Any]], ids: dict[str, str]) -> None:
    assert rows == [
        {"product_id": ids["cup"], "title": "Cup", "views": 1, "viewers": 1, "orders": 1,
         "units": 2, "gmv": 3000},
        {"product_id": ids["tea"], "title": "Tea", "views": 3, "viewers": 2, "orders": 2,
         "units": 2, "gmv": 1998},
    ]


async def test_a_show_report_live_then_frozen_with_its_csv(live: LiveApp) -> None:
    room, ids, viewers, happened = await show(live)
    try:
        during = await report(live, room)
        assert during["live"] is True and during["frozen"] is False
        check_headline(during["headline"], happened["grabbed"])
        check_products(during["products"], ids)
        series = during["series"]
        assert sum(series["gmv"]) == 4998 and sum(series["chat"]) == 3
        assert 0 < max(series["online"]) <= 3
        assert len(series["online"]) == len(series["gmv"]) == len(series["chat"])

        status, ended = await live.call("POST", f"/api/rooms/{room}/end", "alice", "creator")
        assert status == 200 and ended["state"] == "ended"
    finally:
        for v in viewers:
            await v.close()
    # ended, but vic's reservation placed during the show may still be paid: not stored yet
    settling = await report(live, room)
    assert settling["live"] is False and settling["frozen"] is False
    assert settling["ended_at"] == ended["ended_at"]
    check_headline(settling["headline"], happened["grabbed"])
    check_products(settling["products"], ids)
    assert settling["headline"]["duration_ms"] == ended["ended_at"] - ended["started_at"]
    # paid after the end: still the show's sale; then nothing is open and the report is stored
    status, late = await live.call("POST", f"/api/orders/{happened['vic_reserved']['id']}/pay",
                                   "vic", json={})
    assert status == 200 and late["state"] == "paid", late
    after = await report(live, room)
    assert after["frozen"] is True and after["ended_at"] == ended["ended_at"]
    h = after["headline"]
    assert (h["orders_placed"], h["orders"], h["buyers"], h["units"]) == (4, 4, 3, 5)
    assert h["gmv"] == 4998 + 1500 and (h["refunds"], h["refunded"]) == (1, 999)
    assert after["products"][0] == {"product_id": ids["cup"], "title": "Cup", "views": 1,
                                    "viewers": 1, "orders": 2, "units": 3, "gmv": 4500}
    assert after["products"][1] == settling["products"][1]

    # the CSV says the same
    async with live.client.get(f"/api/rooms/{room}/report.csv",
                               headers=live.headers("alice", "creator")) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        assert "attachment" in resp.headers["Content-Disposition"]
        text = await resp.text()
    figures_part, products_part, minutes_part = text.split("\r\n\r\n")
    figures = dict(csv.reader(io.StringIO(figures_part)))
    for key, value in after["headline"].items():
        assert figures[key] == str(value), key
    assert [{k: (int(v) if k not in ("product_id", "title") else v) for k, v in row.items()}
            for row in csv.DictReader(io.StringIO(products_part))] == after["products"]
    minutes = list(csv.DictReader(io.StringIO(minutes_part)))
    assert [int(m["gmv"]) for m in minutes] == after["series"]["gmv"]
    assert [int(m["chat"]) for m in minutes] == after["series"]["chat"]

    # after the end: a refund follows, nothing else moves (a late chat cannot even happen)
    status, _ = await live.call("POST", f"/api/orders/{happened['wen_order']['id']}/refund",
                                "alice", "creator")
    assert status == 200
    later = await report(live, room)
    assert (later["headline"]["refunds"], later["headline"]["refunded"]) == (2, 999 + 3000)
    assert later["headline"]["gmv"] == 6498 and later["products"] == after["products"]
    assert later["generated_at"] == after["generated_at"]


async def test_who_may_read_a_report_and_my_shows(live: LiveApp) -> None:
    room = await live.live_room()
    waiting = (await live.call("POST", "/api/rooms", "alice", "creator",
                               json={"title": "Later"}))[1]["id"]
    path = f"/api/rooms/{room}/report"
    for user, role, code in (("vic", "viewer", "forbidden"), ("bob", "creator", "forbidden"),
                             (None, "viewer", "unauthorized")):
        status, body = await live.call("GET", path, user, role)
        assert body["error"]["code"] == code, (user, body)
        status, body = await live.call("GET", path + ".csv", user, role)
        assert status in (401, 403) and body["error"]["code"] == code, (user, body)
    status, body = await live.call("GET", path, "root", "ops")
    assert status == 200 and body["room_id"] == room
    status, body = await live.call("GET", "/api/rooms/r_nope/report", "alice", "creator")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await live.call("GET", f"/api/rooms/{waiting}/report", "alice", "creator")
    assert status == 409 and body["error"]["code"] == "invalid_state"

    # My shows: rooms that went live, newest first, paginated; not a scheduled room
    second = await live.live_room()
    assert (await live.call("POST", f"/api/rooms/{second}/end", "alice", "creator"))[0] == 200
    status, mine = await live.call("GET", "/api/me/shows?limit=1", "alice", "creator")
    assert status == 200, mine
    assert mine["total"] == 2 and mine["next_offset"] == 1
    assert [s["room_id"] for s in mine["shows"]] == [second]
    assert mine["shows"][0]["frozen"] is True and "headline" in mine["shows"][0]
    status, rest = await live.call("GET", "/api/me/shows?limit=1&offset=1", "alice", "creator")
    assert [s["room_id"] for s in rest["shows"]] == [room] and rest["next_offset"] is None
    assert rest["shows"][0]["live"] is True
    status, none = await live.call("GET", "/api/me/shows", "bob", "creator")
    assert status == 200 and none["shows"] == [] and none["total"] == 0
    status, body = await live.call("GET", "/api/me/shows", "vic")
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, body = await live.call("GET", "/api/me/shows?limit=0", "alice", "creator")
    assert status == 400 and body["error"]["code"] == "invalid_field"
