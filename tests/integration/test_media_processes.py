"""Two worker processes on one port: a WHEP request that lands on the worker without the
room's publisher is redirected (307) to the worker that has it, and the video plays there."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiortc import RTCSessionDescription

from tests.conftest import token
from tests.integration.media_peers import HEIGHT, WIDTH, Publisher, Viewer

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
                await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
                offer = viewer.pc.localDescription.sdp
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
