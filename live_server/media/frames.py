"""Encoded frames as the relay passes them around, and the per-codec facts it needs about them
(is this a keyframe? how large is the picture?). Pure functions over bytes, no aiortc."""

from __future__ import annotations

import dataclasses
import struct

AUDIO_CLOCK_RATE = 48000

_START = b"\x00\x00\x00\x01"
H264_IDR, H264_SPS, H264_PPS = 5, 7, 8  # NAL unit types


@dataclasses.dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One encoded unit from the publisher, exactly as it will be sent on.

    ``data``: a VP8 frame, an Annex-B H.264 access unit (start codes, SPS/PPS in front of every
    IDR) or one Opus packet. ``timestamp`` is on the RTP clock (``clock_rate``), starting near
    zero for each publisher track. ``keyframe`` is true for frames a decoder can start from
    (every Opus packet is one)."""

    kind: str           # "audio" | "video"
    codec: str          # "VP8" | "H264" | "opus"
    data: bytes
    timestamp: int
    clock_rate: int
    keyframe: bool
    # the frame's number in its stream (video: consecutive per relay; VP8's picture id)
    number: int = dataclasses.field(default=0, compare=False)
    # RTP payloads computed once by the first viewer's sender and shared by the others (they
    # do not depend on the sender); a cache, not part of the frame's value
    payloads: list[bytes] | None = dataclasses.field(default=None, compare=False, repr=False)


def h264_nal_spans(data: bytes) -> list[tuple[int, int]]:
    """Where the NAL units of an Annex-B buffer begin and end, start codes excluded (the end
    may include zero bytes before the next start code). Positions rather than slices, so the
    slices of a large picture are not copied just to read their one-byte headers. Emulation
    prevention guarantees ``00 00 01`` never occurs inside a NAL unit."""
    spans: list[tuple[int, int]] = []
    start = data.find(b"\x00\x00\x01")
    while start >= 0:
        begin = start + 3
        nxt = data.find(b"\x00\x00\x01", begin)
        end = len(data) if nxt < 0 else nxt
        if end > begin:
            spans.append((begin, end))
        start = nxt
    return spans


def h264_nal_types(data: bytes) -> list[int]:
    """The NAL unit types of an Annex-B buffer, in order."""
    return [data[begin] & 0x1F for begin, _ in h264_nal_spans(data)]


def h264_nals(data: bytes) -> list[bytes]:
    """The NAL units of an Annex-B buffer, without their start codes and trailing zero bytes."""
    units = (data[begin:end].rstrip(b"\x00") for begin, end in h264_nal_spans(data))
    return [unit for unit in units if unit]


def vp8_is_keyframe(data: bytes) -> bool:
    """RFC 6386 9.1: the frame tag's lowest bit is 0 for a key frame."""
    return bool(data) and not data[0] & 0x01


def vp8_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 key frame header (start code 9d 01 2a, then 14-bit sizes)."""
    if len(data) < 10 or not vp8_is_keyframe(data) or data[3:6] != b"\x9d\x01\x2a":
        return None
    width, height = struct.unpack_from("<HH", data, 6)
    return width & 0x3FFF, height & 0x3FFF


class H264ParameterSets:
    """Remembers the latest SPS/PPS of one stream so every IDR sent on carries them: a viewer
    who starts at a later IDR (or a publisher that sends parameter sets only once, as some
    encoders do) still gets a decodable first picture."""

    def __init__(self) -> None:
        self.sps: bytes | None = None
        self.pps: bytes | None = None

    def complete(self, data: bytes) -> tuple[bytes, bool]:
        """(access unit with parameter sets in front of an IDR, is it a keyframe)."""
        nals = h264_nals(data)
        types = [n[0] & 0x1F for n in nals if n]
        for nal, kind in zip(nals, types, strict=False):
            if kind == H264_SPS:
                self.sps = nal
            elif kind == H264_PPS:
                self.pps = nal
        if H264_IDR not in types:
            return data, False
        if H264_SPS in types and H264_PPS in types:
            return data, True
        if self.sps is None or self.pps is None:
            return data, False  # an IDR nobody can decode yet: wait for parameter sets
        head = b""
        if H264_SPS not in types:
            head += _START + self.sps
        if H264_PPS not in types:
            head += _START + self.pps
        return head + data, True
