"""A few seconds of video, encoded once, looped as encoded packets: the publisher's stream.

Why pre-encoded: encoding 720p live would cost the generator most of a core, and it would share
the machine with the server it measures. Here a synthetic picture (a panning diagonal pattern
with a block of fresh noise every frame, so the encoder has to spend its bit budget) is encoded
once at start — H.264 with libx264 (constrained baseline, no B-frames, a keyframe every
`keyint` frames, rate-controlled to the target bitrate) or VP8 with libvpx — and `LoopTrack`
hands the packets out again and again as `av.Packet`s with consecutive timestamps. aiortc's
sender packetizes packets without encoding (see `media_hooks`). Every H.264 keyframe of the
clip is an IDR with SPS/PPS in front, so any of them starts a decoder, and a keyframe request
from the server is answered at the next frame by jumping to the clip's next keyframe — what a
live encoder would do when asked.
"""

from __future__ import annotations

import asyncio
import fractions
import os
import time
from dataclasses import dataclass
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from loadtest.untyped import load

av = load("av")

#: RTP clock of video (90 kHz), the time base of the packets the track returns.
VIDEO_CLOCK = 90_000


@dataclass(frozen=True)
class ClipFrame:
    """One encoded frame of the clip."""

    data: bytes
    keyframe: bool


@dataclass(frozen=True)
class Clip:
    """The encoded clip and what it was encoded as."""

    codec: str
    width: int
    height: int
    fps: int
    frames: tuple[ClipFrame, ...]
    encode_s: float

    @property
    def seconds(self) -> float:
        return len(self.frames) / self.fps

    @property
    def bitrate(self) -> float:
        """Bits per second of the clip as encoded."""
        return 8 * sum(len(f.data) for f in self.frames) / max(self.seconds, 1e-9)

    @property
    def keyframes(self) -> list[int]:
        return [i for i, f in enumerate(self.frames) if f.keyframe]


def _context(codec: str, width: int, height: int, fps: int, bitrate: int, keyint: int) -> Any:
    if codec == "h264":
        cc = av.CodecContext.create("libx264", "w")
        kbps = bitrate // 1000
        cc.options = {
            "profile": "baseline",
            "preset": "veryfast",
            "tune": "zerolatency",
            "x264-params": (f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes=0:"
                            f"vbv-maxrate={kbps}:vbv-bufsize={kbps}:repeat-headers=1"),
        }
    elif codec == "vp8":
        cc = av.CodecContext.create("libvpx", "w")
        cc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                      "auto-alt-ref": "0", "keyint_min": str(keyint)}
    else:
        raise ValueError(f"codec must be h264 or vp8, not {codec!r}")
    cc.width, cc.height = width, height
    cc.pix_fmt = "yuv420p"
    cc.framerate = fractions.Fraction(fps, 1)
    cc.time_base = fractions.Fraction(1, fps)
    cc.bit_rate = bitrate
    cc.gop_size = keyint
    return cc


def encode_clip(
    *,
    codec: str = "h264",
    width: int = 1280,
    height: int = 720,
    fps: int = 30,
    seconds: float = 4.0,
    bitrate: int = 1_000_000,
    keyint: int | None = None,
) -> Clip:
    """Encode `seconds` of the synthetic picture; a keyframe every `keyint` frames (default:
    one a second). Takes about a second for 4 s of 720p H.264 on a laptop core."""
    if width % 16 or height % 2:
        raise ValueError("width must be a multiple of 16 and height even")
    keyint = keyint or fps
    count = max(keyint, round(seconds * fps / keyint) * keyint)  # whole GOPs: the loop is seamless
    t0 = time.perf_counter()
    cc = _context(codec, width, height, fps, bitrate, keyint)
    size = width * height
    # A diagonal pattern twice the picture's height; each frame views it 4 rows further down.
    pattern = bytearray()
    for y in range(2 * height):
        pattern += bytes(((x + 2 * y) & 0xFF) for x in range(width))
    chroma = bytes([128]) * (size // 4)
    bw, bh = max(16, width // 4), max(16, height // 4)
    left, top = width // 3, height // 3
    packets: list[ClipFrame] = []

    def collect(encoded: list[Any]) -> None:
        for p in encoded:
            packets.append(ClipFrame(bytes(p), bool(p.is_keyframe)))

    for n in range(count):
        off = ((4 * n) % height) * width
        luma = bytearray(pattern[off:off + size])
        # fresh noise in 8x8 tiles: detail no motion search predicts, yet not pure entropy
        tiles = os.urandom((bw // 8) * (bh // 8))
        for ty in range(bh // 8):
            line = b"".join(bytes([v]) * 8 for v in tiles[ty * (bw // 8):(ty + 1) * (bw // 8)])
            for y in range(8):
                row = (top + 8 * ty + y) * width + left
                luma[row:row + len(line)] = line
        frame = av.VideoFrame(width, height, "yuv420p")
        frame.planes[0].update(bytes(luma))
        frame.planes[1].update(chroma)
        frame.planes[2].update(chroma)
        frame.pts = n
        frame.time_base = fractions.Fraction(1, fps)
        collect(cc.encode(frame))
    collect(cc.encode(None))
    if not packets or not packets[0].keyframe:
        raise RuntimeError("the encoder did not start the clip with a keyframe")
    return Clip(codec, width, height, fps, tuple(packets), time.perf_counter() - t0)


class LoopTrack(MediaStreamTrack):
    """A video track whose `recv()` returns the clip's packets in a loop, paced at the clip's
    frame rate, with timestamps that keep counting up (the loop is invisible to receivers).
    `request_keyframe()` makes the next packet the clip's next keyframe."""

    kind = "video"

    def __init__(self, clip: Clip) -> None:
        super().__init__()
        self.clip = clip
        self._keys = clip.keyframes
        self._pos = 0
        self._n = 0
        self._start: float | None = None
        self._want_key = False
        self._step = VIDEO_CLOCK // clip.fps
        self.sent_frames = 0
        self.sent_bytes = 0
        self.sent_keyframes = 0
        self.keyframe_requests = 0
        #: times the loop fell more than 100 ms behind its schedule (its process was stalled)
        self.stalls = 0
        #: (when, seconds) of each such stall: the time the clip's timeline fell behind the
        #: wall clock for good (a player downstream eats that much of its buffer)
        self.stalled: list[tuple[float, float]] = []
        self._time_base = fractions.Fraction(1, VIDEO_CLOCK)

    def request_keyframe(self) -> None:
        """A PLI/FIR reached the publisher's sender: answer with a keyframe next."""
        self.keyframe_requests += 1
        self._want_key = True

    def _next_index(self) -> int:
        if self._want_key:
            self._want_key = False
            nxt = [k for k in self._keys if k >= self._pos]
            return nxt[0] if nxt else self._keys[0]
        return self._pos

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._n / self.clip.fps
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > 0.1:  # the loop was stalled: resume the schedule, do not burst
            self._start = now - self._n / self.clip.fps
            self.stalls += 1
            self.stalled.append((now, now - due))
        idx = self._next_index()
        frame = self.clip.frames[idx]
        self._pos = (idx + 1) % len(self.clip.frames)
        packet = av.Packet(frame.data)
        packet.pts = self._n * self._step
        packet.dts = packet.pts
        packet.time_base = self._time_base
        self._n += 1
        self.sent_frames += 1
        self.sent_bytes += len(frame.data)
        self.sent_keyframes += int(frame.keyframe)
        return packet


__all__ = ["VIDEO_CLOCK", "Clip", "ClipFrame", "LoopTrack", "encode_clip"]
