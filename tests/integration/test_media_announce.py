"""media.announced_ip: a server behind 1:1 NAT tells WHIP/WHEP clients its outside address in
the answers' host candidates (the NAT delivers the checks to the sockets it bound)."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.conftest import token
from tests.integration.media_peers import Publisher, Viewer

OUTSIDE = "203.0.113.7"  # a documentation address: never one of this machine's


def host_addresses(sdp: str) -> set[str]:
    return {line.split(" ")[4] for line in sdp.split("\r\n")
            if line.startswith("a=candidate:") and line.split(" ")[7] == "host"
            and ":" not in line.split(" ")[4]}


async def test_answers_carry_the_announced_address(live_app_factory: Any) -> None:
    live = await live_app_factory(media={"announced_ip": OUTSIDE})
    room = await live.live_room("alice")
    publisher = Publisher("VP8")
    viewer = Viewer()
    async with aiohttp.ClientSession() as http:
        try:
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            answer = publisher.pc.remoteDescription.sdp
            assert host_addresses(answer) == {OUTSIDE}
            assert f"c=IN IP4 {OUTSIDE}" in answer.split("\r\n")
            assert await viewer.watch(http, f"{live.base}/api/rooms/{room}/whep") == 201
            assert host_addresses(viewer.pc.remoteDescription.sdp) == {OUTSIDE}
        finally:
            await viewer.close()
            await publisher.close()
