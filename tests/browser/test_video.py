"""Live video in a real Chromium: the studio page publishes its (fake) camera over WHIP, a watch
page plays it over WHEP, and the frames really decode (getStats: framesDecoded grows, the frame
size is the publisher's). With H.264 the room also gets HLS, which a page without WebRTC plays
and PyAV decodes. No public STUN server: Chromium runs in a network namespace the test made
(tests/browser/netns.py), so its only candidates are the namespace's veth address, and the test
server's are the host side of that veth pair only (media.ice_addresses): the media of both
pages goes over the test's own veth pair, never another interface of the machine (the offers,
answers and the candidate pair in use are read from the pages).
"""

from __future__ import annotations

import asyncio
import io
import urllib.request

import av
import pytest

from tests.browser.harness import (
    Browser,
    Page,
    js,
    make_room,
    open_page,
    token,
)
from tests.integration.media_peers import candidate_addresses

INBOUND = """(async () => {
  const p = document.querySelector('#player').livePlayer;
  if (!p || !p.pc) return null;
  const stats = await p.pc.getStats();
  for (const s of stats.values()) {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      return {decoded: s.framesDecoded || 0, width: s.frameWidth || 0, height: s.frameHeight || 0};
    }
  }
  return null;
})()"""

OUTBOUND = """(async () => {
  const p = document.querySelector('#video-section').livePublisher.pc;
  if (!p) return null;
  const stats = await p.getStats();
  let codec = null, size = null;
  for (const s of stats.values()) {
    if (s.type === 'outbound-rtp' && s.kind === 'video' && s.frameWidth) {
      size = {width: s.frameWidth, height: s.frameHeight, sent: s.framesSent,
              codecId: s.codecId};
    }
  }
  if (size) codec = stats.get(size.codecId)?.mimeType;
  return size && {...size, codec};
})()"""


# the peer connection's SDPs and the addresses of the candidate pair in use
ICE_PATH = """(async (pc) => {
  if (!pc) return null;
  const stats = await pc.getStats();
  let pair = null;
  for (const s of stats.values()) {
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      pair = stats.get(s.selectedCandidatePairId);
    }
  }
  if (!pair) return null;
  return {local: stats.get(pair.localCandidateId).address,
          remote: stats.get(pair.remoteCandidateId).address,
          offer: pc.localDescription.sdp, answer: pc.remoteDescription.sdp};
})(%s)"""


async def assert_media_on_test_network(browser: Browser, page: Page, pc: str) -> None:
    """Every candidate the page offered is its namespace's address (none of the machine's
    other interfaces, which Chromium in the host's namespace offers), every candidate the
    server answered is the host side of the test's veth pair, and the pair carrying the media
    is those two. (With LIVE_BROWSER_URL Chromium is in the host's namespace: then only the
    server's side, on 127.0.0.1, and the remote end of the pair are checked.)"""
    net = browser.net
    path = await page.wait_for(f"{ICE_PATH % pc}.then(p => p && p.local && p)", within=10)
    assert isinstance(path, dict)
    answered = candidate_addresses(path["answer"])
    assert answered and answered == [net.host] * len(answered), answered
    assert path["remote"] == net.host, path
    offered = candidate_addresses(path["offer"])
    if net.browser_address is None:
        assert net.host in offered, offered
    else:
        assert offered and offered == [net.browser_address] * len(offered), offered
        assert path["local"] == net.browser_address, path


async def start_broadcast(studio: Page, room_id: str, codec: str) -> dict[str, object]:
    await studio.wait_for(f"document.querySelector('#room-id').textContent === {js(room_id)}")
    await studio.eval(f"document.querySelector('#codec-select').value = {js(codec)}")
    await studio.click("#cam-start")
    await studio.wait_for("document.querySelector('#video-state').textContent === 'camera on'")
    await studio.click("#broadcast-start")
    await studio.wait_for(
        "document.querySelector('#video-section').livePublisher.pc?.connectionState"
        " === 'connected'", within=20)
    sent = await studio.wait_for(f"{OUTBOUND}.then(s => s && s.sent > 10 && s)", within=20)
    assert isinstance(sent, dict)
    return sent


async def frames_decoded(watch: Page) -> dict[str, int]:
    got = await watch.wait_for(f"{INBOUND}.then(s => s && s.decoded > 0 && s)", within=20)
    assert isinstance(got, dict)
    return got


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_studio_publishes_and_a_viewer_decodes_the_frames(
        server: str, browser: Browser, codec: str) -> None:
    creator = token(server, f"video_{codec.lower()}", "creator", "Video Creator")
    room = make_room(server, creator, f"Video {codec}")
    # a viewer who came early waits, and the picture starts with the broadcast (video_started)
    watch = await open_page(browser, server, f"/watch/{room['id']}", None)
    await watch.wait_for("document.querySelector('#player').livePlayer.mode === 'waiting'")
    studio = await open_page(browser, server, f"/studio#room={room['id']}", creator, 1300, 1400)
    sent = await start_broadcast(studio, room["id"], codec)
    assert str(sent["codec"]).lower() == f"video/{codec.lower()}"
    await watch.wait_for("document.querySelector('#player').livePlayer.mode === 'webrtc'",
                         within=20)
    first = await frames_decoded(watch)
    await assert_media_on_test_network(browser, studio, "document.querySelector('#video-section')"
                                                        ".livePublisher.pc")
    await assert_media_on_test_network(browser, watch,
                                       "document.querySelector('#player').livePlayer.pc")
    await asyncio.sleep(1.0)
    later = await frames_decoded(watch)
    assert later["decoded"] > first["decoded"]  # frames keep arriving and decoding
    assert (later["width"], later["height"]) == (sent["width"], sent["height"])

    # the creator stops: the viewer is told and waits for the next broadcast
    await studio.click("#broadcast-stop")
    await watch.wait_for("document.querySelector('#player').livePlayer.mode === 'waiting'",
                         within=15)
    for page in (studio, watch):
        assert page.errors == [], page.errors


async def test_h264_broadcast_feeds_hls_which_a_page_without_webrtc_plays(
        server: str, browser: Browser) -> None:
    creator = token(server, "video_hls", "creator", "HLS Creator")
    room = make_room(server, creator, "Video HLS")
    studio = await open_page(browser, server, f"/studio#room={room['id']}", creator, 1300, 1400)
    sent = await start_broadcast(studio, room["id"], "H264")

    # the playlist and a segment over HTTP, decoded by PyAV at the publisher's size
    playlist_url = f"{server}/hls/{room['id']}/index.m3u8"
    playlist = await _wait_playlist(playlist_url)
    segment = next(line for line in playlist.splitlines() if line and not line.startswith("#"))
    data = await asyncio.to_thread(_get, f"{server}/hls/{room['id']}/{segment}")
    with av.open(io.BytesIO(data)) as container:
        frames = [f for f in container.decode(video=0)]
    assert frames and (frames[0].width, frames[0].height) == (sent["width"], sent["height"])

    # the ops console shows the room's video
    ops = await open_page(browser, server, "/ops", token(server, "video_ops", "ops", "Ops"),
                          1400, 1300)
    await ops.bring_to_front()  # a page in the background refreshes rarely
    # (the studio sends sound too: the cell lists both codecs, e.g. "on · opus + H264")
    row = f"document.querySelector('tr[data-room={js(room['id'])}]')"
    await ops.wait_for(f"/on · .*H264/.test({row}?.textContent)", within=20)

    # a browser without WebRTC falls back to HLS and plays it
    page = await browser.new_page(init_script="delete window.RTCPeerConnection;")
    await page.goto(f"{server}/watch/{room['id']}")
    await page.wait_for("document.querySelector('#player').livePlayer?.mode === 'hls'",
                        within=20)
    await page.wait_for("document.querySelector('#player video').currentTime > 0.5", within=30)
    await page.wait_for("document.querySelector('#player video').videoWidth === "
                        f"{sent['width']}", within=10)
    await studio.click("#broadcast-stop")
    await ops.bring_to_front()  # a page in the background refreshes rarely
    await ops.wait_for(f"!document.querySelector('tr[data-room={js(room['id'])}]')"
                       "?.textContent.includes('on · ')")
    for p in (studio, page, ops):
        assert p.errors == [], p.errors


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return bytes(resp.read())


async def _wait_playlist(url: str) -> str:
    """The live playlist once it lists a segment (segments are ~2 s of video)."""
    last = ""
    for _ in range(150):
        try:
            last = (await asyncio.to_thread(_get, url)).decode()
            if any(line and not line.startswith("#") for line in last.splitlines()):
                return last
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"no HLS segment listed: {last!r}")
