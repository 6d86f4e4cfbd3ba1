"""Audio in the HLS rendition: Opus packets (as a WebRTC publisher sends them, on their own
48 kHz RTP clock) become AAC in the same MPEG-TS segments as the video, in step with it."""

from __future__ import annotations

import math
import struct
from fractions import Fraction
from pathlib import Path

import av
import pytest
from av.audio.frame import AudioFrame

from live_server.media.hls import PLAYLIST, VIDEO_CLOCK, HlsRecorder
from live_server.media.hls_audio import AUDIO_CLOCK, adts_header
from tests.unit.test_hls_recorder import FPS, STEP, AccessUnit, encode, read_playlist

OPUS_FRAME = 960  # 20 ms


def encode_opus(seconds: float) -> list[bytes]:
    """A 440 Hz tone as 20 ms Opus packets."""
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format = AUDIO_CLOCK, "stereo", "s16"
    enc.time_base = Fraction(1, AUDIO_CLOCK)
    enc.bit_rate = 64_000
    second = b"".join(struct.pack("<hh", v, v) for v in (
        int(8000 * math.sin(2 * math.pi * 440 * n / AUDIO_CLOCK)) for n in range(AUDIO_CLOCK)))
    per_frame = OPUS_FRAME * 4
    out: list[bytes] = []
    for i in range(round(seconds * AUDIO_CLOCK / OPUS_FRAME)):
        frame = AudioFrame(format="s16", layout="stereo", samples=OPUS_FRAME)
        offset = (i * per_frame) % len(second)
        chunk = (second + second)[offset: offset + per_frame]
        frame.planes[0].update(chunk)
        frame.sample_rate = AUDIO_CLOCK
        frame.pts = i * OPUS_FRAME
        out += [bytes(p) for p in enc.encode(frame)]
    out += [bytes(p) for p in enc.encode(None)]
    return out


@pytest.fixture(scope="module")
def video() -> list[AccessUnit]:
    return encode(9)


@pytest.fixture(scope="module")
def opus() -> list[bytes]:
    return encode_opus(9)


VIDEO_START, AUDIO_START = 5000, 4_294_000_000  # unrelated clocks; audio wraps after ~20 s


def feed_both(rec: HlsRecorder, video: list[AccessUnit], opus: list[bytes],
              skip_audio: range = range(0), audio_from_s: float = 0) -> None:
    """Interleave by media time, the way the packets arrive."""
    events: list[tuple[float, int, int]] = [(au.index / FPS, 0, au.index) for au in video]
    events += [(j * OPUS_FRAME / AUDIO_CLOCK, 1, j) for j in range(len(opus))
               if j not in skip_audio and j * OPUS_FRAME / AUDIO_CLOCK >= audio_from_s]
    for _, kind, i in sorted(events):
        if kind == 0:
            au = video[i]
            rec.feed_video(au.data, VIDEO_START + i * STEP, au.keyframe)
        else:
            rec.feed_audio(opus[i], (AUDIO_START + i * OPUS_FRAME) & 0xFFFFFFFF)


def streams_of(path: Path) -> dict[str, tuple[int, int, int]]:
    """kind → (first pts, last pts + its duration, samples or frames), in 90 kHz ticks."""
    out: dict[str, tuple[int, int, int]] = {}
    with av.open(str(path)) as container:
        for stream in container.streams:
            assert stream.time_base == Fraction(1, VIDEO_CLOCK)
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        streams = [video] + ([audio] if audio else [])
        frames: dict[str, list[av.frame.Frame]] = {"video": [], "audio": []}
        for frame in container.decode(*streams):
            frames["audio" if isinstance(frame, AudioFrame) else "video"].append(frame)
    v = frames["video"]
    out["video"] = (int(v[0].pts or 0), int(v[-1].pts or 0) + STEP, len(v))
    if audio is not None:
        a = [f for f in frames["audio"] if isinstance(f, AudioFrame)]
        assert a[0].sample_rate == AUDIO_CLOCK and len(a[0].layout.channels) == 2
        samples = sum(f.samples for f in a)
        last = a[-1]
        out["audio"] = (int(a[0].pts or 0),
                        int(last.pts or 0) + last.samples * VIDEO_CLOCK // AUDIO_CLOCK, samples)
    return out


def check_in_step(folder: Path) -> list[dict[str, tuple[int, int, int]]]:
    """Each segment's audio covers its video give or take the AAC encoder's delay (a frame of
    priming and one of look-ahead: what it has not emitted at the cut goes in the next segment),
    and the audio runs on from one segment to the next without a hole or an overlap."""
    pl = read_playlist(folder / PLAYLIST)
    found = []
    slack = 0.1 * VIDEO_CLOCK
    previous_end = None
    for duration, name, _ in pl.entries:
        got = streams_of(pl.path(folder, name))
        vstart, vend, _ = got["video"]
        assert vend - vstart == round(duration * VIDEO_CLOCK)
        astart, aend, samples = got["audio"]
        assert abs(astart - vstart) <= slack, (name, astart, vstart)
        assert abs(aend - vend) <= slack, (name, aend, vend)
        assert abs(samples - duration * AUDIO_CLOCK) <= slack * AUDIO_CLOCK / VIDEO_CLOCK
        if previous_end is not None:
            assert abs(astart - previous_end) <= 2, (name, astart, previous_end)
        previous_end = aend
        found.append(got)
    return found


def test_audio_is_aac_in_step_with_video(tmp_path: Path, video: list[AccessUnit],
                                         opus: list[bytes]) -> None:
    rec = HlsRecorder("r_av", tmp_path, segment_ms=2000, window=6, audio=True)
    feed_both(rec, video, opus)
    rec.close(remove=False)
    pl = read_playlist(tmp_path / "r_av" / PLAYLIST)
    assert [d for d, _, _ in pl.entries] == [2.0, 2.0, 2.0, 2.0, 1.0]
    assert not any(disc for _, _, disc in pl.entries)
    check_in_step(tmp_path / "r_av")
    with av.open(str(pl.path(tmp_path / "r_av", "0.ts"))) as container:
        assert container.streams.audio[0].codec_context.name == "aac"


def test_lost_audio_packets_become_silence(tmp_path: Path, video: list[AccessUnit],
                                           opus: list[bytes]) -> None:
    rec = HlsRecorder("r_loss", tmp_path, segment_ms=2000, window=6, audio=True)
    feed_both(rec, video, opus, skip_audio=range(120, 135))  # 300 ms lost in segment 1
    rec.close(remove=False)
    check_in_step(tmp_path / "r_loss")


def test_audio_starting_late_joins_at_the_next_segment(tmp_path: Path,
                                                       video: list[AccessUnit],
                                                       opus: list[bytes]) -> None:
    rec = HlsRecorder("r_lateaudio", tmp_path, segment_ms=2000, window=6)  # audio not announced
    feed_both(rec, video, opus, audio_from_s=1.0)
    rec.close(remove=False)
    folder = tmp_path / "r_lateaudio"
    pl = read_playlist(folder / PLAYLIST)
    assert [(n, disc) for _, n, disc in pl.entries][:2] == [("0.ts", False), ("1.ts", True)]
    assert "audio" not in streams_of(pl.path(folder, "0.ts"))
    for _, name, _ in pl.entries[1:]:
        assert "audio" in streams_of(pl.path(folder, name))


def test_adts_header() -> None:
    header = adts_header(300)
    assert header[0] == 0xFF and header[1] & 0xF0 == 0xF0
    length = ((header[3] & 3) << 11) | (header[4] << 3) | (header[5] >> 5)
    assert length == 307
