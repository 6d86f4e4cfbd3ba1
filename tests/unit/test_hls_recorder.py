"""The HLS recorder with real H.264: libx264 encodes a small constrained-baseline stream, the
packets become Annex-B access units with 90 kHz RTP timestamps as the WebRTC depacketizer
gives them, and every segment the recorder writes is opened and decoded again with PyAV.
All durations come from media timestamps, never from the wall clock."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import av
import pytest
from av.video.frame import VideoFrame

from live_server.media.frames import H264_IDR, h264_nal_types
from live_server.media.frames import h264_nals as nal_units
from live_server.media.hls import (
    PLAYLIST,
    SEGMENT_RE,
    VIDEO_CLOCK,
    HlsRecorder,
    InvalidRoomId,
    remove_room,
    room_dir,
)

WIDTH, HEIGHT, FPS = 320, 240, 30
STEP = VIDEO_CLOCK // FPS


def is_keyframe(access_unit: bytes) -> bool:
    """The access unit holds an IDR slice."""
    return H264_IDR in h264_nal_types(access_unit)


@dataclass(frozen=True)
class AccessUnit:
    data: bytes
    index: int  # frame number from 0
    keyframe: bool


def encode(seconds: float, keyint: int = FPS, width: int = WIDTH,
           height: int = HEIGHT) -> list[AccessUnit]:
    """H.264 the way a WebRTC publisher sends it: baseline, no B-frames, SPS/PPS in-band."""
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = Fraction(1, FPS)
    enc.gop_size = keyint
    enc.max_b_frames = 0
    enc.options = {"profile": "baseline", "preset": "ultrafast", "tune": "zerolatency",
                   "x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes=0"}
    lumas = [bytes((k * 13 + i * 17) % 256 for k in range(width * height)) for i in range(8)]
    chroma = bytes([128]) * (width * height // 4)
    out: list[AccessUnit] = []

    def take(packets: list[av.Packet]) -> None:
        for p in packets:
            assert p.pts is not None
            out.append(AccessUnit(bytes(p), int(p.pts), p.is_keyframe))

    for i in range(round(seconds * FPS)):
        frame = VideoFrame(width, height, "yuv420p")
        frame.planes[0].update(lumas[i % len(lumas)])
        frame.planes[1].update(chroma)
        frame.planes[2].update(chroma)
        frame.pts = i
        take(enc.encode(frame))
    take(enc.encode(None))
    assert [a.index for a in out] == list(range(len(out)))
    return out


@pytest.fixture(scope="module")
def stream() -> list[AccessUnit]:
    return encode(16)


def feed(rec: HlsRecorder, units: list[AccessUnit], start_ts: int = 0) -> None:
    for au in units:
        rec.feed_video(au.data, (start_ts + au.index * STEP) & 0xFFFFFFFF, au.keyframe)


@dataclass
class Playlist:
    target: int
    media_sequence: int
    discontinuity_sequence: int
    entries: list[tuple[float, str, bool]]  # (duration s, "<seq>.ts", discontinuity before)
    ended: bool
    files: dict[str, str]  # "<seq>.ts" → the file name, which has the recorder's random prefix

    def path(self, folder: Path, short: str) -> Path:
        return folder / self.files[short]


def short_name(name: str) -> str:
    """A segment's name without the recorder's random prefix: "1a2b3c4d-7.ts" → "7.ts"."""
    assert SEGMENT_RE.fullmatch(name), name
    return name.split("-", 1)[1]


def read_playlist(path: Path) -> Playlist:
    text = path.read_text()
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    target = int(re.search(r"#EXT-X-TARGETDURATION:(\d+)", text)[1])  # type: ignore[index]
    seq = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)[1])  # type: ignore[index]
    dseq = re.search(r"#EXT-X-DISCONTINUITY-SEQUENCE:(\d+)", text)
    entries = []
    files = {}
    disc = False
    for i, line in enumerate(lines):
        if line == "#EXT-X-DISCONTINUITY":
            disc = True
        if line.startswith("#EXTINF:"):
            name = lines[i + 1]
            entries.append((float(line[8:].rstrip(",")), short_name(name), disc))
            files[short_name(name)] = name
            disc = False
    return Playlist(target, seq, int(dseq[1]) if dseq else 0, entries,
                    "#EXT-X-ENDLIST" in lines, files)


@dataclass
class Decoded:
    frames: int
    first_pts: int
    last_pts: int
    first_is_key: bool
    size: tuple[int, int]


def decode(path: Path) -> Decoded:
    """Decode a segment on its own, as a player that starts there would."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.time_base == Fraction(1, VIDEO_CLOCK)
        frames = list(container.decode(stream))
    assert frames, f"{path.name}: no frames"
    pts = [f.pts for f in frames]
    assert all(p is not None for p in pts)
    assert pts == sorted(pts)
    return Decoded(len(frames), int(pts[0] or 0), int(pts[-1] or 0), frames[0].key_frame,
                   (frames[0].width, frames[0].height))


def ts_files(folder: Path) -> set[str]:
    return {short_name(p.name) for p in folder.iterdir() if p.name.endswith(".ts")}


def test_live_playlist_window_and_decodable_segments(tmp_path: Path,
                                                     stream: list[AccessUnit]) -> None:
    rec = HlsRecorder("r_live", tmp_path, segment_ms=2000, window=3)
    feed(rec, stream[: 10 * FPS])  # 10 s: segments start at 0, 2, 4, 6, 8 s
    pl = read_playlist(tmp_path / "r_live" / PLAYLIST)
    assert not pl.ended
    assert pl.target == 2
    assert pl.media_sequence == 1
    assert [name for _, name, _ in pl.entries] == ["1.ts", "2.ts", "3.ts"]
    assert [d for d, _, _ in pl.entries] == [2.0, 2.0, 2.0]
    previous_end = None
    for (duration, name, _), seg in zip(pl.entries, rec.segments, strict=True):
        got = decode(pl.path(tmp_path / "r_live", name))
        assert got.first_is_key
        assert got.size == (WIDTH, HEIGHT)
        assert got.frames == 2 * FPS
        # measured on the media clock: first to last frame plus one frame step
        assert got.last_pts - got.first_pts + STEP == round(duration * VIDEO_CLOCK)
        if previous_end is not None:  # one timeline across segments, no gap, no overlap
            assert got.first_pts == previous_end
        previous_end = got.last_pts + STEP
        assert seg.name == pl.files[name]
    # the segment being written is not visible under its final name
    assert "4.ts" not in ts_files(tmp_path / "r_live")
    rec.close(remove=True)


def test_segments_leaving_the_window_are_deleted_after_grace(tmp_path: Path,
                                                             stream: list[AccessUnit]) -> None:
    rec = HlsRecorder("r_del", tmp_path, segment_ms=1000, window=2)
    folder = tmp_path / "r_del"
    for au in stream:
        rec.feed_video(au.data, au.index * STEP, au.keyframe)
        listed = {short_name(s.name) for s in rec.segments}
        on_disk = ts_files(folder)
        assert listed <= on_disk
        # the window plus segments still in their grace time (RFC 8216 6.2.2)
        assert len(on_disk) <= 2 * 2 + 1
    pl = read_playlist(folder / PLAYLIST)
    assert len(pl.entries) == 2
    assert pl.media_sequence == 13  # 16 s of 1 s segments: 0..14 finished, 15 open
    # segment k leaves the playlist at k + 3 s and stays 1 s (its own length) + 2 s (the
    # playlist that listed it) longer: at 15 s, 10, 11 and 12 are still there, 9 is gone
    assert ts_files(folder) == {"10.ts", "11.ts", "12.ts", "13.ts", "14.ts"}
    rec.close(remove=True)
    assert not folder.exists()
    assert tmp_path.exists()


def test_close_keeping_files_ends_the_playlist(tmp_path: Path,
                                               stream: list[AccessUnit]) -> None:
    rec = HlsRecorder("r_end", tmp_path, segment_ms=2000, window=6)
    feed(rec, stream[: 5 * FPS])  # 2 + 2 + 1 s
    rec.close(remove=False)
    rec.feed_video(stream[0].data, 0, True)  # ignored after close
    pl = read_playlist(tmp_path / "r_end" / PLAYLIST)
    assert pl.ended
    assert [(d, n) for d, n, _ in pl.entries] == [(2.0, "0.ts"), (2.0, "1.ts"), (1.0, "2.ts")]
    assert decode(pl.path(tmp_path / "r_end", "2.ts")).frames == FPS
    assert not [p for p in (tmp_path / "r_end").iterdir() if p.name.startswith(".")]
    remove_room(tmp_path, "r_end")
    assert not (tmp_path / "r_end").exists()


def test_frames_before_the_first_keyframe_are_dropped(tmp_path: Path,
                                                      stream: list[AccessUnit]) -> None:
    rec = HlsRecorder("r_late", tmp_path, segment_ms=1000, window=6)
    feed(rec, stream[10 : 4 * FPS])  # joins mid-GOP: frames 10..29 cannot be decoded
    assert rec.dropped == 20
    rec.close(remove=False)
    pl = read_playlist(tmp_path / "r_late" / PLAYLIST)
    assert [n for _, n, _ in pl.entries] == ["0.ts", "1.ts", "2.ts"]
    for _, name, _ in pl.entries:
        got = decode(pl.path(tmp_path / "r_late", name))
        assert got.first_is_key and got.frames == FPS


def test_rtp_timestamp_wraparound(tmp_path: Path, stream: list[AccessUnit]) -> None:
    rec = HlsRecorder("r_wrap", tmp_path, segment_ms=2000, window=6)
    start = 2**32 - 100 * STEP  # wraps 100 frames in, in the middle of the second segment
    feed(rec, stream[: 8 * FPS], start_ts=start)
    rec.close(remove=False)
    pl = read_playlist(tmp_path / "r_wrap" / PLAYLIST)
    assert [d for d, _, _ in pl.entries] == [2.0, 2.0, 2.0, 2.0]
    assert not any(disc for _, _, disc in pl.entries)
    ends = []
    for _, name, _ in pl.entries:
        got = decode(pl.path(tmp_path / "r_wrap", name))
        assert got.frames == 2 * FPS
        ends.append((got.first_pts, got.last_pts))
    for (_, last), (first, _) in pairwise(ends):
        assert first == last + STEP


def test_keyframes_without_parameter_sets_get_them(tmp_path: Path,
                                                   stream: list[AccessUnit]) -> None:
    """Some encoders send SPS/PPS once; every segment must still decode on its own."""
    stripped = []
    for au in stream[: 6 * FPS]:
        data = au.data
        if au.keyframe and au.index > 0:
            units = [u for u in nal_units(data) if u[0] & 0x1F not in (7, 8)]
            data = b"".join(b"\x00\x00\x00\x01" + u for u in units)
            assert is_keyframe(data)
        stripped.append(AccessUnit(data, au.index, au.keyframe))
    rec = HlsRecorder("r_ps", tmp_path, segment_ms=2000, window=6)
    feed(rec, stripped)
    rec.close(remove=False)
    pl = read_playlist(tmp_path / "r_ps" / PLAYLIST)
    for _, name, _ in pl.entries:
        got = decode(pl.path(tmp_path / "r_ps", name))
        assert got.first_is_key and got.frames == 2 * FPS


def test_new_clock_marks_a_discontinuity(tmp_path: Path, stream: list[AccessUnit]) -> None:
    """The publisher reconnects: a new encoder session with a new random RTP clock."""
    rec = HlsRecorder("r_disc", tmp_path, segment_ms=2000, window=3)
    feed(rec, stream[: 3 * FPS], start_ts=1000)  # segments 0 (2 s) and 1 (1 s, cut short)
    feed(rec, stream[15 : 9 * FPS], start_ts=3_000_000_000)  # mid-GOP: waits for a keyframe
    pl = read_playlist(tmp_path / "r_disc" / PLAYLIST)
    # 2 s, 1 s (cut by the new clock), then 2 s, 2 s, 2 s from frame 30; the window holds 3
    assert [(d, n, disc) for d, n, disc in pl.entries] == [
        (2.0, "2.ts", True), (2.0, "3.ts", False), (2.0, "4.ts", False)]
    assert pl.media_sequence == 2 and pl.discontinuity_sequence == 0
    assert rec.dropped == 15
    feed(rec, stream[9 * FPS : 13 * FPS], start_ts=3_000_000_000)
    pl = read_playlist(tmp_path / "r_disc" / PLAYLIST)
    assert pl.media_sequence == 4 and pl.discontinuity_sequence == 1
    for _, name, _ in pl.entries:
        assert decode(pl.path(tmp_path / "r_disc", name)).first_is_key
    rec.close(remove=True)


def test_a_new_resolution_starts_a_segment(tmp_path: Path, stream: list[AccessUnit]) -> None:
    """The publisher's encoder adapts (a new SPS at an IDR picture) on the same RTP clock."""
    bigger = encode(2, width=640, height=360)
    rec = HlsRecorder("r_size", tmp_path, segment_ms=2000, window=6)
    feed(rec, stream[: 3 * FPS])  # 2 s + 1 s of 320x240
    feed(rec, [AccessUnit(a.data, a.index + 3 * FPS, a.keyframe) for a in bigger])
    rec.close(remove=False)
    folder = tmp_path / "r_size"
    pl = read_playlist(folder / PLAYLIST)
    assert [(d, disc) for d, _, disc in pl.entries] == [(2.0, False), (1.0, False), (2.0, True)]
    sizes = [decode(pl.path(folder, n)).size for _, n, _ in pl.entries]
    assert sizes == [(WIDTH, HEIGHT), (WIDTH, HEIGHT), (640, 360)]


def test_asks_for_a_keyframe_when_a_segment_is_overdue(tmp_path: Path) -> None:
    units = encode(9.5, keyint=3 * FPS)  # an IDR picture every 3 s only
    asked: list[int] = []
    rec = HlsRecorder("r_pli", tmp_path, segment_ms=1000, window=6,
                      request_keyframe=lambda: asked.append(len(asked)))
    feed(rec, units)
    rec.close(remove=False)
    pl = read_playlist(tmp_path / "r_pli" / PLAYLIST)
    assert [d for d, _, _ in pl.entries] == [3.0, 3.0, 3.0, 0.5]
    assert pl.target == 3  # follows the longest segment
    # due at 1 s into each 3 s segment, then every half segment: at 1, 1.5, 2 and 2.5 s;
    # not once per frame, and not in the last segment, which ends before it is due
    assert len(asked) == 3 * 4


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", "a\\b", "x" * 65, "r_é",
                                 "/abs", "a.b", "a\x00b"])
def test_room_dir_refuses_unsafe_ids(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidRoomId):
        room_dir(tmp_path, bad)
    with pytest.raises(InvalidRoomId):
        HlsRecorder(bad, tmp_path, 2000, 6)
    assert list(tmp_path.iterdir()) == []


def test_room_dir_accepts_room_ids(tmp_path: Path) -> None:
    assert room_dir(tmp_path, "r_Ab3-_x9") == tmp_path / "r_Ab3-_x9"


def test_a_new_recorder_starts_from_a_clean_folder(tmp_path: Path,
                                                   stream: list[AccessUnit]) -> None:
    first = HlsRecorder("r_again", tmp_path, segment_ms=1000, window=6)
    feed(first, stream[: 3 * FPS])
    first.close(remove=False)
    second = HlsRecorder("r_again", tmp_path, segment_ms=1000, window=6)
    assert list((tmp_path / "r_again").iterdir()) == []
    feed(second, stream[: 3 * FPS])
    # never the same URL: not a segment's, and not a blocking reload's either
    # (index.m3u8?_HLS_msn=<n>, which a cache keeps for six target durations): the sequence
    # numbers go on above any the earlier playlist could have been asked for (a blocking
    # request may name up to two segments past its last one)
    assert not {s.name for s in first.segments} & {s.name for s in second.segments}
    assert [s.seq for s in first.segments] == [0, 1, 2]
    assert [s.seq for s in second.segments] == [6, 7]
    second.close(remove=True)
    # a floor given by the caller (the clock, for a folder another machine wrote) holds too
    third = HlsRecorder("r_again", tmp_path, segment_ms=1000, window=6, first_seq=10**10)
    feed(third, stream[: 3 * FPS])
    assert [s.seq for s in third.segments] == [10**10, 10**10 + 1]
    third.close(remove=True)


def iter_spans(data: bytes) -> Iterator[int]:
    yield from (u[0] & 0x1F for u in nal_units(data))


def test_nal_parsing(stream: list[AccessUnit]) -> None:
    first = stream[0]
    assert list(iter_spans(first.data))[:2] == [7, 8]  # SPS, PPS in front of the IDR picture
    assert is_keyframe(first.data)
    assert not is_keyframe(stream[1].data)
    assert all(is_keyframe(a.data) == a.keyframe for a in stream)


def test_access_units_through_aiortc_rtp(tmp_path: Path, stream: list[AccessUnit]) -> None:
    """What the WebRTC path really hands over: aiortc's packetizer (STAP-A for SPS+PPS, FU-A
    for large slices) and depacketizer in between, timestamps from its 90 kHz conversion."""
    from aiortc.codecs.h264 import H264Encoder, h264_depayload

    packer = H264Encoder()  # packs encoded packets; no encoder is opened for this
    rec = HlsRecorder("r_rtp", tmp_path, segment_ms=2000, window=6)
    fragmented = 0
    for au in stream[: 6 * FPS]:
        packet = av.Packet(au.data)
        packet.pts, packet.time_base = au.index, Fraction(1, FPS)
        payloads, timestamp = packer.pack(packet)
        fragmented += len(payloads) > 1
        rec.feed_video(b"".join(h264_depayload(p) for p in payloads),
                       (timestamp + 123_456_789) & 0xFFFFFFFF, au.keyframe)
    assert packer.codec is None
    assert fragmented > 0
    rec.close(remove=False)
    pl = read_playlist(tmp_path / "r_rtp" / PLAYLIST)
    assert [d for d, _, _ in pl.entries] == [2.0, 2.0, 2.0]
    for _, name, _ in pl.entries:
        got = decode(pl.path(tmp_path / "r_rtp", name))
        assert got.first_is_key and got.frames == 2 * FPS and got.size == (WIDTH, HEIGHT)
