"""The ops console on a busy evening, in a real Chromium on a desktop-sized (1366×900) and a
phone-sized page: live rooms busiest first with their GMV and paid orders, a long room title on
one or two lines with its id under it (on a phone the table scrolls sideways inside its panel),
and the reports queue: a report dismissed leaves the open list (a toggle shows it again with its
state), "Delete message + ban author" names the room by its title, deletes the message so nobody
sees it, bans its author and resolves the report. axe-core checks the console.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.harness import (
    DESKTOP,
    PHONE,
    Browser,
    Page,
    axe_violations,
    has_text,
    http,
    js,
    make_room,
    open_page,
    token,
    visible,
)
from tests.browser.test_checkout import ADDRESS
from tests.helpers import Viewer

LONG_TITLE = "Spring tea tasting with the growers of West Lake, live from Hangzhou tonight"


def paid_order(base: str, creator: str, room: str, tag: str, price: int) -> None:
    """A buyer's order in ``room`` at ``price`` cents, paid with the development provider."""
    product = http("POST", f"{base}/api/products", {
        "title": f"Tea {tag}", "list_price": price, "live_price": price, "currency": "CNY",
        "stock": 10},
        creator)
    http("POST", f"{base}/api/rooms/{room}/shelf", {"product_id": product["id"]}, creator)
    buyer = token(base, f"ops_buyer_{tag}", "viewer")
    http("PUT", f"{base}/api/me/address", ADDRESS, buyer)
    made = http("POST", f"{base}/api/rooms/{room}/buy", {
        "product_id": product["id"], "quantity": 1, "idempotency_key": f"k_{tag}"}, buyer)
    paid = http("POST", f"{base}/api/orders/{made['order']['id']}/pay", {"outcome": "confirm"},
                buyer)
    assert paid["state"] == "paid", paid


def report_row(text: str) -> str:
    """The report row whose message says ``text`` (null when not listed)."""
    return (f"[...document.querySelectorAll('#reports tr')]"
            f".find(r => r.textContent.includes({js(text)}))")


async def click_in_report(page: Page, text: str, button: str) -> None:
    await page.wait_for(f"!!{report_row(text)}")
    await page.eval(f"[...{report_row(text)}.querySelectorAll('button')]"
                    f".find(b => b.textContent.startsWith({js(button)})).click()")


async def layout(page: Page, room: str) -> dict[str, Any]:
    found: dict[str, Any] = await page.eval(f"""(() => {{
      const row = document.querySelector('tr[data-room={js(room)}]');
      const title = row.querySelector('.room-title');
      const wrap = document.querySelector('#rooms-table').closest('.table-wrap');
      const lineHeight = parseFloat(getComputedStyle(title).lineHeight);
      return {{cell: row.querySelector('.room-cell').getBoundingClientRect().width,
               lines: Math.round(title.getBoundingClientRect().height / lineHeight),
               idShown: row.querySelector('.room-id').textContent,
               tableScrolls: wrap.scrollWidth > wrap.clientWidth + 1,
               pageScrolls: document.documentElement.scrollWidth > innerWidth + 1}};
    }})()""")
    return found


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_ops_console_rooms_and_reports_queue(
        server: str, browser: Browser, size: tuple[int, int]) -> None:
    tag = f"{size[0]}"
    creator = token(server, f"ops_seller_{tag}", "creator", "Seller")
    busy = make_room(server, creator, LONG_TITLE)["id"]
    quiet = make_room(server, creator, f"Quiet room {tag}")["id"]  # newer, so listed first unsorted
    paid_order(server, creator, busy, tag, 1250)
    troll = await Viewer.connect(server, busy, token(server, f"ops_troll_{tag}", "viewer"))
    reporter = await Viewer.connect(server, busy, token(server, f"ops_rep_{tag}", "viewer"))
    try:
        await troll.wait_welcome()
        await reporter.wait_welcome()
        spam = f"cheap pills {tag}"
        harmless = f"nice tea {tag}"
        for text in (spam, harmless):
            seq = (await troll.request("chat", text=text))["data"]["seq"]
            reply = await reporter.request("report", seq=seq, reason="spam")
            assert reply["type"] == "reply", reply

        ops = await open_page(browser, server, "/ops", token(server, "ops_olga", "ops", "Olga"),
                              *size)
        await ops.wait_for(f"!!document.querySelector('tr[data-room={js(busy)}]')")

        # busiest first: the older room has two people watching, the newer none
        order = (f"(() => {{ const ids = [...document.querySelectorAll('#rooms tr')]"
                 f".map(r => r.dataset.room); return ids.indexOf({js(busy)}) >= 0"
                 f" && ids.indexOf({js(busy)}) < ids.indexOf({js(quiet)}); }})()")
        await ops.wait_for(order)
        row = f"tr[data-room={js(busy)}]"
        await ops.wait_for(has_text(f"{row} td:nth-child(6)", "12.50"))
        assert (await ops.text(f"{row} td:nth-child(7)")).strip() == "1"
        assert (await ops.text(f"tr[data-room={js(quiet)}] td:nth-child(7)")).strip() == "0"

        shape = await layout(ops, busy)
        assert shape["cell"] >= 150 and 1 <= shape["lines"] <= 2, shape
        assert shape["idShown"] == busy and not shape["pageScrolls"], shape
        if size == PHONE:
            assert shape["tableScrolls"], shape
        await ops.screenshot(f"ops-rooms-{tag}")

        # dismiss the harmless report: it leaves the open list; the toggle shows it handled
        await click_in_report(ops, harmless, "Dismiss")
        await ops.wait_for(f"!{report_row(harmless)}")
        await ops.click("#reports-handled")
        await ops.wait_for(f"{report_row(harmless)}?.dataset.state === 'dismissed'")
        await ops.click("#reports-handled")
        await ops.wait_for(f"!{report_row(harmless)}")

        # delete the spam and ban its author in one action; the dialog names the room's title
        await click_in_report(ops, spam, "Delete message + ban author")
        await ops.wait_for("document.querySelector('#ban-dialog').open")
        assert await ops.text("#ban-room") == LONG_TITLE
        assert await ops.eval(visible("#ban-message"))
        await ops.eval("document.querySelector('#ban-form').requestSubmit()")
        assert await troll.wait_closed() == 4003
        await ops.wait_for("!document.querySelector('#ban-dialog').open")
        await ops.wait_for(f"!{report_row(spam)}")
        history = http("GET", f"{server}/api/rooms/{busy}/history")
        texts = [e["data"]["text"] for e in history["events"] if e["type"] == "chat"]
        assert spam not in texts and harmless in texts
        await ops.click("#reports-handled")
        await ops.wait_for(f"{report_row(spam)}?.dataset.state === 'resolved'")
        await ops.wait_for(has_text("#log", "report_resolved"))
        await ops.screenshot(f"ops-reports-{tag}")

        serious = await axe_violations(ops, "#ops")
        assert serious == [], serious
        assert ops.errors == [], ops.errors
    finally:
        for v in (troll, reporter):
            await v.close()
