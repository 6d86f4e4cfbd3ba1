"""The HLS feed on a real relay: frames pushed as the publisher's session pushes them come out
as HLS segments with video and AAC audio; VP8 rooms and a disabled HLS write nothing."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from live_server import config
from live_server.config import HlsSettings
from live_server.media.hls import PLAYLIST, clock_sequence
from live_server.media.hls_feed import HlsFeed, HlsFeeds
from live_server.media.relay import RoomRelay
from live_server.protocol import now_ms
from tests.unit.test_hls_audio import OPUS_FRAME, check_in_step, encode_opus
from tests.unit.test_hls_recorder import FPS, STEP, AccessUnit, encode, read_playlist


def hls_settings(root: Path, **values: object) -> HlsSettings:
    return config.load(env={}, overrides={"hls": {"dir": str(root), **values}}).hls


def relay(room_id: str, video_codec: str = "H264") -> RoomRelay:
    r = RoomRelay(room_id, queue_frames=64, keyframe_min_ms=500)
    r.set_source("video", video_codec, 90_000)
    r.set_source("audio", "opus", 48_000)
    return r


async def test_feed_writes_video_and_audio_from_the_relay(tmp_path: Path) -> None:
    video, opus = encode(5), encode_opus(5)
    room = relay("r_feed")
    feed = HlsFeed.start(room, hls_settings(tmp_path, segment_ms=2000, window=6))
    assert feed is not None
    events = sorted([(au.index / FPS, 0, au.index) for au in video]
                    + [(j * OPUS_FRAME / 48_000, 1, j) for j in range(len(opus))])
    for _, kind, i in events:
        if kind == 0:
            room.push("video", "H264", 90_000, 1000 + i * STEP, video[i].data)
        else:
            room.push("audio", "opus", 48_000, 7 + i * OPUS_FRAME, opus[i])
        await asyncio.sleep(0)  # frames arrive one at a time, as from the network
    await feed.stop(remove=False)
    folder = tmp_path / "r_feed"
    pl = read_playlist(folder / PLAYLIST)
    assert pl.ended
    assert [d for d, _, _ in pl.entries] == [2.0, 2.0, 1.0]
    check_in_step(folder)
    # a second broadcast's feed starts clean, and the room's end removes everything
    again = HlsFeed.start(room, hls_settings(tmp_path))
    assert again is not None
    await again.stop(remove=True)
    assert not folder.exists()


async def test_a_broadcast_numbers_its_segments_from_the_clock(tmp_path: Path) -> None:
    """Where no earlier playlist can be read (the publisher moved to another machine, whose
    folder is its own), the clock keeps a new broadcast's sequence numbers above the previous
    one's: it counts half segments, a live broadcast one number per segment."""
    assert clock_sequence(2000, 1_000_000) == 1000
    started = 1_765_000_000_000
    minute_of_broadcast = clock_sequence(2000, started) + 60_000 // 2000
    assert clock_sequence(2000, started + 60_000) > minute_of_broadcast
    assert len(str(clock_sequence(2, started))) <= 12  # what _HLS_msn may carry
    before = clock_sequence(1000, now_ms())
    room = relay("r_clock")
    feed = HlsFeed.start(room, hls_settings(tmp_path, segment_ms=1000, window=6))
    assert feed is not None
    await push_video(room, encode(2))
    await feed.stop(remove=False)
    assert read_playlist(tmp_path / "r_clock" / PLAYLIST).media_sequence >= before


def test_no_feed_for_vp8_or_when_off(tmp_path: Path) -> None:
    assert HlsFeed.start(relay("r_vp8", "VP8"), hls_settings(tmp_path)) is None
    assert HlsFeed.start(relay("r_off"), hls_settings(tmp_path, enabled=False)) is None
    assert list(tmp_path.iterdir()) == []


async def push_video(room: RoomRelay, units: list[AccessUnit], start: int = 0) -> None:
    for au in units:
        room.push("video", "H264", 90_000, start + au.index * STEP, au.data)
        await asyncio.sleep(0)


def exists(path: str) -> bool:
    return os.path.exists(path)


async def until(check: Callable[[], bool], timeout: float = 5) -> None:
    """Wait for something the feeds do on their own time (the end, the linger)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_feeds_follow_the_publisher(tmp_path: Path) -> None:
    video = encode(3)
    events = SimpleNamespace(on_video_started=[], on_video_stopped=[],
                             moved_away=lambda room_id: False)
    feeds = HlsFeeds(hls_settings(tmp_path, segment_ms=1000, window=2), linger_s=0.3)
    feeds.attach(events)  # type: ignore[arg-type]
    folder = str(tmp_path / "r_life")
    playlist = os.path.join(folder, PLAYLIST)

    def ended() -> bool:
        return exists(playlist) and read_playlist(Path(playlist)).ended

    # a broadcast: its playlist ends when the publisher leaves, its folder goes after the linger
    room = relay("r_life")
    room.sources.pop("audio")
    events.on_video_started[0]("r_life", room)
    await push_video(room, video)
    room.close()
    events.on_video_stopped[0]("r_life")
    await until(ended)
    assert len(read_playlist(Path(playlist)).entries) == 2
    await until(lambda: not exists(folder))
    assert feeds.feeds == {}

    # the publisher leaves and comes back within the linger: the new broadcast is kept
    room = relay("r_life")
    room.sources.pop("audio")
    events.on_video_started[0]("r_life", room)
    await push_video(room, video)
    room.close()
    events.on_video_stopped[0]("r_life")
    await until(ended)
    earlier = read_playlist(Path(playlist))
    room = relay("r_life")
    room.sources.pop("audio")
    events.on_video_started[0]("r_life", room)
    assert not exists(playlist)  # the old broadcast's files are gone at once
    await push_video(room, video, start=77_777)
    await asyncio.sleep(0.5)  # past the first broadcast's linger
    pl = read_playlist(Path(playlist))
    # its sequence numbers go on above the earlier broadcast's (frames pushed faster than
    # real time, so not thanks to the clock): a cached blocking reload of the earlier playlist
    # (index.m3u8?_HLS_msn=<n>) never answers for this one
    assert not pl.ended
    assert pl.media_sequence > earlier.media_sequence + len(earlier.entries) + 1
    assert set(feeds.feeds) == {"r_life"}

    # shutdown: listeners detached, files deleted
    await feeds.close()
    assert events.on_video_started == [] and events.on_video_stopped == []
    assert not exists(folder)
    feeds.stopped("r_life")  # a late listener call after close does nothing
    HlsFeeds(hls_settings(tmp_path)).stopped("r_unknown")  # nothing to stop: no error


async def test_a_takeover_by_another_process_leaves_the_folder_alone(tmp_path: Path) -> None:
    """With several processes on one machine the HLS folder is shared: when another process
    takes the room's publisher over, this one stops writing without ending the playlist or
    deleting the segments the other one now writes beside its own."""
    video = encode(3)
    moved: set[str] = set()
    events = SimpleNamespace(on_video_started=[], on_video_stopped=[],
                             moved_away=lambda room_id: room_id in moved)
    feeds = HlsFeeds(hls_settings(tmp_path, segment_ms=1000, window=2), linger_s=0.1)
    feeds.attach(events)  # type: ignore[arg-type]
    playlist = tmp_path / "r_moved" / PLAYLIST
    room = relay("r_moved")
    room.sources.pop("audio")
    events.on_video_started[0]("r_moved", room)
    await push_video(room, video)
    await until(lambda: exists(str(playlist)) and bool(read_playlist(playlist).entries))
    before = read_playlist(playlist)
    moved.add("r_moved")
    room.close()
    events.on_video_stopped[0]("r_moved")
    await asyncio.sleep(0.3)  # past the linger a normal end would wait
    after = read_playlist(playlist)
    assert not after.ended and after.entries == before.entries  # untouched
    assert all(after.path(playlist.parent, name).exists() for _, name, _ in after.entries)
    assert feeds.feeds == {}
    await feeds.close()


async def test_a_replacing_publisher_keeps_the_playlist(tmp_path: Path) -> None:
    """The creator's new WHIP session replaces the old one on the same relay: the listener
    fires again, and the playlist must go on rather than start over."""
    video = encode(4)
    events = SimpleNamespace(on_video_started=[], on_video_stopped=[],
                             moved_away=lambda room_id: False)
    feeds = HlsFeeds(hls_settings(tmp_path, segment_ms=1000, window=6), linger_s=0.1)
    feeds.attach(events)  # type: ignore[arg-type]
    room = relay("r_again")
    room.sources.pop("audio")
    events.on_video_started[0]("r_again", room)
    feed = feeds.feeds["r_again"]
    await push_video(room, video[: 2 * FPS])
    room.end_publisher()
    events.on_video_started[0]("r_again", room)  # the replacing session is up
    assert feeds.feeds["r_again"] is feed
    await push_video(room, video[2 * FPS :], start=555)  # its own clock; the relay continues it
    await until(lambda: len(feed.recorder.segments) == 3)
    first = feed.recorder.segments[0].seq  # the clock's floor (a fresh start is above it)
    assert [s.seq for s in feed.recorder.segments] == [first, first + 1, first + 2]
    # a replacement that switches to VP8 cannot be written: the HLS rendition ends with it
    room.set_source("video", "VP8", 90_000)
    events.on_video_started[0]("r_again", room)
    assert "r_again" not in feeds.feeds
    assert not exists(str(tmp_path / "r_again"))
    await feeds.close()
