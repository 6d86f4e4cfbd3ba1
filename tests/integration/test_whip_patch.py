"""Trickle ICE over PATCH on a WHIP/WHEP session URL (RFC 9725 4.3): real aiortc peers that
send their offer without candidates and trickle them afterwards; If-Match against the POST's
ETag; an ICE restart refused with 422 while the session goes on."""

from __future__ import annotations

import aiohttp
from aiortc import RTCSessionDescription

from live_server.web.media import MEDIA
from tests.conftest import LiveApp, token
from tests.integration.media_peers import Publisher, Viewer, app_of, local_offer, post_sdp
from tests.integration.media_waits import until

TRICKLE = "application/trickle-ice-sdpfrag"


def without_candidates(offer: str) -> str:
    """The offer as a trickling client sends it: no candidates and no end-of-candidates."""
    return "\r\n".join(line for line in offer.split("\r\n")
                       if not line.startswith(("a=candidate:", "a=end-of-candidates")))


def fragment(offer: str, ufrag: str | None = None, pwd: str | None = None) -> str:
    """The sdpfrag a client PATCHes: its ICE credentials, the first section's mid and every
    candidate of that section, then end-of-candidates (RFC 8840 with BUNDLE)."""
    lines = offer.split("\r\n")
    first = next(i for i, line in enumerate(lines) if line.startswith("m="))
    end = next((i for i, line in enumerate(lines) if i > first and line.startswith("m=")),
               len(lines))
    section = lines[first:end]
    own_ufrag = next(x for x in section if x.startswith("a=ice-ufrag:"))
    own_pwd = next(x for x in section if x.startswith("a=ice-pwd:"))
    out = [f"a=ice-ufrag:{ufrag}" if ufrag else own_ufrag,
           f"a=ice-pwd:{pwd}" if pwd else own_pwd, section[0]]
    out += [x for x in section if x.startswith("a=mid:")]
    out += [x for x in section if x.startswith("a=candidate:")]
    out.append("a=end-of-candidates")
    return "\r\n".join(out) + "\r\n"


async def _patch(http: aiohttp.ClientSession, url: str, body: str,
                 if_match: str | None, ctype: str = TRICKLE) -> aiohttp.ClientResponse:
    headers = {"Content-Type": ctype}
    if if_match is not None:
        headers["If-Match"] = if_match
    async with http.patch(url, data=body, headers=headers) as resp:
        await resp.read()
        return resp


async def test_whip_trickle_etag_and_restart(live: LiveApp) -> None:
    room = await live.live_room("alice")
    publisher = Publisher("VP8")
    media = app_of(live)[MEDIA]
    async with aiohttp.ClientSession() as http:
        try:
            full = await local_offer(publisher.pc)
            assert "a=candidate:" in full
            status, headers, answer = await post_sdp(
                http, f"{live.base}/api/rooms/{room}/whip", without_candidates(full),
                token("alice", "creator"))
            assert status == 201, answer
            location, etag = headers["Location"], headers["ETag"]
            assert etag.startswith('"') and etag.endswith('"')
            await publisher.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            session = next(iter(media.sessions.values()))
            assert not session.connected  # the server has no candidate of the client yet

            async with http.options(location) as resp:
                assert resp.status == 204
                assert resp.headers["Accept-Patch"] == TRICKLE
                assert "PATCH" in resp.headers["Allow"]
            frag = fragment(full)
            assert (await _patch(http, location, frag, None)).status == 428
            assert (await _patch(http, location, frag, '"stale"')).status == 412
            assert (await _patch(http, location, frag, etag, "application/sdp")).status == 415
            assert (await _patch(http, location, "hello", etag)).status == 400
            assert (await _patch(http, location.rsplit("/", 1)[0] + "/nope", frag,
                                 etag)).status == 404
            assert not session.connected
            # the trickled candidates are the only way the server can reach the client
            assert (await _patch(http, location, frag, etag)).status == 204
            await publisher.wait_for(lambda: publisher.pc.connectionState == "connected")
            relay = media.relays[room]
            await until(lambda: relay.frames_in > 0)
            assert relay.frames_in > 0

            # an ICE restart (new credentials, If-Match: *) is refused; the session goes on
            restart = fragment(full, ufrag="Zr7q", pwd="n3wPassw0rdForTheRestart1")
            resp = await _patch(http, location, restart, "*")
            assert resp.status == 422
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
            assert session.connected and not session.closed
            before = relay.frames_in
            await until(lambda: relay.frames_in > before)
            # a repeated fragment (after end-of-candidates) changes nothing
            assert (await _patch(http, location, frag, etag)).status == 204
            assert session.connected and not session.closed
            # a candidate line that does not parse is the client's error
            broken = frag.replace(" typ host", " typ", 1).replace(" udp ", " udp x", 1)
            assert (await _patch(http, location, broken, etag)).status == 400
            async with http.delete(location) as resp:
                assert resp.status == 204
            assert (await _patch(http, location, frag, etag)).status == 404
        finally:
            await publisher.close()


async def test_whep_viewer_trickles_and_decodes(live: LiveApp) -> None:
    room = await live.live_room("alice", allow_guests=True)
    publisher, viewer = Publisher("VP8"), Viewer()
    async with aiohttp.ClientSession() as http:
        try:
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            full = await local_offer(viewer.pc)
            status, headers, answer = await post_sdp(
                http, f"{live.base}/api/rooms/{room}/whep", without_candidates(full))
            assert status == 201, answer
            await viewer.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            # a list of tags in If-Match matches when one of them is the session's
            resp = await _patch(http, headers["Location"], fragment(full),
                                f'"other", {headers["ETag"]}')
            assert resp.status == 204
            await viewer.wait_for(lambda: viewer.decoded >= 3)
        finally:
            await viewer.close()
            await publisher.close()


async def test_patch_on_the_endpoint_points_at_the_session(live: LiveApp) -> None:
    room = await live.live_room("alice")
    async with aiohttp.ClientSession() as http:
        for kind in ("whip", "whep"):
            resp = await _patch(http, f"{live.base}/api/rooms/{room}/{kind}", "a=mid:0", "*")
            assert resp.status == 405
            assert resp.headers["Allow"] == "POST, OPTIONS"
