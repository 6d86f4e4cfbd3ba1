"""The shipping address end to end: save and read it back, each bad field refused by name
with nothing saved, only its owner reads it, guests have none, and it never reaches a room's
events or any other user's frames."""

from __future__ import annotations

from typing import Any

from live_server.protocol import now_ms
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import Viewer

ME = "/api/me/address"


def address(**fields: Any) -> dict[str, Any]:
    return {"name": "Ada Lovelace", "phone": "+44 20 7946 0958", "country": "GB",
            "region": "Greater London", "city": "London", "line1": "12 St James's Square",
            "line2": "Flat 3", "postal_code": "SW1Y 4LE", **fields}


async def test_put_then_get_and_replace(live: LiveApp) -> None:
    status, body = await live.call("GET", ME, "vic")
    assert (status, body) == (200, {"address": None})
    before = now_ms()
    status, saved = await live.call("PUT", ME, "vic", json=address(name="  Ada Lovelace  "))
    assert status == 200, saved
    got = saved["address"]
    assert got["name"] == "Ada Lovelace" and got["postal_code"] == "SW1Y 4LE"
    assert before <= got["updated_at"] <= now_ms()
    status, body = await live.call("GET", ME, "vic")
    assert status == 200 and body == saved
    # a PUT replaces the whole address: optional fields left out become empty
    minimal = {k: v for k, v in address(city="Paris", country="FR").items()
               if k not in ("region", "line2", "postal_code")}
    status, saved = await live.call("PUT", ME, "vic", json=minimal)
    assert status == 200
    assert (saved["address"]["city"], saved["address"]["region"],
            saved["address"]["line2"], saved["address"]["postal_code"]) == ("Paris", "", "", "")
    status, body = await live.call("GET", ME, "vic")
    assert body["address"]["city"] == "Paris"


async def test_each_bad_field_is_refused_by_name_and_nothing_is_saved(live: LiveApp) -> None:
    status, _ = await live.call("PUT", ME, "vic", json=address())
    assert status == 200
    bad: list[tuple[dict[str, Any], str, str]] = [
        ({"name": ""}, "name", "invalid_field"), ({"name": "x" * 61}, "name", "invalid_field"),
        ({"phone": "12"}, "phone", "invalid_field"),
        ({"phone": "ring 0123456"}, "phone", "invalid_field"),
        ({"country": "gb"}, "country", "invalid_field"),
        ({"country": "GBR"}, "country", "invalid_field"),
        ({"city": "x" * 61}, "city", "invalid_field"), ({"line1": 7}, "line1", "invalid_field"),
        ({"line1": "x" * 121}, "line1", "invalid_field"),
        ({"line2": "a\nb"}, "line2", "invalid_field"),
        ({"postal_code": "SW1Y_4LE"}, "postal_code", "invalid_field"),
        ({"postal_code": "1" * 17}, "postal_code", "invalid_field"),
        ({"region": "x" * 61}, "region", "invalid_field"),
        ({"email": "ada@example.com"}, "email", "invalid_field"),
    ]
    for change, name, code in bad:
        status, err = await live.call("PUT", ME, "vic", json=address(**change))
        assert status == 400 and err["error"]["code"] == code, (change, err)
        assert f"'{name}'" in err["error"]["message"], err
    for name in ("name", "phone", "country", "city", "line1"):
        body = address()
        del body[name]
        status, err = await live.call("PUT", ME, "vic", json=body)
        assert status == 400 and err["error"]["code"] == "missing_field"
        assert f"'{name}'" in err["error"]["message"]
    status, body = await live.call("GET", ME, "vic")
    assert body["address"]["line1"] == "12 St James's Square"  # unchanged by every refusal


async def test_only_its_owner_reads_it_and_guests_have_none(live: LiveApp) -> None:
    status, _ = await live.call("PUT", ME, "vic", json=address())
    assert status == 200
    for user, role in (("wes", "viewer"), ("alice", "creator"), ("op", "ops")):
        status, body = await live.call("GET", ME, user, role)
        assert (status, body) == (200, {"address": None})  # their own: none saved
    status, err = await live.call("GET", ME, None)
    assert status == 403 and err["error"]["code"] == "forbidden"
    status, err = await live.call("PUT", ME, None, json=address())
    assert status == 403 and err["error"]["code"] == "forbidden"
    status, _ = await live.call("GET", ME + "?user_id=vic", "wes")
    assert status == 400   # no way to name another user


async def test_the_address_never_reaches_a_room(live: LiveApp) -> None:
    """Saved, used for an order and paid: the buyer and the room's creator see it on the
    order; no room event (stored or live) and no other viewer's frame carries it."""
    room = await live.live_room()
    status, _ = await live.call("PUT", ME, "vic", json=address(line1="221B Baker Street"))
    assert status == 200
    status, coupon = await live.call("POST", f"/api/rooms/{room}/coupons", "alice", "creator",
                                     json={"title": "5 off", "kind": "amount",
                                           "amount_off": 500, "min_spend": 1000, "quota": 5,
                                           "end_at": now_ms() + 60_000})
    assert status == 201
    await live.call("PUT", f"/api/rooms/{room}/coupon_pin", "alice", "creator",
                    json={"coupon_id": coupon["id"]})
    status, product = await live.call("POST", "/api/products", "alice", "creator", json={
        "title": "Scarf", "list_price": 9900, "live_price": 7900, "stock": 5})
    assert status == 201, product
    status, _ = await live.call("POST", f"/api/rooms/{room}/shelf", "alice", "creator",
                                json={"product_id": product["id"]})
    assert status == 201
    watcher = await Viewer.connect(live.base, room, token("wes"))
    await watcher.wait_welcome()
    vic = await Viewer.connect(live.base, room, token("vic"))
    await vic.wait_welcome()
    assert (await vic.request("chat", text="hello"))["type"] == "reply"
    assert (await vic.request("claim_coupon", coupon_id=coupon["id"]))["type"] == "reply"
    bought = await vic.request("buy", product_id=product["id"], quantity=1,
                               idempotency_key="k1", coupon_id=coupon["id"])
    assert bought["type"] == "reply", bought
    order_id = bought["data"]["order"]["id"]
    status, paid = await live.call("POST", f"/api/orders/{order_id}/pay", "vic")
    assert status == 200, paid
    status, seen = await live.call("GET", f"/api/orders/{order_id}", "vic")
    assert status == 200 and seen["address"]["line1"] == "221B Baker Street"
    assert (seen["discount"], seen["coupon_id"]) == (500, coupon["id"])
    status, mine = await live.call("GET", f"/api/rooms/{room}/my_coupons", "vic")
    assert [c["mine"] for c in mine["coupons"]] == [{"claimed": 1, "used": 1}]
    status, listed = await live.call("GET", f"/api/rooms/{room}/orders", "alice", "creator")
    assert status == 200 and "221B Baker Street" in repr(listed)
    status, err = await live.call("GET", f"/api/orders/{order_id}", "wes")
    assert status == 404 and "Baker" not in repr(err)  # another buyer's order does not exist
    await watcher.wait_for(lambda: watcher.chat_texts() == ["hello"])
    await watcher.wait_for(lambda: watcher.of_type("coupon"))
    assert all(b"Baker" not in repr(frame).encode() for frame in watcher.frames)
    assert all(b"Baker" not in repr(e).encode() for e in vic.events if "to" not in e)
    valkey = live.client.app[SERVICES].core.client
    events = await valkey.xrange(live.client.app[SERVICES].core.keys.room(room).events)
    assert events and all(b"Baker" not in b"".join(f.values()) for _i, f in events)
    for viewer in (watcher, vic):
        await viewer.close()
