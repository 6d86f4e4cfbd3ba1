"""Coupons end to end through the real app and a real Valkey: create (every field checked, the
shelf checked), list as a viewer and as the creator, claim over HTTP and the room socket with
every refusal coded and nothing claimed, stop, pin (the event, the welcome, the copies left
following claims), my coupons, and who may do what."""

from __future__ import annotations

import asyncio
from typing import Any

from live_server.protocol import now_ms
from tests.conftest import LiveApp, token
from tests.helpers import Viewer

DAY = 86_400_000


async def product_on_shelf(live: LiveApp, room: str, creator: str = "alice") -> str:
    status, product = await live.call("POST", "/api/products", creator, "creator", json={
        "title": "Scarf", "list_price": 9900, "live_price": 7900, "stock": 50})
    assert status == 201, product
    status, body = await live.call("POST", f"/api/rooms/{room}/shelf", creator, "creator",
                                   json={"product_id": product["id"]})
    assert status == 201, body
    return str(product["id"])


def amount(**fields: Any) -> dict[str, Any]:
    return {"title": "5 off 50", "kind": "amount", "amount_off": 500, "min_spend": 5000,
            "quota": 100, "end_at": now_ms() + DAY, **fields}


async def create(live: LiveApp, room: str, creator: str = "alice", **fields: Any) -> Any:
    status, coupon = await live.call("POST", f"/api/rooms/{room}/coupons", creator, "creator",
                                     json=amount(**fields))
    assert status == 201, coupon
    return coupon


async def claim(live: LiveApp, room: str, cid: str, user: str | None) -> tuple[int, Any]:
    return await live.call("POST", f"/api/rooms/{room}/coupons/{cid}/claim", user)


async def listed(live: LiveApp, room: str, user: str | None = "alice",
                 role: Any = "creator") -> list[Any]:
    status, body = await live.call("GET", f"/api/rooms/{room}/coupons", user, role)
    assert status == 200, body
    return list(body["coupons"])


async def mine(live: LiveApp, room: str, user: str) -> list[Any]:
    status, body = await live.call("GET", f"/api/rooms/{room}/my_coupons", user)
    assert status == 200, body
    return list(body["coupons"])


async def test_create_and_list_as_viewer_and_creator(live: LiveApp) -> None:
    room = await live.live_room()
    pid = await product_on_shelf(live, room)
    made = await create(live, room, product_ids=[pid], per_user=2)
    assert made["id"].startswith("c_") and made["room_id"] == room
    assert (made["claimed"], made["used"], made["left"], made["state"]) == (0, 0, 100, "active")
    assert made["product_ids"] == [pid] and made["per_user"] == 2
    pct = await create(live, room, title="10% off", kind="percent", percent_bp=1000,
                       max_off=3000, min_spend=0, amount_off=None)
    assert (pct["kind"], pct["percent_bp"], pct["max_off"], pct["amount_off"]) == (
        "percent", 1000, 3000, 0)
    assert pct["product_ids"] == []   # the whole shelf: an empty list, never an object
    later = await create(live, room, start_at=now_ms() + DAY, end_at=now_ms() + 2 * DAY)
    stopped = await create(live, room, title="gone soon")
    status, _ = await live.call("POST", f"/api/rooms/{room}/coupons/{stopped['id']}/stop",
                                "alice", "creator")
    assert status == 200
    status, _ = await claim(live, room, made["id"], "vic")
    assert status == 200
    # the creator sees every coupon with its counts, oldest first
    full = await listed(live, room)
    assert [c["id"] for c in full] == [made["id"], pct["id"], later["id"], stopped["id"]]
    assert full[0]["claimed"] == 1 and full[0]["used"] == 0 and full[0]["left"] == 99
    assert full[3]["state"] == "stopped"
    # a viewer (and a guest) sees the coupons still to claim or use, with left, without counts
    for user, role in (("vic", "viewer"), (None, "viewer"), ("bob", "creator")):
        public = await listed(live, room, user, role)
        assert [c["id"] for c in public] == [made["id"], pct["id"], later["id"]]
        assert public[0]["left"] == 99 and all("used" not in c for c in public)
    # ops see the counts too
    assert [c["id"] for c in await listed(live, room, "op", "ops")] == [c["id"] for c in full]


async def test_bad_coupons_are_refused_by_field_and_nothing_is_stored(live: LiveApp) -> None:
    room = await live.live_room()
    pid = await product_on_shelf(live, room)
    now = now_ms()
    bad: list[dict[str, Any]] = [
        amount(kind="free"), amount(title=""), amount(title="x" * 41),
        amount(min_spend=500), amount(amount_off=0), amount(amount_off=-1),
        amount(amount_off=10**12), amount(amount_off="5"), amount(percent_bp=100),
        {**amount(kind="percent", percent_bp=1000), "amount_off": None},  # no max_off
        amount(quota=0), amount(quota=1_000_001), amount(per_user=101),
        amount(end_at=now - 1), amount(start_at=now + 5000, end_at=now + 4000),
        amount(end_at=now + 31 * DAY), amount(product_ids=[pid, pid]),
        amount(product_ids=["p_notonshelf"]), amount(product_ids=[pid] * 51),
        amount(colour="red"),
    ]
    for body in bad:
        status, err = await live.call("POST", f"/api/rooms/{room}/coupons", "alice", "creator",
                                      json={k: v for k, v in body.items() if v is not None})
        assert status == 400, (body, err)
        assert err["error"]["code"] in ("invalid_field", "missing_field"), err
    status, err = await live.call("POST", f"/api/rooms/{room}/coupons", "alice", "creator",
                                  json=amount(product_ids=["p_notonshelf"]))
    assert "p_notonshelf" in err["error"]["message"] and "shelf" in err["error"]["message"]
    assert await listed(live, room) == []
    status, err = await live.call("POST", "/api/rooms/r_nope/coupons", "alice", "creator",
                                  json=amount())
    assert status == 404 and err["error"]["code"] == "not_found"


async def test_who_may_create_stop_and_pin(live: LiveApp) -> None:
    room = await live.live_room()
    coupon = await create(live, room)
    cid = coupon["id"]
    attempts = (("POST", f"/api/rooms/{room}/coupons", amount()),
                ("POST", f"/api/rooms/{room}/coupons/{cid}/stop", None),
                ("PUT", f"/api/rooms/{room}/coupon_pin", {"coupon_id": cid}))
    for method, path, body in attempts:
        for user, role, code in (("vic", "viewer", 403), ("bob", "creator", 403),
                                 ("op", "ops", 403), ("alice", "viewer", 403),
                                 (None, "viewer", 401)):
            status, err = await live.call(method, path, user, role, json=body)
            assert status == code, (method, path, user, role, err)
    viewer = await Viewer.connect(live.base, room, token("vic"))
    await viewer.wait_welcome()
    refused = await viewer.request("pin_coupon", coupon_id=cid)
    assert refused["type"] == "error" and refused["error"]["code"] == "forbidden"
    await viewer.close()
    full = await listed(live, room)
    assert len(full) == 1 and full[0]["state"] == "active"
    status, body = await live.call("GET", f"/api/rooms/{room}/coupons", "vic")
    assert body["coupons"][0]["id"] == cid
    # a room without guests does not show its coupons to guests
    status, closed = await live.call("POST", "/api/rooms", "alice", "creator",
                                     json={"title": "Members", "allow_guests": False})
    assert status == 201
    status, err = await live.call("GET", f"/api/rooms/{closed['id']}/coupons", None)
    assert status == 403 and err["error"]["code"] == "guests_not_allowed"


async def test_claim_refusals_are_coded_and_claim_nothing(live: LiveApp) -> None:
    room = await live.live_room()
    now = now_ms()
    later = await create(live, room, start_at=now + DAY, end_at=now + 2 * DAY)
    short = await create(live, room, end_at=now + 600)
    one = await create(live, room, quota=1)
    two_each = await create(live, room, per_user=2)
    stopped = await create(live, room)
    await live.call("POST", f"/api/rooms/{room}/coupons/{stopped['id']}/stop", "alice",
                    "creator")
    status, err = await claim(live, room, later["id"], "vic")
    assert (status, err["error"]["code"]) == (409, "coupon_not_started")
    assert err["error"]["start_at"] == later["start_at"]
    await asyncio.sleep(0.7)
    status, err = await claim(live, room, short["id"], "vic")
    assert (status, err["error"]["code"]) == (409, "coupon_ended")
    status, got = await claim(live, room, one["id"], "wes")
    assert status == 200 and got["coupon"]["left"] == 0
    assert got["mine"] == {"claimed": 1, "used": 0} and "used" not in got["coupon"]
    status, err = await claim(live, room, one["id"], "vic")
    assert (status, err["error"]["code"]) == (409, "coupon_gone")
    for n in (1, 2):
        status, got = await claim(live, room, two_each["id"], "vic")
        assert status == 200 and got["mine"]["claimed"] == n
    status, err = await claim(live, room, two_each["id"], "vic")
    assert (status, err["error"]["code"]) == (409, "coupon_limit")
    assert err["error"]["claimed"] == 2
    status, err = await claim(live, room, stopped["id"], "vic")
    assert (status, err["error"]["code"]) == (409, "coupon_stopped")
    for cid in ("c_nope", "nonsense", "p_abc"):
        status, err = await claim(live, room, cid, "vic")
        assert (status, err["error"]["code"]) == (404, "not_found")
    status, err = await claim(live, room, two_each["id"], None)
    assert status == 403
    status, err = await claim(live, "r_nope", two_each["id"], "vic")
    assert (status, err["error"]["code"]) == (404, "not_found")
    status, _ = await live.call("POST", f"/api/rooms/{room}/bans", "alice", "creator",
                                json={"user_id": "zed"})
    assert status in (200, 201)
    status, err = await claim(live, room, two_each["id"], "zed")
    assert (status, err["error"]["code"]) == (403, "banned")
    # nothing was claimed by any refusal
    counts = {c["id"]: c["claimed"] for c in await listed(live, room)}
    assert counts == {later["id"]: 0, short["id"]: 0, one["id"]: 1, two_each["id"]: 2,
                      stopped["id"]: 0}
    assert [(c["id"], c["mine"]) for c in await mine(live, room, "vic")] == [
        (two_each["id"], {"claimed": 2, "used": 0})]
    assert await mine(live, room, "zed") == []
    # an ended room takes no claims
    await live.call("POST", f"/api/rooms/{room}/end", "alice", "creator")
    status, err = await claim(live, room, one["id"], "yan")
    assert (status, err["error"]["code"]) == (409, "invalid_state")


async def test_pinned_coupon_reaches_viewers_live_and_in_the_welcome(live: LiveApp) -> None:
    room = await live.live_room()
    coupon = await create(live, room, quota=5)
    cid = coupon["id"]
    viewer = await Viewer.connect(live.base, room, token("vic"))
    welcome = await viewer.wait_welcome()
    assert welcome["snapshot"]["pinned_coupon"] is None
    status, pinned = await live.call("PUT", f"/api/rooms/{room}/coupon_pin", "alice", "creator",
                                     json={"coupon_id": cid})
    assert status == 200 and pinned["coupon"]["id"] == cid and pinned["coupon"]["left"] == 5
    event = (await viewer.wait_for(lambda: viewer.of_type("coupon_pinned")))[0]
    assert event["seq"] == pinned["seq"]
    assert event["data"]["coupon"] == pinned["coupon"] and event["data"]["by"] == "alice"
    assert "used" not in event["data"]["coupon"]
    # claims (socket and HTTP) send the copies left: coalesced, the newest arrives
    reply = await viewer.request("claim_coupon", coupon_id=cid)
    assert reply["type"] == "reply" and reply["data"]["coupon"]["left"] == 4
    again = await viewer.request("claim_coupon", coupon_id=cid)
    assert again["error"]["code"] == "coupon_limit"
    for user in ("wes", "xia"):
        status, _ = await claim(live, room, cid, user)
        assert status == 200
    await viewer.wait_for(lambda: any(e["data"] == {"coupon_id": cid, "left": 2}
                                      for e in viewer.of_type("coupon")))
    assert all("seq" not in e for e in viewer.of_type("coupon"))
    # a viewer joining now gets the pinned card, current, in the welcome
    late = await Viewer.connect(live.base, room, None, guest=True)
    snap = (await late.wait_welcome())["snapshot"]
    assert snap["pinned_coupon"]["id"] == cid and snap["pinned_coupon"]["left"] == 2
    assert "used" not in snap["pinned_coupon"]
    # the creator unpins over the socket
    creator = await Viewer.connect(live.base, room, token("alice", "creator"))
    await creator.wait_welcome()
    cleared = await creator.request("pin_coupon", coupon_id=None)
    assert cleared["type"] == "reply" and cleared["data"]["coupon"] is None
    await late.wait_for(lambda: late.of_type("coupon_pinned"))
    assert late.of_type("coupon_pinned")[-1]["data"]["coupon"] is None
    # stopping the pinned coupon unpins it; a stopped coupon cannot be pinned
    await creator.request("pin_coupon", coupon_id=cid)
    status, stopped = await live.call("POST", f"/api/rooms/{room}/coupons/{cid}/stop", "alice",
                                      "creator")
    assert status == 200 and stopped["state"] == "stopped" and stopped["claimed"] == 3
    await viewer.wait_for(lambda: viewer.of_type("coupon_pinned")[-1]["data"]["coupon"] is None
                          and len(viewer.of_type("coupon_pinned")) == 4)
    status, err = await live.call("PUT", f"/api/rooms/{room}/coupon_pin", "alice", "creator",
                                  json={"coupon_id": cid})
    assert (status, err["error"]["code"]) == (409, "coupon_stopped")
    status, err = await live.call("PUT", f"/api/rooms/{room}/coupon_pin", "alice", "creator",
                                  json={"coupon_id": "c_nope"})
    assert (status, err["error"]["code"]) == (404, "not_found")
    fresh = await Viewer.connect(live.base, room, token("yan"))
    assert (await fresh.wait_welcome())["snapshot"]["pinned_coupon"] is None
    # the claimed copies stay: vic still holds one after the stop
    assert [c["mine"] for c in await mine(live, room, "vic")] == [{"claimed": 1, "used": 0}]
    for v in (viewer, late, creator, fresh):
        await v.close()


async def test_one_user_claiming_twenty_times_at_once_gets_one(live: LiveApp) -> None:
    room = await live.live_room()
    cid = (await create(live, room, quota=10))["id"]
    viewers = [await Viewer.connect(live.base, room, token("vic")) for _ in range(10)]
    for v in viewers:
        await v.wait_welcome()
    results = await asyncio.gather(
        *(claim(live, room, cid, "vic") for _ in range(10)),
        *(v.request("claim_coupon", coupon_id=cid) for v in viewers))
    ok = [r for r in results[:10] if r[0] == 200] + [r for r in results[10:]
                                                     if r.get("type") == "reply"]
    codes = ([r[1]["error"]["code"] for r in results[:10] if r[0] != 200]
             + [r["error"]["code"] for r in results[10:] if r.get("type") == "error"])
    assert len(ok) == 1 and codes == ["coupon_limit"] * 19
    assert (await listed(live, room))[0]["claimed"] == 1
    assert [c["mine"]["claimed"] for c in await mine(live, room, "vic")] == [1]
    for v in viewers:
        await v.close()
