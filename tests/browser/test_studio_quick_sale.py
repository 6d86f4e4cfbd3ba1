"""The studio's flash-sale quick actions take a unit count: a 1-minute sale of 3 units, a
viewer buys 1, and the studio's shelf row says 2 are left while the sale runs. Units the
catalogue does not have, or that are not a whole number, are refused with why."""

from __future__ import annotations

from typing import Any

import pytest

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
    token,
)

ADDRESS = {"name": "Quick Buyer", "phone": "+86 10 5555 0102", "country": "CN",
           "city": "Hangzhou", "line1": "2 Lake Road"}


def shop(base: str, tag: str) -> tuple[str, str, str]:
    """A live room with one product (20 in the catalogue) on its shelf: token, room, product."""
    creator = token(base, f"qs_host_{tag}", "creator", "Quick Host")
    rid = str(make_room(base, creator, f"Quick sale {tag}")["id"])
    made = http("POST", f"{base}/api/products", {
        "title": f"Teapot {tag}", "list_price": 12000, "live_price": 10000, "currency": "CNY",
        "stock": 20, "per_buyer_limit": 2,
    }, creator)
    pid = str(made["id"])
    http("POST", f"{base}/api/rooms/{rid}/shelf", {"product_id": pid}, creator)
    return creator, rid, pid


async def studio(browser: Browser, base: str, rid: str, tok: str, size: tuple[int, int],
                 pid: str) -> Page:
    page = await open_page(browser, base, f"/studio#room={rid}", tok, *size)
    await page.wait_for(f"document.querySelector('#room-id').textContent === {js(rid)}")
    await page.wait_for(CONNECTED)
    await page.wait_for(f"!!document.querySelector({js(units_of(pid))})")
    return page


def item_of(pid: str) -> str:
    return f'#studio-shelf li[data-product="{pid}"]'


def units_of(pid: str) -> str:
    return f"{item_of(pid)} .sale-units"


def sale_of(base: str, rid: str, pid: str) -> dict[str, Any] | None:
    sale = http("GET", f"{base}/api/rooms/{rid}/shelf")["sales"].get(pid)
    return dict(sale) if sale else None


@pytest.mark.system
async def test_a_quick_sale_of_3_units_counts_down_what_is_left(
        server: str, browser: Browser) -> None:
    creator, rid, pid = shop(server, "desk")
    page = await studio(browser, server, rid, creator, DESKTOP, pid)
    item, units = item_of(pid), units_of(pid)
    # the field starts at what the catalogue has, and says so
    assert await page.eval(f"document.querySelector({js(units)}).value") == "20"
    assert await page.eval(f"document.querySelector({js(units)}).labels[0].textContent") == "units"

    # refused before anything is sent: more than the catalogue has, or not a whole number
    for typed, why in (("25", "Only 20 units are left"), ("0", "whole number of at least 1")):
        await page.fill(units, typed)
        await page.click(f'{item} .sale-preset[data-minutes="1"]')
        await page.wait_for(includes("#shelf-msg", why))
        assert await page.eval("document.querySelector('#shelf-msg').dataset.kind") == "error"
        assert sale_of(server, rid, pid) is None

    await page.fill(units, "3")
    await page.click(f'{item} .sale-preset[data-minutes="1"]')
    await page.wait_for(includes("#shelf-msg", "3 units, 1 min"))
    sale = sale_of(server, rid, pid)
    assert sale is not None and sale["state"] == "open" and sale["stock"] == 3, sale
    assert sale["end_at"] - sale["start_at"] == 60_000
    await page.wait_for(includes(f"{item} .sale-status", "3 of 3 left"))

    # a viewer buys one: the studio's row follows while the sale counts down
    buyer = token(server, "qs_buyer_desk", "viewer", "Quick Buyer")
    http("PUT", f"{server}/api/me/address", ADDRESS, buyer)
    made = http("POST", f"{server}/api/rooms/{rid}/buy",
                {"product_id": pid, "quantity": 1, "idempotency_key": "qs_desk_1"}, buyer)
    assert made["left"] == 2, made
    await page.wait_for(includes(f"{item} .sale-status", "2 of 3 left"))
    status = await page.text(f"{item} .sale-status")
    phase = f"document.querySelector({js(item + ' .sale-status')}).dataset.phase"
    assert await page.eval(phase) == "open"
    assert "ends in" in status or "0:" in status, status
    await page.screenshot("studio-quick-sale-2-left")
    assert page.errors == [], page.errors


@pytest.mark.system
async def test_the_units_field_sits_with_the_presets_on_a_phone(
        server: str, browser: Browser) -> None:
    creator, rid, pid = shop(server, "phone")
    page = await studio(browser, server, rid, creator, PHONE, pid)
    await page.eval(f"document.querySelector({js(item_of(pid))}).scrollIntoView()")
    controls = f"{item_of(pid)} .quick-sale input, {item_of(pid)} .quick-sale button"
    inside = await page.eval(
        f"[...document.querySelectorAll({js(controls)})]"
        ".every(e => { const r = e.getBoundingClientRect();"
        " return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth; })")
    assert inside
    await page.screenshot("studio-quick-sale-phone")
    assert page.errors == [], page.errors
