"""A viewer's RTP headers written in front of the room's shared payloads (media/fanout.py):
what aiortc's own sender would have put on the wire, sequence numbers and timestamps that
wrap, a viewer that starts at a keyframe, NACKs answered (plain or as RTX)."""

from __future__ import annotations

import asyncio

from aiortc import clock
from aiortc.codecs.h264 import h264_depayload
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket, wrap_rtx

from live_server.media.aiortc_hooks import Packetizer
from live_server.media.fanout import (
    ABS_SEND_TIME_PROBE,
    HISTORY_SIZE,
    ExtensionBlock,
    RtpOut,
    ntp_now,
)
from live_server.media.relay import RoomRelay

MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


def _map(*uris: str) -> HeaderExtensionsMap:
    m = HeaderExtensionsMap()
    m.configure(RTCRtpParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=i + 1, uri=uri) for i, uri in enumerate(uris)]))
    return m


def _aiortc_packet(pt: int, seq: int, ts: int, ssrc: int, marker: int, payload: bytes,
                   mid: str | None, abs_send_time: int | None,
                   extensions: HeaderExtensionsMap) -> RtpPacket:
    packet = RtpPacket(payload_type=pt, marker=marker, sequence_number=seq, timestamp=ts,
                       ssrc=ssrc, payload=payload)
    packet.extensions.mid = mid
    packet.extensions.abs_send_time = abs_send_time
    return packet


def _block(extensions: HeaderExtensionsMap, mid: str | None) -> ExtensionBlock:
    sample = RtpPacket()
    sample.extensions.abs_send_time = int.from_bytes(ABS_SEND_TIME_PROBE, "big")
    sample.extensions.mid = mid
    return ExtensionBlock(sample.serialize(extensions)[12:])


def test_packets_are_byte_for_byte_what_aiortc_would_send() -> None:
    extensions = _map(MID, ABS)
    block = _block(extensions, "1")
    out = RtpOut(ssrc=0xDEADBEEF, payload_type=102, sequence=500, timestamp_origin=77)
    payloads = [bytes([i]) * (1000 - i) for i in range(4)]
    ntp = clock.current_ntp_time()
    packets = out.frame(payloads, 3000, block.at(ntp))
    abs_send_time = (ntp >> 14) & 0xFFFFFF
    expected = [_aiortc_packet(102, 500 + i, 3077, 0xDEADBEEF, int(i == 3), p, "1",
                               abs_send_time, extensions).serialize(extensions)
                for i, p in enumerate(payloads)]
    assert packets == expected
    parsed = [RtpPacket.parse(p, extensions) for p in packets]
    assert [p.extensions.mid for p in parsed] == ["1"] * 4
    assert [p.extensions.abs_send_time for p in parsed] == [abs_send_time] * 4
    assert out.last_timestamp == 3077


def test_without_extensions_the_header_is_the_fixed_twelve_bytes() -> None:
    extensions = _map()
    block = _block(extensions, None)
    assert block.at(ntp_now()) == b""
    out = RtpOut(ssrc=9, payload_type=111, sequence=1, timestamp_origin=0)
    [packet] = out.frame([b"opus"], 960, block.at(ntp_now()))
    assert packet == RtpPacket(payload_type=111, marker=1, sequence_number=1, timestamp=960,
                               ssrc=9, payload=b"opus").serialize()


def test_an_extension_block_without_abs_send_time_stays_the_same() -> None:
    extensions = _map(MID)
    block = _block(extensions, "0")
    assert block.at(1 << 40) == block.at(5 << 40) != b""
    packet = RtpPacket.parse(RtpOut(ssrc=1, payload_type=96, sequence=0, timestamp_origin=0)
                             .frame([b"x"], 0, block.at(0))[0], extensions)
    assert packet.extensions.mid == "0" and packet.extensions.abs_send_time is None


def test_ntp_now_is_the_clock_aiortc_reports() -> None:
    before = clock.current_ntp_time()
    now = ntp_now()
    after = clock.current_ntp_time()
    assert before - (1 << 22) <= now <= after + (1 << 22)  # within 1 ms


def test_sequence_numbers_wrap_and_stay_consecutive() -> None:
    out = RtpOut(ssrc=1, payload_type=96, sequence=65533, timestamp_origin=0)
    first = out.frame([b"a", b"b", b"c"], 0)
    second = out.frame([b"d", b"e"], 3000)
    seqs = [RtpPacket.parse(p).sequence_number for p in first + second]
    assert seqs == [65533, 65534, 65535, 0, 1]
    assert out.sequence == 2
    markers = [RtpPacket.parse(p).marker for p in first + second]
    assert markers == [0, 0, 1, 0, 1]


def test_timestamps_are_offset_by_the_viewers_origin_and_wrap() -> None:
    out = RtpOut(ssrc=1, payload_type=96, sequence=0, timestamp_origin=0xFFFFF800)
    stamps = [RtpPacket.parse(out.frame([b"x"], ts)[0]).timestamp for ts in (0, 3000, 6000)]
    assert stamps == [0xFFFFF800, 0xFFFFF800 + 3000 - (1 << 32),
                      0xFFFFF800 + 6000 - (1 << 32)]
    assert stamps[1] < stamps[0]  # wrapped


def test_two_viewers_share_the_payloads_and_differ_only_in_their_headers() -> None:
    payloads = [b"p" * 1200, b"q" * 800]
    a = RtpOut(ssrc=1, payload_type=96, sequence=10, timestamp_origin=0)
    b = RtpOut(ssrc=2, payload_type=102, sequence=40000, timestamp_origin=123456)
    for pa, pb in zip(a.frame(payloads, 90), b.frame(payloads, 90), strict=True):
        x, y = RtpPacket.parse(pa), RtpPacket.parse(pb)
        assert x.payload == y.payload
        assert (x.ssrc, x.payload_type, x.timestamp) == (1, 96, 90)
        assert (y.ssrc, y.payload_type, y.timestamp) == (2, 102, 123546)


def test_a_nack_is_answered_with_the_packet_as_first_sent() -> None:
    out = RtpOut(ssrc=7, payload_type=96, sequence=65535, timestamp_origin=5)
    packets = out.frame([b"one", b"two"], 100)
    assert out.retransmission(0) == packets[1]
    assert out.retransmission(65535) == packets[0]
    assert out.retransmission(1) is None  # not sent yet


def test_a_nack_is_answered_as_rtx_when_negotiated() -> None:
    extensions = _map(MID, ABS)
    block = _block(extensions, "0")
    out = RtpOut(ssrc=7, payload_type=96, sequence=1000, timestamp_origin=5,
                 rtx_ssrc=99, rtx_payload_type=97, rtx_sequence=65535)
    ntp = ntp_now()
    packets = out.frame([b"first", b"last"], 100, block.at(ntp))
    for expected_rtx_seq, i in ((65535, 1), (0, 0)):
        original = RtpPacket.parse(packets[i], extensions)
        rtx = out.retransmission(1000 + i)
        assert rtx == wrap_rtx(original, payload_type=97, sequence_number=expected_rtx_seq,
                               ssrc=99).serialize(extensions)
    parsed = RtpPacket.parse(out.retransmission(1001) or b"", extensions)
    assert parsed.marker == 1 and parsed.payload[:2] == (1001).to_bytes(2, "big")
    assert parsed.payload[2:] == b"last" and parsed.extensions.mid == "0"


def test_the_history_forgets_packets_older_than_its_size() -> None:
    out = RtpOut(ssrc=7, payload_type=96, sequence=0, timestamp_origin=0)
    out.frame([b"old"], 0)
    for n in range(HISTORY_SIZE):
        out.frame([b"new"], 3000 * (n + 1))
    assert out.retransmission(0) is None
    assert out.retransmission(HISTORY_SIZE) is not None


async def test_a_new_viewer_starts_at_a_keyframe() -> None:
    """Through the relay's gating, the shared packetizer and a viewer's RtpOut: the first
    packets a joining viewer is sent carry the keyframe (SPS, PPS, IDR), and depayload to it."""
    relay = RoomRelay("r", queue_frames=10, keyframe_min_ms=1000)
    relay.set_source("video", "H264", 90000)
    track = relay.viewer_track("video")
    relay.attach(track)
    idr = (b"\x00\x00\x00\x01\x67" + bytes(10) + b"\x00\x00\x00\x01\x68" + bytes(3)
           + b"\x00\x00\x00\x01\x65" + bytes(range(256)) * 10)
    delta = b"\x00\x00\x00\x01\x41" + bytes(500)
    relay.push("video", "H264", 90000, 0, delta)
    relay.push("video", "H264", 90000, 3000, idr)
    relay.push("video", "H264", 90000, 6000, delta)
    out = RtpOut(ssrc=3, payload_type=96, sequence=65534, timestamp_origin=0)
    packetizer = Packetizer("H264")
    frames = [await asyncio.wait_for(track.recv(), 1) for _ in range(2)]
    assert [f.keyframe for f in frames] == [True, False]
    packets = [RtpPacket.parse(p) for f in frames for p in out.frame(*packetizer.pack(f))]
    first = [p for p in packets if p.timestamp == 3000]
    assert first[0].sequence_number == 65534 and first[-1].marker == 1
    assert b"".join(h264_depayload(p.payload) for p in first) == idr
    assert [p.sequence_number for p in packets] == [
        (65534 + i) & 0xFFFF for i in range(len(packets))]
    track.stop()
