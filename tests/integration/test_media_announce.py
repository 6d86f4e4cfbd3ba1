"""media.announced_ip: a server behind 1:1 NAT tells WHIP/WHEP clients its outside address in
the answers' host candidates (the NAT delivers the checks to the sockets it bound)."""

from __future__ import annotations

from typing import Any

from tests.integration.media_peers import on_air

OUTSIDE = "203.0.113.7"  # a documentation address: never one of this machine's


def host_addresses(sdp: str) -> set[str]:
    return {line.split(" ")[4] for line in sdp.split("\r\n")
            if line.startswith("a=candidate:") and line.split(" ")[7] == "host"
            and ":" not in line.split(" ")[4]}


async def test_answers_carry_the_announced_address(live_app_factory: Any) -> None:
    live = await live_app_factory(media={"announced_ip": OUTSIDE})
    async with on_air(live) as air:
        answer = air.publisher.pc.remoteDescription.sdp
        assert host_addresses(answer) == {OUTSIDE}
        assert f"c=IN IP4 {OUTSIDE}" in answer.split("\r\n")
        await air.watch()
        assert host_addresses(air.viewer.pc.remoteDescription.sdp) == {OUTSIDE}
