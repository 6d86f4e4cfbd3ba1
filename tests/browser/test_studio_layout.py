"""The studio as a live control room, in a real Chromium at 1366×900 and 390×844.

On a desktop a creator runs the show from one screen: the preview with the broadcast and end
controls, the live figures with GMV and paid orders, the chat box and the first shelf product's
pin and flash-sale presets are all on screen without scrolling the page. A preset starts a
flash sale at once (or after a 10 s countdown) that the shelf then shows open. The OBS panel
gives the room's WHIP URL and the creator's token (masked on screen, whole on the clipboard).
On a phone the studio stacks with nothing wider than the screen; axe finds no serious or
critical violation at either size.
"""

from __future__ import annotations

import time
from typing import Any

from tests.browser.harness import (
    CONNECTED,
    DESKTOP,
    PHONE,
    Browser,
    Page,
    http,
    includes,
    js,
    make_room,
    open_page,
    serious_violations,
    token,
)

# where each element is and whether the page itself was scrolled to reach it
PLACES = """((sels) => sels.map((s) => {
  const e = document.querySelector(s);
  if (!e) return {s, missing: true};
  const r = e.getBoundingClientRect();
  return {s, top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width,
          height: r.height};
}))"""
NO_PAGE_SCROLL = "document.scrollingElement.scrollTop === 0 && window.scrollY === 0"
NO_SIDEWAYS = "document.documentElement.scrollWidth <= window.innerWidth"


def product(base: str, creator: str, title: str, stock: int) -> str:
    made = http("POST", f"{base}/api/products", {
        "title": title, "list_price": 12000, "live_price": 9900, "currency": "CNY",
        "stock": stock, "per_buyer_limit": 2,
    }, creator)
    return str(made["id"])


def live_shop(base: str, tag: str) -> tuple[str, str, list[str]]:
    """A live room with two products on its shelf: the creator's token, the room, the products."""
    creator = token(base, f"layout_host_{tag}", "creator", "Layout Host")
    rid = str(make_room(base, creator, f"Control room {tag}")["id"])
    pids = [product(base, creator, f"Lamp {tag}", 20), product(base, creator, f"Vase {tag}", 8)]
    for pid in pids:
        http("POST", f"{base}/api/rooms/{rid}/shelf", {"product_id": pid}, creator)
    return creator, rid, pids


async def studio(chromium: Browser, base: str, rid: str, tok: str, size: tuple[int, int]) -> Page:
    page = await open_page(chromium, base, f"/studio#room={rid}", tok, *size)
    await page.wait_for(f"document.querySelector('#room-id').textContent === {js(rid)}")
    await page.wait_for(CONNECTED)
    return page


def shelf_item(pid: str) -> str:
    return f'#studio-shelf li[data-product="{pid}"]'


async def shop_studio(
        chromium: Browser, base: str, tag: str, size: tuple[int, int]
) -> tuple[Page, str, str, list[str]]:
    """The studio on a fresh live shop once its first product's presets are drawn: the page,
    the creator's token, the room and the products."""
    creator, rid, pids = live_shop(base, tag)
    page = await studio(chromium, base, rid, creator, size)
    await page.wait_for(f"!!document.querySelector({js(shelf_item(pids[0]) + ' .sale-preset')})")
    return page, creator, rid, pids


def sale_of(base: str, rid: str, pid: str) -> dict[str, Any] | None:
    sale = http("GET", f"{base}/api/rooms/{rid}/shelf")["sales"].get(pid)
    return dict(sale) if sale else None


async def test_the_live_essentials_fit_one_desktop_screen(
        server: str, browser: Browser) -> None:
    page, _, rid, (first, second) = await shop_studio(browser, server, "desk", DESKTOP)
    item = shelf_item(first)
    await page.wait_for(includes("#c-gmv", "¥0.00"))

    essentials = [
        "#preview", "#cam-start", "#broadcast-start", "#end",
        "#c-online", "#c-hearts", "#c-gmv", "#c-orders",
        "#chat-input", "#chat-send",
        f"{item} .pin-btn",
        *(f'{item} .sale-preset[data-minutes="{m}"]' for m in (1, 3, 5, 10)),
    ]
    height = await page.eval("window.innerHeight")
    assert height == DESKTOP[1]
    for place in await page.eval(f"{PLACES}({js(essentials)})"):
        assert not place.get("missing"), place
        assert place["width"] > 0 and place["height"] > 0, place
        assert 0 <= place["top"] and place["bottom"] <= height, place
        assert 0 <= place["left"] and place["right"] <= DESKTOP[0], place
    assert await page.eval(NO_PAGE_SCROLL)
    assert await page.eval(NO_SIDEWAYS)
    assert await serious_violations(page) == []
    await page.screenshot("studio-control-room-1366")

    # a 1-minute flash sale of the first product, open now, at 10% off its live price
    started = int(time.time() * 1000)
    await page.click(f'{item} .sale-preset[data-minutes="1"]')
    await page.wait_for(includes("#shelf-msg", "open now"))
    sale = sale_of(server, rid, first)
    assert sale is not None and sale["state"] == "open", sale
    assert sale["price"] == 8910 and sale["stock"] == 20
    assert sale["end_at"] - sale["start_at"] == 60_000
    assert started - 5000 <= sale["start_at"] <= int(time.time() * 1000) + 5000
    # the studio shows it: the presets give way to "Cancel sale"
    await page.wait_for(f"!document.querySelector({js(item + ' .sale-preset')})")
    await page.wait_for(includes(item, "Cancel sale"))

    # the countdown variant: a 3-minute sale of the second product that opens in 10 s
    other = shelf_item(second)
    await page.click("#quick-sale-countdown")
    await page.click(f'{other} .sale-preset[data-minutes="3"]')
    await page.wait_for(includes("#shelf-msg", "opening in 10 s"))
    sale = sale_of(server, rid, second)
    assert sale is not None and sale["state"] == "scheduled", sale
    assert sale["end_at"] - sale["start_at"] == 180_000 and sale["stock"] == 8
    assert sale["start_at"] - int(time.time() * 1000) > 5000
    assert page.errors == [], page.errors


async def test_obs_panel_copies_the_whip_url_and_the_token(
        server: str, browser: Browser) -> None:
    page, creator, rid, _ = await shop_studio(browser, server, "obs", DESKTOP)
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)

    whip = f"{server}/api/rooms/{rid}/whip"
    assert await page.eval("document.querySelector('#whip-url').value") == whip
    await page.click("#obs-copy-url")
    await page.wait_for(includes("#obs-msg", "WHIP URL is on the clipboard"))
    assert await page.eval("navigator.clipboard.readText()") == whip

    # the token: masked on screen (its tail only), whole on the clipboard
    shown = await page.eval("document.querySelector('#obs-token').value")
    assert creator not in shown and creator[:8] not in shown and shown.endswith(creator[-4:])
    assert creator not in await page.eval("document.body.innerText")
    await page.click("#obs-copy-token")
    await page.wait_for(includes("#obs-msg", "token is on the clipboard"))
    assert await page.eval("navigator.clipboard.readText()") == creator
    assert page.errors == [], page.errors


async def test_the_studio_stacks_on_a_phone(
        server: str, browser: Browser) -> None:
    page, _, _, _ = await shop_studio(browser, server, "phone", PHONE)
    assert await page.eval("window.innerWidth") == PHONE[0]
    assert await page.eval(NO_SIDEWAYS)
    # every control of the room is inside the screen's width (stacked, not cut off)
    wide = await page.eval(
        "[...document.querySelectorAll('#room button, #room input, #room select, #room video')]"
        ".filter(e => e.offsetParent && !e.closest('.table-wrap'))"
        ".filter(e => { const r = e.getBoundingClientRect();"
        " return r.left < 0 || r.right > window.innerWidth + 0.5; })"
        ".map(e => e.id || e.className || e.tagName)")
    assert wide == []
    assert await serious_violations(page) == []
    await page.screenshot("studio-control-room-390")
    assert page.errors == [], page.errors


async def test_go_live_of_a_scheduled_room_is_on_screen(
        server: str, browser: Browser) -> None:
    creator = token(server, "layout_host_sched", "creator", "Layout Host")
    soon = int(time.time() * 1000) + 3_600_000
    rid = str(http("POST", f"{server}/api/rooms",
                   {"title": "Control room later", "scheduled_at": soon}, creator)["id"])
    page = await studio(browser, server, rid, creator, DESKTOP)
    await page.wait_for("!document.querySelector('#start').hidden")
    height = await page.eval("window.innerHeight")
    for place in await page.eval(f"{PLACES}({js(['#start', '#end', '#preview', '#c-gmv'])})"):
        assert place["height"] > 0 and 0 <= place["top"] and place["bottom"] <= height, place
    await page.click("#start")
    await page.wait_for(includes("#room-msg", "You are live."))
    assert http("GET", f"{server}/api/rooms/{rid}")["state"] == "live"
    assert await page.eval(NO_PAGE_SCROLL)
    assert page.errors == [], page.errors
