"""HLS end to end: an aiortc publisher sends H.264 and Opus over WHIP to the real app; the
playlist and segments come back over HTTP, decode with PyAV (picture size, AAC audio), end
with the broadcast and are deleted after it."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import av
from aiohttp.test_utils import TestClient

from live_server import config
from live_server.app import create_app
from tests.conftest import LiveApp, LiveTestServer, token
from tests.helpers import WAIT_S
from tests.integration.media_peers import HEIGHT, WIDTH, Publisher


async def hls_app(aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
                  settings_factory: Callable[..., config.Settings], root: Path) -> LiveApp:
    settings = settings_factory(hls={"dir": str(root), "segment_ms": 1000, "window": 2})
    app = create_app(settings)
    client = await aiohttp_client(LiveTestServer(app, host="127.0.0.1"))
    return LiveApp(client=client, settings=settings)


async def wait_until(check: Callable[[], bool]) -> None:
    """Poll something nothing notifies about (a hang guard, not a timing assertion)."""
    async with asyncio.timeout(WAIT_S):
        while True:
            if check():
                return
            await asyncio.sleep(0.1)


def names_in(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def decode_segment(body: bytes) -> tuple[set[tuple[int, int]], bool, int]:
    """(picture sizes, first picture is a keyframe, audio samples) of one segment."""
    sizes: set[tuple[int, int]] = set()
    first_key: bool | None = None
    samples = 0
    with av.open(io.BytesIO(body), format="mpegts") as container:
        assert container.streams.audio and container.streams.audio[0].codec_context.name == "aac"
        for frame in container.decode(video=0, audio=0):
            if isinstance(frame, av.VideoFrame):
                first_key = frame.key_frame if first_key is None else first_key
                sizes.add((frame.width, frame.height))
            else:
                samples += frame.samples
    return sizes, bool(first_key), samples


async def test_h264_publisher_to_hls_and_back(
        aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
        settings_factory: Callable[..., config.Settings], tmp_path: Path) -> None:
    live = await hls_app(aiohttp_client, settings_factory, tmp_path / "hls")
    room = await live.live_room("alice")
    playlist_url = f"{live.base}/hls/{room}/index.m3u8"
    publisher = Publisher("H264", audio=True)
    async with aiohttp.ClientSession() as http:

        async def get(url: str) -> tuple[int, dict[str, str], bytes]:
            async with http.get(url) as resp:
                return resp.status, dict(resp.headers), await resp.read()

        async def playlist_when(ok: Callable[[str], bool]) -> str:
            async with asyncio.timeout(WAIT_S):  # a hang guard, not a timing assertion
                while True:
                    status, _, body = await get(playlist_url)
                    if status == 200 and ok(body.decode()):
                        return body.decode()
                    await asyncio.sleep(0.1)

        try:
            status, headers, _ = await get(playlist_url)
            assert status == 404 and headers["Cache-Control"] == "no-store"
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            text = await playlist_when(lambda t: len(names_in(t)) == 2)
            assert "#EXT-X-ENDLIST" not in text and "#EXT-X-TARGETDURATION:" in text
            for name in names_in(text):
                status, headers, body = await get(f"{live.base}/hls/{room}/{name}")
                assert status == 200 and headers["Content-Type"] == "video/mp2t"
                sizes, first_key, samples = decode_segment(body)
                assert sizes == {(WIDTH, HEIGHT)} and first_key
                assert samples > 0
            assert publisher.location is not None
            async with http.delete(publisher.location) as resp:
                assert resp.status == 204
            await playlist_when(lambda t: "#EXT-X-ENDLIST" in t)
            folder = str(tmp_path / "hls" / room)
            await wait_until(lambda: not os.path.exists(folder))  # after the linger, 4 s
            status, _, _ = await get(playlist_url)
            assert status == 404
        finally:
            await publisher.close()
