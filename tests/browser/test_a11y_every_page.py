"""axe-core (vendored, injected) on every page at desktop 1366×900 and phone 390×844, with the
state people see on a busy evening: a live room with a shelf, a pinned card with a flash sale,
chat and a red packet; the studio of that room; My shows; ops with rooms and a report; the end
screen of a show that ended. No serious or critical WCAG 2 A/AA violation on any of them."""

from __future__ import annotations

import time

import pytest

from tests.browser.harness import (
    CONNECTED,
    DESKTOP,
    PHONE,
    Browser,
    Page,
    has_msg,
    http,
    includes,
    js,
    make_room,
    open_page,
    serious_violations,
    token,
)

SIZES = pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])


def busy_room(base: str, tag: str) -> tuple[str, str, str]:
    """A live room with two products on its shelf, one pinned in a flash sale, and a red packet
    open: the creator's token, the room, the pinned product."""
    creator = token(base, f"ax_host_{tag}", "creator", "Axe Host")
    rid = str(make_room(base, creator, f"Evening show {tag}")["id"])
    pids = []
    for title, stock in ((f"Kettle {tag}", 30), (f"Scarf {tag}", 5)):
        made = http("POST", f"{base}/api/products", {
            "title": title, "list_price": 12900, "live_price": 9900, "currency": "CNY",
            "stock": stock, "per_buyer_limit": 2}, creator)
        pids.append(str(made["id"]))
        http("POST", f"{base}/api/rooms/{rid}/shelf", {"product_id": made["id"]}, creator)
    http("PUT", f"{base}/api/rooms/{rid}/pinned", {"product_id": pids[0]}, creator)
    now = int(time.time() * 1000)
    http("POST", f"{base}/api/rooms/{rid}/sales", {
        "product_id": pids[0], "price": 7900, "stock": 10, "start_at": now,
        "end_at": now + 600_000}, creator)
    http("PUT", f"{base}/api/rooms/{rid}/announcement", {"text": "Free shipping tonight"}, creator)
    http("POST", f"{base}/api/dev/wallet/topup", {"amount": 10000}, creator)
    http("POST", f"{base}/api/rooms/{rid}/red-packets", {"total": 500, "shares": 5}, creator)
    return creator, rid, pids[0]


# disabled controls that do not look it (faded, and the not-allowed cursor)
LIVELY_DISABLED = """[...document.querySelectorAll(
    'button:disabled, input:disabled, select:disabled, textarea:disabled')]
  .filter(e => e.offsetParent)
  .filter(e => { const s = getComputedStyle(e);
                 return !(parseFloat(s.opacity) <= 0.6 && s.cursor === 'not-allowed'); })
  .map(e => e.id || e.className || e.tagName)"""


async def check(page: Page, name: str) -> None:
    """No serious or critical violation, disabled controls that look disabled, and a screenshot
    of what axe looked at."""
    found = await serious_violations(page)
    await page.screenshot(f"a11y-{name}")
    assert found == [], (name, found)
    assert await page.eval(LIVELY_DISABLED) == [], name


@pytest.mark.system
@SIZES
async def test_no_serious_violations_on_any_page(
        server: str, browser: Browser, size: tuple[int, int]) -> None:
    tag = "desk" if size == DESKTOP else "phone"
    creator, rid, pinned = busy_room(server, tag)
    viewer = token(server, f"ax_viewer_{tag}", "viewer", "Axe Viewer")

    # the landing page, as a guest
    page = await open_page(browser, server, "/", None, *size)
    await page.wait_for(f"[...document.querySelectorAll('.room-title')]"
                        f".some(e => e.textContent === {js(f'Evening show {tag}')})")
    await check(page, f"landing-{tag}")

    # the watch page: chat, the pinned card in its sale, the red packet's banner
    watch = await open_page(browser, server, f"/watch/{rid}", viewer, *size)
    await watch.wait_for(CONNECTED)
    await watch.submit("#chat-form", text="Is the kettle 1.5 l?")
    await watch.wait_for(has_msg("Is the kettle 1.5 l?"))
    await watch.wait_for("!document.querySelector('#pinned').hidden")
    await watch.wait_for("!document.querySelector('#rp-banner').hidden")
    await watch.wait_for(includes("#announcement", "Free shipping"))
    await check(watch, f"watch-{tag}")
    # the checkout sheet, its first option chosen
    await watch.click("#pinned .buy-btn")
    await watch.wait_for("document.querySelector('#checkout').open")
    await watch.wait_for("!!document.querySelector('#checkout .co-pay')")
    await check(watch, f"watch-checkout-{tag}")

    # a report for ops to see
    seq = await watch.eval("Number(document.querySelector('#chat .msg').dataset.seq)")
    reporter = token(server, f"ax_reporter_{tag}", "viewer")
    http("POST", f"{server}/api/rooms/{rid}/reports", {"seq": seq, "reason": "spam"}, reporter)

    # the studio of that room, and My shows
    studio = await open_page(browser, server, f"/studio#room={rid}", creator, *size)
    await studio.wait_for(f"document.querySelector('#room-id').textContent === {js(rid)}")
    await studio.wait_for(CONNECTED)
    item = f'#studio-shelf li[data-product="{pinned}"]'
    await studio.wait_for(f"!!document.querySelector({js(item)})")
    await studio.wait_for(has_msg("Is the kettle 1.5 l?"))
    await check(studio, f"studio-{tag}")
    shows = await open_page(browser, server, "/shows", creator, *size)
    await shows.wait_for(f"document.body.textContent.includes({js(f'Evening show {tag}')})")
    await check(shows, f"shows-{tag}")

    # ops: live rooms and the reports queue
    ops = await open_page(browser, server, "/ops", token(server, f"ax_ops_{tag}", "ops"), *size)
    await ops.wait_for(f"document.body.textContent.includes({js(f'Evening show {tag}')})")
    await ops.wait_for("document.body.textContent.includes('spam')")
    await check(ops, f"ops-{tag}")

    # the show ends: the viewer's end screen
    http("POST", f"{server}/api/rooms/{rid}/end", {}, creator)
    await watch.goto(f"{server}/watch/{rid}")
    await watch.wait_for("!document.querySelector('#end-screen').hidden")
    await check(watch, f"watch-ended-{tag}")
    for p in (page, watch, studio, shows, ops):
        assert p.errors == [], p.errors
