"""The watch page's quality menu in a real Chromium: a publisher sending three simulcast
layers (the tests' aiortc simulcast publisher, 320x240, 160x120 and 64x48, on the test
network's host address), a viewer's page that offers Auto / High / Medium / Low over the video,
and a choice that changes what Chromium decodes (getStats: the frame size of the layer chosen).
A single-stream room shows no menu."""

from __future__ import annotations

import aiohttp
import pytest

from tests.browser.harness import (
    DESKTOP,
    PHONE,
    Browser,
    js,
    make_room,
    open_page,
    serious_violations,
    token,
)
from tests.browser.test_video import INBOUND, start_broadcast
from tests.integration.simulcast_peers import LAYERS, SimulcastPublisher

SIZES = {rid: (w, h) for rid, w, h in LAYERS}
SIZE_IS = (f"{INBOUND}.then(s => s && s.width === %d && s.height === %d && s.decoded > 0 "
           "&& s)")
PLAYING = "document.querySelector('#player').livePlayer.mode === 'webrtc'"
MENU = "document.querySelector('#quality')"


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_the_quality_menu_switches_the_layer(server: str, browser: Browser,
                                                   size: tuple[int, int]) -> None:
    tag = f"{size[0]}"
    creator = token(server, f"quality_creator_{tag}", "creator", "Quality Creator")
    room = make_room(server, creator, "Simulcast")
    publisher = SimulcastPublisher("VP8", "rid", addresses=(browser.net.host,))
    async with aiohttp.ClientSession() as http:
        try:
            assert await publisher.publish(http, f"{server}/api/rooms/{room['id']}/whip",
                                           creator) == 201
            watch = await open_page(browser, server, f"/watch/{room['id']}",
                                    token(server, f"quality_viewer_{tag}", "viewer"), *size)
            await watch.wait_for(PLAYING, within=20)
            # the menu appears with the room's three sizes, Auto chosen: the largest plays
            await watch.wait_for(f"!{MENU}.hidden", within=15)
            await watch.click("#quality select")  # on screen and not covered (phone: over
            await watch.press("Escape")           # the layer that takes the taps)
            await watch.screenshot(f"quality-menu-{tag}")
            assert await serious_violations(watch) == []
            options = await watch.eval(
                f"Array.from({MENU}.querySelectorAll('option'), o => o.value)")
            assert options == ["auto", "h", "m", "l"]
            assert await watch.eval(f"{MENU}.querySelector('select').value") == "auto"
            await watch.wait_for(SIZE_IS % SIZES["h"], within=20)
            await watch.wait_for(f"{MENU}.querySelector('option').textContent === "
                                 f"{js('Auto (High)')}", within=10)

            await watch.fill("#quality select", "l")
            await watch.wait_for(SIZE_IS % SIZES["l"], within=20)
            await watch.wait_for(f"{MENU}.dataset.layer === 'l'", within=10)
            await watch.fill("#quality select", "m")
            await watch.wait_for(SIZE_IS % SIZES["m"], within=20)
            await watch.fill("#quality select", "auto")
            await watch.wait_for(f"{MENU}.dataset.mode === 'auto'", within=10)
            assert watch.errors == [], watch.errors
        finally:
            await publisher.close()


async def test_a_single_stream_room_has_no_quality_menu(server: str, browser: Browser) -> None:
    creator = token(server, "single_creator", "creator", "Single Creator")
    room = make_room(server, creator, "One stream")
    studio = await open_page(browser, server, f"/studio#room={room['id']}", creator, 1300, 1400)
    await start_broadcast(studio, room["id"], "VP8")
    watch = await open_page(browser, server, f"/watch/{room['id']}",
                            token(server, "single_viewer", "viewer"))
    await watch.wait_for(PLAYING, within=20)
    await watch.wait_for(f"{INBOUND}.then(s => s && s.decoded > 5)", within=20)
    assert await watch.eval(f"{MENU}.hidden") is True
    await studio.click("#broadcast-stop")
    assert watch.errors == [], watch.errors
