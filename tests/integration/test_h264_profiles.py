"""H.264 viewers are matched by profile family, not by the exact fmtp line: a publisher that
labels its stream 42001e (baseline, level 3.0, as some encoders do) plays to a viewer that
offers only 42e01f (constrained baseline, level 3.1, what browsers offer first), and the
other way round. Real aiortc peers: the publisher encodes, the viewer decodes."""

from __future__ import annotations

import aiohttp
import pytest
from aiortc import RTCRtpSender, RTCSessionDescription

from live_server.web.media import MEDIA
from tests.conftest import LiveApp, token
from tests.integration.media_peers import (
    HEIGHT,
    WIDTH,
    Publisher,
    Viewer,
    app_of,
    local_offer,
    post_sdp,
)


def _only_h264(transceiver: object, profile: str) -> None:
    caps = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences(  # type: ignore[attr-defined]
        [c for c in caps if c.mimeType == "video/H264"
         and c.parameters.get("profile-level-id") == profile])


def _h264_lines(sdp: str) -> list[str]:
    """The answer's H.264 fmtp lines: ``a=fmtp:<pt> ...``."""
    pts = {line.split(" ")[0].split(":")[1] for line in sdp.split("\r\n")
           if line.startswith("a=rtpmap:") and "H264/90000" in line}
    return [line for line in sdp.split("\r\n")
            if line.startswith("a=fmtp:") and line.split(" ")[0].split(":")[1] in pts]


async def _publish_labelled(http: aiohttp.ClientSession, live: LiveApp, room: str,
                            offered: str, label: str) -> Publisher:
    """An H.264 publisher whose offer names ``label`` as its profile-level-id."""
    publisher = Publisher("H264")
    _only_h264(publisher.pc.getTransceivers()[0], offered)
    offer = (await publisher.offer()).replace(f"profile-level-id={offered}",
                                              f"profile-level-id={label}")
    assert f"profile-level-id={label}" in offer
    status, headers, answer = await post_sdp(http, f"{live.base}/api/rooms/{room}/whip",
                                             offer, token("alice", "creator"))
    assert status == 201, answer
    publisher.location = headers["Location"]
    await publisher.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return publisher


async def _watch_only(http: aiohttp.ClientSession, live: LiveApp, room: str,
                      profile: str) -> tuple[Viewer, str]:
    viewer = Viewer()
    _only_h264(viewer.pc.getTransceivers()[0], profile)
    offer = await local_offer(viewer.pc)
    assert "H264/90000" in offer and "VP8" not in offer
    status, headers, answer = await post_sdp(http, f"{live.base}/api/rooms/{room}/whep",
                                             offer, token("bob"))
    assert status == 201, answer
    viewer.location = headers["Location"]
    await viewer.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return viewer, offer


@pytest.mark.parametrize(("offered", "label", "viewer_profile"), [
    ("42001f", "42001e", "42e01f"),  # the case: baseline 3.0 to constrained 3.1
    ("42e01f", "42e01f", "42001f"),  # and the other way round
])
async def test_a_publisher_plays_to_a_viewer_of_the_same_family(
        live: LiveApp, offered: str, label: str, viewer_profile: str) -> None:
    room = await live.live_room("alice")
    async with aiohttp.ClientSession() as http:
        publisher = await _publish_labelled(http, live, room, offered, label)
        viewer: Viewer | None = None
        try:
            viewer, offer = await _watch_only(http, live, room, viewer_profile)
            answer = viewer.pc.remoteDescription.sdp
            # the viewer's own payload type and profile: what it offered, so it accepts it
            (fmtp,) = _h264_lines(answer)
            assert f"profile-level-id={viewer_profile}" in fmtp
            assert "packetization-mode=1" in fmtp
            pt = fmtp.split(" ")[0].split(":")[1]
            assert f"a=rtpmap:{pt} H264/90000" in offer
            await viewer.wait_for(lambda: viewer is not None and viewer.decoded >= 3)
            assert set(viewer.sizes) == {(WIDTH, HEIGHT)}
            sessions = app_of(live)[MEDIA].sessions.values()
            assert sorted(s.role for s in sessions) == ["publisher", "viewer"]
        finally:
            if viewer is not None:
                await viewer.close()
            await publisher.close()


async def test_another_profile_family_is_refused(live: LiveApp) -> None:
    room = await live.live_room("alice")
    async with aiohttp.ClientSession() as http:
        publisher = await _publish_labelled(http, live, room, "42001f", "42001e")
        try:
            viewer = Viewer()
            _only_h264(viewer.pc.getTransceivers()[0], "42e01f")
            main_only = (await local_offer(viewer.pc)).replace("profile-level-id=42e01f",
                                                               "profile-level-id=4d001f")
            await viewer.close()
            status, _, body = await post_sdp(http, f"{live.base}/api/rooms/{room}/whep",
                                             main_only, token("bob"))
            assert status == 422 and "H264" in body
        finally:
            await publisher.close()
