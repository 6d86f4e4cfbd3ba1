"""The demo show's clip: ten seconds of a test card, encoded once with PyAV and cached on disk.

Why generated and not shipped: a few hundred kilobytes of video in the repository would be a
binary nobody can review, and a picture drawn here says plainly what it is (colour bars, a
square bouncing across them, the clip's own clock, a one-second beep). Why encoded once: the
demo publisher then sends these packets again and again, so a laptop running ``serve --demo``
spends no CPU on encoding while the show runs.

The file is MPEG-TS because it keeps H.264 in Annex B (start codes, SPS/PPS before every IDR),
the form WebRTC's packetizer and the server's relay expect, and it carries Opus as well. H.264
is constrained baseline without B-frames, a keyframe every second, so a viewer who joins waits at
most a second for a picture and the loop is seamless (whole GOPs).
"""

from __future__ import annotations

import fractions
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

WIDTH, HEIGHT, FPS, SECONDS = 640, 360, 25, 10
VIDEO_BITRATE = 600_000
AUDIO_RATE = 48_000
AUDIO_FRAME = 960  # 20 ms: WebRTC's usual Opus packet
#: bump when the picture or the encoding changes, so a cached clip of an older version is rebuilt
VERSION = 1
FILE_NAME = f"demo-clip-v{VERSION}.ts"

# colour bars (Y, U, V): white, yellow, cyan, green, magenta, red, blue (75 % BT.601)
_BARS = ((180, 128, 128), (162, 44, 142), (131, 156, 44), (112, 72, 58),
         (84, 184, 198), (65, 100, 212), (35, 212, 114))
_BAND_TOP = HEIGHT * 2 // 3  # the dark band with the clock under the bars
_SQUARE = 48

# seven-segment digits: which of the segments a b c d e f g are lit
_SEGMENTS = {"0": "abcdef", "1": "bc", "2": "abdeg", "3": "abcdg", "4": "bcfg", "5": "acdfg",
             "6": "acdefg", "7": "abc", "8": "abcdefg", "9": "abcdfg"}
_DIGIT_W, _DIGIT_H, _STROKE = 28, 52, 6


@dataclass(frozen=True)
class ClipPacket:
    """One encoded frame (video) or 20 ms of sound (audio), as stored in the clip."""

    data: bytes
    keyframe: bool


@dataclass(frozen=True)
class Clip:
    """The clip's packets in decoding order, per kind, ready to be sent in a loop."""

    video: tuple[ClipPacket, ...]
    audio: tuple[ClipPacket, ...]
    fps: int = FPS


def clip_path(var_dir: str | Path) -> Path:
    return Path(var_dir) / FILE_NAME


def ensure_clip(var_dir: str | Path) -> Path:
    """The cached clip under ``var_dir``, made first if it is not there (about two seconds of
    one core). Written to a temporary name and renamed, so a half-written file is never read."""
    path = clip_path(var_dir)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        _write(partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def load_clip(path: Path) -> Clip:
    """Every packet of the clip, read into memory (under a megabyte)."""
    video: list[ClipPacket] = []
    audio: list[ClipPacket] = []
    with av.open(str(path), "r") as container:
        for packet in container.demux():
            if not packet.size:
                continue
            into = video if packet.stream.type == "video" else audio
            into.append(ClipPacket(bytes(packet), bool(packet.is_keyframe)))
    if not video or not video[0].keyframe or not audio:
        raise ValueError(f"{path} is not a demo clip (no keyframe first, or no sound)")
    return Clip(tuple(video), tuple(audio))


def _write(path: Path) -> None:
    with av.open(str(path), "w", format="mpegts") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.bit_rate = VIDEO_BITRATE
        video.codec_context.gop_size = FPS
        video.options = {
            "profile": "baseline", "preset": "veryfast", "tune": "zerolatency",
            "x264-params": f"keyint={FPS}:min-keyint={FPS}:scenecut=0:bframes=0:"
                           "repeat-headers=1",
        }
        sound = container.add_stream("libopus", rate=AUDIO_RATE)
        sound.layout = "mono"
        sound.bit_rate = 32_000
        per_picture = AUDIO_RATE // AUDIO_FRAME // FPS  # 20 ms packets per 40 ms picture
        for n in range(FPS * SECONDS):
            container.mux(video.encode(_picture(n)))
            for k in range(per_picture):
                container.mux(sound.encode(_sound(n * per_picture + k)))
        container.mux(video.encode(None))
        container.mux(sound.encode(None))


def _picture(n: int) -> Any:
    """Frame ``n``: the bars, the square at its place, the clock at ``n / FPS`` seconds."""
    luma, u_plane, v_plane = (bytearray(plane) for plane in _card())
    # the square goes right and back once every two seconds, over the bars
    span = WIDTH - _SQUARE
    phase = (n % (2 * FPS)) / FPS
    x = int(span * (phase if phase <= 1 else 2 - phase)) & ~1
    y = (_BAND_TOP - _SQUARE) // 2 & ~1
    _fill(luma, WIDTH, x, y, _SQUARE, _SQUARE, 235)
    for plane in (u_plane, v_plane):
        _fill(plane, WIDTH // 2, x // 2, y // 2, _SQUARE // 2, _SQUARE // 2, 128)
    centis = n * 100 // FPS
    _clock(luma, f"{centis // 6000:02d}{centis // 100 % 60:02d}{centis % 100:02d}")
    frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
    for index, plane in enumerate((luma, u_plane, v_plane)):
        frame.planes[index].update(bytes(plane))
    frame.pts = n
    frame.time_base = fractions.Fraction(1, FPS)
    return frame


_CARD: tuple[bytes, bytes, bytes] | None = None


def _card() -> tuple[bytes, bytes, bytes]:
    """The still part (bars over a dark band), made once."""
    global _CARD
    if _CARD is None:
        planes: list[bytes] = []
        for channel, width, height, top in ((0, WIDTH, HEIGHT, _BAND_TOP),
                                            (1, WIDTH // 2, HEIGHT // 2, _BAND_TOP // 2),
                                            (2, WIDTH // 2, HEIGHT // 2, _BAND_TOP // 2)):
            bar = width // len(_BARS) + 1
            row = bytes(_BARS[min(x // bar, len(_BARS) - 1)][channel] for x in range(width))
            band = bytes([32 if channel == 0 else 128]) * width
            planes.append(row * top + band * (height - top))
        _CARD = (planes[0], planes[1], planes[2])
    return _CARD


def _fill(plane: bytearray, stride: int, x: int, y: int, w: int, h: int, value: int) -> None:
    line = bytes([value]) * w
    for row in range(y, y + h):
        plane[row * stride + x:row * stride + x + w] = line


def _clock(luma: bytearray, digits: str) -> None:
    """``mm.ss.cc`` in seven-segment digits, centred in the band."""
    gap, sep = 8, 16
    total = 6 * _DIGIT_W + 5 * gap + 2 * sep
    x = (WIDTH - total) // 2
    y = _BAND_TOP + (HEIGHT - _BAND_TOP - _DIGIT_H) // 2
    for i, digit in enumerate(digits):
        _digit(luma, x, y, digit)
        x += _DIGIT_W + gap
        if i in (1, 3):
            _fill(luma, WIDTH, x, y + _DIGIT_H - _STROKE, _STROKE, _STROKE, 235)
            x += sep


def _digit(luma: bytearray, x: int, y: int, digit: str) -> None:
    w, h, s = _DIGIT_W, _DIGIT_H, _STROKE
    half = (h - s) // 2
    boxes = {"a": (x, y, w, s), "b": (x + w - s, y, s, half + s), "c": (x + w - s, y + half, s,
             h - half), "d": (x, y + h - s, w, s), "e": (x, y + half, s, h - half),
             "f": (x, y, s, half + s), "g": (x, y + half, w, s)}
    for segment in _SEGMENTS[digit]:
        bx, by, bw, bh = boxes[segment]
        _fill(luma, WIDTH, bx, by, bw, bh, 235)


def _sound(n: int) -> Any:
    """20 ms number ``n``: a quiet 440 Hz beep for the first 200 ms of every second, else
    silence (a steady tone would be tiring; a beep in time with the clock shows sync)."""
    start = n * AUDIO_FRAME
    samples = bytearray()
    for i in range(start, start + AUDIO_FRAME):
        t = i % AUDIO_RATE
        value = int(3000 * math.sin(2 * math.pi * 440 * i / AUDIO_RATE)) if t < AUDIO_RATE // 5 \
            else 0
        samples += value.to_bytes(2, "little", signed=True)
    frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_FRAME)
    frame.planes[0].update(bytes(samples))
    frame.sample_rate = AUDIO_RATE
    frame.pts = start
    frame.time_base = fractions.Fraction(1, AUDIO_RATE)
    return frame
