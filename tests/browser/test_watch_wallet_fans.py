"""The viewer's wallet, fan card and red packets on the watch page, in a real Chromium on a
phone-sized and a desktop-sized page: the balance beside the fan club with its top-up through
the payment provider (the page's top-up sheet, never the development endpoint), joining asks
first in a dialog (fee, balance, balance after; Escape cancels, nothing paid), a wallet that is
short (or became short) says by how much and offers the top-up; the fans card counts in the
right plural, shows the fan level and refreshes after chat, hearts and grabs without a click;
the red packet's shares left follow the freshest source although the "X grabbed" notices are
sampled, with a bounded number of reads.
"""

from __future__ import annotations

import asyncio
import itertools
import re

import pytest

from tests.browser.harness import (
    CONNECTED,
    DESKTOP,
    PHONE,
    Browser,
    Page,
    axe_violations,
    has_text,
    http,
    js,
    make_room,
    token,
    visible,
)
from tests.browser.test_checkout import ADDRESS
from tests.browser.test_watch_ended import fits, open_recorded

DIALOG_OPEN = "document.querySelector('#fan-club-dialog').open"
SHEET_OPEN = "document.querySelector('#topup-sheet').open"
REREAD_MS = 2000  # watch-packets.js: at most one read of a packet per this long
QUIET_WINDOW_S = 4.0


def intimacy_above(points: int) -> str:
    """The fans card shows more intimacy than ``points``."""
    return ("Number(/intimacy (\\d+)/.exec(document.querySelector('#fan-box .fan-intimacy')"
            f".textContent)?.[1] ?? -1) > {points}")


def member(base: str, creator: str, tok: str) -> bool:
    return bool(http("GET", f"{base}/api/creators/{creator}/fans", token=tok)["fan_club_member"])


def intimacy(text: str) -> int:
    found = re.search(r"intimacy (\d+)", text)
    assert found, text
    return int(found.group(1))


async def press_escape(page: Page) -> None:
    """A real key press (not a synthetic event): the dialog's own cancel behaviour."""
    await page.bring_to_front()
    await page.press("Escape")


async def pay_a_pack(page: Page, cents: str, why: str) -> None:
    """The top-up sheet (over the fan-club dialog): says what is short, a pack is paid with the
    development provider, the sheet closes."""
    await page.wait_for(SHEET_OPEN + f" && document.querySelector('#topup-sheet .topup-pack"
                        f"[data-amount=\"{cents}\"]')")
    assert why in await page.text(
        "#topup-sheet .topup-why")
    assert await axe_violations(page, "#topup-sheet") == []
    await page.click(f"#topup-sheet .topup-pack[data-amount='{cents}']")
    await page.wait_for(visible("#topup-sheet .topup-confirm"))
    await page.click("#topup-sheet .topup-confirm")
    await page.wait_for("!" + SHEET_OPEN)


async def open_fan_page(chromium: Browser, base: str, rid: str, tok: str,
                        size: tuple[int, int]) -> Page:
    page, _ = await open_recorded(chromium, base, f"/watch/{rid}", tok, size)
    await page.wait_for(CONNECTED)
    await page.wait_for(visible("#fan-box") + " && " + visible("#fan-box .fan-wallet"))
    return page


@pytest.mark.system
async def test_fan_club_asks_first_shows_the_wallet_and_tops_up(
        server: str, browser: Browser) -> None:
    creator = token(server, "wf_host", "creator", "Host")
    viewer = token(server, "wf_viewer", "viewer", "Vera")
    rid = make_room(server, creator, "Wallet show")["id"]

    # phone: an empty wallet, a follow in the singular, the dialog that cannot let her pay yet
    phone = await open_fan_page(browser, server, rid, viewer, PHONE)
    await phone.wait_for(has_text("#fan-box .fan-wallet", "Wallet ¥0.00"))
    assert await phone.eval(visible("#fan-box .fan-topup"))
    assert "0 followers" in await phone.text("#fan-box .fan-counts")
    assert await phone.text("#fan-box .fan-level") == "Fan level 0"
    await phone.click("#fan-box .fan-follow")
    await phone.wait_for(has_text("#fan-box .fan-counts", "1 follower ·"))
    assert "followers" not in await phone.text("#fan-box .fan-counts")

    await phone.click("#fan-box .fan-join")
    await phone.wait_for(DIALOG_OPEN)
    assert await phone.text("#fan-club-dialog .fc-fee") == "¥1.00"
    assert await phone.text("#fan-club-dialog .fc-balance") == "¥0.00"
    assert await phone.eval(visible("#fan-club-dialog .fc-short"))
    assert "you need ¥1.00 more" in await phone.text("#fan-club-dialog .fc-short")
    assert await phone.eval("document.querySelector('#fan-club-dialog .fc-confirm').disabled")
    assert await phone.eval(visible("#fan-club-dialog .fc-topup"))
    assert await axe_violations(phone, "#fan-club-dialog") == []
    await fits(phone)
    await phone.screenshot("watch-fan-club-short-phone")
    await press_escape(phone)
    await phone.wait_for(f"!{DIALOG_OPEN}")
    assert not member(server, "wf_host", viewer)

    await phone.click("#fan-box .fan-join")
    await phone.wait_for(DIALOG_OPEN)
    await phone.click("#fan-club-dialog .fc-topup")
    await pay_a_pack(phone, "600", "Your wallet needs ¥1.00 more")
    await phone.wait_for(has_text("#fan-club-dialog .fc-balance", "¥6.00"))
    assert await phone.text("#fan-club-dialog .fc-after") == "¥5.00"
    assert not await phone.eval(visible("#fan-club-dialog .fc-short"))
    await phone.wait_for("!document.querySelector('#fan-club-dialog .fc-confirm').disabled")
    await phone.click("#fan-club-dialog .fc-confirm")
    await phone.wait_for(f"!{DIALOG_OPEN}")
    await phone.wait_for(has_text("#fan-box .fan-join", "Fan club member"))
    await phone.wait_for(has_text("#fan-box .fan-wallet", "Wallet ¥5.00"))
    await phone.wait_for(has_text("#fan-box .fan-level", "Fan level 2"))  # 50 points for joining
    wallet = http("GET", f"{server}/api/me/wallet", token=viewer)
    assert wallet["balance"] == 500
    assert [e["from"] for e in wallet["entries"] if e["reason"] == "topup"] == ["gateway:dev"]
    assert "1 member in the fan club" in await phone.text("#fan-box .fan-counts")
    await fits(phone)
    await phone.screenshot("watch-fan-club-member-phone")

    # desktop: enough money, Escape pays nothing; then the wallet empties before the tap
    second = token(server, "wf_second", "viewer", "Sam")
    other_host = token(server, "wf_other", "creator", "Other")
    make_room(server, other_host, "Other show")
    http("POST", f"{server}/api/dev/wallet/topup", {"amount": 100}, second)
    desk = await open_fan_page(browser, server, rid, second, DESKTOP)
    await desk.wait_for(has_text("#fan-box .fan-wallet", "Wallet ¥1.00"))
    await desk.click("#fan-box .fan-join")
    await desk.wait_for(DIALOG_OPEN)
    assert await desk.text("#fan-club-dialog .fc-balance") == "¥1.00"
    assert await desk.text("#fan-club-dialog .fc-after") == "¥0.00"
    assert await desk.text("#fan-club-dialog .fc-confirm") == "Join for ¥1.00"
    assert await axe_violations(desk, "#fan-club-dialog") == []
    await desk.screenshot("watch-fan-club-confirm-desktop")
    await press_escape(desk)
    await desk.wait_for(f"!{DIALOG_OPEN}")
    assert http("GET", f"{server}/api/me/wallet", token=second)["balance"] == 100

    await desk.click("#fan-box .fan-join")
    await desk.wait_for(DIALOG_OPEN)
    http("POST", f"{server}/api/creators/wf_other/fan-club", {}, second)  # spends the ¥1.00
    await desk.click("#fan-club-dialog .fc-confirm")
    await desk.wait_for(has_text("#fan-club-dialog .fc-short", "you need ¥1.00 more"))
    assert await desk.eval(DIALOG_OPEN)
    assert await desk.text("#fan-club-dialog .fc-balance") == "¥0.00"
    assert await desk.eval(visible("#fan-club-dialog .fc-topup"))
    assert not member(server, "wf_host", second)
    assert await axe_violations(desk, "#fan-club-dialog") == []
    await fits(desk)
    await desk.screenshot("watch-fan-club-short-desktop")
    # the top-up goes through the payment provider's sheet, then joining works
    await desk.click("#fan-club-dialog .fc-topup")
    await pay_a_pack(desk, "3000", "Your wallet needs ¥1.00 more")
    await desk.wait_for(has_text("#fan-club-dialog .fc-balance", "¥30.00"))
    await desk.wait_for("!document.querySelector('#fan-club-dialog .fc-confirm').disabled")
    await desk.click("#fan-club-dialog .fc-confirm")
    await desk.wait_for(f"!{DIALOG_OPEN}")
    await desk.wait_for(has_text("#fan-box .fan-wallet", "Wallet ¥29.00"))
    assert member(server, "wf_host", second)
    # the fan box's own Top up opens the same sheet
    await desk.click("#fan-box .fan-topup")
    await desk.wait_for(SHEET_OPEN + " && " + has_text("#topup-sheet .topup-why", "Choose a pack"))
    await desk.click("#topup-sheet .topup-close")
    await desk.wait_for("!" + SHEET_OPEN)
    topups = http("GET", f"{server}/api/me/topups", token=second)["topups"]
    assert [(t["amount"], t["state"]) for t in topups] == [(3000, "paid")]
    assert phone.errors == [], phone.errors
    # the one refused join (402 insufficient_funds) is the browser's network log, not the page's
    assert [e for e in desk.errors if "402" not in e or "/fan-club" not in e] == [], desk.errors
    assert len(desk.errors) == 1, desk.errors


@pytest.mark.system
async def test_the_fans_card_follows_chat_hearts_and_grabs(
        server: str, browser: Browser) -> None:
    creator = token(server, "wi_host", "creator", "Host")
    viewer = token(server, "wi_viewer", "viewer", "Vera")
    rid = make_room(server, creator, "Intimacy show")["id"]
    page = await open_fan_page(browser, server, rid, viewer, DESKTOP)
    await page.wait_for(has_text("#fan-box .fan-intimacy", "intimacy"))
    start = intimacy(await page.text("#fan-box .fan-intimacy"))

    await page.submit("#chat-form", text="hello host")
    await page.wait_for(intimacy_above(start), within=15)
    after_chat = intimacy(await page.text("#fan-box .fan-intimacy"))

    for _ in range(3):
        await page.click("#heart")
    await page.wait_for(intimacy_above(after_chat), within=20)
    after_hearts = intimacy(await page.text("#fan-box .fan-intimacy"))

    http("POST", f"{server}/api/dev/wallet/topup", {"amount": 1000}, creator)
    packet = http("POST", f"{server}/api/rooms/{rid}/red-packets",
                  {"total": 300, "shares": 3}, creator)["packet"]
    banner = "document.querySelector('#rp-banner').dataset.packet"
    await page.wait_for(f"{banner} === {js(packet['id'])}")
    await page.wait_for("document.querySelector('#rp-banner').dataset.state === 'open'")
    await page.click("#rp-banner .rp-grab")
    await page.wait_for(has_text("#rp-banner .rp-result", "You grabbed"))
    await page.wait_for(intimacy_above(after_hearts), within=15)
    after_grab = intimacy(await page.text("#fan-box .fan-intimacy"))

    # an order paid elsewhere (its `order` event reaches this page): 10 points for buying
    product = http("POST", f"{server}/api/products", {
        "title": "Fan tea", "list_price": 500, "live_price": 500, "currency": "CNY",
        "stock": 5}, creator)
    http("POST", f"{server}/api/rooms/{rid}/shelf", {"product_id": product["id"]}, creator)
    http("PUT", f"{server}/api/me/address", ADDRESS, viewer)
    made = http("POST", f"{server}/api/rooms/{rid}/buy", {
        "product_id": product["id"], "quantity": 1, "idempotency_key": f"k_{rid}"}, viewer)
    paid = http("POST", f"{server}/api/orders/{made['order']['id']}/pay", {}, viewer)
    assert paid["state"] == "paid", paid
    await page.wait_for(intimacy_above(after_grab + 9), within=15)
    card = http("GET", f"{server}/api/creators/wi_host/fans", token=viewer)
    await page.wait_for(has_text("#fan-box .fan-intimacy", f"intimacy {card['intimacy']} "))
    wallet = http("GET", f"{server}/api/me/wallet", token=viewer)
    cents = wallet["balance"]
    shown = f"Wallet ¥{cents // 100}.{cents % 100:02d}"
    await page.wait_for(has_text("#fan-box .fan-wallet", shown))
    assert page.errors == [], page.errors


@pytest.mark.system
async def test_shares_left_follow_the_freshest_source(
        server: str, browser: Browser) -> None:
    """Notices come for the 1st, 11th, ... grab only: the banner still reaches the true count
    by reading the packet, at most once per REREAD_MS; the page's own grab answers at once."""
    creator = token(server, "wl_host", "creator", "Host")
    viewer = token(server, "wl_viewer", "viewer", "Vera")
    grabbers = [token(server, f"wl_grabber{i}", "viewer") for i in range(3)]
    rid = make_room(server, creator, "Left show")["id"]
    http("POST", f"{server}/api/dev/wallet/topup", {"amount": 10000}, creator)

    for size in (PHONE, DESKTOP):
        sent_at: list[float] = []
        page, urls = await open_recorded(browser, server, f"/watch/{rid}", viewer, size,
                                         sent_at)
        await page.wait_for(CONNECTED)
        packet = http("POST", f"{server}/api/rooms/{rid}/red-packets",
                      {"total": 600, "shares": 6}, creator)["packet"]
        pid = packet["id"]
        await page.wait_for(f"document.querySelector('#rp-banner').dataset.packet === {js(pid)}")
        await page.wait_for("document.querySelector('#rp-banner').dataset.state === 'open'")
        assert await page.eval(visible("#rp-banner"))
        await page.wait_for(has_text("#rp-banner .rp-info", "6 left"))
        for g in grabbers:  # one notice (the first grab), two grabs without one
            http("POST", f"{server}/api/red-packets/{pid}/grab", {}, g)
        await page.wait_for(has_text("#rp-banner .rp-info", "3 left"), within=15)
        await page.click("#rp-banner .rp-grab")
        await page.wait_for(has_text("#rp-banner .rp-info", "2 left"))  # the grab's reply
        await page.wait_for(has_text("#rp-banner .rp-result", "You grabbed"))
        await asyncio.sleep(QUIET_WINDOW_S)  # a window in which more reads could be made
        # the true count came from reading the packet (two grabs had no notice), and the reads
        # were never closer than REREAD_MS on the browser's own clock (timers never fire early;
        # 50 ms for when the network layer stamps each request)
        reads = [t for u, t in zip(urls, sent_at, strict=True)
                 if u.endswith(f"/api/red-packets/{pid}")]
        assert reads
        gaps_ms = [(b - a) * 1000 for a, b in itertools.pairwise(reads)]
        assert all(gap >= REREAD_MS - 50 for gap in gaps_ms), gaps_ms
        assert "2 left" in await page.text("#rp-banner .rp-info")  # never back to a staler count
        await fits(page)
        await page.screenshot(f"watch-packet-left-{size[0]}")
        assert page.errors == [], page.errors
