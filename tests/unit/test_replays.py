"""Replays' rules without I/O: a part's playlist read back, pins mapped to offsets in the replay
across broadcasts and gaps, the VOD playlist as an independent parser (m3u8) reads it, and
what the sweep deletes for age and for the disk budget."""

from __future__ import annotations

import datetime

import m3u8

from live_server.domain.replays import (
    DAY_MS,
    Kept,
    PartSpan,
    PinMark,
    SegmentEntry,
    chapters,
    parse_part_playlist,
    to_delete,
    vod_playlist,
)

PART = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:0
#EXTINF:2.000,
0a1b2c3d-0.ts
#EXT-X-DISCONTINUITY
#EXTINF:1.500,
0a1b2c3d-1.ts
#EXT-X-ENDLIST
"""


def seg(name: str, ms: int) -> SegmentEntry:
    return SegmentEntry(name, ms, False)


def test_a_part_playlist_reads_back_with_its_discontinuity() -> None:
    assert parse_part_playlist(PART) == (
        SegmentEntry("0a1b2c3d-0.ts", 2000, False), SegmentEntry("0a1b2c3d-1.ts", 1500, True))
    assert parse_part_playlist("#EXTM3U\n#EXTINF:2.0,\n../../etc/passwd\n") == ()


def test_pins_become_offsets_across_parts_and_gaps() -> None:
    one = PartSpan(1, 10_000, (seg("a-0.ts", 4000), seg("a-1.ts", 4000)))  # 10 s .. 18 s
    two = PartSpan(2, 30_000, (seg("b-0.ts", 6000),))                       # 30 s .. 36 s
    pins = [
        PinMark(5_000, "p_early", "Early"),    # before recording: the first part's start
        PinMark(12_500, "p_mug", "Mug"),       # 2.5 s into part one
        PinMark(20_000, "p_gap1", "Gap one"),  # in the gap: superseded by the later pin
        PinMark(25_000, "p_hat", "Hat"),       # latest pin of the gap: part two's start
        PinMark(33_000, "", ""),               # an unpin is not a chapter
        PinMark(34_000, "p_hat", "Hat"),       # 4 s into part two
        PinMark(40_000, "p_late", "Late"),     # after the last part: nothing
    ]
    got = [(c.t_ms, c.product_id) for c in chapters(pins, [two, one])]
    assert got == [(0, "p_early"), (2_500, "p_mug"), (8_000, "p_hat"), (12_000, "p_hat")]


def test_the_same_product_pinned_again_without_a_change_is_one_chapter() -> None:
    part = PartSpan(1, 0, (seg("a-0.ts", 10_000),))
    marks = chapters([PinMark(1000, "p_1", "One"), PinMark(2000, "p_1", "One")], [part])
    assert [(c.t_ms, c.product_id) for c in marks] == [(1000, "p_1")]


def test_the_vod_playlist_reads_as_one_timeline_with_chapters() -> None:
    one = PartSpan(1, 1_700_000_000_000, (seg("0a1b2c3d-0.ts", 2000),
                                          seg("0a1b2c3d-1.ts", 2000)))
    two = PartSpan(2, 1_700_000_100_000, (seg("4e5f6a7b-0.ts", 2500),))
    marks = chapters([PinMark(1_700_000_001_000, "p_mug", 'Mug "big"'),
                      PinMark(1_700_000_100_500, "p_hat", "Hat")], [one, two])
    parsed = m3u8.loads(vod_playlist([one, two], marks))
    assert parsed.playlist_type == "vod" and parsed.is_endlist
    assert [s.uri for s in parsed.segments] == ["1/0a1b2c3d-0.ts", "1/0a1b2c3d-1.ts",
                                               "2/4e5f6a7b-0.ts"]
    assert [s.discontinuity for s in parsed.segments] == [False, False, True]
    assert sum(s.duration for s in parsed.segments) == 6.5
    assert parsed.target_duration >= max(round(s.duration) for s in parsed.segments)
    ranges = [r for s in parsed.segments for r in s.dateranges]
    attrs = [dict(r.x_client_attrs) for r in ranges]
    assert [a["x_product_id"] for a in attrs] == ['"p_mug"', '"p_hat"']
    assert attrs[0]["x_title"] == '"Mug  big "'  # no quote can end the attribute early
    start = datetime.datetime.fromisoformat(ranges[1].start_date)
    assert start.timestamp() * 1000 == 1_700_000_100_500
    assert [(c.t_ms, c.product_id) for c in marks] == [(1000, "p_mug"), (4500, "p_hat")]


def test_the_sweep_deletes_by_age_then_oldest_first_over_budget() -> None:
    now = 100 * DAY_MS
    kept = [Kept("old", now - 31 * DAY_MS, 100), Kept("a", now - 3 * DAY_MS, 500),
            Kept("b", now - 2 * DAY_MS, 500), Kept("c", now - DAY_MS, 500),
            Kept("live", 0, 900)]
    assert to_delete(kept, now, 30, 0) == [("old", "age")]
    # 2,400 bytes after the old one; the budget is 1,500: a, then b (the one recording stays)
    assert to_delete(kept, now, 30, 1500) == [("old", "age"), ("a", "budget"), ("b", "budget")]
    assert to_delete(kept, now, 0, 0) == []
