"""Low-Latency HLS in a real Chromium: the studio page publishes H.264 over WHIP, and a watch page
without WebRTC plays the room's LL-HLS with the vendored hls.js in low-latency mode: it asks
for blocking playlist reloads (``_HLS_msn``/``_HLS_part``) and fetches partial segments, and the
picture plays at the publisher's size close to the live edge. At phone and desktop sizes."""

from __future__ import annotations

import re

import pytest

from tests.browser.harness import DESKTOP, PHONE, Browser, make_room, open_page, token
from tests.browser.test_video import start_broadcast

NO_WEBRTC = "delete window.RTCPeerConnection;"
PLAYER = "document.querySelector('#player')"


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_a_page_without_webrtc_plays_low_latency_hls(
        server: str, browser: Browser, size: tuple[int, int]) -> None:
    creator = token(server, f"llhls_{size[0]}", "creator", "LL Creator")
    room = make_room(server, creator, "Low latency")
    studio = await open_page(browser, server, f"/studio#room={room['id']}", creator, 1300, 1400)
    sent = await start_broadcast(studio, room["id"], "H264")

    page = await browser.new_page(*size, init_script=NO_WEBRTC)
    requests: list[str] = []
    await page.record_requests(requests)
    await page.goto(f"{server}/watch/{room['id']}")
    await page.wait_for(f"{PLAYER}.livePlayer?.mode === 'hls'", within=20)
    await page.wait_for(f"{PLAYER}.querySelector('video').currentTime > 1", within=30)
    await page.wait_for(f"{PLAYER}.querySelector('video').videoWidth === {sent['width']}",
                        within=10)
    await page.screenshot("playing")
    # low-latency mode: blocking reloads and parts, not only whole segments
    await page.wait_for("true", within=1)
    blocking = [u for u in requests if re.search(r"index\.m3u8\?.*_HLS_msn=\d+", u)]
    parts = [u for u in requests if re.search(r"/[0-9a-f]{8}-p\d+\.ts$", u)]
    assert blocking, requests
    assert parts, requests
    # close to the live edge: what is buffered ahead of the playhead is a few parts, not the
    # three segments a classic HLS player holds back
    ahead = await page.eval(
        f"(() => {{ const v = {PLAYER}.querySelector('video');"
        " return v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime"
        " : null; })()")
    assert ahead is not None and ahead < 3.0, ahead
    await studio.click("#broadcast-stop")
    for p in (studio, page):
        assert p.errors == [], p.errors
