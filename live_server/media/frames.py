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
    # which of a simulcast publisher's layers it belongs to (0 for a single stream)
    layer: int = 0
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


class _Bits:
    """An H.264 RBSP read bit by bit (emulation prevention bytes removed), for the few
    Exp-Golomb fields of a sequence parameter set."""

    def __init__(self, nal: bytes) -> None:
        self.data = nal.replace(b"\x00\x00\x03", b"\x00\x00")
        self.pos = 0

    def bit(self) -> int:
        byte = self.pos >> 3
        if byte >= len(self.data):
            raise ValueError("the parameter set ends early")
        self.pos += 1
        return (self.data[byte] >> (7 - ((self.pos - 1) & 7))) & 1

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = value << 1 | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while not self.bit():
            zeros += 1
            if zeros > 31:
                raise ValueError("a malformed Exp-Golomb code")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def h264_size(sps: bytes) -> tuple[int, int] | None:
    """Width and height of the pictures a sequence parameter set (NAL unit, header byte
    included) describes, cropping applied (ITU-T H.264 7.3.2.1.1); None when it cannot be
    read. Simulcast layers are told apart by size without decoding anything."""
    try:
        bits = _Bits(sps)
        bits.bits(8)  # NAL header
        profile = bits.bits(8)
        bits.bits(16)  # constraint flags, level
        bits.ue()  # seq_parameter_set_id
        chroma = 1
        if profile in _HIGH_PROFILES:
            chroma = bits.ue()
            if chroma == 3:
                bits.bit()  # separate_colour_plane_flag
            bits.ue()
            bits.ue()  # bit depths
            bits.bit()  # qpprime_y_zero_transform_bypass_flag
            if bits.bit():  # seq_scaling_matrix_present_flag
                for i in range(12 if chroma == 3 else 8):
                    if bits.bit():
                        last = scale = 8
                        for _ in range(16 if i < 6 else 64):
                            if scale:
                                scale = (last + bits.se() + 256) % 256
                            last = scale or last
        bits.ue()  # log2_max_frame_num_minus4
        order = bits.ue()
        if order == 0:
            bits.ue()
        elif order == 1:
            bits.bit()
            bits.se()
            bits.se()
            for _ in range(bits.ue()):
                bits.se()
        bits.ue()  # max_num_ref_frames
        bits.bit()  # gaps_in_frame_num_value_allowed_flag
        width = (bits.ue() + 1) * 16
        map_units = bits.ue() + 1
        frame_mbs_only = bits.bit()
        height = map_units * 16 * (2 - frame_mbs_only)
        if not frame_mbs_only:
            bits.bit()
        bits.bit()  # direct_8x8_inference_flag
        if bits.bit():  # frame_cropping_flag
            left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
            unit_x = 2 if chroma in (1, 2) else 1
            unit_y = (2 if chroma == 1 else 1) * (2 - frame_mbs_only)
            width -= (left + right) * unit_x
            height -= (top + bottom) * unit_y
    except ValueError:
        return None
    return (width, height) if width > 0 and height > 0 else None


def picture_size(codec: str, data: bytes) -> tuple[int, int] | None:
    """The picture size of a keyframe: VP8's frame header, or H.264's SPS in front of it."""
    name = codec.lower()
    if name == "vp8":
        return vp8_size(data)
    if name == "h264":
        for begin, end in h264_nal_spans(data):
            if data[begin] & 0x1F == H264_SPS:
                return h264_size(data[begin:end].rstrip(b"\x00"))
    return None


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
