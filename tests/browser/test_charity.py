"""Charity shows in a real Chromium at phone and desktop size: ops registers a beneficiary in
the console; the creator makes the live room a charity show in the studio's Charity tab (a
beneficiary, a percentage, gifts); viewers see the badge with "10% of gifts go to ..."; a gift
earmarks its share, the studio shows the total and the locked terms, and the public receipt
page lists the totals and how to check them. axe on every page."""

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


@pytest.mark.system
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_charity_show_from_ops_to_studio_badge_and_receipt(
        server: str, browser: Browser, size: tuple[int, int]) -> None:
    tag = f"{size[0]}"
    ops = token(server, f"co_{tag}", "ops", "Olga")
    creator = token(server, f"ch_{tag}", "creator", "Host")
    viewer = token(server, f"cv_{tag}", "viewer", "Gina")
    name = f"Clean Water {tag}"
    rid = make_room(server, creator, "Charity show")["id"]

    console = await open_page(browser, server, "/ops", ops, *size)
    await console.wait_for(visible("#ben-form"), within=15)
    await console.fill("#ben-name", name)
    await console.fill("#ben-description", "Wells for villages")
    await console.fill("#ben-url", "https://water.example.org")
    await console.click("#ben-form button[type=submit]")
    await console.wait_for(has_text("#ops-charity-bens", name))
    ben = next(b["id"] for b in http("GET", f"{server}/api/charity/beneficiaries")[
        "beneficiaries"] if b["name"] == name)
    await console.screenshot("ops beneficiary added")
    assert await serious_violations(console) == []

    studio = await open_page(browser, server, f"/studio#room={rid}", creator, *size)
    await studio.wait_for(visible("#tab-charity-tab"), within=15)
    await studio.click("#tab-charity-tab")
    await studio.wait_for(visible("#charity-form") + f" && !!document.querySelector("
                          f"'#charity-ben option[value={ben}]')")
    await studio.fill("#charity-ben", ben)
    await studio.fill("#charity-percent", "10")
    await studio.click("#charity-src-gifts")
    await studio.click("#charity-save")
    await studio.wait_for(has_text("#charity-status", f"10% of gifts go to {name}."))
    await studio.screenshot("studio charity terms saved")
    assert await serious_violations(studio) == []

    page = await open_page(browser, server, f"/watch/{rid}", viewer, *size)
    await page.wait_for(CONNECTED)
    await page.wait_for(visible("#charity-badge")
                        + " && " + has_text("#charity-badge", f"10% of gifts go to {name}"))
    await page.screenshot("watch charity badge")
    assert await serious_violations(page) == []

    http("POST", f"{server}/api/dev/wallet/topup", {"amount": 1000}, viewer)
    sent = http("POST", f"{server}/api/rooms/{rid}/gifts", {"gift_id": "heart"}, viewer)
    assert sent["amount"] == 100
    # the creator's share is 70 cents: 10 % of it, rounded down, is 7
    await studio.wait_for(has_text("#charity-total", "¥0.07") + " && "
                          + has_text("#charity-status", "Locked"), within=20)
    assert await studio.eval("document.querySelector('#charity-save').disabled")
    await studio.screenshot("studio charity locked with its total")

    receipt = await open_page(browser, server, f"/charity/{rid}", None, *size)
    await receipt.wait_for(has_text("#charity-beneficiary", name))
    await receipt.wait_for(has_text("#charity-total", "¥0.07")
                           + " && " + has_text("#charity-terms", "10% of gifts go to"))
    await receipt.wait_for(has_text("#charity-statement", "audit"))
    assert await receipt.eval("document.querySelector('#charity-entries').getAttribute"
                              "('href')") == f"/api/rooms/{rid}/charity/entries"
    await receipt.screenshot("public receipt")
    assert await serious_violations(receipt) == []

    http("POST", f"{server}/api/rooms/{rid}/end", {}, creator)
    await page.wait_for(visible("#end-screen") + " && "
                        + has_text("#end-screen", "earmarked ¥0.07 for"), within=15)
    await page.screenshot("end screen with the charity total")
    errors = console.errors + studio.errors + page.errors + receipt.errors
    assert errors == []
