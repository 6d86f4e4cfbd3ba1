"""The relay's rules on plain objects: keyframe gating, bounded queues, coalesced keyframe
requests, H.264 parameter sets in front of every IDR."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from live_server.media import ice
from live_server.media.frames import H264ParameterSets, h264_nal_types, vp8_size
from live_server.media.relay import RelayStats, RoomRelay

SPS = b"\x00\x00\x00\x01\x67\x42\xc0\x1f"
PPS = b"\x00\x00\x00\x01\x68\xce\x3c\x80"
IDR = b"\x00\x00\x00\x01\x65\x88\x84"
P = b"\x00\x00\x00\x01\x41\x9a\x02"
VP8_KEY = b"\x10\x02\x00\x9d\x01\x2a\x40\x01\xf0\x00" + bytes(20)
VP8_INTER = b"\x31\x02\x00" + bytes(20)


class PublisherStandIn:
    """Counts the keyframe requests that would go to the publisher's connection."""

    def __init__(self) -> None:
        self.requests = 0

    async def __call__(self) -> int:
        self.requests += 1
        return 1


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def _relay(**kw: int) -> tuple[RoomRelay, PublisherStandIn]:
    relay = RoomRelay("r1", queue_frames=kw.get("queue", 4),
                      keyframe_min_ms=kw.get("min_ms", 60_000))
    relay.set_source("video", "VP8", 90000)
    pub = PublisherStandIn()
    relay.set_keyframe_sender(pub)
    return relay, pub


async def test_new_viewer_waits_for_a_keyframe_and_asks_for_one() -> None:
    relay, pub = _relay()
    track = relay.viewer_track("video")
    relay.attach(track)
    await _settle()
    assert pub.requests == 1
    relay.push("video", "VP8", 90000, 0, VP8_INTER)
    relay.push("video", "VP8", 90000, 3000, VP8_KEY)
    relay.push("video", "VP8", 90000, 6000, VP8_INTER)
    frames = [await track.recv(), await track.recv()]
    assert [f.keyframe for f in frames] == [True, False]
    assert track.dropped == 1


async def test_keyframe_requests_are_coalesced() -> None:
    relay, pub = _relay(min_ms=60_000)
    for _ in range(5):
        relay.request_keyframe()
    await _settle()
    assert pub.requests == 1  # the other four wait for the end of the window, merged into one
    relay.end_publisher()


async def test_lagging_viewer_skips_to_the_next_keyframe() -> None:
    relay, pub = _relay(queue=3, min_ms=0)
    track = relay.viewer_track("video")
    relay.attach(track)
    relay.push("video", "VP8", 90000, 0, VP8_KEY)
    for i in range(5):  # never read: the queue overflows
        relay.push("video", "VP8", 90000, 3000 * (i + 1), VP8_INTER)
    assert track.need_keyframe
    await _settle()
    assert pub.requests == 2  # one when the viewer joined, one when it fell behind
    relay.push("video", "VP8", 90000, 30000, VP8_INTER)  # still waiting
    relay.push("video", "VP8", 90000, 33000, VP8_KEY)
    frame = await track.recv()
    assert frame.keyframe and frame.timestamp == 33000


async def test_h264_idr_always_carries_parameter_sets() -> None:
    params = H264ParameterSets()
    data, key = params.complete(IDR)
    assert not key  # no SPS/PPS seen yet: nobody could decode it
    data, key = params.complete(SPS + PPS + IDR)
    assert key and h264_nal_types(data) == [7, 8, 5]
    data, key = params.complete(P)
    assert not key and data == P
    data, key = params.complete(IDR)
    assert key and h264_nal_types(data) == [7, 8, 5]


def test_vp8_keyframe_size() -> None:
    assert vp8_size(VP8_KEY) == (320, 240)
    assert vp8_size(VP8_INTER) is None


def test_ice_server_links() -> None:
    servers = ice.parse(("stun:stun.example.com:3478", "turns:u:p@turn.example.com:5349"))
    assert servers[0].link() == '<stun:stun.example.com:3478>; rel="ice-server"'
    assert servers[1].url == "turns:turn.example.com:5349"
    assert 'username="u"; credential="p"' in servers[1].link()


async def test_timestamps_continue_across_a_publisher_replacement() -> None:
    relay, _pub = _relay()
    feed = relay.subscribe_encoded("video")
    relay.push("video", "VP8", 90000, 0, VP8_KEY)
    relay.push("video", "VP8", 90000, 3000, VP8_INTER)
    relay.end_publisher()  # the creator's client reconnects: its clock starts at 0 again
    relay.push("video", "VP8", 90000, 0, VP8_KEY)
    relay.push("video", "VP8", 90000, 3000, VP8_INTER)
    stamps = [(await feed.get()).timestamp for _ in range(4)]  # type: ignore[union-attr]
    assert stamps == [0, 3000, 6000, 9000]


async def test_forwarded_frames_and_bytes_are_counted_per_viewer() -> None:
    counted = {"frames": 0, "bytes": 0}

    def add(key: str) -> Callable[[int], None]:
        def inc(n: int) -> None:
            counted[key] += n
        return inc

    relay = RoomRelay("r1", queue_frames=8, keyframe_min_ms=60_000,
                      stats=RelayStats(forwarded=add("frames"), forwarded_bytes=add("bytes")))
    relay.set_source("video", "VP8", 90000)
    relay.set_keyframe_sender(PublisherStandIn())
    tracks = [relay.viewer_track("video") for _ in range(3)]
    for track in tracks:
        relay.attach(track)
    relay.push("video", "VP8", 90000, 0, VP8_KEY)
    relay.push("video", "VP8", 90000, 3000, VP8_INTER)
    assert counted == {"frames": 6, "bytes": 3 * (len(VP8_KEY) + len(VP8_INTER))}
    relay.end_publisher()


ANSWER = "\r\n".join([
    "v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0", "m=video 50000 UDP/TLS/RTP/SAVPF 96",
    "c=IN IP4 10.0.0.5",
    "a=candidate:1 1 udp 2130706431 10.0.0.5 50000 typ host",
    "a=candidate:2 1 udp 2130706431 fd00::5 50002 typ host",
    "a=candidate:3 1 udp 1694498815 198.51.100.9 61000 typ srflx raddr 10.0.0.5 rport 50000",
    "a=end-of-candidates", ""])


def test_announced_ip_replaces_the_machines_own_host_addresses_only() -> None:
    from live_server.media.sdp import announce

    out = announce(ANSWER, "203.0.113.7").split("\r\n")
    assert "c=IN IP4 203.0.113.7" in out
    assert "a=candidate:1 1 udp 2130706431 203.0.113.7 50000 typ host" in out
    assert "a=candidate:2 1 udp 2130706431 fd00::5 50002 typ host" in out  # other family kept
    assert ("a=candidate:3 1 udp 1694498815 198.51.100.9 61000 typ srflx raddr 10.0.0.5 "
            "rport 50000") in out  # already an outside address
    assert announce(ANSWER, "") == ANSWER  # not configured: untouched
    v6 = announce(ANSWER, "2001:db8::7").split("\r\n")
    assert "a=candidate:2 1 udp 2130706431 2001:db8::7 50002 typ host" in v6
    assert "c=IN IP4 10.0.0.5" in v6
