"""Encoded frames as the relay passes them around, and the per-codec facts it needs about them
(is this a keyframe? how large is the picture?). Pure functions over bytes, no aiortc."""

from __future__ import annotations

import dataclasses
import struct

VIDEO_CLOCK_RATE = 90000
AUDIO_CLOCK_RATE = 48000

_START = b"\x00\x00\x00\x01"
_H264_IDR, _H264_SPS, _H264_PPS = 5, 7, 8


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


def h264_nal_types(data: bytes) -> list[int]:
    """The NAL unit types of an Annex-B buffer, in order."""
    types: list[int] = []
    i = data.find(b"\x00\x00\x01")
    while i != -1 and i + 3 < len(data):
        types.append(data[i + 3] & 0x1F)
        i = data.find(b"\x00\x00\x01", i + 3)
    return types


def h264_nals(data: bytes) -> list[bytes]:
    """The NAL units of an Annex-B buffer, without their start codes."""
    out: list[bytes] = []
    starts: list[tuple[int, int]] = []  # (start code position, payload start)
    i = data.find(b"\x00\x00\x01")
    while i != -1:
        pos = i - 1 if i > 0 and data[i - 1] == 0 else i
        starts.append((pos, i + 3))
        i = data.find(b"\x00\x00\x01", i + 3)
    for n, (_pos, begin) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(data)
        if end > begin:
            out.append(data[begin:end])
    return out


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
            if kind == _H264_SPS:
                self.sps = nal
            elif kind == _H264_PPS:
                self.pps = nal
        if _H264_IDR not in types:
            return data, False
        if _H264_SPS in types and _H264_PPS in types:
            return data, True
        if self.sps is None or self.pps is None:
            return data, False  # an IDR nobody can decode yet: wait for parameter sets
        head = b""
        if _H264_SPS not in types:
            head += _START + self.sps
        if _H264_PPS not in types:
            head += _START + self.pps
        return head + data, True
