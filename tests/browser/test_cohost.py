"""Co-hosting in a real Chromium with the fake camera: the studio broadcasts and invites a user,
that user's watch page gets the invitation, accepts and publishes their camera with the guest
token, and a third page (a viewer) shows two videos that both decode — side by side on a
desktop, the guest as picture-in-picture on a phone. The host removes the guest: the viewer's
guest video goes and the guest's page stops co-hosting."""

from __future__ import annotations

import pytest

from tests.browser.harness import (
    DESKTOP,
    PHONE,
    Browser,
    has_text,
    js,
    make_room,
    open_page,
    serious_violations,
    token,
    visible,
)
from tests.browser.test_video import start_broadcast

# frames decoded by a video element (the guest's or the host's), from the page's own stats
DECODED = ("((v) => v && v.videoWidth > 0"
           " && (v.getVideoPlaybackQuality?.().totalVideoFrames ?? 1) > 0)")
HOST_VIDEO = "document.querySelector('#player video')"
GUEST_VIDEO = "document.querySelector('#cohost .cohost-video')"


def _box(selector: str) -> str:
    return (f"(() => {{ const r = document.querySelector({js(selector)}).getBoundingClientRect();"
            " return {x: r.x, y: r.y, w: r.width, h: r.height}; })()")


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_invite_accept_two_videos_and_remove(server: str, browser: Browser,
                                                   size: tuple[int, int]) -> None:
    tag = "p" if size == PHONE else "d"
    creator = token(server, f"cohost_host_{tag}", "creator", "Host")
    guest_tok = token(server, f"cohost_guest_{tag}", "viewer", "Guest")
    room = make_room(server, creator, f"Co-host {tag}")
    studio = await open_page(browser, server, f"/studio#room={room['id']}", creator, 1300, 1400)
    await start_broadcast(studio, room["id"], "VP8")
    guest = await open_page(browser, server, f"/watch/{room['id']}", guest_tok, *size)
    viewer = await open_page(browser, server, f"/watch/{room['id']}",
                             token(server, f"cohost_viewer_{tag}", "viewer", "Viewer"), *size)
    await viewer.wait_for(f"{DECODED}({HOST_VIDEO})", within=20)

    # the studio invites the guest by user id; only the guest's page is asked
    await studio.wait_for(visible("#cohost-panel"))
    await studio.fill("#cohost-user", f"cohost_guest_{tag}")
    await studio.click("#cohost-invite")
    await studio.wait_for(has_text("#cohost-msg", "Invitation sent"))
    await guest.wait_for(visible("#cohost-accept"))
    await guest.screenshot("invited")
    assert await guest.eval("document.querySelector('#cohost-accept') === document.activeElement")
    assert not await viewer.eval("!document.querySelector('#cohost-invite').hidden")

    # accepting publishes the guest's camera
    await guest.click("#cohost-accept")
    await guest.wait_for("document.querySelector('#cohost').cohost.mode === 'guest'")
    await studio.wait_for(has_text("#cohost-guests", "on air"), within=20)

    # the viewer shows two videos, both decoding
    await viewer.wait_for(f"{DECODED}({GUEST_VIDEO})", within=20)
    assert await viewer.eval(f"{DECODED}({HOST_VIDEO})")
    host_box, guest_box = await viewer.eval(_box("#player")), await viewer.eval(_box("#cohost"))
    if size == DESKTOP:  # side by side
        assert guest_box["x"] >= host_box["x"] + host_box["w"] - 1, (host_box, guest_box)
        assert abs(guest_box["w"] - host_box["w"]) < 2
    else:  # the host fills the screen, the guest is a small tile over it
        assert host_box["w"] == size[0]
        assert guest_box["w"] < size[0] / 2 and guest_box["x"] > size[0] / 2
    await viewer.screenshot("two-videos")
    await guest.screenshot("co-hosting")
    # (a join notice is read once it has faded: axe would measure it half transparent)
    for page in (viewer, guest):
        await page.wait_for("getComputedStyle(document.querySelector('#joins')).opacity === '0'")
        assert await serious_violations(page) == []

    # the host removes the guest: the viewer's guest video goes, the guest stops co-hosting
    await studio.click(f"#cohost-guests button[aria-label={js('Remove Guest')}]")
    await viewer.wait_for("document.querySelector('#cohost').hidden")
    await guest.wait_for("document.querySelector('#cohost').cohost.mode === 'none'")
    assert await viewer.eval(f"{DECODED}({HOST_VIDEO})")  # the host goes on
    await viewer.screenshot("removed")
    for page in (studio, guest, viewer):
        assert page.errors == [], page.errors
