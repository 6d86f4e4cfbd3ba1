"""Two worker processes on one port: a WHEP request that lands on the worker without the
room's publisher is redirected (307) to the worker that has it, and the video plays there."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiortc import RTCSessionDescription

from tests.conftest import token
from tests.integration.media_peers import HEIGHT, WIDTH, Publisher, Viewer, local_offer

pytestmark = pytest.mark.system

ATTEMPTS = 60  # new connections until one lands on the other worker (SO_REUSEPORT spreads them)


async def test_whep_on_the_other_worker_is_redirected_to_the_media_home(
        server_factory: Any) -> None:
    server = await server_factory(workers=2)
    creator = token("alice", "creator")
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {creator}"}
        async with http.post(f"{server.url}/api/rooms", json={"title": "Two"},
                             headers=headers) as resp:
            room = (await resp.json())["id"]
        async with http.post(f"{server.url}/api/rooms/{room}/start", headers=headers) as resp:
            assert resp.status == 200
        publisher = Publisher("VP8")
        viewers: list[Viewer] = []
        try:
            assert await publisher.publish(http, f"{server.url}/api/rooms/{room}/whip",
                                           creator) == 201
            assert publisher.location is not None
            home = publisher.location.split("/api/")[0]
            assert home != server.url  # the home is the worker's own media port

            redirected: Viewer | None = None
            for _ in range(ATTEMPTS):
                viewer = Viewer()
                viewers.append(viewer)
                offer = await local_offer(viewer.pc)
                async with aiohttp.ClientSession(  # a new connection, maybe another worker
                        connector=aiohttp.TCPConnector(force_close=True)) as fresh:
                    async with fresh.post(f"{server.url}/api/rooms/{room}/whep", data=offer,
                                          headers={"Content-Type": "application/sdp"},
                                          allow_redirects=False) as resp:
                        status, location = resp.status, resp.headers.get("Location", "")
                        body = await resp.text()
                if status == 201:  # landed on the home worker itself: end it, try again
                    async with http.delete(location) as resp:
                        assert resp.status == 204
                    continue
                assert status == 307
                assert location == f"{home}/api/rooms/{room}/whep"
                async with http.post(location, data=offer,
                                     headers={"Content-Type": "application/sdp"}) as resp:
                    assert resp.status == 201
                    assert resp.headers["Location"].startswith(home)
                    body = await resp.text()
                await viewer.pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
                redirected = viewer
                break
            assert redirected is not None, "every request landed on the home worker"
            await redirected.wait_for(lambda: redirected.decoded >= 10)
            assert set(redirected.sizes) == {(WIDTH, HEIGHT)}

            # stopping the server with a broadcast on: sessions are closed, no errors
            assert server.stop() == 0
            assert "Traceback" not in server.log()
            await redirected.wait_for(lambda: redirected.ended)
        finally:
            for v in viewers:
                await v.close()
            await publisher.close()


async def test_publishing_on_another_worker_takes_the_room_over(server_factory: Any) -> None:
    """WHIP is never redirected: a creator whose reconnect lands on the other worker publishes
    there; the old worker drops its stale session, and viewers are sent to the new home."""
    server = await server_factory(workers=2)
    creator = token("alice", "creator")
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {creator}"}
        async with http.post(f"{server.url}/api/rooms", json={"title": "Move"},
                             headers=headers) as resp:
            room = (await resp.json())["id"]
        url = f"{server.url}/api/rooms/{room}/whip"
        publishers: list[Publisher] = []
        viewer = Viewer()
        try:
            async def publish() -> Publisher:
                publisher = Publisher("VP8")
                publishers.append(publisher)
                async with aiohttp.ClientSession(  # a new connection, maybe another worker
                        connector=aiohttp.TCPConnector(force_close=True)) as fresh:
                    assert await publisher.publish(fresh, url, creator) == 201
                await publisher.wait_for(lambda: publisher.pc.connectionState == "connected")
                return publisher

            live_there = await publish()  # the publisher on the first worker
            assert live_there.location is not None
            first_home = live_there.location.split("/api/")[0]
            moved: Publisher | None = None
            for _ in range(ATTEMPTS):
                candidate = await publish()
                assert candidate.location is not None
                if not candidate.location.startswith(first_home):
                    moved = candidate
                    break
                live_there = candidate  # same worker: it replaced the one before
            assert moved is not None, "every request landed on the first worker"
            assert moved.location is not None
            new_home = moved.location.split("/api/")[0]

            stale = live_there
            await stale.wait_for(lambda: stale.ended)  # the first worker let its session go
            assert await viewer.watch(http, f"{server.url}/api/rooms/{room}/whep") == 201
            assert viewer.location is not None and viewer.location.startswith(new_home)
            await viewer.wait_for(lambda: viewer.decoded >= 10)
            assert set(viewer.sizes) == {(WIDTH, HEIGHT)}
            async with http.get(f"{server.url}/api/rooms/{room}/video") as resp:
                assert (await resp.json())["publishing"] is True
        finally:
            await viewer.close()
            for p in publishers:
                await p.close()
