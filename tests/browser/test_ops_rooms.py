"""The ops console's live rooms on a busy evening, in a real Chromium at 1366×900 and 390×844:
the demo room (``serve --demo`` broadcasts its clip) shows a stream thumbnail (a real picture,
its alt text the room's title), load lines for the last 30 minutes with spoken labels, and the
room's open reports; a room without video shows the placeholder instead."""

from __future__ import annotations

import pytest

from tests.browser.harness import (
    DESKTOP,
    PHONE,
    Browser,
    http,
    js,
    make_room,
    open_page,
    token,
)
from tests.helpers import Viewer


def demo_room(base: str) -> dict[str, str]:
    """The room `serve --demo` broadcasts its bundled clip into."""
    rooms = http("GET", f"{base}/api/rooms?state=live&limit=100")["rooms"]
    return next(r for r in rooms if r.get("creator_id") == "demo_creator")


def row(room_id: str) -> str:
    return f"document.querySelector('tr[data-room={js(room_id)}]')"


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_live_rooms_show_thumbnails_load_lines_and_reports(
        server: str, browser: Browser, size: tuple[int, int]) -> None:
    tag = str(size[0])
    demo = demo_room(server)
    creator = token(server, f"ops_rooms_seller_{tag}", "creator", "Seller")
    quiet = make_room(server, creator, f"No video here {tag}")["id"]
    troll = await Viewer.connect(server, quiet, token(server, f"ops_rooms_troll_{tag}", "viewer"))
    reporter = await Viewer.connect(server, quiet, token(server, f"ops_rooms_rep_{tag}", "viewer"))
    try:
        await troll.wait_welcome()
        await reporter.wait_welcome()
        seq = (await troll.request("chat", text=f"spam {tag}"))["data"]["seq"]
        assert (await reporter.request("report", seq=seq, reason="spam"))["type"] == "reply"

        ops = await open_page(browser, server, "/ops",
                              token(server, "ops_rooms_olga", "ops", "Olga"), *size)
        demo_row = row(demo["id"])
        # the demo's thumbnail: a decoded JPEG at its natural 160×90, named by the room's title
        thumb = f"{demo_row}?.querySelector('img.thumb')"
        await ops.wait_for(f"{thumb}?.complete && {thumb}.naturalWidth === 160", 30)
        assert await ops.eval(f"{thumb}.naturalHeight") == 90
        assert await ops.eval(f"{thumb}.alt") == demo["title"]
        assert await ops.eval(f"{thumb}.src.startsWith('data:image/jpeg')")
        # not one flat colour: the picture's pixels differ
        spread = await ops.eval(f"""(() => {{
          const img = {thumb}, c = document.createElement('canvas');
          c.width = img.naturalWidth; c.height = img.naturalHeight;
          const g = c.getContext('2d'); g.drawImage(img, 0, 0);
          const d = g.getImageData(0, 0, c.width, c.height).data;
          let lo = 255, hi = 0;
          for (let i = 0; i < d.length; i += 4) {{
            lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]);
          }}
          return hi - lo;
        }})()""")
        assert spread > 40, spread

        # load lines: three labelled SVGs; the demo room has had points since the server began
        spark = f"{demo_row}.querySelector('svg.spark-online')"
        await ops.wait_for(f"{spark}?.getAttribute('aria-label').startsWith("
                           f"'online viewers, last ')", 30)
        labels = await ops.eval(f"[...{demo_row}.querySelectorAll('svg.sparkline')]"
                                ".map(s => s.getAttribute('aria-label'))")
        assert [label.split(",")[0].split(":")[0] for label in labels] == [
            "online viewers", "chat per minute", "GMV"], labels
        assert await ops.eval(f"{spark}.getAttribute('role')") == "img"
        assert await ops.eval(f"!!{spark}.querySelector('circle')")  # the newest point

        # the room without video: the placeholder, and its one open report counted
        quiet_row = row(quiet)
        await ops.wait_for(f"!!{quiet_row}?.querySelector('.thumb-empty')")
        assert await ops.eval(f"{quiet_row}.querySelector('img.thumb') === null")
        reports = f"{quiet_row}.querySelector('td.has-reports')"
        await ops.wait_for(f"{reports}?.textContent.trim() === '1'")
        # ... under the "Reports" heading, wherever other columns put it
        header = f"document.querySelector('#rooms-table thead tr').children[{reports}.cellIndex]"
        assert await ops.eval(f"{header}.textContent") == "Reports"

        # the room cell holds the picture above the title, without widening the page
        assert not await ops.eval("document.documentElement.scrollWidth > innerWidth + 1")
        await ops.screenshot(f"ops-live-rooms-{tag}")
        assert ops.errors == [], ops.errors
    finally:
        await troll.close()
        await reporter.close()
