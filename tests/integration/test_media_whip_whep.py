"""WHIP (RFC 9725) and WHEP conformance: status codes and headers as a standard client sees
them, and nothing left open after a refused request."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aioice import stun
from aiortc import RTCPeerConnection, RTCRtpSender

from live_server.web.media import MEDIA
from tests.conftest import LiveApp, token
from tests.integration.media_peers import (
    NO_ICE_SERVERS,
    MovingPicture,
    Publisher,
    Viewer,
    app_of,
    local_offer,
    post_sdp,
)

ADDRESS = "127.0.0.1"  # the tests' ICE stays on loopback (media.ice_addresses)


async def _nothing_open(live: LiveApp, room: str) -> None:
    media = app_of(live)[MEDIA]
    assert media.sessions == {} and media.publishers == {}
    assert await media.store.home(room) is None


async def test_whip_publish_and_delete(live: LiveApp) -> None:
    room = await live.live_room("alice")
    publisher = Publisher("VP8")
    async with aiohttp.ClientSession() as http:
        try:
            status = await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                             token("alice", "creator"))
            assert status == 201
            h = publisher.headers
            assert h["Content-Type"].startswith("application/sdp")
            location = h["Location"]
            assert location.startswith("http://") and f"/api/rooms/{room}/whip/" in location
            assert h["ETag"].startswith('"')
            assert h["Access-Control-Allow-Origin"] == "*"
            async with http.options(location) as resp:
                assert resp.status == 204
                assert "DELETE" in resp.headers["Allow"]
            # trickle ICE (tests/integration/test_whip_patch.py) needs the session's ETag
            async with http.patch(location, data="a=candidate:1",
                                  headers={"Content-Type": "application/trickle-ice-sdpfrag"}
                                  ) as resp:
                assert resp.status == 428
            async with http.delete(location) as resp:
                assert resp.status == 204
            async with http.delete(location) as resp:
                assert resp.status == 404
            # a browser's preflight of its DELETE still passes once the session is gone
            async with http.options(location) as resp:
                assert resp.status == 204
                assert resp.headers["Access-Control-Allow-Origin"] == "*"
        finally:
            await publisher.close()
    await _nothing_open(live, room)


async def test_whip_options_and_patch_on_the_endpoint(live_app_factory: Any) -> None:
    live = await live_app_factory(media={"ice_servers": [
        "stun:stun.example.com:3478", "turn:user:pa55@turn.example.com:3478?transport=udp"]})
    room = await live.live_room("alice")
    async with aiohttp.ClientSession() as http:
        url = f"{live.base}/api/rooms/{room}/whip"
        async with http.options(url, headers={"Origin": "https://studio.example.com"}) as resp:
            assert resp.status == 204
            assert resp.headers["Accept-Post"] == "application/sdp"
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
            assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
            links = resp.headers.getall("Link")
            assert '<stun:stun.example.com:3478>; rel="ice-server"' in links
            assert ('<turn:turn.example.com:3478?transport=udp>; rel="ice-server"; '
                    'username="user"; credential="pa55"; credential-type="password"') in links
        async with http.patch(url, data="x") as resp:
            assert resp.status == 405
            assert "POST" in resp.headers["Allow"]


async def test_whip_refusals(live: LiveApp) -> None:
    room = await live.live_room("alice")
    url = f"{live.base}/api/rooms/{room}/whip"
    creator = token("alice", "creator")
    pc = RTCPeerConnection(configuration=NO_ICE_SERVERS)
    pc.addTransceiver(MovingPicture(), direction="sendonly")
    good = await local_offer(pc)
    await pc.close()
    async with aiohttp.ClientSession() as http:
        # wrong content type
        async with http.post(url, data=good, headers={"Content-Type": "application/json",
                                                       "Authorization": f"Bearer {creator}"}
                             ) as resp:
            assert resp.status == 415
        # not SDP at all, and SDP without media
        for body in ("hello", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"):
            status, _, _ = await post_sdp(http, url, body, creator)
            assert status == 400
        # no token, a broken token, a viewer, another creator
        assert (await post_sdp(http, url, good))[0] == 401
        assert (await post_sdp(http, url, good, "not-a-token"))[0] == 401
        assert (await post_sdp(http, url, good, token("bob")))[0] == 403
        assert (await post_sdp(http, url, good, token("carol", "creator")))[0] == 403
        # two video tracks
        two = RTCPeerConnection(configuration=NO_ICE_SERVERS)
        two.addTransceiver(MovingPicture(), direction="sendonly")
        two.addTransceiver(MovingPicture(), direction="sendonly")
        status, _, body = await post_sdp(http, url, await local_offer(two), creator)
        await two.close()
        assert status == 422 and "at most one video" in body
        # no codec we forward (audio in PCMU only)
        pcmu = RTCPeerConnection(configuration=NO_ICE_SERVERS)
        t = pcmu.addTransceiver("audio", direction="sendonly")
        t.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs
                               if c.mimeType == "audio/PCMU"])
        status, _, body = await post_sdp(http, url, await local_offer(pcmu), creator)
        await pcmu.close()
        assert status == 422 and "opus" in body
        # unknown room
        status, _, _ = await post_sdp(http, f"{live.base}/api/rooms/r_nope/whip", good, creator)
        assert status == 404
    await _nothing_open(live, room)


async def test_whep_conformance(live: LiveApp) -> None:
    room = await live.live_room("alice", allow_guests=True)
    url = f"{live.base}/api/rooms/{room}/whep"
    async with aiohttp.ClientSession() as http:
        async with http.options(url) as resp:
            assert resp.status == 204 and resp.headers["Accept-Post"] == "application/sdp"
        async with http.patch(url, data="x") as resp:
            assert resp.status == 405
        early = Viewer()
        try:
            assert await early.watch(http, url) == 409
            assert int(early.headers["Retry-After"]) >= 1
        finally:
            await early.close()
        async with http.post(url, data="v=0", headers={"Content-Type": "text/plain"}) as resp:
            assert resp.status == 415

        publisher = Publisher("VP8")
        viewer = Viewer()
        try:
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            assert await viewer.watch(http, url) == 201  # a guest: the room allows guests
            assert viewer.headers["Content-Type"].startswith("application/sdp")
            assert viewer.headers["ETag"]
            location = viewer.headers["Location"]
            assert f"/api/rooms/{room}/whep/" in location
            answer = viewer.pc.remoteDescription.sdp
            assert "a=sendonly" in answer and "VP8/90000" in answer
            assert "H264/90000" not in answer  # (a codec name, not a chance ICE credential)
            await viewer.wait_for(lambda: viewer.decoded >= 1)
            async with http.delete(location) as resp:
                assert resp.status == 204
            assert [s.role for s in app_of(live)[MEDIA].sessions.values()] == ["publisher"]

            # a viewer who cannot take the publisher's codec
            h264_only = RTCPeerConnection(configuration=NO_ICE_SERVERS)
            t = h264_only.addTransceiver("video", direction="recvonly")
            t.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs
                                   if c.mimeType == "video/H264"])
            status, _, body = await post_sdp(http, url, await local_offer(h264_only))
            await h264_only.close()
            assert status == 422 and "VP8" in body
        finally:
            await viewer.close()
            await publisher.close()


async def test_whep_guest_and_ban_rules(live: LiveApp) -> None:
    room = await live.live_room("alice", allow_guests=False)
    url = f"{live.base}/api/rooms/{room}/whep"
    status, _ = await live.call("POST", f"/api/rooms/{room}/bans", "alice", "creator",
                                json={"user_id": "mallory"})
    assert status == 200
    publisher = Publisher("VP8")
    async with aiohttp.ClientSession() as http:
        try:
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            for user, expected in ((None, 401), ("mallory", 403), ("bob", 201)):
                viewer = Viewer()
                try:
                    got = await viewer.watch(http, url, token(user) if user else None)
                    assert got == expected, user
                finally:
                    await viewer.close()
        finally:
            await publisher.close()


async def test_whep_beyond_the_room_limit_is_told_to_retry(live_app_factory: Any) -> None:
    live = await live_app_factory(media={"max_viewers_per_room": 1})
    room = await live.live_room("alice")
    url = f"{live.base}/api/rooms/{room}/whep"
    publisher = Publisher("VP8", audio=True)
    first, second = Viewer(audio=True), Viewer(audio=True)
    async with aiohttp.ClientSession() as http:
        try:
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            assert await first.watch(http, url) == 201
            assert await second.watch(http, url) == 503
            assert int(second.headers["Retry-After"]) >= 1
            assert first.location is not None
            async with http.delete(first.location) as resp:
                assert resp.status == 204
            third = Viewer()
            try:
                assert await third.watch(http, url) == 201  # the place is free again
            finally:
                await third.close()
        finally:
            for v in (first, second):
                await v.close()
            await publisher.close()


class StunResponder(asyncio.DatagramProtocol):
    """A minimal STUN server (RFC 5389 Binding): enough for the server's peer connections to
    learn a server-reflexive address, so a configured ICE server is really used."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.requests = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = stun.parse_message(data)
        self.requests += 1
        response = stun.Message(message_method=stun.Method.BINDING,
                                message_class=stun.Class.RESPONSE,
                                transaction_id=request.transaction_id)
        response.attributes["XOR-MAPPED-ADDRESS"] = addr
        assert self.transport is not None
        self.transport.sendto(bytes(response), addr)


async def test_configured_ice_servers_are_used_and_announced(live_app_factory: Any) -> None:
    loop = asyncio.get_running_loop()
    transport, stun_server = await loop.create_datagram_endpoint(
        StunResponder, local_addr=(ADDRESS, 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        live = await live_app_factory(media={"ice_servers": [
            f"stun:{ADDRESS}:{port}", f"turn:user:secret@{ADDRESS}:9"]})
        room = await live.live_room("alice")
        publisher = Publisher("VP8")
        async with aiohttp.ClientSession() as http:
            try:
                assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                               token("alice", "creator")) == 201
                links = publisher.headers.getall("Link")
                assert f'<stun:{ADDRESS}:{port}>; rel="ice-server"' in links
                assert any(link.startswith(f"<turn:{ADDRESS}:9>") and
                           'username="user"' in link for link in links)
                assert stun_server.requests >= 1  # the server's own gathering asked it
                assert "typ srflx" in publisher.pc.remoteDescription.sdp
            finally:
                await publisher.close()
    finally:
        transport.close()
