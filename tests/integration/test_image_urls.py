"""One rule for every URL a page shows as an image: a room's cover and a product's picture are
an http(s) URL or a path on this server, nothing else. Refused ones change nothing."""

from __future__ import annotations

import pytest

from tests.conftest import LiveApp

PRODUCT = {"title": "Tea", "list_price": 2000, "live_price": 1500, "stock": 5}
REFUSED = ("javascript:alert(1)", " JavaScript:alert(1)", "data:image/png;base64,AAAA",
           "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "images/cover.png",
           "ftp://files.test/cover.png", "cover.png")
ACCEPTED = ("https://cdn.test/cover.png", "http://cdn.test/cover.png", "/static/cover.png", "")


async def _room(live: LiveApp, cover: str) -> tuple[int, dict[str, object]]:
    status, body = await live.call("POST", "/api/rooms", "alice", "creator",
                                   json={"title": "Show", "cover": cover})
    return status, body


async def _product(live: LiveApp, image_url: str) -> tuple[int, dict[str, object]]:
    status, body = await live.call("POST", "/api/products", "alice", "creator",
                                   json={**PRODUCT, "image_url": image_url})
    return status, body


@pytest.mark.parametrize("url", REFUSED)
async def test_unsafe_urls_are_refused_for_covers_and_product_images(live: LiveApp,
                                                                     url: str) -> None:
    status, body = await _room(live, url)
    assert (status, body["error"]["code"]) == (400, "invalid_field"), body  # type: ignore[index]
    status, body = await _product(live, url)
    assert (status, body["error"]["code"]) == (400, "invalid_field"), body  # type: ignore[index]
    _, rooms = await live.call("GET", "/api/rooms?state=mine", "alice", "creator")
    _, products = await live.call("GET", "/api/products", "alice", "creator")
    assert rooms["rooms"] == [] and products["products"] == []  # nothing created
    # nor changed by an edit
    status, room = await _room(live, "https://cdn.test/a.png")
    assert status == 201, room
    status, body = await live.call("PATCH", f"/api/rooms/{room['id']}", "alice", "creator",
                                   json={"cover": url})
    assert (status, body["error"]["code"]) == (400, "invalid_field"), body
    status, product = await _product(live, "https://cdn.test/a.png")
    assert status == 201, product
    status, body = await live.call("PATCH", f"/api/products/{product['id']}", "alice",
                                   "creator", json={"image_url": url})
    assert (status, body["error"]["code"]) == (400, "invalid_field"), body
    _, room_now = await live.call("GET", f"/api/rooms/{room['id']}")
    _, product_now = await live.call("GET", f"/api/products/{product['id']}", "alice",
                                     "creator")
    assert room_now["cover"] == product_now["image_url"] == "https://cdn.test/a.png"


@pytest.mark.parametrize("url", ACCEPTED)
async def test_http_urls_and_paths_are_kept(live: LiveApp, url: str) -> None:
    status, room = await _room(live, url)
    assert status == 201 and room["cover"] == url, room
    status, product = await _product(live, url)
    assert status == 201 and product["image_url"] == url, product
    status, room = await live.call("PATCH", f"/api/rooms/{room['id']}", "alice", "creator",
                                   json={"cover": url, "title": "Again"})
    assert status == 200 and room["cover"] == url, room
