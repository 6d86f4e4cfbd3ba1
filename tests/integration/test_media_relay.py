"""The relay end to end: an aiortc publisher (its own encoder, as a browser's) publishes over
WHIP to the real app; aiortc viewers watch over WHEP and decode what the server forwarded."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest

from live_server.web.media import MEDIA
from tests.conftest import LiveApp, token
from tests.integration.media_peers import HEIGHT, WIDTH, Publisher, Viewer, app_of


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_ten_viewers_decode_every_forwarded_frame(live: LiveApp, codec: str,
                                                        caplog: Any) -> None:
    caplog.set_level(logging.WARNING, logger="aiortc.rtcrtpreceiver")
    room = await live.live_room("alice")
    publisher = Publisher(codec)
    viewers = [Viewer() for _ in range(10)]
    async with aiohttp.ClientSession() as http:
        try:
            status = await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                             token("alice", "creator"))
            assert status == 201
            for v in viewers:
                assert await v.watch(http, f"{live.base}/api/rooms/{room}/whep") == 201
            for v in viewers:
                await v.wait_for(lambda v=v: v.decoded >= 30)
            for v in viewers:
                assert set(v.sizes) == {(WIDTH, HEIGHT)}
            relay = app_of(live)[MEDIA].relay(room)
            assert relay is not None and relay.sources["video"].codec == codec
        finally:
            for v in viewers:
                await v.close()
            await publisher.close()
    failures = [r for r in caplog.records if "failed to decode" in r.getMessage()]
    assert failures == []


async def test_audio_and_video_are_forwarded(live: LiveApp) -> None:
    """Opus audio beside the video: both reach the viewer and decode there."""
    room = await live.live_room("alice")
    publisher = Publisher("VP8", audio=True)
    viewers = [Viewer(audio=True), Viewer(audio=False)]
    async with aiohttp.ClientSession() as http:
        try:
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            for v in viewers:
                assert await v.watch(http, f"{live.base}/api/rooms/{room}/whep") == 201
            both, video_only = viewers
            await both.wait_for(lambda: both.audio_frames >= 50 and both.decoded >= 10)
            await video_only.wait_for(lambda: video_only.decoded >= 10)
            assert video_only.audio_frames == 0
            assert "opus/48000" in both.pc.remoteDescription.sdp
        finally:
            for v in viewers:
                await v.close()
            await publisher.close()
