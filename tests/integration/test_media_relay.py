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
