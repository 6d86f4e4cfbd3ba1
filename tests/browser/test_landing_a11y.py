"""The landing page, the login that resumes what the viewer was doing, and accessibility, in a
real Chromium on a phone-sized and a desktop-sized page.

A guest sees what the site is, the live shows and the upcoming ones with their time, and no
Studio or Ops links; a creator sees Studio, ops see Ops. A guest who taps Follow, or "Log in"
to chat, gets the login box, and once logged in the follow is done and the chat box is ready
without tapping again. A report asks for its reason in a dialog (Escape closes it unsent).
axe-core (vendored under tests/browser/vendor/, injected, never served) finds no serious or
critical violation on /, /watch/<room> and /studio, in light and dark.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.browser.harness import (
    CONNECTED,
    DESKTOP,
    PHONE,
    Browser,
    Page,
    has_msg,
    http,
    js,
    make_room,
    open_page,
    serious_violations,
    token,
)

SIZES = pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
NAV = "[...document.querySelectorAll('#top nav a')].map(a => a.textContent)"
DIALOG_OPEN = "!!document.querySelector('dialog.reason-dialog')?.open"


async def dark(page: Page) -> None:
    await page.pw.emulate_media(color_scheme="dark")
    await page.wait_for("matchMedia('(prefers-color-scheme: dark)').matches")


@pytest.mark.system
@SIZES
async def test_landing_page_says_what_it_is_and_lists_upcoming_shows(
    server: str, browser: Browser, size: tuple[int, int]
) -> None:
    tag = f"{size[0]}"
    creator = token(server, f"land_host_{tag}", "creator", "Host")
    live = make_room(server, creator, f"On air now {tag}")
    at = int(time.time() * 1000) + 3 * 3_600_000 + 30 * 60_000  # three and a half hours
    upcoming: dict[str, Any] = http(
        "POST", f"{server}/api/rooms", {"title": f"Friday <b>drop</b> {tag}", "scheduled_at": at},
        creator,
    )

    page = await open_page(browser, server, "/", None, *size)
    assert "watch" in (await page.text("#intro")) and "buy" in (await page.text("#intro"))
    await page.wait_for(f"[...document.querySelectorAll('.room-title')]"
                        f".some(e => e.textContent === {js(live['title'])})")
    item = (f"[...document.querySelectorAll('#upcoming li')]"
            f".find(li => li.querySelector('a')?.textContent === {js(upcoming['title'])})")
    await page.wait_for(f"!!{item}")
    link = f"/watch/{upcoming['id']}"
    assert await page.eval(f"{item}.querySelector('a').getAttribute('href')") == link
    assert await page.eval(f"Date.parse({item}.querySelector('time').dateTime)") == at
    shown = await page.eval(f"{item}.querySelector('time').textContent")
    assert re.search(r"· in 3 h (29|30) min$", shown), shown
    assert await page.eval("document.querySelectorAll('#upcoming b').length") == 0
    # a guest is not offered the creator's or the staff's pages
    assert await page.eval(NAV) == ["Live", "API"]
    assert await page.eval("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert await serious_violations(page) == []
    await dark(page)
    assert await serious_violations(page) == []
    await page.screenshot(f"landing-{tag}")
    assert page.errors == [], page.errors

    as_creator = await open_page(browser, server, "/", creator, *size)
    await as_creator.wait_for(f"{NAV}.includes('Studio')")
    assert await as_creator.eval(NAV) == ["Live", "Studio", "My shows", "API"]
    as_ops = await open_page(browser, server, "/", token(server, f"land_ops_{tag}", "ops"), *size)
    await as_ops.wait_for(f"{NAV}.includes('Ops')")
    assert await as_ops.eval(NAV) == ["Live", "Ops", "API"]


async def dev_login(page: Page, user: str) -> None:
    """Log in from the header's open login box (the development login)."""
    await page.wait_for("!document.querySelector('.auth-panel').hidden")
    await page.submit(".auth-panel form", user=user, name=user.title())


@pytest.mark.system
@SIZES
async def test_an_action_that_needed_a_login_runs_after_it(
    server: str, browser: Browser, size: tuple[int, int]
) -> None:
    tag = f"{size[0]}"
    creator = token(server, f"resume_host_{tag}", "creator", "Host")
    rid = make_room(server, creator, f"Resume {tag}")["id"]
    page = await open_page(browser, server, f"/watch/{rid}", None, *size)
    await page.wait_for(CONNECTED)
    await page.wait_for("!document.querySelector('#fan-box').hidden")
    assert await serious_violations(page) == []

    # Follow as a guest: the login box opens; after the login the follow is done, no reload
    await page.eval("window.sameDocument = true")
    await page.click(".fan-follow")
    await dev_login(page, f"resume_fan_{tag}")
    await page.wait_for("document.querySelector('.fan-follow').textContent.startsWith('Following')")
    card = http("GET", f"{server}/api/creators/resume_host_{tag}/fans",
                token=token(server, f"resume_fan_{tag}", "viewer"))
    assert card["following"] is True
    assert await page.eval("window.sameDocument") is True
    await page.wait_for("document.querySelector('.auth-name')?.textContent === "
                        f"{js(f'Resume_Fan_{tag}')}")

    # chat: "Log in" under the chat, and the box is ready to type in afterwards
    chat = await open_page(browser, server, f"/watch/{rid}", None, *size)
    await chat.wait_for(CONNECTED)
    await chat.wait_for("!document.querySelector('#chat-login').hidden")
    await chat.click("#login-to-chat")
    await dev_login(chat, f"resume_chat_{tag}")
    await chat.wait_for("!document.querySelector('#chat-form').hidden"
                        " && document.activeElement === document.querySelector('#chat-input')")
    await chat.submit("#chat-form", text=f"hello after login {tag}")
    await page.wait_for(has_msg(f"hello after login {tag}"))

    # closing the box without logging in forgets the action
    guest = await open_page(browser, server, f"/watch/{rid}", None, *size)
    await guest.wait_for("!document.querySelector('#fan-box').hidden")
    await guest.click(".fan-follow")
    await guest.wait_for("!document.querySelector('.auth-panel').hidden")
    await guest.click(".auth-toggle")
    await guest.wait_for("document.querySelector('.auth-panel').hidden")
    for p in (page, chat, guest):
        assert p.errors == [], p.errors


@pytest.mark.system
@SIZES
async def test_report_dialog_and_chat_targets(
    server: str, browser: Browser, size: tuple[int, int]
) -> None:
    tag = f"{size[0]}"
    creator = token(server, f"a11y_host_{tag}", "creator", "Host")
    rid = make_room(server, creator, f"A11y {tag}")["id"]
    host = await open_page(browser, server, f"/watch/{rid}", creator, *size)
    await host.wait_for(CONNECTED)
    await host.submit("#chat-form", text=f"from the host {tag}")
    vic = await open_page(
        browser, server, f"/watch/{rid}", token(server, f"a11y_vic_{tag}", "viewer"), *size
    )
    await vic.wait_for(has_msg(f"from the host {tag}"))
    report = "#chat .msg button[title^='Report']"
    # a real target: 24×24 px at least; badges at 12 px or more
    box = await vic.eval(f"(() => {{ const r = document.querySelector({js(report)})"
                         ".getBoundingClientRect(); return [r.width, r.height]; })()")
    assert box[0] >= 24 and box[1] >= 24, box
    sizes = await vic.eval("[...document.querySelectorAll('.badge')].filter(b => b.offsetParent)"
                           ".map(b => parseFloat(getComputedStyle(b).fontSize))")
    assert sizes and min(sizes) >= 12, sizes
    assert await serious_violations(vic) == []

    # Escape closes the dialog and sends nothing
    await vic.click(report)
    await vic.wait_for(DIALOG_OPEN)
    assert await vic.eval("document.activeElement?.name") == "reason"
    await vic.press("Escape")
    await vic.wait_for("!document.querySelector('dialog.reason-dialog')")
    reports = http("GET", f"{server}/api/ops/reports", token=token(server, "a11y_ops", "ops"))
    assert not [r for r in reports["reports"] if r.get("room_id") == rid]

    # a reason is needed; Send with one sends the report
    await vic.click(report)
    await vic.wait_for(DIALOG_OPEN)
    assert await serious_violations(vic) == []
    await vic.eval("document.querySelector('dialog.reason-dialog form').requestSubmit()")
    assert await vic.eval(DIALOG_OPEN)  # empty: still open
    await vic.submit("dialog.reason-dialog form", reason=f"spam {tag}")
    await vic.wait_for("(document.querySelector('#toast')?.textContent || '').includes('report')")
    assert not await vic.eval(DIALOG_OPEN)
    reports = http("GET", f"{server}/api/ops/reports", token=token(server, "a11y_ops", "ops"))
    assert [r for r in reports["reports"] if r.get("room_id") == rid and r.get("reason")
            == f"spam {tag}"]

    await dark(vic)
    assert await serious_violations(vic) == []
    await vic.screenshot(f"watch-a11y-{tag}")
    for p in (host, vic):
        assert p.errors == [], p.errors


@pytest.mark.system
@SIZES
async def test_studio_has_no_serious_violations(
    server: str, browser: Browser, size: tuple[int, int]
) -> None:
    tag = f"{size[0]}"
    creator = token(server, f"a11y_studio_{tag}", "creator", "Host")
    page = await open_page(browser, server, "/studio", creator, *size)
    await page.wait_for("!document.querySelector('#studio').hidden")
    assert await serious_violations(page) == []
    await page.submit("#create-form", title=f"Studio a11y {tag}")
    await page.wait_for(CONNECTED)
    assert await serious_violations(page) == []
    await dark(page)
    assert await serious_violations(page) == []
    await page.screenshot(f"studio-a11y-{tag}")
    guest = await open_page(browser, server, "/studio", None, *size)
    await guest.wait_for("!document.querySelector('#need-login').hidden")
    assert await serious_violations(guest) == []
    assert page.errors == [] and guest.errors == [], (page.errors, guest.errors)
