"""A live auction in a real Chromium at phone and desktop size: the creator starts it from the
studio's Auctions tab (15 s, sudden death); on the watch page the card over the video shows the
item, the price and a countdown; a quick bid leads ("You're winning"), another viewer outbids
("You've been outbid"), a bid with a maximum takes the lead back; the studio follows the price;
ops see it among the live auctions; at the end the winner's Pay opens the checkout sheet with
the reserved order, which is paid."""

from __future__ import annotations

import pytest

from tests.browser.harness import (
    CONNECTED,
    DESKTOP,
    PHONE,
    Browser,
    has_text,
    http,
    make_room,
    open_page,
    serious_violations,
    token,
    visible,
)

CARD = "#auction-card"
ADDRESS = {"name": "Vic Buyer", "phone": "+86 138 0000 0000", "country": "CN",
           "region": "Zhejiang", "city": "Hangzhou", "line1": "1 Tea Road", "line2": "",
           "postal_code": "310000"}


@pytest.mark.system
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_an_auction_from_the_studio_to_the_winners_payment(
        server: str, browser: Browser, size: tuple[int, int]) -> None:
    tag = "p" if size == PHONE else "d"
    creator = token(server, f"ah_{tag}", "creator", "Host")
    vic = token(server, f"av_{tag}", "viewer", "Vic")
    bo = token(server, f"ab_{tag}", "viewer", "Bo")
    ops = token(server, f"ao_{tag}", "ops", "Olga")
    rid = make_room(server, creator, "Auction show")["id"]
    product = http("POST", f"{server}/api/products", {
        "title": "Teapot", "list_price": 5000, "live_price": 5000, "stock": 2,
        "per_buyer_limit": 2, "commission_bp": 1000}, creator)
    http("POST", f"{server}/api/rooms/{rid}/shelf", {"product_id": product["id"]}, creator)
    http("PUT", f"{server}/api/me/address", ADDRESS, vic)

    studio = await open_page(browser, server, f"/studio#room={rid}", creator, *size)
    await studio.wait_for(visible("#tab-auctions-tab"), within=15)
    await studio.click("#tab-auctions-tab")
    await studio.wait_for(visible("#auction-section .auction-form"))
    await studio.wait_for("document.querySelector('#auction-section [name=product_id]')"
                          ".options.length === 1")
    await studio.fill("#auction-section [name=start]", "10.00")
    await studio.eval("(() => { const f = document.querySelector('#auction-section form');"
                      " f.duration.value = '15000'; f.mode.value = 'sudden_death'; })()")
    await studio.click("#auction-section button[type=submit]")
    await studio.wait_for(has_text("#auction-section .auction-live", "starts at ¥10.00"))
    await studio.screenshot(f"studio-auction-started-{tag}")
    assert await serious_violations(studio) == []

    page = await open_page(browser, server, f"/watch/{rid}", vic, *size)
    await page.wait_for(CONNECTED)
    await page.wait_for(visible(CARD))
    await page.wait_for(has_text(f"{CARD} .auction-title", "Teapot"))
    await page.wait_for(has_text(f"{CARD} .auction-bid", "Bid ¥10.00"))
    # the card counts down the auction's 15 s (how far, depends on how long the page took)
    await page.wait_for(f"/^0:(0[1-9]|1[0-5])$/.test(document.querySelector('{CARD} "
                        ".auction-clock').textContent)")
    await page.screenshot(f"auction-card-{tag}")
    assert await serious_violations(page) == []
    await page.click(f"{CARD} .auction-bid")
    await page.wait_for(has_text(f"{CARD} .auction-state", "You're winning"))
    await page.wait_for(has_text(f"{CARD} .auction-price", "¥10.00"))

    other = await open_page(browser, server, f"/watch/{rid}", bo, *DESKTOP)
    await other.wait_for(CONNECTED)
    await other.wait_for(has_text(f"{CARD} .auction-bid", "Bid ¥11.00"))
    await other.click(f"{CARD} .auction-bid")
    await other.wait_for(has_text(f"{CARD} .auction-state", "You're winning"))
    await page.wait_for(has_text(f"{CARD} .auction-state", "You've been outbid"))
    await page.wait_for(has_text(f"{CARD} .auction-leader", "Bo"))
    await page.screenshot(f"auction-outbid-{tag}")
    # a quick bid with a maximum: the server bids for Vic up to it
    await page.fill(f"{CARD} .auction-max", "20.00")
    await page.click(f"{CARD} .auction-bid")
    await page.wait_for(has_text(f"{CARD} .auction-state", "You're winning"))
    await page.wait_for(has_text(f"{CARD} .auction-price", "¥12.00"))
    await other.wait_for(has_text(f"{CARD} .auction-state", "You've been outbid"))
    await other.wait_for(has_text(f"{CARD} .auction-bid", "Bid ¥13.00"))
    await studio.wait_for(has_text("#auction-section .auction-live", "¥12.00"))
    await studio.wait_for(has_text("#auction-section .auction-live", "leading: Vic"))

    console = await open_page(browser, server, "/ops", ops, *size)
    await console.wait_for(has_text("#auctions-section", "Teapot"), within=15)
    await console.screenshot(f"ops-auctions-{tag}")

    # the end (by the server's clock): Vic won at 12.00 and pays through the checkout sheet
    await page.wait_for(visible(f"{CARD} .auction-pay"), within=30)
    assert "¥12.00" in await page.text(f"{CARD} .auction-pay")
    await page.wait_for(has_text(f"{CARD} .auction-state", "You won"))
    await other.wait_for(has_text(f"{CARD} .auction-clock", "sold"))
    await page.screenshot(f"auction-won-{tag}")
    assert await serious_violations(page) == []
    await page.click(f"{CARD} .auction-pay")
    await page.wait_for("document.querySelector('#checkout').open")
    await page.wait_for(has_text("#checkout .co-pay", "12.00"))
    await page.click("#checkout .co-pay")
    await page.wait_for("document.querySelector('#checkout .co-result')?.dataset.state"
                        " === 'paid'", within=15)
    await page.screenshot(f"auction-paid-{tag}")
    orders = http("GET", f"{server}/api/me/orders", None, vic)["orders"]
    won = [o for o in orders if o.get("auction_id")]
    assert [(o["state"], o["amount"]) for o in won] == [("paid", 1200)]
    await studio.wait_for(has_text("#auction-section .auction-past", "sold and paid"),
                          within=15)
    errors = page.errors + other.errors + studio.errors + console.errors
    assert errors == [], errors
