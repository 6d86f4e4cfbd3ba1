"""The relay end to end: an aiortc publisher (its own encoder, as a browser's) publishes over
WHIP to the real app; aiortc viewers watch over WHEP and decode what the server forwarded."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import aiohttp
import av
import pytest

from live_server.media.frames import h264_nal_types
from live_server.web.media import MEDIA
from tests.conftest import LiveApp, token
from tests.helpers import WAIT_S
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


async def test_encoded_feed_for_in_process_consumers(live: LiveApp) -> None:
    """What the HLS writer consumes: H.264 access units from ``subscribe_encoded``, starting at
    a keyframe with its parameter sets, each decodable in order; the feed ends with the
    publisher."""
    media = app_of(live)[MEDIA]
    started: list[str] = []
    stopped: list[str] = []
    feeds: list[Any] = []
    feed_ready = asyncio.Event()

    def on_started(room_id: str, relay: Any) -> None:
        started.append(room_id)
        feeds.append(relay.subscribe_encoded("video"))
        feed_ready.set()

    media.on_video_started.append(on_started)
    media.on_video_stopped.append(stopped.append)
    room = await live.live_room("alice")
    publisher = Publisher("H264")
    decoder = av.CodecContext.create("h264", "r")
    async with aiohttp.ClientSession() as http:
        try:
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            frames: list[Any] = []
            pictures: list[tuple[int, int]] = []
            async with asyncio.timeout(WAIT_S):
                await feed_ready.wait()
                async for frame in feeds[0]:
                    frames.append(frame)
                    for picture in decoder.decode(av.Packet(frame.data)):
                        pictures.append((picture.width, picture.height))
                    if len(frames) >= 30:
                        break
            assert started == [room]
            assert frames[0].keyframe and frames[0].codec == "H264"
            assert {7, 8, 5} <= set(h264_nal_types(frames[0].data))
            assert frames[0].clock_rate == 90000
            assert all(b.timestamp > a.timestamp for a, b in itertools.pairwise(frames))
            assert len(pictures) >= 25 and set(pictures) == {(WIDTH, HEIGHT)}
            assert publisher.location is not None
            async with http.delete(publisher.location) as resp:
                assert resp.status == 204
            async with asyncio.timeout(WAIT_S):
                rest = [f async for f in feeds[0]]  # ends once the publisher is gone
            assert stopped == [room] and all(f.codec == "H264" for f in rest)
        finally:
            await publisher.close()
