"""The studio's devices in a real Chromium with its fake camera and microphone (the flags in
test_pages.py): the microphone is on by default and its sound reaches the WHIP offer and the
level meter; the camera can be paused; "Stop broadcast" and "End live" stop every local track
(the camera light goes off); after the end the counters stand still and the report is shown.

Every track getUserMedia hands the page is recorded (a script run before the page's own), so
"every local track is ended" means every one the page ever opened, not only the last.
"""

from __future__ import annotations

import json
from typing import Any

from tests.browser.harness import (
    CONNECTED,
    Browser,
    Page,
    includes,
    js,
    make_room,
    open_page,
    token,
)

# before the page's scripts: keep every track getUserMedia returns, and every frame the room
# socket receives (to see the server's counters arrive after the end)
RECORD = """
window.__tracks = [];
window.__frames = [];
const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = async (c) => {
  const s = await gum(c);
  window.__tracks.push(...s.getTracks());
  return s;
};
const NativeSocket = window.WebSocket;
window.WebSocket = class extends NativeSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener('message', (e) => {
      if (typeof e.data === 'string') window.__frames.push(e.data);
    });
  }
};
"""

ALL_TRACKS_ENDED = ("window.__tracks.length > 0"
                    " && window.__tracks.every(t => t.readyState === 'ended')")
PUBLISHER = "document.querySelector('#video-section').livePublisher.pc"
CONNECTED_PC = f"{PUBLISHER}?.connectionState === 'connected'"

# the publisher's audio: what it sent (outbound-rtp) and the m=audio sections of both SDPs
AUDIO_SENT = f"""(async () => {{
  const pc = {PUBLISHER};
  if (!pc) return null;
  let packets = 0;
  for (const s of (await pc.getStats()).values()) {{
    if (s.type === 'outbound-rtp' && s.kind === 'audio') packets = s.packetsSent || 0;
  }}
  const audio = (sdp) => sdp.split(/\\r?\\n(?=m=)/).find(m => m.startsWith('m=audio')) || '';
  return {{packets, offer: audio(pc.localDescription.sdp),
          answer: audio(pc.remoteDescription.sdp)}};
}})()"""

COUNTERS = ("['#c-online', '#c-hearts', '#c-unique', '#c-peak', '#c-chat']"
            ".map(s => document.querySelector(s).textContent)")


async def studio_page(chromium: Browser, base: str, room_id: str, tok: str) -> Page:
    """The studio on this room, with the recording script in place before its first script."""
    page = await open_page(chromium, base, "/static/css/app.css", tok, 1300, 1400)
    await page.add_init_script(RECORD)
    await page.goto(f"{base}/studio#room={room_id}")
    await page.wait_for(f"document.querySelector('#room-id').textContent === {js(room_id)}")
    await page.wait_for(CONNECTED)
    return page


async def start_camera(studio: Page) -> None:
    await studio.click("#cam-start")
    await studio.wait_for("document.querySelector('#video-state').textContent === 'camera on'")
    assert await studio.eval("document.querySelector('#preview-off').hidden")
    assert await studio.text("#cam-start") == "Camera off"


async def broadcast(studio: Page) -> dict[str, Any]:
    await studio.eval("document.querySelector('#codec-select').value = 'VP8'")
    await studio.click("#broadcast-start")
    await studio.wait_for(CONNECTED_PC, within=20)
    sent = await studio.wait_for(f"{AUDIO_SENT}.then(a => a && a.packets > 20 && a)", within=20)
    assert isinstance(sent, dict)
    return sent


async def assert_camera_stopped(studio: Page) -> None:
    """Every track the page opened is ended and the preview says the camera is off."""
    await studio.wait_for(ALL_TRACKS_ENDED, within=10)
    assert await studio.text("#video-state") == "camera off"
    assert not await studio.eval("document.querySelector('#preview-off').hidden")
    assert await studio.eval("document.querySelector('#preview').srcObject === null")
    assert await studio.text("#cam-start") == "Start camera"
    assert await studio.eval("document.querySelector('#mic-level').dataset.level") == "0"


def counters_after(frames: list[str], start: int) -> list[dict[str, Any]]:
    """The counters events in the socket frames received from index start on."""
    found = []
    for raw in frames[start:]:
        frame = json.loads(raw)
        if frame.get("type") == "events":
            found += [ev["data"] for ev in frame.get("events", []) if ev.get("type") == "counters"]
    return found


async def test_the_microphone_is_on_heard_and_every_track_stops(
        server: str, browser: Browser) -> None:
    creator = token(server, "devices_mic", "creator", "Devices Creator")
    room = make_room(server, creator, "Devices: microphone")
    studio = await studio_page(browser, server, room["id"], creator)

    # before any click: the first microphone is chosen, not "No microphone"
    await studio.wait_for("document.querySelector('#mic-select').options.length > 1")
    assert await studio.eval("document.querySelector('#mic-select').value") != "off"
    assert "No microphone" not in await studio.eval(
        "document.querySelector('#mic-select').selectedOptions[0].textContent")
    assert not await studio.eval("document.querySelector('#preview-off').hidden")

    await start_camera(studio)
    kinds = await studio.eval("window.__tracks.map(t => t.kind + ':' + t.readyState).sort()")
    assert kinds == ["audio:live", "video:live"]
    # the labels are known now; still a real microphone, and the fake one's tone moves the meter
    assert await studio.eval("document.querySelector('#mic-select').value") != "off"
    await studio.wait_for("Number(document.querySelector('#mic-level').dataset.level) > 0")

    sent = await broadcast(studio)
    assert "a=sendonly" in sent["offer"], sent["offer"]
    assert sent["answer"] and not sent["answer"].startswith("m=audio 0 "), sent["answer"]

    # Camera off while broadcasting pauses the picture (the sound goes on), Camera on resumes
    await studio.click("#cam-start")
    await studio.wait_for("document.querySelector('#cam-start').textContent === 'Camera on'")
    assert not await studio.eval("document.querySelector('#preview-off').hidden")
    assert await studio.eval("window.__tracks.filter(t => t.kind === 'video')"
                             ".every(t => !t.enabled && t.readyState === 'live')")
    assert await studio.text("#video-state") == "broadcasting, camera off"
    await studio.click("#cam-start")
    await studio.wait_for("document.querySelector('#video-state').textContent === 'broadcasting'")
    assert await studio.eval("document.querySelector('#preview-off').hidden")

    # Stop broadcast: the session is gone and every local track with it
    await studio.click("#broadcast-stop")
    await studio.wait_for(f"{PUBLISHER} === null")
    await assert_camera_stopped(studio)

    # the camera starts again, and Camera off before broadcasting stops it (light off)
    await start_camera(studio)
    await studio.click("#cam-start")
    await assert_camera_stopped(studio)
    assert studio.errors == [], studio.errors


async def test_end_live_stops_the_camera_and_the_counters(
        server: str, browser: Browser) -> None:
    creator = token(server, "devices_end", "creator", "Devices End")
    room = make_room(server, creator, "Devices: end live")
    rid = room["id"]
    viewers = []
    for name in ("devices_v1", "devices_v2"):
        page = await open_page(browser, server, f"/watch/{rid}", token(server, name, "viewer"))
        await page.wait_for(CONNECTED)
        viewers.append(page)
    studio = await studio_page(browser, server, rid, creator)
    await start_camera(studio)
    await broadcast(studio)

    # live, the counters move: hearts from a viewer reach the studio
    for _ in range(5):
        await viewers[0].click("#heart")
    await studio.wait_for("Number(document.querySelector('#c-hearts').textContent) >= 5")
    await studio.wait_for("Number(document.querySelector('#c-online').textContent) >= 2")

    await studio.click("#end")  # the confirm is accepted
    await studio.wait_for("document.querySelector('#state').textContent === 'ended'")
    await assert_camera_stopped(studio)
    assert await studio.eval(f"{PUBLISHER} === null")
    assert not await studio.eval("document.querySelector('#counters-final').hidden")
    # the post-show report is open
    await studio.wait_for("!document.querySelector('#report-section').hidden")
    await studio.wait_for(includes("#report-section", "final"))

    # a viewer leaves: the server still sends the room's counters, the studio keeps its figures
    final = await studio.eval(COUNTERS)
    seen = int(await studio.eval("window.__frames.length"))
    await viewers[1].close()
    frames = await studio.wait_for(
        f"window.__frames.length > {seen} && window.__frames.slice({seen})"
        ".some(f => f.includes('\"counters\"')) && window.__frames", within=20)
    assert isinstance(frames, list)
    moved = counters_after(frames, seen)
    assert moved, frames[seen:]
    assert str(moved[-1]["online"]) != final[0], (moved, final)  # the server's figure moved
    assert await studio.eval(COUNTERS) == final
    assert studio.errors == [], studio.errors
