"""The HLS feed on a real relay: frames pushed as the publisher's session pushes them come out
as HLS segments with video and AAC audio; VP8 rooms and a disabled HLS write nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from live_server import config
from live_server.config import HlsSettings
from live_server.media.hls import PLAYLIST
from live_server.media.hls_feed import HlsFeed
from live_server.media.relay import RoomRelay
from tests.unit.test_hls_audio import OPUS_FRAME, check_in_step, encode_opus
from tests.unit.test_hls_recorder import FPS, STEP, encode, read_playlist


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


def test_no_feed_for_vp8_or_when_off(tmp_path: Path) -> None:
    assert HlsFeed.start(relay("r_vp8", "VP8"), hls_settings(tmp_path)) is None
    assert HlsFeed.start(relay("r_off"), hls_settings(tmp_path, enabled=False)) is None
    assert list(tmp_path.iterdir()) == []
