"""The watch page when there is nothing (more) to watch, in a real Chromium on a phone-sized and
a desktop-sized page: the end screen of a show that ended (its length, Follow, other shows live
now, no video asked for again), the page of a show that does not exist (no video requests at
all), products taken down leaving the viewers' shelf and pinned card, and red packets that name
the luckiest only once finished and say which keyword a keyword packet needs.

Requests are counted through the DevTools Network domain (`Network.requestWillBeSent`).
"""

from __future__ import annotations

import asyncio

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
    open_page,
    token,
    visible,
)

VIDEO_PATHS = ("/video", "/whep", "/hls/")
QUIET_WINDOW_S = 3.0  # how long a finished page is watched for requests it should not make


async def open_recorded(
    chromium: Browser, base: str, path: str, tok: str | None, size: tuple[int, int],
    times: list[float] | None = None,
) -> tuple[Page, list[str]]:
    """A page at base+path (token in localStorage, None: guest) whose every request URL is
    recorded from before the navigation on (and, into ``times``, when the browser sent it, in
    its own monotonic seconds)."""
    urls: list[str] = []
    page = await open_page(chromium, base, path, tok, *size, requests=urls, times=times)
    return page, urls


def video_requests(urls: list[str]) -> list[str]:
    return [u for u in urls if any(p in u for p in VIDEO_PATHS)]


async def quiet(urls: list[str]) -> list[str]:
    """The requests made during a bounded window from now on."""
    start = len(urls)
    await asyncio.sleep(QUIET_WINDOW_S)
    return urls[start:]


async def fits(page: Page) -> None:
    assert await page.eval("document.documentElement.scrollWidth <= window.innerWidth + 1")


END_SHOWN = visible("#end-screen") + " && " + has_text("#end-screen", "This show has ended")


@pytest.mark.system
async def test_an_ended_show_has_an_end_screen(
        server: str, browser: Browser) -> None:
    """A viewer in the room when it ends, and one who opens it afterwards: the end screen with
    the show's length, Follow and the other live show; "ended" alone, no pinned card, and no
    video request after the end."""
    creator = token(server, "end_host", "creator", "Host")
    viewer = token(server, "end_viewer", "viewer", "Vera")
    rid = make_room(server, creator, "Ending show")["id"]
    other = make_room(server, token(server, "end_other", "creator"), "Other <b>show</b>")["id"]
    product = http("POST", f"{server}/api/products", {
        "title": "Pinned mug", "list_price": 1500, "live_price": 990, "currency": "CNY",
        "stock": 5}, creator)
    http("POST", f"{server}/api/rooms/{rid}/shelf", {"product_id": product["id"]}, creator)
    http("PUT", f"{server}/api/rooms/{rid}/pinned", {"product_id": product["id"]}, creator)

    desk, desk_urls = await open_recorded(browser, server, f"/watch/{rid}", viewer, DESKTOP)
    await desk.wait_for(CONNECTED)
    await desk.wait_for(visible("#pinned") + " && " + has_text("#pinned", "Now explaining"))
    await desk.wait_for("document.querySelector('#player').livePlayer.mode === 'waiting'")
    assert not await desk.eval(visible("#end-screen"))

    http("POST", f"{server}/api/rooms/{rid}/end", {}, creator)
    await desk.wait_for(END_SHOWN)
    assert await desk.text("#state") == "ended"
    assert not await desk.eval(visible("#conn"))  # no green "live" beside "ended"
    assert not await desk.eval(visible("#pinned"))
    assert not await desk.eval(visible("#player"))
    assert await desk.eval("document.querySelector('#player').livePlayer.mode") == "ended"
    assert "It lasted" in await desk.text("#end-screen .end-length")
    link = f"/watch/{other}"
    await desk.wait_for(f"!!document.querySelector('#end-screen a[href={js(link)}]')")
    assert await desk.text(f"#end-screen a[href={js(link)}]") == "Other <b>show</b>"
    assert not await desk.eval(f"!!document.querySelector('#end-screen a[href=\"/watch/{rid}\"]')")
    assert await desk.eval("document.querySelectorAll('#end-screen b').length") == 0
    assert video_requests(await quiet(desk_urls)) == []

    # Follow from the end screen: the host's fan card says so
    await desk.click("#end-screen .fan-follow")
    await desk.wait_for(has_text("#end-screen .fan-follow", "Following"))
    fans = http("GET", f"{server}/api/creators/end_host/fans", token=viewer)
    assert fans["following"] is True
    assert await axe_violations(desk, "#end-screen") == []
    await fits(desk)
    await desk.screenshot("watch-ended-desktop")

    # a phone opening the ended show: the end screen at once, the video never asked for
    phone, phone_urls = await open_recorded(browser, server, f"/watch/{rid}", None, PHONE)
    await phone.wait_for(END_SHOWN)
    assert await phone.text("#state") == "ended"
    assert not await phone.eval(visible("#conn"))
    assert not await phone.eval(visible("#pinned"))
    assert "It lasted" in await phone.text("#end-screen .end-length")
    await phone.wait_for(f"!!document.querySelector('#end-screen a[href={js(link)}]')")
    await quiet(phone_urls)
    assert video_requests(phone_urls) == []
    assert await phone.eval(
        "document.querySelector('#end-screen').getBoundingClientRect().top < window.innerHeight")
    assert await axe_violations(phone, "#end-screen") == []
    await fits(phone)
    await phone.screenshot("watch-ended-phone")
    for p in (desk, phone):
        assert p.errors == [], p.errors


@pytest.mark.system
async def test_a_missing_show_says_so_and_asks_for_no_video(
        server: str, browser: Browser) -> None:
    for size in (PHONE, DESKTOP):
        page, urls = await open_recorded(browser, server, "/watch/no-such-show-13", None, size)
        await page.wait_for(visible("#end-screen")
                            + " && " + has_text("#end-screen", "This show does not exist"))
        assert await page.eval("!!document.querySelector('#end-screen a[href=\"/\"]')")
        assert not await page.eval(visible("#player"))
        assert not await page.eval(visible(".watch > .chat"))  # nothing to chat about
        later = await quiet(urls)
        assert video_requests(later) == [], later
        assert video_requests(urls) == [], urls
        assert await axe_violations(page, "#end-screen") == []
        await fits(page)
        await page.screenshot(f"watch-missing-{size[0]}")
        assert page.errors == [], page.errors


@pytest.mark.system
async def test_taken_down_products_leave_the_viewers_shelf(
        server: str, browser: Browser) -> None:
    """Taken down: gone from the shelf and the pinned card at once and on load; restored: back."""
    creator = token(server, "td_host", "creator", "Host")
    ops = token(server, "td_ops", "ops")
    rid = make_room(server, creator, "Take-down show")["id"]
    pids = []
    for title in ("Kept cup", "Banned <i>bowl</i>"):
        pids.append(http("POST", f"{server}/api/products", {
            "title": title, "list_price": 1500, "live_price": 990, "currency": "CNY",
            "stock": 5}, creator)["id"])
        http("POST", f"{server}/api/rooms/{rid}/shelf", {"product_id": pids[-1]}, creator)
    kept, banned = pids
    http("PUT", f"{server}/api/rooms/{rid}/pinned", {"product_id": banned}, creator)
    item = f"#shelf li[data-product={js(banned)}]"
    kept_item = f"#shelf li[data-product={js(kept)}]"

    pages = []
    for size in (PHONE, DESKTOP):
        page, _ = await open_recorded(browser, server, f"/watch/{rid}", None, size)
        await page.wait_for(CONNECTED)
        await page.wait_for(f"!!document.querySelector({js(item)})")
        await page.wait_for(visible("#pinned") + " && " + has_text("#pinned", "Banned <i>bowl</i>"))
        assert await page.text("#shelf-count") == "2"
        pages.append(page)

    http("POST", f"{server}/api/products/{banned}/takedown", {"reason": "test"}, ops)
    for page in pages:
        await page.wait_for(f"!document.querySelector({js(item)})")
        await page.wait_for(f"!{visible('#pinned')}")
        assert await page.eval(f"!!document.querySelector({js(kept_item)})")
        assert await page.text("#shelf-count") == "1"
        assert "taken down" not in (await page.text("#shelf")).lower()

    fresh, _ = await open_recorded(browser, server, f"/watch/{rid}", None, PHONE)
    await fresh.wait_for(CONNECTED)
    await fresh.wait_for(f"!!document.querySelector({js(kept_item)})")
    assert not await fresh.eval(f"!!document.querySelector({js(item)})")
    assert not await fresh.eval(visible("#pinned"))
    await fresh.screenshot("watch-taken-down-phone")

    http("POST", f"{server}/api/products/{banned}/restore", {}, ops)
    for page in (*pages, fresh):
        await page.wait_for(f"!!document.querySelector({js(item)})")
        await page.wait_for(visible("#pinned") + " && " + has_text("#pinned", "Banned <i>bowl</i>"))
        assert await page.eval("document.querySelectorAll('#shelf i, #pinned i').length") == 0
        assert page.errors == [], page.errors


@pytest.mark.system
async def test_red_packets_luckiest_when_finished_and_the_keyword_refusal(
        server: str, browser: Browser) -> None:
    creator = token(server, "rpx_host", "creator", "Host")
    viewer = token(server, "rpx_viewer", "viewer", "Vera")
    second = token(server, "rpx_second", "viewer", "Sam")
    rid = make_room(server, creator, "Packets show")["id"]
    http("POST", f"{server}/api/dev/wallet/topup", {"amount": 10000}, creator)

    page, _ = await open_recorded(browser, server, f"/watch/{rid}", viewer, PHONE)
    await page.wait_for(CONNECTED)
    first = http("POST", f"{server}/api/rooms/{rid}/red-packets",
                 {"total": 200, "shares": 2}, creator)["packet"]
    banner = f"#rp-banner[data-packet={js(first['id'])}]"
    await page.wait_for(f"!!document.querySelector({js(banner)})")
    await page.wait_for("document.querySelector('#rp-banner').dataset.state === 'open'")
    await page.click("#rp-banner .rp-grab")
    await page.wait_for(has_text("#rp-banner .rp-result", "You grabbed"))
    await page.click("#rp-banner .btn-small")  # the record, while one share is left
    await page.wait_for("!!document.querySelector('#rp-banner .rp-record li[data-user]')")
    assert not await page.eval("!!document.querySelector('#rp-banner .rp-luckiest')")
    assert "luckiest" not in (await page.text("#rp-banner")).lower()

    http("POST", f"{server}/api/red-packets/{first['id']}/grab", {}, second)  # the last share
    await page.wait_for("document.querySelector('#rp-banner').dataset.state === 'finished'")
    await page.wait_for(has_text("#rp-banner .rp-grabbed", "Luckiest"))
    await page.click("#rp-banner .btn-small")  # the record again, now finished
    lucky = "#rp-banner .rp-record li .rp-luckiest"
    await page.wait_for(f"!!document.querySelector({js(lucky)})")
    assert await page.eval(f"document.querySelectorAll({js(lucky)}).length") == 1

    keyword = "hello <b>13</b>"
    kp = http("POST", f"{server}/api/rooms/{rid}/red-packets",
              {"total": 300, "shares": 3, "condition": "keyword", "keyword": keyword},
              creator)["packet"]
    banner = f"#rp-banner[data-packet={js(kp['id'])}]"
    await page.wait_for(f"!!document.querySelector({js(banner)})")
    await page.wait_for("!document.querySelector('#rp-banner .rp-grab').disabled")
    await page.click("#rp-banner .rp-grab")
    await page.wait_for(has_text("#rp-banner .rp-result", f"Say “{keyword}” in the chat"))
    assert await page.eval("document.querySelectorAll('#rp-banner b').length") == 0
    await page.screenshot("watch-packet-keyword-phone")
    assert page.errors == [], page.errors
