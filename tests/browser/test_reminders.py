"""Show reminders in a real Chromium at phone (390×844) and desktop (1366×900) size: a guest's
"Remind me" on the landing page opens the login box and counts once logged in ("Reminder set",
the count goes up, the server has it), a second click cancels; the watch page of a scheduled
show offers the same toggle; a viewer watching another room sees "<title> is live now — Watch"
when a show they wait for starts, and the link takes them there; the studio shows the count."""

from __future__ import annotations

import time

import pytest

from tests.browser.harness import (
    CONNECTED,
    DESKTOP,
    PHONE,
    Browser,
    Page,
    has_text,
    http,
    js,
    make_room,
    open_page,
    serious_violations,
    token,
    visible,
)

HOUR_MS = 3_600_000


def scheduled(base: str, creator: str, title: str) -> str:
    at = int(time.time() * 1000) + 3 * HOUR_MS
    room = http("POST", f"{base}/api/rooms", {"title": title, "scheduled_at": at}, creator)
    return str(room["id"])


def button(rid: str) -> str:
    return f".remind-btn[data-room={js(rid)}]"


def reminded(base: str, tok: str) -> list[str]:
    return [r["id"] for r in http("GET", f"{base}/api/me/reminders", token=tok)["rooms"]]


async def log_in(page: Page, user: str) -> None:
    """The header's login box, as a person fills it in."""
    await page.wait_for(visible(".auth-panel"))
    await page.fill(".auth-panel input[name=user]", user)
    await page.click(".auth-panel form button[type=submit]")


@pytest.mark.system
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_a_guest_asks_for_a_reminder_on_the_landing_page(
        server: str, browser: Browser, size: tuple[int, int]) -> None:
    suffix = f"{size[0]}"
    creator = token(server, f"rm_host{suffix}", "creator", "Host")
    rid = scheduled(server, creator, f"Tea tasting {suffix}")
    page = await open_page(browser, server, "/", None, *size)
    await page.wait_for(visible(button(rid)))
    assert await page.text(button(rid)) == "Remind me"
    await page.wait_for(has_text(f"li:has({button(rid)}) .remind-count", "0 waiting"))
    await page.screenshot("landing-remind-me")

    await page.click(button(rid))  # a guest: the login box first, then the click counts
    await log_in(page, f"rm_viewer{suffix}")
    await page.wait_for(has_text(button(rid), "Reminder set"))
    assert await page.eval(f"document.querySelector({js(button(rid))})"
                           ".getAttribute('aria-pressed')") == "true"
    await page.wait_for(has_text(f"li:has({button(rid)}) .remind-count", "1 waiting"))
    viewer = token(server, f"rm_viewer{suffix}", "viewer")
    assert rid in reminded(server, viewer)
    await page.screenshot("landing-reminder-set")
    assert await serious_violations(page) == []

    # a reload remembers it; a second click cancels
    await page.goto(f"{server}/")
    await page.wait_for(has_text(button(rid), "Reminder set"))
    await page.click(button(rid))
    await page.wait_for(has_text(button(rid), "Remind me"))
    await page.wait_for(has_text(f"li:has({button(rid)}) .remind-count", "0 waiting"))
    assert rid not in reminded(server, viewer)
    assert page.errors == []


@pytest.mark.system
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_the_start_reaches_a_viewer_in_another_room(
        server: str, browser: Browser, size: tuple[int, int]) -> None:
    suffix = f"{size[0]}"
    creator = token(server, f"rs_host{suffix}", "creator", "Host")
    viewer = token(server, f"rs_viewer{suffix}", "viewer", "Vera")
    title = f"Night market {suffix}"
    rid = scheduled(server, creator, title)

    # the scheduled show's own watch page offers the toggle
    page = await open_page(browser, server, f"/watch/{rid}", viewer, *size)
    await page.wait_for(visible(f"#remind-box {button(rid)}"))
    await page.click(button(rid))
    await page.wait_for(has_text(button(rid), "Reminder set"))
    await page.wait_for(has_text("#remind-box .remind-count", "1 waiting"))
    await page.screenshot("watch-scheduled-reminder-set")
    assert await serious_violations(page) == []

    # the studio shows how many wait
    studio = await open_page(browser, server, f"/studio#room={rid}", creator, *size)
    await studio.wait_for(has_text("#reminders-count", "1 viewer waiting"))
    await studio.screenshot("studio-reminder-count")

    # watching another show when it starts: the notice, and its link
    other = make_room(server, creator, f"Elsewhere {suffix}")["id"]
    await page.goto(f"{server}/watch/{other}")
    await page.wait_for(CONNECTED)
    http("POST", f"{server}/api/rooms/{rid}/start", {}, creator)
    await page.wait_for(visible("#show-starting"))
    shown = await page.eval("document.querySelector('#show-starting').innerText"
                            ".replace(/\\s+/g, ' ')")
    assert shown.startswith(f"{title} is live now — Watch"), shown
    await page.screenshot("watch-show-starting")
    assert await serious_violations(page) == []
    await page.click("#show-starting a")
    await page.wait_for(f"location.pathname === {js(f'/watch/{rid}')}")
    await page.wait_for(has_text("#title", title))
    assert not await page.eval(visible("#remind-box"))  # live: nothing to be reminded of
    assert page.errors == []
