"""``?golive=1`` on a WHIP POST: a scheduled room goes live when the publisher's media flows
(its first frame reaches the server), not at the POST; a publisher whose media never comes
leaves the room scheduled. Real aiortc publishers."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiortc import RTCSessionDescription

from live_server.web.media import MEDIA
from tests.conftest import LiveApp, token
from tests.integration.media_peers import Publisher, app_of, post_sdp
from tests.integration.media_waits import until


async def _scheduled(live: LiveApp) -> str:
    status, room = await live.call("POST", "/api/rooms", "alice", "creator",
                                   json={"title": "Later"})
    assert status == 201 and room["state"] == "scheduled"
    return str(room["id"])


async def _state(live: LiveApp, room: str) -> str:
    status, body = await live.call("GET", f"/api/rooms/{room}")
    assert status == 200
    return str(body["state"])


async def test_golive_waits_for_the_first_frame(live: LiveApp) -> None:
    room = await _scheduled(live)
    publisher = Publisher("VP8")
    async with aiohttp.ClientSession() as http:
        try:
            status, _, answer = await post_sdp(
                http, f"{live.base}/api/rooms/{room}/whip?golive=1", await publisher.offer(),
                token("alice", "creator"))
            assert status == 201, answer
            # the answer is out but the publisher has not connected: no media, not live
            assert await _state(live, room) == "scheduled"
            await publisher.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            relay = app_of(live)[MEDIA].relays[room]
            await until(lambda: relay.frames_in > 0)
            for _ in range(200):  # a hang guard: the transition follows the first frame
                if await _state(live, room) == "live":
                    break
                await asyncio.sleep(0.05)
            assert await _state(live, room) == "live"
        finally:
            await publisher.close()


async def test_golive_without_media_stays_scheduled(live_app_factory: Any) -> None:
    live = await live_app_factory(media={"session_idle_ms": 400})
    room = await _scheduled(live)
    publisher = Publisher("VP8")
    media = app_of(live)[MEDIA]
    async with aiohttp.ClientSession() as http:
        try:
            status, _, _ = await post_sdp(http, f"{live.base}/api/rooms/{room}/whip?golive=1",
                                          await publisher.offer(), token("alice", "creator"))
            assert status == 201
            # the publisher never takes the answer: ICE never comes up, the session ends
            await until(lambda: not media.sessions)
            assert await _state(live, room) == "scheduled"
        finally:
            await publisher.close()


async def test_without_golive_media_does_not_start_the_room(live: LiveApp) -> None:
    room = await _scheduled(live)
    publisher = Publisher("VP8")
    async with aiohttp.ClientSession() as http:
        try:
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            relay = app_of(live)[MEDIA].relays[room]
            await until(lambda: relay.frames_in > 5)
            assert await _state(live, room) == "scheduled"
        finally:
            await publisher.close()
