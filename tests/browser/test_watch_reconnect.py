"""The watch page while its room socket is down: a small indicator over the video, no banner or
toast, "Connection lost — retrying" with "Retry now" after a long outage, and a silent
recovery (no chat line twice) once the server is back. Desktop 1366×900 and phone 390×844."""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.harness import (
    CONNECTED,
    DESKTOP,
    PHONE,
    Browser,
    Page,
    ServerProcess,
    has_msg,
    includes,
    js,
    make_room,
    open_page,
    token,
)

SIZES = {"desktop": DESKTOP, "phone": PHONE}

PILL_SHOWN = "!document.querySelector('#reconnect').hidden"
PILL_HIDDEN = "document.querySelector('#reconnect').hidden"
LOST = includes("#reconnect", "Connection lost — retrying")

# every toast the page shows, and the banner's texts, from the moment this runs
WATCH_NOTICES = """(() => {
  window.notices = [];
  const note = (node) => {
    if (!node.hidden && node.textContent) window.notices.push(node.id + ': ' + node.textContent);
  };
  for (const id of ['toast', 'banner']) {
    const node = document.getElementById(id);
    new MutationObserver(() => note(node))
      .observe(node, { attributes: true, childList: true, characterData: true, subtree: true });
  }
})()"""

# the pill lies over the video's corner (desktop) or the screen (phone), fully visible
PILL_PLACED = """(() => {
  const r = document.querySelector('#reconnect').getBoundingClientRect();
  const phone = window.innerWidth <= 600;
  const box = phone ? { left: 0, top: 0, right: window.innerWidth, bottom: window.innerHeight }
                    : document.querySelector('#player').getBoundingClientRect();
  return r.width > 0 && r.height <= 60 && r.left >= box.left && r.right <= box.right
    && r.top >= box.top && r.bottom <= box.bottom;
})()"""


def count_msg(text: str) -> str:
    return (f"[...document.querySelectorAll('#chat .msg-text')]"
            f".filter(e => e.textContent === {js(text)}).length")


@pytest.mark.system
async def test_watch_shows_reconnecting_then_recovers_silently(browser: Browser) -> None:
    srv = ServerProcess(browser.net)
    try:
        srv.start()
        creator = token(srv.url, "rc_host", "creator")
        rid = make_room(srv.url, creator, "Reconnect")["id"]
        pages: dict[str, Page] = {}
        for name, (w, h) in SIZES.items():
            tok = token(srv.url, f"rc_{name}", "viewer")
            pages[name] = await open_page(browser, srv.url, f"/watch/{rid}", tok, w, h)
        for name, page in pages.items():
            await page.wait_for(CONNECTED)
            assert await page.eval(PILL_HIDDEN)
            await page.submit("#chat-form", text=f"before the drop ({name})")
        for page in pages.values():
            for name in SIZES:
                await page.wait_for(has_msg(f"before the drop ({name})"))
            await page.eval(WATCH_NOTICES)

        await asyncio.to_thread(srv.stop)
        for name, page in pages.items():
            await page.wait_for(PILL_SHOWN)
            assert "Reconnecting…" in await page.text("#reconnect")
            role = "document.querySelector('#reconnect').getAttribute('role')"
            assert await page.eval(role) == "status"
            assert await page.eval("document.querySelector('#reconnect-now').hidden")
            assert await page.eval(PILL_PLACED), name
            await page.screenshot(f"reconnect-{name}-reconnecting")

        # a long outage says so and offers to try at once
        for name, page in pages.items():
            await page.wait_for(LOST, within=25)
            assert not await page.eval("document.querySelector('#reconnect-now').hidden")
            assert await page.eval(PILL_PLACED), name
            await page.screenshot(f"reconnect-{name}-lost")

        await asyncio.to_thread(srv.start)
        desktop = pages["desktop"]
        # "Retry now" tries at once instead of waiting out the backoff (by now up to 15 s);
        # Chromium itself may hold a socket after many failed ones for a few seconds
        await desktop.click("#reconnect-now")
        assert await desktop.eval("window.liveRoom.socket.reconnectTimer === null")
        await desktop.wait_for(CONNECTED, within=8)
        for name, page in pages.items():
            await page.wait_for(CONNECTED, within=30)
            await page.wait_for(PILL_HIDDEN)
            await page.screenshot(f"reconnect-{name}-back")

        await pages["phone"].submit("#chat-form", text="after the restart")
        for page in pages.values():
            await page.wait_for(has_msg("after the restart"))
            for name in SIZES:
                assert await page.eval(count_msg(f"before the drop ({name})")) == 1
            assert await page.eval("window.notices") == []
            assert await page.eval("document.querySelector('#banner').hidden")
            # while the server was down, reconnect attempts and the player's and fan box's
            # requests fail (the browser logs those); nothing else may
            errors = [e for e in page.errors
                      if "WebSocket connection" not in e and "ERR_CONNECTION_REFUSED" not in e]
            assert errors == [], errors
    finally:
        await asyncio.to_thread(srv.remove)
