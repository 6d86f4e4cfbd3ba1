"""Low-Latency HLS from the recorder, with real H.264 (libx264, as a WebRTC publisher sends it):
the playlist read by an independent parser (``m3u8``) has the parts, the server control, the
part target and the preload hint; the parts are MPEG-TS that PyAV decodes, the first of each
segment on its own; the segment is its parts' bytes; delta updates skip what the client has;
and a blocking wait returns when the playlist holds the part, not before."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import av
import m3u8
import pytest

from live_server.media import llhls
from live_server.media.hls import PLAYLIST, HlsRecorder
from live_server.media.llhls import PART_RE, Busy, PlaylistWaits, delta, position
from tests.unit.test_hls_recorder import FPS, HEIGHT, STEP, WIDTH, AccessUnit, encode

PART_MS = 333


@pytest.fixture(scope="module")
def stream() -> list[AccessUnit]:
    return encode(12)


def feed(rec: HlsRecorder, units: list[AccessUnit]) -> None:
    for au in units:
        rec.feed_video(au.data, 7000 + au.index * STEP, au.keyframe)


def decode(data: bytes) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(data), format="mpegts") as container:
        return list(container.decode(video=0))


def test_the_playlist_lists_parts_with_server_control_and_a_preload_hint(
        tmp_path: Path, stream: list[AccessUnit]) -> None:
    rec = HlsRecorder("r_ll", tmp_path, segment_ms=2000, window=6, part_ms=PART_MS)
    feed(rec, stream[: 5 * FPS + 12])  # 5.4 s: two segments, and the third begun
    playlist = m3u8.loads(rec.playlist_path.read_text())
    assert playlist.target_duration == 2
    control = playlist.server_control
    assert control.can_block_reload == "YES"
    assert playlist.part_inf.part_target == pytest.approx(0.333)
    assert control.part_hold_back >= 2 * playlist.part_inf.part_target  # RFC 8216bis
    assert control.can_skip_until >= 6 * playlist.target_duration
    complete = [s for s in playlist.segments if s.uri]
    assert [s.uri for s in complete] == [s.name for s in rec.segments]
    assert len(complete) == 2
    every = [p for s in playlist.segments for p in s.parts]
    assert every and all(PART_RE.fullmatch(p.uri) for p in every)
    assert all(p.duration <= playlist.part_inf.part_target for p in every)
    for segment in complete:
        assert segment.parts[0].independent == "YES"  # every segment starts at an IDR picture
        assert all(p.independent is None for p in segment.parts[1:])  # keyframe every 1 s
        assert sum(p.duration for p in segment.parts) == pytest.approx(segment.duration)
    open_parts = playlist.segments[-1].parts
    assert playlist.segments[-1].uri is None and len(open_parts) >= 1  # the open segment
    hint = playlist.preload_hint
    assert hint.hint_type == "PART"
    numbers = [int(p.uri.split("-p")[1][:-3]) for p in every]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    assert hint.uri == every[-1].uri.replace(f"-p{numbers[-1]}.", f"-p{numbers[-1] + 1}.")
    assert not (rec.dir / hint.uri).exists()


def test_parts_are_mpeg_ts_that_decode_and_join_into_their_segment(
        tmp_path: Path, stream: list[AccessUnit]) -> None:
    rec = HlsRecorder("r_parts", tmp_path, segment_ms=2000, window=6, part_ms=PART_MS)
    feed(rec, stream[: 4 * FPS + 1])
    playlist = m3u8.loads(rec.playlist_path.read_text())
    for segment in [s for s in playlist.segments if s.uri]:
        joined = b"".join((rec.dir / p.uri).read_bytes() for p in segment.parts)
        assert joined == (rec.dir / segment.uri).read_bytes()
        # an independent part decodes on its own, at the publisher's size
        alone = decode((rec.dir / segment.parts[0].uri).read_bytes())
        assert alone and alone[0].key_frame
        assert (alone[0].width, alone[0].height) == (WIDTH, HEIGHT)
        assert len(alone) == round(segment.parts[0].duration * FPS)
        # the parts in order decode to every frame of the segment
        assert len(decode(joined)) == round(segment.duration * FPS) == 2 * FPS


def test_old_parts_leave_the_playlist_and_their_files_go_with_their_segment(
        tmp_path: Path, stream: list[AccessUnit]) -> None:
    rec = HlsRecorder("r_slide", tmp_path, segment_ms=1000, window=2, part_ms=PART_MS)
    feed(rec, stream)
    playlist = m3u8.loads(rec.playlist_path.read_text())
    with_parts = [s for s in playlist.segments if s.uri and s.parts]
    # parts of the last three target durations only (RFC 8216bis), of listed segments
    assert 0 < len(with_parts) <= 3
    on_disk = {p.name for p in rec.dir.iterdir() if PART_RE.fullmatch(p.name)}
    listed = {p.uri for s in playlist.segments for p in s.parts}
    assert listed <= on_disk
    # at most about two windows of segments (and their parts) stay on disk
    assert len(on_disk) <= (2 * 2 + 2) * 4


def test_an_ended_playlist_has_no_preload_hint(tmp_path: Path,
                                               stream: list[AccessUnit]) -> None:
    rec = HlsRecorder("r_end", tmp_path, segment_ms=2000, window=6, part_ms=PART_MS)
    feed(rec, stream[: 3 * FPS])
    rec.close(remove=False)
    text = rec.playlist_path.read_text()
    playlist = m3u8.loads(text)
    assert playlist.is_endlist and playlist.preload_hint is None
    assert all(s.uri for s in playlist.segments)
    assert position(text).has(10**6, 0)  # nothing more will come: every wait is answered


def test_delta_update_skips_what_is_older_than_the_skip_boundary(
        tmp_path: Path, stream: list[AccessUnit]) -> None:
    rec = HlsRecorder("r_skip", tmp_path, segment_ms=1000, window=12, part_ms=PART_MS)
    feed(rec, stream)  # 12 s of 1 s segments: the playlist spans more than 6 target durations
    full = m3u8.loads(rec.playlist_path.read_text())
    update = m3u8.loads(delta(rec.playlist_path.read_text()))
    skipped = update.skip.skipped_segments
    boundary = full.server_control.can_skip_until
    assert skipped and boundary == 6 * full.target_duration
    assert update.version == 9 and update.media_sequence == full.media_sequence
    kept = [s.uri for s in update.segments]
    assert kept == [s.uri for s in full.segments][skipped:]
    # what is kept reaches back at least the skip boundary from the end
    durations = [s.duration or sum(p.duration for p in s.parts) for s in update.segments]
    assert sum(durations) >= boundary
    # and nothing newer than the boundary was skipped
    ends = [s.duration for s in full.segments[:skipped]]
    assert sum(d or 0 for d in ends) <= sum(s.duration or sum(p.duration for p in s.parts)
                                            for s in full.segments) - boundary + 1e-6


def test_a_short_playlist_has_nothing_to_skip(tmp_path: Path,
                                              stream: list[AccessUnit]) -> None:
    rec = HlsRecorder("r_noskip", tmp_path, segment_ms=2000, window=3, part_ms=PART_MS)
    feed(rec, stream)
    text = delta(rec.playlist_path.read_text())
    assert "#EXT-X-SKIP" not in text
    update = m3u8.loads(text)
    assert [s.uri for s in update.segments] == [
        s.uri for s in m3u8.loads(rec.playlist_path.read_text()).segments]


def test_position_reads_which_parts_a_playlist_holds(tmp_path: Path,
                                                     stream: list[AccessUnit]) -> None:
    rec = HlsRecorder("r_pos", tmp_path, segment_ms=1000, window=6, part_ms=PART_MS)
    feed(rec, stream[: 2 * FPS + 10])  # segments 0 and 1, and the first part of segment 2
    pos = position(rec.playlist_path.read_text())
    assert (pos.next_msn, pos.open_parts, pos.last_parts) == (2, 1, 4)
    assert pos.has(1, None) and not pos.has(2, None)
    assert pos.has(2, 0) and not pos.has(2, 1)
    assert pos.has(1, 3)
    assert pos.has(1, 4)  # past segment 1's last part: part 0 of segment 2 (RFC 8216bis)
    assert not pos.too_far(4) and pos.too_far(5)


def test_parts_are_refused_unless_shorter_than_a_segment(tmp_path: Path) -> None:
    for bad in (0, 2000, 5000):
        with pytest.raises(ValueError):
            HlsRecorder("r_bad", tmp_path, segment_ms=2000, window=6, part_ms=bad)


async def test_a_blocking_wait_returns_when_the_part_appears_not_before(
        tmp_path: Path, stream: list[AccessUnit]) -> None:
    waits = PlaylistWaits(limit=10, poll_s=0.01)
    rec = HlsRecorder("r_wait", tmp_path, segment_ms=1000, window=6, part_ms=PART_MS,
                      on_playlist=waits.nudge)
    feed(rec, stream[:FPS + 1])
    now = position(rec.playlist_path.read_text())
    target = (now.next_msn, now.open_parts)  # the next part: not there yet
    waiter = asyncio.create_task(waits.wait(rec.playlist_path, lambda p: p.has(*target), 5))
    await asyncio.sleep(0.1)
    assert not waiter.done() and waits.waiting == 1
    units = iter(stream[FPS + 1:])
    while not waiter.done():  # one frame at a time until the part is written
        au = next(units)
        rec.feed_video(au.data, 7000 + au.index * STEP, au.keyframe)
        await asyncio.sleep(0.002)
    got = await waiter
    assert got is not None and got.has(*target)
    assert position(rec.playlist_path.read_text()).has(*target)
    assert waits.waiting == 0


async def test_waits_time_out_and_are_capped(tmp_path: Path,
                                             stream: list[AccessUnit]) -> None:
    rec = HlsRecorder("r_cap", tmp_path, segment_ms=1000, window=6, part_ms=PART_MS)
    feed(rec, stream[:FPS])
    waits = PlaylistWaits(limit=2, poll_s=0.01)
    never = [asyncio.create_task(waits.wait(rec.playlist_path, lambda p: False, 0.3))
             for _ in range(2)]
    await asyncio.sleep(0.05)
    with pytest.raises(Busy):
        await waits.wait(rec.playlist_path, lambda p: True, 1)
    assert await asyncio.gather(*never) == [None, None]
    assert waits.waiting == 0
    # the file going away answers the waiting requests at once
    gone = asyncio.create_task(waits.wait(rec.playlist_path, lambda p: False, 5))
    await asyncio.sleep(0.05)
    rec.close(remove=True)
    assert await asyncio.wait_for(gone, 1) is None
    assert not (tmp_path / "r_cap" / PLAYLIST).exists()


def test_the_plain_recorder_writes_no_parts(tmp_path: Path, stream: list[AccessUnit]) -> None:
    rec = HlsRecorder("r_plain", tmp_path, segment_ms=2000, window=6)
    feed(rec, stream[: 3 * FPS])
    text = rec.playlist_path.read_text()
    assert "#EXT-X-PART" not in text and "SERVER-CONTROL" not in text
    assert not any(PART_RE.fullmatch(p.name) for p in rec.dir.iterdir())
    assert not position(text).low_latency
    assert llhls.SKIP_TARGETS == 6
