"""Replays in a real Chromium: the studio broadcasts its (fake) camera in H.264 and says
"Recording"; the creator pins two products; after End live the studio links the replay, and the
watch page of the ended show (phone and desktop) offers "Watch the replay", plays it (the
picture at the publisher's size), lists the products as chapters, seeks to one when tapped and
shows its card (no longer on sale). Ops delete the replay from the console, and the show has no
replay any more."""

from __future__ import annotations

import asyncio

from tests.browser.harness import (
    DESKTOP,
    PHONE,
    Browser,
    has_text,
    http,
    js,
    make_room,
    open_page,
    serious_violations,
    token,
    visible,
)
from tests.browser.test_video import start_broadcast

PRODUCT = {"list_price": 2000, "live_price": 1500, "currency": "CNY", "stock": 20}


def shelve(server: str, creator: str, room_id: str, title: str) -> str:
    product = http("POST", f"{server}/api/products", {"title": title, **PRODUCT}, creator)
    http("POST", f"{server}/api/rooms/{room_id}/shelf", {"product_id": product["id"]}, creator)
    return str(product["id"])


async def test_a_show_is_recorded_and_its_replay_plays_with_product_chapters(
        server: str, browser: Browser) -> None:
    creator = token(server, "replay_host", "creator", "Replay Host")
    room = make_room(server, creator, "Replay show")
    rid = room["id"]
    mug = shelve(server, creator, rid, "Blue mug")
    hat = shelve(server, creator, rid, "Straw hat")

    studio = await open_page(browser, server, f"/studio#room={rid}", creator, *DESKTOP)
    sent = await start_broadcast(studio, rid, "H264")
    await studio.wait_for(has_text("#replay-status", "Recording"), within=15)
    await studio.screenshot("recording")
    http("PUT", f"{server}/api/rooms/{rid}/pinned", {"product_id": mug}, creator)
    await asyncio.sleep(4)  # a few segments with the mug explained
    http("PUT", f"{server}/api/rooms/{rid}/pinned", {"product_id": hat}, creator)
    await asyncio.sleep(4)
    http("POST", f"{server}/api/rooms/{rid}/end", {}, creator)
    await studio.wait_for(visible("#replay-link"), within=30)
    assert await studio.eval("document.querySelector('#replay-link').getAttribute('href')") \
        == f"/watch/{rid}"
    await studio.screenshot("replay-link")
    replay = http("GET", f"{server}/api/rooms/{rid}/replay")
    assert replay["state"] == "ready"
    assert [c["product_id"] for c in replay["chapters"]] == [mug, hat]

    for size in (PHONE, DESKTOP):
        page = await open_page(browser, server, f"/watch/{rid}", None, *size)
        await page.wait_for(visible("#replay-open"), within=15)
        await page.click("#replay-open")
        await page.wait_for(visible("#replay-chapters"))
        await page.wait_for("document.querySelector('#replay-video').readyState >= 1",
                            within=20)
        hat_at = replay["chapters"][1]["t_ms"] / 1000
        await page.click(f".replay-chapter[data-product={js(hat)}]")
        await page.wait_for("Math.abs(document.querySelector('#replay-video').currentTime - "
                            f"{hat_at}) < 1.5", within=15)
        await page.wait_for("document.querySelector('#replay-video').videoWidth === "
                            f"{sent['width']}", within=15)
        await page.wait_for(visible("#replay-card"))
        await page.wait_for(has_text("#replay-card", "Straw hat"))
        await page.wait_for(has_text("#replay-card", "No longer on sale"))
        # the show has ended and `buy` refuses ended rooms: the card offers no purchase
        assert not await page.eval("!!document.querySelector('#replay-card button')")
        await page.screenshot(f"replay-{size[0]}")
        assert await serious_violations(page) == []
        await page.click(f".replay-chapter[data-product={js(mug)}]")
        await page.wait_for("document.querySelector('#replay-video').currentTime < "
                            f"{hat_at - 0.5}", within=15)
        await page.wait_for(has_text("#replay-card", "Blue mug"))
        await page.click("#replay-close")
        await page.wait_for(visible("#replay-open"))
        assert page.errors == [], page.errors

    ops = await open_page(browser, server, "/ops", token(server, "replay_ops", "ops", "Ops"),
                          *DESKTOP)
    await ops.fill("#replay-room", rid)
    await ops.click("#replays-section button[type=submit]")
    await ops.wait_for(has_text("#replay-found", "ready"))
    await ops.fill("#replay-reason", "test removal")
    await ops.click("#replay-delete")
    await ops.wait_for(has_text("#replay-msg", "Replay deleted"))
    await ops.wait_for(has_text("#replay-found", "deleted"))
    assert http("GET", f"{server}/api/rooms/{rid}/replay")["state"] == "deleted"
    page = await open_page(browser, server, f"/watch/{rid}", None, *PHONE)
    await page.wait_for(visible("#end-screen"), within=15)
    await asyncio.sleep(1)  # the replay was asked for once: no button comes
    assert not await page.eval("!!document.querySelector('#replay-open')")
    for p in (studio, ops, page):
        assert p.errors == [], p.errors
