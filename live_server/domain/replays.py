"""Replays: the rules of a show's recording, without I/O.

A show is recorded as one *part* per broadcast (each WHIP session that the media home's recorder
wrote: a stop/start, or the publisher moving to another process, starts a new part), each part an
HLS folder of MPEG-TS segments written by the same remux as the live rendition. The replay is
one VOD playlist over every part, with ``#EXT-X-DISCONTINUITY`` between parts: players see one
timeline, the gaps between broadcasts left out, and each part starts with its own
``#EXT-X-PROGRAM-DATE-TIME``, so a wall-clock moment of the show maps to a place in the replay.

Chapters are the moments a product was pinned ("now explaining"), mapped from wall-clock time
to an offset in the replay; a pin made while nothing was being recorded counts from the start
of the next part (the product was still being explained when the video came back). They are
served twice, in the replay's JSON for the page and as ``#EXT-X-DATERANGE`` tags (with
``X-PRODUCT-ID``) for any other HLS player.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
from collections.abc import Iterable, Sequence

PLAYLIST = "index.m3u8"
# A part folder's name: its number in the show.
PART_RE = re.compile(r"[0-9]{1,6}")
STATES = ("recording", "ready", "deleted", "none")
DAY_MS = 86_400_000
_QUOTED_BAD = re.compile(r'["\r\n]')


@dataclasses.dataclass(frozen=True, slots=True)
class SegmentEntry:
    """One segment of a part: its file name, its length in ms, whether a discontinuity (a new
    encoder session, a new resolution) comes before it."""

    name: str
    duration_ms: int
    discontinuity: bool


@dataclasses.dataclass(frozen=True, slots=True)
class PartSpan:
    """One broadcast of the show: its number, when its first picture was recorded (wall ms)
    and its segments."""

    n: int
    started_ms: int
    segments: tuple[SegmentEntry, ...]

    @property
    def duration_ms(self) -> int:
        return sum(s.duration_ms for s in self.segments)


@dataclasses.dataclass(frozen=True, slots=True)
class PinMark:
    """The pin seen changing at ``at_ms`` (wall clock); an empty ``product_id`` is an unpin."""

    at_ms: int
    product_id: str
    title: str


@dataclasses.dataclass(frozen=True, slots=True)
class Chapter:
    t_ms: int  # offset in the replay
    product_id: str
    title: str
    at_ms: int  # the wall-clock moment it stands for (the DATERANGE's START-DATE)

    def json(self) -> dict[str, object]:
        return {"t_ms": self.t_ms, "product_id": self.product_id, "title": self.title}


def parse_part_playlist(text: str) -> tuple[SegmentEntry, ...]:
    """The segments a part's own playlist lists (the recorder writes it at every segment, so a
    part whose process died still lists what was finished)."""
    out: list[SegmentEntry] = []
    duration: float | None = None
    discontinuity = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXTINF:"):
            try:
                duration = float(line[len("#EXTINF:"):].split(",", 1)[0])
            except ValueError:
                duration = None
        elif line == "#EXT-X-DISCONTINUITY":
            discontinuity = True
        elif line and not line.startswith("#"):
            if duration is not None and "/" not in line:
                out.append(SegmentEntry(line, max(1, round(duration * 1000)), discontinuity))
            duration, discontinuity = None, False
    return tuple(out)


def chapters(pins: Iterable[PinMark], parts: Sequence[PartSpan]) -> list[Chapter]:
    """Each pin as an offset in the replay: inside a part, the time since the part began plus
    the length of the parts before; between parts (or before the first), the start of the next
    part, where only the latest pin of the gap counts; after the last part, nothing. Unpins end
    a chapter and are not chapters."""
    spans = [p for p in sorted(parts, key=lambda p: p.started_ms) if p.duration_ms > 0]
    found: dict[int, tuple[PinMark, int]] = {}  # t_ms -> (pin, part start wall ms)
    for pin in sorted(pins, key=lambda p: p.at_ms):
        before = 0
        for span in spans:
            end = span.started_ms + span.duration_ms
            if pin.at_ms < end:
                into = max(0, pin.at_ms - span.started_ms)
                found[before + into] = (pin, span.started_ms + into)
                break
            before += span.duration_ms
    out: list[Chapter] = []
    current = ""  # the product being explained at this point of the replay
    for t_ms in sorted(found):
        pin, at = found[t_ms]
        if pin.product_id and pin.product_id != current:  # the same product again: one chapter
            out.append(Chapter(t_ms, pin.product_id, pin.title, at))
        current = pin.product_id
    return out


def _iso(ms: int) -> str:
    stamp = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _quoted(text: str) -> str:
    """A quoted-string attribute value (RFC 8216 §4.2: no double quote, CR or LF)."""
    return _QUOTED_BAD.sub(" ", text)[:200]


def vod_playlist(parts: Sequence[PartSpan], marks: Sequence[Chapter]) -> str:
    """The replay: every part's segments (as ``<n>/<name>``) in one VOD playlist, a
    discontinuity between parts, each part's wall-clock start, and each chapter as an
    ``#EXT-X-DATERANGE`` before the part it falls in."""
    spans = [p for p in sorted(parts, key=lambda p: p.started_ms) if p.segments]
    longest = max((s.duration_ms for p in spans for s in p.segments), default=1000)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        f"#EXT-X-TARGETDURATION:{max(1, math.floor(longest / 1000 + 0.5))}",
        "#EXT-X-MEDIA-SEQUENCE:0",
    ]
    before = 0
    for i, part in enumerate(spans):
        if i:
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_iso(part.started_ms)}")
        end = before + part.duration_ms
        for k, mark in enumerate(marks):
            if before <= mark.t_ms < end:
                lines.append(
                    f'#EXT-X-DATERANGE:ID="chapter-{k}",CLASS="product",'
                    f'START-DATE="{_iso(part.started_ms + mark.t_ms - before)}",'
                    f'X-PRODUCT-ID="{_quoted(mark.product_id)}",X-TITLE="{_quoted(mark.title)}"')
        for j, segment in enumerate(part.segments):
            if segment.discontinuity and j:
                lines.append("#EXT-X-DISCONTINUITY")
            lines.append(f"#EXTINF:{segment.duration_ms / 1000:.3f},")
            lines.append(f"{part.n}/{segment.name}")
        before = end
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


@dataclasses.dataclass(frozen=True, slots=True)
class Kept:
    """A replay the sweep weighs: when its show's last broadcast ended (0: still recording),
    and its bytes on disk."""

    room_id: str
    ended_ms: int
    bytes: int


def to_delete(kept: Iterable[Kept], now: int, retention_days: int,
              max_total_bytes: int) -> list[tuple[str, str]]:
    """Which replays the sweep deletes, and why (``age`` or ``budget``): those older than the
    retention, then, while the total is over the budget, the oldest ended ones first. A replay
    still recording is never deleted, but its bytes count."""
    items = list(kept)
    out: list[tuple[str, str]] = []
    gone: set[str] = set()
    if retention_days > 0:
        limit = now - retention_days * DAY_MS
        for item in items:
            if item.ended_ms and item.ended_ms <= limit:
                out.append((item.room_id, "age"))
                gone.add(item.room_id)
    if max_total_bytes > 0:
        total = sum(i.bytes for i in items if i.room_id not in gone)
        for item in sorted(items, key=lambda i: (i.ended_ms, i.room_id)):
            if total <= max_total_bytes:
                break
            if item.room_id in gone or not item.ended_ms:
                continue
            out.append((item.room_id, "budget"))
            gone.add(item.room_id)
            total -= item.bytes
    return out
