"""The show report in the pages, in a real Chromium against a real server: the creator ends a
show in the studio and the report appears at once with its charts drawn (Chart.js, vendored)
and the GMV a buyer paid; My shows lists the show and opens the same report; ops reach it from
the ops console's link. On a phone-sized page (390×844) and a desktop-sized one."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.browser.harness import (
    Browser,
    Page,
    http,
    includes,
    js,
    make_room,
    open_page,
    token,
)

PHONE, DESKTOP = (390, 844), (1300, 1100)
ADDRESS = {"name": "Pat Buyer", "phone": "+86 10 5555 0000", "country": "CN",
           "city": "Shanghai", "line1": "9 Report Road"}
CHARTS_DRAWN = ("[...document.querySelectorAll('#report-section .sr-chart canvas')]"
                ".filter(c => c.width > 0 && c.height > 0 && window.Chart?.getChart(c)).length")


def a_show_with_a_sale(base: str, creator: str, buyer: str, title: str) -> dict[str, Any]:
    """A live room whose viewer bought two units at 12.34 and paid (development provider)."""
    made = http("POST", f"{base}/api/products", {
        "title": "Report tea", "list_price": 2000, "live_price": 1500, "stock": 50,
        "per_buyer_limit": 5}, creator)
    room = make_room(base, creator, title)
    rid = room["id"]
    http("POST", f"{base}/api/rooms/{rid}/shelf", {"product_id": made["id"]}, creator)
    http("POST", f"{base}/api/rooms/{rid}/sales", {
        "product_id": made["id"], "price": 1234, "stock": 10,
        "end_at": int(time.time() * 1000) + 3_600_000}, creator)
    http("PUT", f"{base}/api/me/address", ADDRESS, buyer)
    http("GET", f"{base}/api/rooms/{rid}/products/{made['id']}", None, buyer)
    order = http("POST", f"{base}/api/rooms/{rid}/buy", {
        "product_id": made["id"], "quantity": 2, "idempotency_key": f"k-{rid}"}, buyer)["order"]
    paid = http("POST", f"{base}/api/orders/{order['id']}/pay", {}, buyer)
    assert paid["state"] == "paid", paid
    return dict(room)


async def report_shown(page: Page, gmv_text: str) -> None:
    await page.wait_for("!document.querySelector('#report-section').hidden")
    await page.wait_for(includes("#report-section [data-figure=gmv] b", gmv_text))
    await page.wait_for(f"{CHARTS_DRAWN} === 3")
    assert await page.eval("document.querySelectorAll('#report-section .sr-products tbody tr')"
                           ".length") == 1
    assert "Report tea" in await page.text("#report-section .sr-products tbody")


@pytest.mark.system
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_the_studio_shows_the_report_when_the_show_ends(
        server: str, browser: Browser, size: tuple[int, int]) -> None:
    who = f"rep_{size[0]}"
    creator = token(server, f"{who}_c", "creator", "Report Creator")
    buyer = token(server, f"{who}_b", "viewer")
    room = a_show_with_a_sale(server, creator, buyer, f"Report show {size[0]}")
    rid = room["id"]

    studio = await open_page(browser, server, f"/studio#room={rid}", creator, *size)
    await studio.wait_for("document.querySelector('#state').textContent === 'live'")
    # while live the report is there on demand, with live figures
    await studio.wait_for("!document.querySelector('#report-open').hidden")
    assert await studio.eval("document.querySelector('#report-section').hidden")
    await studio.click("#report-open")
    await report_shown(studio, "24.68")
    assert "live figures" in await studio.text("#report-section")

    await studio.click("#end")  # the confirm is accepted
    await studio.wait_for("document.querySelector('#state').textContent === 'ended'")
    await studio.wait_for(includes("#report-section", "final"))
    await report_shown(studio, "24.68")
    for figure, text in (("orders", "1"), ("buyers", "1"), ("units", "2")):
        assert (await studio.text(f"#report-section [data-figure={figure}] b")) == text
    # nothing sticks out sideways on a phone
    assert await studio.eval("document.documentElement.scrollWidth <= window.innerWidth + 1")
    await studio.screenshot(f"report-studio-{size[0]}")

    # My shows: the show is listed, its report opens there too
    shows = await open_page(browser, server, "/shows", creator, *size)
    await shows.wait_for(f"!!document.querySelector('#shows-list tr[data-room={js(rid)}]')")
    assert "24.68" in await shows.text(f"#shows-list tr[data-room={js(rid)}]")
    await shows.wait_for("!!window.Chart?.getChart(document.querySelector('#shows-canvas'))")
    await shows.eval(f"document.querySelector('#shows-list tr[data-room={js(rid)}] button')"
                     ".click()")
    await report_shown(shows, "24.68")
    assert await shows.eval("document.documentElement.scrollWidth <= window.innerWidth + 1")
    await shows.screenshot(f"report-shows-{size[0]}")
    for p in (studio, shows):
        assert p.errors == [], p.errors


@pytest.mark.system
async def test_ops_open_any_report_and_others_are_refused(
        server: str, browser: Browser) -> None:
    creator = token(server, "rep_ops_c", "creator")
    buyer = token(server, "rep_ops_b", "viewer")
    room = a_show_with_a_sale(server, creator, buyer, "Report for ops")
    rid = room["id"]
    ops = await open_page(browser, server, "/ops", token(server, "rep_ops", "ops", "Ops"),
                          1400, 1100)
    link = f"#rooms tr[data-room={js(rid)}] a[href^='/shows?room=']"
    await ops.wait_for(f"!!document.querySelector({js(link)})")
    href = await ops.eval(f"document.querySelector({js(link)}).getAttribute('href')")
    page = await open_page(browser, server, href, token(server, "rep_ops", "ops", "Ops"))
    await report_shown(page, "24.68")
    # another creator is refused with a readable message, and sees no figures
    other = await open_page(browser, server, f"/shows?room={rid}",
                            token(server, "rep_other", "creator"))
    await other.wait_for("!document.querySelector('#report-section').hidden")
    await other.wait_for(includes("#report-section .msg", "not allowed"))
    assert await other.eval("document.querySelectorAll('#report-section [data-figure]')"
                            ".length") == 0
    for p in (ops, page):
        assert p.errors == [], p.errors
