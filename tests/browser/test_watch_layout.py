"""The watch page's layout in a real Chromium: phone first (390×844), a side chat on a desktop
(1366×900).

On a phone the video stage is the whole screen and the page itself never scrolls: the chat
input, the heart button, the pinned card's Buy and the shop button are all on screen and not
covered, a double tap on the video sends a heart the room counts, the shop's bottom sheet opens
as a dialog and closes with Escape, the coupon pop-up over the video closes. On a desktop the
chat sits beside the video. axe-core finds no serious or critical violation at either size.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.browser.harness import (
    CONNECTED,
    DESKTOP,
    PHONE,
    Browser,
    Page,
    has_text,
    http,
    js,
    make_room,
    open_page,
    serious_violations,
    token,
    visible,
)


def live_shop(base: str, tag: str) -> dict[str, Any]:
    """A live room with a pinned product on its shelf and a pinned coupon (over the API)."""
    creator = token(base, f"lay_host_{tag}", "creator", "Host")
    rid = make_room(base, creator, f"Layout live {tag} with a rather long title for a phone")["id"]
    product = http("POST", f"{base}/api/products", {
        "title": "Scarf <b>soft</b>", "list_price": 5900, "live_price": 3900, "currency": "CNY",
        "stock": 20,
    }, creator)
    http("POST", f"{base}/api/rooms/{rid}/shelf", {"product_id": product["id"]}, creator)
    http("PUT", f"{base}/api/rooms/{rid}/pinned", {"product_id": product["id"]}, creator)
    coupon = http("POST", f"{base}/api/rooms/{rid}/coupons", {
        "title": "1 off", "kind": "amount", "amount_off": 100, "min_spend": 500, "quota": 10,
        "end_at": int(time.time() * 1000) + 3_600_000,
    }, creator)
    http("PUT", f"{base}/api/rooms/{rid}/coupon_pin", {"coupon_id": coupon["id"]}, creator)
    return {"creator": creator, "room": rid}


def on_screen(selector: str) -> str:
    """The element lies wholly inside the viewport and is what a tap at its centre reaches."""
    return (f"(() => {{ const e = document.querySelector({js(selector)});"
            " if (!e) return false; const r = e.getBoundingClientRect();"
            " const inside = r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0"
            " && r.right <= innerWidth + 0.5 && r.bottom <= innerHeight + 0.5;"
            " const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);"
            " return inside && !!hit && (hit === e || e.contains(hit)); })()")


def rect(selector: str) -> str:
    return (f"(() => {{ const r = document.querySelector({js(selector)}).getBoundingClientRect();"
            " return {left: r.left, top: r.top, right: r.right, bottom: r.bottom,"
            " height: r.height}; })()")


async def double_tap(page: Page, x: float, y: float) -> None:
    """Two touches at one point (hit-tested by the browser, as a finger's would be)."""
    for _ in range(2):
        await page.pw.touchscreen.tap(x, y)


def hearts(base: str, rid: str) -> int:
    return int(http("GET", f"{base}/api/rooms/{rid}")["counters"]["hearts"])


@pytest.mark.system
async def test_phone_watch_is_one_full_height_stage(
    server: str, browser: Browser
) -> None:
    shop = live_shop(server, "phone")
    rid = shop["room"]
    viewer = token(server, "lay_viewer_phone", "viewer", "Viewer")
    page = await open_page(browser, server, f"/watch/{rid}", viewer, *PHONE)
    await page.wait_for(CONNECTED)
    await page.wait_for(visible("#pinned") + " && " + has_text("#pinned", "Scarf <b>soft</b>"))
    await page.wait_for(visible("#chat-form"))
    await page.wait_for(visible("#coupon-banner"))

    # the stage is the screen: the video area fills the viewport's height, nothing scrolls
    player = await page.eval(rect("#player"))
    height = await page.eval("innerHeight")
    assert abs(player["top"]) <= 2 and abs(player["height"] - height) <= 2, (player, height)
    assert await page.eval("document.documentElement.scrollWidth <= innerWidth + 1")
    assert await page.eval("document.scrollingElement.scrollHeight <= innerHeight + 1")
    assert await page.eval("getComputedStyle(document.querySelector('#player video'))"
                           ".objectFit") == "contain"
    # the header on one line
    header = await page.eval(rect("#top"))
    assert header["height"] <= 52, header

    # what a viewer taps is on screen without scrolling, and not under something else
    for selector in ("#chat-input", "#heart", "#pinned .buy-btn", "#shelf-toggle"):
        assert await page.eval(on_screen(selector)), selector

    # a double tap on the video sends a heart, which the room counts
    before = hearts(server, rid)
    # a point of the picture left free by the pop-ups and cards laid over it (the pinned card,
    # the coupon, the chat): there must be one, a viewer taps there
    x = 130.0
    free = await page.eval(
        f"[...Array(40).keys()].map(i => {height} * (0.2 + i * 0.01))"
        f".find(y => document.elementFromPoint({x}, y)?.id === 'tap-layer')")
    assert free is not None, "no free spot on the video to tap"
    y = float(free)
    await double_tap(page, x, y)
    await page.wait_for("document.querySelectorAll('#tap-layer .tap-heart').length > 0", 2)
    for _ in range(50):  # the room's counter, as the server keeps it, polled for up to 10 s
        if hearts(server, rid) >= before + 1:
            break
        await asyncio.sleep(0.2)
    assert hearts(server, rid) >= before + 1
    await page.screenshot("watch-layout-phone")

    # the coupon pop-up over the video closes with its button
    await page.click("#coupon-banner .popup-close")
    await page.wait_for(f"!{visible('#coupon-banner')}")

    # the shop: a bottom sheet that is a dialog, on screen, closed by Escape
    await page.click("#shelf-toggle")
    await page.wait_for("document.querySelector('#shelf-panel').classList.contains('open')")
    role = await page.eval("document.querySelector('#shelf-panel').getAttribute('role')")
    assert role == "dialog"
    await page.wait_for("document.activeElement === document.querySelector('#shelf-close')")
    await page.wait_for(on_screen("#shelf-close"))
    await page.wait_for(f"{rect('#shelf-panel')}.bottom <= innerHeight + 1")  # slid fully in
    assert await page.eval("document.querySelector('#shelf-toggle')"
                           ".getAttribute('aria-expanded')") == "true"
    assert await serious_violations(page) == []
    await page.screenshot("watch-layout-phone-shop")
    await page.press("Escape")
    await page.wait_for("!document.querySelector('#shelf-panel').classList.contains('open')")
    assert await page.eval("document.activeElement?.id") == "shelf-toggle"
    assert await page.eval("document.querySelector('#shelf-toggle')"
                           ".getAttribute('aria-expanded')") == "false"

    assert await serious_violations(page) == []
    assert page.errors == [], page.errors


@pytest.mark.system
async def test_desktop_watch_keeps_a_side_chat(
    server: str, browser: Browser
) -> None:
    shop = live_shop(server, "desk")
    viewer = token(server, "lay_viewer_desk", "viewer", "Viewer")
    page = await open_page(browser, server, f"/watch/{shop['room']}", viewer, *DESKTOP)
    await page.wait_for(CONNECTED)
    await page.wait_for(visible("#pinned"))
    player = await page.eval(rect("#player"))
    chat = await page.eval(rect(".watch > .chat"))
    assert chat["left"] >= player["right"], (chat, player)
    assert chat["top"] < player["bottom"] and chat["bottom"] > player["top"], (chat, player)
    assert await page.eval(on_screen("#chat-input"))
    assert await page.eval("document.documentElement.scrollWidth <= innerWidth + 1")
    # the shelf is on the page beside the video's column, not a sheet
    assert await page.eval(visible("#shelf"))
    assert await page.eval("!document.querySelector('#shelf-panel').hasAttribute('role')")
    assert await serious_violations(page) == []
    await page.screenshot("watch-layout-desktop")
    assert page.errors == [], page.errors


def demo_room(base: str) -> str:
    """The room `serve --demo` broadcasts its bundled clip into."""
    rooms = http("GET", f"{base}/api/rooms?state=live&limit=100")["rooms"]
    return str(next(r["id"] for r in rooms if r.get("creator_id") == "demo_creator"))


@pytest.mark.system
async def test_phone_video_autoplays_muted_and_says_tap_to_unmute(
    server: str, browser: Browser
) -> None:
    """The demo's show plays muted (browsers autoplay only so), letterboxed in the full-height
    stage; the cue is on screen and one tap on it turns the sound on."""
    rid = demo_room(server)
    page = await open_page(browser, server, f"/watch/{rid}", None, *PHONE)
    await page.wait_for(CONNECTED)
    video = "document.querySelector('#player video')"
    await page.wait_for(f"{video}.currentTime > 0 && !{video}.paused", 30)
    await page.wait_for(on_screen("#unmute"))
    assert await page.eval(f"{video}.muted")
    box = await page.eval(rect("#player video"))
    assert abs(box["height"] - await page.eval("innerHeight")) <= 2, box
    assert await page.eval(f"getComputedStyle({video}).objectFit") == "contain"
    assert await page.eval(f"{video}.videoWidth > {video}.videoHeight")  # landscape, letterboxed
    cue = await page.eval(rect("#unmute"))
    x, y = (cue["left"] + cue["right"]) / 2, (cue["top"] + cue["bottom"]) / 2
    await page.pw.touchscreen.tap(x, y)
    await page.wait_for(f"!{video}.muted && document.querySelector('#unmute').hidden")
    await page.screenshot("watch-layout-phone-video")
    assert page.errors == [], page.errors
