"""A live room's stream thumbnail: published over WHIP on loopback (the client encodes, as a
browser or OBS would), fetched as ops, decoded back: the right size, a real picture, cached."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import aiohttp
import av
import pytest

from live_server.media.relay import RoomRelay
from live_server.media.thumbnail import Thumbnails, fit
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import WAIT_S
from tests.integration.media_peers import HEIGHT, WIDTH, Publisher


def _decode(jpeg: bytes) -> av.VideoFrame:
    with av.open(io.BytesIO(jpeg), format="jpeg_pipe") as container:
        return next(iter(container.decode(video=0)))


def _assert_real_picture(jpeg: bytes, size: tuple[int, int]) -> None:
    assert jpeg[:3] == b"\xff\xd8\xff"  # a JPEG
    frame = _decode(jpeg)
    assert (frame.width, frame.height) == size
    plane = frame.reformat(format="gray").planes[0]
    rows = bytes(plane)
    luma = b"".join(rows[y * plane.line_size:y * plane.line_size + frame.width]
                    for y in range(frame.height))
    assert max(luma) - min(luma) > 40  # the gradient, not a flat colour


async def _thumbnail(live: LiveApp, room: str, user: str = "olga",
                     role: str = "ops") -> tuple[int, dict[str, str], bytes]:
    async with live.client.get(f"/api/rooms/{room}/thumbnail.jpg",
                               headers=live.headers(user, role)) as resp:  # type: ignore[arg-type]
        return resp.status, dict(resp.headers), await resp.read()


async def _first_picture(live: LiveApp, room: str) -> tuple[dict[str, str], bytes]:
    for _ in range(int(WAIT_S * 10)):
        status, headers, body = await _thumbnail(live, room)
        if status == 200:
            return headers, body
        await asyncio.sleep(0.1)
    raise AssertionError(f"no thumbnail within {WAIT_S} s (last status {status})")


def test_the_size_keeps_the_aspect() -> None:
    assert fit(640, 360) == (160, 90)
    assert fit(360, 640) == (90, 160)
    assert fit(320, 240) == (160, 120)
    assert fit(1, 1000) == (2, 160)


@pytest.mark.parametrize("codec", ["H264", "VP8"])
async def test_ops_get_a_picture_of_the_broadcast(live: LiveApp, codec: str) -> None:
    room = await live.live_room()
    status, headers, _ = await _thumbnail(live, room)
    assert status == 404 and headers["Cache-Control"] == "no-store"  # no video yet
    publisher = Publisher(codec)
    async with aiohttp.ClientSession() as http:
        try:
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            headers, jpeg = await _first_picture(live, room)
            # the ops list tells the console there is a picture to ask for
            status, listing = await live.call("GET", "/api/ops/rooms", "olga", "ops")
            video = next(r["video"] for r in listing["rooms"] if r["id"] == room)
            assert status == 200 and video["publishing"] and video["picture"] is True
            assert headers["Content-Type"] == "image/jpeg"
            assert headers["Cache-Control"] == "private, max-age=5"
            _assert_real_picture(jpeg, fit(WIDTH, HEIGHT))
            thumbnails: Thumbnails = live.client.app[SERVICES].thumbnails
            made = thumbnails.decoded
            for _ in range(5):  # within the 5 s, the same picture without decoding again
                status, _, again = await _thumbnail(live, room)
                assert status == 200 and again == jpeg
            assert thumbnails.decoded == made
        finally:
            await publisher.close()


async def test_only_ops_and_only_known_rooms(live: LiveApp) -> None:
    room = await live.live_room()
    status, _, body = await _thumbnail(live, room, "alice", "creator")
    assert status == 403
    async with live.client.get(f"/api/rooms/{room}/thumbnail.jpg") as resp:
        assert resp.status == 401 or resp.status == 403
    status, _, body = await _thumbnail(live, "nosuchroom")
    assert status == 404 and b"not_found" in body


class _Elsewhere:
    """A process of the same machine that is not the room's media home: no relay here."""

    def relay(self, room_id: str) -> RoomRelay | None:
        return None


async def test_another_process_uses_the_hls_output(live: LiveApp) -> None:
    room = await live.live_room()
    services: Any = live.client.app[SERVICES]
    other = Thumbnails(_Elsewhere(), services.room_store, live.settings.hls)
    assert await other.jpeg(room) is None  # nothing written yet
    publisher = Publisher("H264")
    async with aiohttp.ClientSession() as http:
        try:
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            jpeg = None
            for _ in range(int(WAIT_S * 10)):  # the first segment is written after ~2 s
                jpeg = await other.jpeg(room)
                if jpeg is not None:
                    break
                await asyncio.sleep(0.2)
            assert jpeg is not None, "no picture from the HLS segments"
            _assert_real_picture(jpeg, fit(WIDTH, HEIGHT))
        finally:
            await publisher.close()
