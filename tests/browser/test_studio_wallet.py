"""The creator's wallet in the studio, at phone and desktop size: it is topped up through the
payment provider's sheet (the development provider confirms in the page), the balance follows,
and the ledger says the money came from the provider, not from a development shortcut."""

from __future__ import annotations

import pytest

from tests.browser.harness import (
    DESKTOP,
    PHONE,
    Browser,
    axe_violations,
    has_text,
    http,
    open_page,
    token,
    visible,
)
from tests.browser.test_watch_wallet_fans import SHEET_OPEN


@pytest.mark.system
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_studio_wallet_tops_up_through_the_provider(
        server: str, browser: Browser, size: tuple[int, int]) -> None:
    creator = token(server, f"studio_wallet_{size[0]}", "creator", "Wallet Host")
    page = await open_page(browser, server, "/studio", creator, *size)
    await page.wait_for(has_text("#wallet-balance", "0.00"))
    await page.click("#wallet-topup")
    await page.wait_for(SHEET_OPEN + " && !!document.querySelector('#topup-sheet .topup-pack')")
    cents = int(await page.eval(
        "document.querySelector('#topup-sheet .topup-pack').dataset.amount"))
    assert await axe_violations(page, "#topup-sheet") == []
    await page.screenshot("studio-topup-sheet")
    await page.click(f"#topup-sheet .topup-pack[data-amount='{cents}']")
    await page.wait_for(visible("#topup-sheet .topup-confirm"))
    await page.click("#topup-sheet .topup-confirm")
    await page.wait_for("!document.querySelector('#topup-sheet').open")
    wallet = http("GET", f"{server}/api/me/wallet", token=creator)
    assert wallet["balance"] == cents
    whole = f"{cents // 100}.{cents % 100:02d}"
    await page.wait_for(has_text("#wallet-balance", whole))
    assert [e["from"] for e in wallet["entries"] if e["reason"] == "topup"] == ["gateway:dev"]
    await page.screenshot("studio-topped-up")
    assert page.errors == [], page.errors
