"""Co-hosting with real peers on loopback: the creator invites, the guest accepts and publishes
with the guest token (no other token opens the guest's WHIP slot), a WHEP viewer receives the
host's and the guest's pictures in two sessions, the host removes the guest (the guest's
session and the viewer's guest session end, the token is refused from then on), and HLS is fed
by the host only."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from live_server.media.relay import RoomRelay
from live_server.web.keys import SERVICES
from live_server.web.media import MEDIA
from tests.conftest import LiveApp, token
from tests.helpers import Viewer as WsViewer
from tests.integration.media_peers import Publisher, Viewer, app_of, on_air, post_sdp


async def _accept(live: LiveApp, room: str, guest: str) -> dict[str, Any]:
    status, body = await live.call("POST", f"/api/rooms/{room}/cohost/accept", guest)
    assert status == 200, body
    return dict(body)


async def test_invite_accept_publish_watch_both_and_remove(live: LiveApp) -> None:
    svc = app_of(live)[MEDIA]
    started: list[tuple[str, RoomRelay]] = []
    svc.on_video_started.append(lambda room_id, relay: started.append((room_id, relay)))
    async with on_air(live, "H264") as air:
        room, http = air.room, air.http
        bob = await WsViewer.connect(live.base, room, token("bob"))
        carol = await WsViewer.connect(live.base, room, token("carol"))
        guest_pub, guest_viewer, probe = Publisher("VP8"), Viewer(), Publisher("VP8")
        try:
            await bob.wait_welcome()
            await carol.wait_welcome()
            # the invitation reaches bob only
            status, invited = await live.call("POST", f"/api/rooms/{room}/cohost/invite",
                                              "alice", "creator", json={"user_id": "bob"})
            assert status == 200 and invited["guest_id"] == "bob"
            notice = (await bob.wait_for(lambda: bob.of_type("cohost_invited")))[0]
            assert notice["data"]["by"] == "alice" and notice["to"] == "bob"
            # only the room's creator invites
            assert (await live.call("POST", f"/api/rooms/{room}/cohost/invite", "carol",
                                    json={"user_id": "dave"}))[0] == 403
            # nobody else can accept bob's invitation
            assert (await live.call("POST", f"/api/rooms/{room}/cohost/accept",
                                    "carol"))[0] == 404
            accepted = await _accept(live, room, "bob")
            whip = f"{live.base}{accepted['whip']}"
            assert accepted["whip"] == f"/api/rooms/{room}/guests/bob/whip"

            # the guest token, and only it, opens the guest's slot
            offer = await probe.offer()
            assert (await post_sdp(http, whip, offer, token("bob")))[0] == 403  # bob's own
            assert (await post_sdp(http, whip, offer, token("alice", "creator")))[0] == 403
            other = await live.live_room("zed")
            status, _, _ = await post_sdp(http, f"{live.base}/api/rooms/{other}/guests/bob/whip",
                                          offer, accepted["token"])
            assert status == 403  # a guest token for another room
            assert (await post_sdp(http, f"{live.base}/api/rooms/{room}/guests/carol/whip",
                                   offer, accepted["token"]))[0] == 403  # another guest's slot
            assert await guest_pub.publish(http, whip, accepted["token"]) == 201

            on = (await carol.wait_for(lambda: carol.of_type("cohost_started")))[0]
            assert on["data"]["guest_id"] == "bob" and isinstance(on["seq"], int)
            whep = f"{live.base}{on['data']['whep']}"
            status, view = await live.call("GET", f"/api/rooms/{room}/cohost")
            assert view["guests"][0]["user_id"] == "bob" and view["guests"][0]["publishing"]

            # a viewer gets both pictures: the host's session and the guest's
            await air.watch()
            assert await guest_viewer.watch(http, whep, token("carol")) == 201
            await air.viewer.wait_for(lambda: air.viewer.decoded >= 3)
            await guest_viewer.wait_for(lambda: guest_viewer.decoded >= 3)

            # HLS is the host's: only the host's relay was ever announced to its writer
            assert [r for r, _ in started] == [room]
            assert started[0][1] is svc.relay(room)

            # the host removes the guest: everything of the guest ends at once
            status, removed = await live.call("DELETE", f"/api/rooms/{room}/cohost/guests/bob",
                                              "alice", "creator")
            assert status == 200 and removed["ended"] == "removed"
            await guest_pub.wait_for(lambda: guest_pub.ended)
            await guest_viewer.wait_for(lambda: guest_viewer.ended)
            off = (await carol.wait_for(lambda: carol.of_type("cohost_ended")))[0]
            assert off["data"] == {"guest_id": "bob", "reason": "removed"}
            # the host's picture goes on
            seen = air.viewer.decoded
            await air.viewer.wait_for(lambda: air.viewer.decoded > seen + 2)
            # the token stops working
            again = Publisher("VP8")
            try:
                assert await again.publish(http, whip, accepted["token"]) == 403
            finally:
                await again.close()
            assert (await live.call("GET", f"/api/rooms/{room}/cohost"))[1]["guests"] == []
        finally:
            await guest_viewer.close()
            await guest_pub.close()
            await probe.close()
            await bob.close()
            await carol.close()


async def test_one_guest_at_a_time_and_leaving(live: LiveApp) -> None:
    room = await live.live_room("alice")
    for guest in ("bob", "carol"):
        assert (await live.call("POST", f"/api/rooms/{room}/cohost/invite", "alice", "creator",
                                json={"user_id": guest}))[0] == 200
    await _accept(live, room, "bob")
    status, body = await live.call("POST", f"/api/rooms/{room}/cohost/accept", "carol")
    assert status == 409 and body["error"]["code"] == "cohost_full"
    status, left = await live.call("POST", f"/api/rooms/{room}/cohost/leave", "bob")
    assert status == 200 and left["ended"] == "left"
    await _accept(live, room, "carol")  # the slot is free again
    # the creator cannot invite themself; a declined invitation is gone
    assert (await live.call("POST", f"/api/rooms/{room}/cohost/invite", "alice", "creator",
                            json={"user_id": "alice"}))[0] == 403
    assert (await live.call("POST", f"/api/rooms/{room}/cohost/invite", "alice", "creator",
                            json={"user_id": "dave"}))[0] == 200
    assert (await live.call("POST", f"/api/rooms/{room}/cohost/decline", "dave"))[1][
        "declined"] is True
    assert (await live.call("POST", f"/api/rooms/{room}/cohost/accept", "dave"))[0] == 404


async def test_an_invitation_lapses(live_app_factory: Any) -> None:
    live = await live_app_factory(cohost={"invite_ttl_ms": 100})
    room = await live.live_room("alice")
    assert (await live.call("POST", f"/api/rooms/{room}/cohost/invite", "alice", "creator",
                            json={"user_id": "bob"}))[0] == 200
    await asyncio.sleep(0.2)
    assert (await live.call("POST", f"/api/rooms/{room}/cohost/accept", "bob"))[0] == 404


async def test_a_guest_needs_the_host_on_air_and_ends_with_the_host(live: LiveApp) -> None:
    room = await live.live_room("alice")
    assert (await live.call("POST", f"/api/rooms/{room}/cohost/invite", "alice", "creator",
                            json={"user_id": "bob"}))[0] == 200
    accepted = await _accept(live, room, "bob")
    whip = f"{live.base}{accepted['whip']}"
    host, guest = Publisher("VP8"), Publisher("VP8")
    async with aiohttp.ClientSession() as http:
        try:
            assert await guest.publish(http, whip, accepted["token"]) == 409  # no host yet
            assert await host.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                      token("alice", "creator")) == 201
            assert await guest.publish(http, whip, accepted["token"]) == 201
            await guest.wait_for(lambda: guest.pc.connectionState == "connected")
            assert host.location is not None
            async with http.delete(host.location) as resp:
                assert resp.status == 204
            await guest.wait_for(lambda: guest.ended)
        finally:
            await guest.close()
            await host.close()


async def test_a_removal_made_elsewhere_ends_the_guest_within_the_check_interval(
        live: LiveApp) -> None:
    """Another process removed the guest (its listener is not here): the media home's re-read
    of its guests closes the session."""
    async with on_air(live, "VP8") as air:
        room, http = air.room, air.http
        assert (await live.call("POST", f"/api/rooms/{room}/cohost/invite", "alice",
                                "creator", json={"user_id": "bob"}))[0] == 200
        accepted = await _accept(live, room, "bob")
        guest = Publisher("VP8")
        try:
            assert await guest.publish(http, f"{live.base}{accepted['whip']}",
                                       accepted["token"]) == 201
            await guest.wait_for(lambda: guest.pc.connectionState == "connected")
            services = app_of(live)[SERVICES]
            assert await services.cohost.store.remove(room, "bob")  # as another process would
            await guest.wait_for(lambda: guest.ended,
                                 timeout=live.settings.cohost.check_interval_ms / 1000 + 2)
        finally:
            await guest.close()
