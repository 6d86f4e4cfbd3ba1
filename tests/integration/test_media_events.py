"""What the room sees of its video: ``video_started`` / ``video_stopped`` on the websocket,
going live on publish, a late joiner's first picture, a publisher reconnecting."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from live_server.web.media import MEDIA
from tests.conftest import LiveApp, token
from tests.helpers import Viewer as WsViewer
from tests.integration.media_peers import (
    HEIGHT,
    WIDTH,
    Publisher,
    Viewer,
    app_of,
    on_air,
    post_sdp,
)


async def test_video_events_reach_websocket_viewers(live: LiveApp) -> None:
    room = await live.live_room("alice")
    watcher = await WsViewer.connect(live.base, room, token("bob"))
    publisher = Publisher("H264")
    async with aiohttp.ClientSession() as http:
        try:
            await watcher.wait_welcome()
            assert await live.call("GET", f"/api/rooms/{room}/video") == (
                200, {"publishing": False})
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            started = await watcher.wait_for(lambda: watcher.of_type("video_started"))
            assert started[0]["data"]["codecs"] == {"video": "H264"}
            assert isinstance(started[0]["seq"], int)  # guaranteed: sequenced, replayable
            assert await live.call("GET", f"/api/rooms/{room}/video") == (200, {
                "publishing": True, "codecs": {"video": "H264"},
                "whep": f"/api/rooms/{room}/whep"})
            assert publisher.location is not None
            async with http.delete(publisher.location) as resp:
                assert resp.status == 204
            stopped = await watcher.wait_for(lambda: watcher.of_type("video_stopped"))
            assert stopped[0]["data"]["reason"] == "deleted"
            assert stopped[0]["seq"] > started[0]["seq"]
            assert (await live.call("GET", f"/api/rooms/{room}/video"))[1] == {
                "publishing": False}
        finally:
            await publisher.close()
            await watcher.close()


async def test_publishing_with_golive_starts_a_scheduled_room(live: LiveApp) -> None:
    status, room = await live.call("POST", "/api/rooms", "alice", "creator",
                                   json={"title": "Later"})
    assert status == 201 and room["state"] == "scheduled"
    publisher = Publisher("VP8")
    async with aiohttp.ClientSession() as http:
        try:
            url = f"{live.base}/api/rooms/{room['id']}/whip?golive=1"
            assert await publisher.publish(http, url, token("alice", "creator")) == 201
            # live once media flows (tests/integration/test_golive.py), not at the POST
            for _ in range(200):
                status, after = await live.call("GET", f"/api/rooms/{room['id']}")
                if after["state"] == "live":
                    break
                await asyncio.sleep(0.05)
            assert after["state"] == "live"
        finally:
            await publisher.close()


async def test_late_joiner_gets_a_picture_after_a_forwarded_keyframe_request(
        live: LiveApp) -> None:
    """The publisher's encoder makes keyframes rarely (at the start, on request, when its
    bitrate target moves; aiortc's VP8 keyframe interval is minutes): the late joiner's first
    picture follows the keyframe request the server forwarded to the publisher."""
    room = await live.live_room("alice")
    publisher = Publisher("VP8")
    first, late = Viewer(), Viewer()
    async with aiohttp.ClientSession() as http:
        try:
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            assert await first.watch(http, f"{live.base}/api/rooms/{room}/whep") == 201
            await first.wait_for(lambda: first.decoded >= 45)  # long past the first keyframe
            relay = app_of(live)[MEDIA].relay(room)
            keyframes_before = relay.keyframes_in
            requests_before = publisher.keyframe_requests
            assert await late.watch(http, f"{live.base}/api/rooms/{room}/whep") == 201
            await late.wait_for(lambda: late.decoded >= 5)
            assert set(late.sizes) == {(WIDTH, HEIGHT)}
            assert publisher.keyframe_requests > requests_before
            assert relay.keyframes_in > keyframes_before
        finally:
            await first.close()
            await late.close()
            await publisher.close()


async def test_a_viewers_keyframe_request_reaches_the_publisher(live: LiveApp) -> None:
    async with on_air(live, "H264") as air:
        publisher, viewer = air.publisher, air.viewer
        await air.watch()
        await viewer.wait_for(lambda: viewer.decoded >= 20)
        before = publisher.keyframe_requests
        await viewer.request_keyframe()
        await publisher.wait_for(lambda: publisher.keyframe_requests > before)
        seen = viewer.decoded
        await viewer.wait_for(lambda: viewer.decoded >= seen + 10)


async def test_reconnecting_publisher_resumes_the_room(live: LiveApp) -> None:
    room = await live.live_room("alice")
    viewer = Viewer()
    first, second = Publisher("VP8"), Publisher("VP8")
    url = f"{live.base}/api/rooms/{room}/whip"
    async with aiohttp.ClientSession() as http:
        try:
            assert await first.publish(http, url, token("alice", "creator")) == 201
            assert await viewer.watch(http, f"{live.base}/api/rooms/{room}/whep") == 201
            await viewer.wait_for(lambda: viewer.decoded >= 10)
            # the creator's client comes back while its old session still lingers
            assert await second.publish(http, url, token("alice", "creator")) == 201
            media = app_of(live)[MEDIA]
            assert media.publishers[room].id in second.location
            seen = viewer.decoded
            await viewer.wait_for(lambda: viewer.decoded >= seen + 20)
            assert set(viewer.sizes) == {(WIDTH, HEIGHT)}
        finally:
            await viewer.close()
            await first.close()
            await second.close()


async def test_ending_the_room_ends_its_video(live_app_factory: Any) -> None:
    live = await live_app_factory(media={"home_ttl_ms": 900})
    room = await live.live_room("alice")
    watcher = await WsViewer.connect(live.base, room, token("bob"))
    publisher = Publisher("VP8")
    viewer = Viewer()
    async with aiohttp.ClientSession() as http:
        try:
            await watcher.wait_welcome()
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            assert await viewer.watch(http, f"{live.base}/api/rooms/{room}/whep") == 201
            await viewer.wait_for(lambda: viewer.decoded >= 1)
            status, _ = await live.call("POST", f"/api/rooms/{room}/end", "alice", "creator")
            assert status == 200
            stopped = await watcher.wait_for(lambda: watcher.of_type("video_stopped"))
            assert stopped[0]["data"]["reason"] == "room_ended"
            media = app_of(live)[MEDIA]
            assert media.sessions == {} and await media.store.home(room) is None
        finally:
            await viewer.close()
            await publisher.close()
            await watcher.close()


async def test_a_session_whose_ice_never_connects_is_closed(live_app_factory: Any) -> None:
    live = await live_app_factory(media={"session_idle_ms": 300})
    room = await live.live_room("alice")
    publisher = Publisher("VP8")
    async with aiohttp.ClientSession() as http:
        offer = await publisher.offer()
        await publisher.close()  # the client goes away before any connectivity check
        status, headers, _ = await post_sdp(http, f"{live.base}/api/rooms/{room}/whip", offer,
                                            token("alice", "creator"))
        assert status == 201
        media = app_of(live)[MEDIA]
        for _ in range(200):
            if not media.sessions:
                break
            await asyncio.sleep(0.05)
        assert media.sessions == {} and await media.store.home(room) is None
        async with http.delete(headers["Location"]) as resp:
            assert resp.status == 404


async def test_publisher_leaving_without_delete_is_noticed(live: LiveApp) -> None:
    room = await live.live_room("alice")
    watcher = await WsViewer.connect(live.base, room, token("bob"))
    publisher = Publisher("VP8")
    async with aiohttp.ClientSession() as http:
        try:
            await watcher.wait_welcome()
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            await watcher.wait_for(lambda: watcher.of_type("video_started"))
            await publisher.close()  # the encoder app quits: no DELETE
            stopped = await watcher.wait_for(lambda: watcher.of_type("video_stopped"))
            assert stopped[0]["data"]["reason"] in ("closed", "disconnected")
            media = app_of(live)[MEDIA]
            assert media.sessions == {} and await media.store.home(room) is None
            late = Viewer()  # a viewer now is told to come back later
            try:
                assert await late.watch(http, f"{live.base}/api/rooms/{room}/whep") == 409
                assert "Retry-After" in late.headers
            finally:
                await late.close()
        finally:
            await watcher.close()


async def test_two_publishes_at_once_leave_one_publisher(live: LiveApp) -> None:
    room = await live.live_room("alice")
    url = f"{live.base}/api/rooms/{room}/whip"
    a, b = Publisher("VP8"), Publisher("VP8")
    viewer = Viewer()
    async with aiohttp.ClientSession() as http:
        try:
            statuses = await asyncio.gather(a.publish(http, url, token("alice", "creator")),
                                            b.publish(http, url, token("alice", "creator")))
            assert statuses == [201, 201]
            media = app_of(live)[MEDIA]
            publishers = [s for s in media.sessions.values() if s.role == "publisher"]
            assert len(publishers) == 1
            assert publishers[0].id in (a.location or "") + (b.location or "")
            assert await viewer.watch(http, f"{live.base}/api/rooms/{room}/whep") == 201
            await viewer.wait_for(lambda: viewer.decoded >= 20)
            assert set(viewer.sizes) == {(WIDTH, HEIGHT)}
        finally:
            await viewer.close()
            await a.close()
            await b.close()
