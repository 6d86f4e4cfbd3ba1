"""Low-Latency HLS (RFC 8216bis): partial segments, the playlist that lists them, and what the
HTTP side needs to answer blocking reloads and delta updates from that playlist alone.

Why MPEG-TS parts: they come out of the same remux as the segments (PyAV ``add_mux_stream``, no
codec context, nothing decoded), each part is a small TS file of its own with the SPS/PPS
in-band where it starts at an IDR picture, and hls.js (the watch page's player) transmuxes TS
parts as it does TS segments. A part may start at any frame (RFC 8216bis allows it);
``INDEPENDENT=YES`` marks those starting with an IDR picture, which is where players tune in.
fMP4 parts would need an init segment rebuilt whenever the publisher changes resolution.

Why the full segment is the parts' bytes joined: players that do not take parts (and CDNs
caching the segment) get the same packets, and the recorder writes each byte once to disk for
the parts and once for the segment, with one muxer per part in memory.

Why the HTTP side reads the playlist file instead of asking the recorder: every process of the
machine serves the room's folder, but only the media home writes it. A blocking request waits
on :class:`PlaylistWaits`, which watches a room's playlist file (one ``stat`` per poll for all
the room's waiting requests, and a nudge from the recorder when it is in this process).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.stream

from live_server.media.hls_audio import AUDIO_CLOCK

VIDEO_CLOCK = 90_000
# A part's file name: the recorder's random prefix and the part's number within the broadcast
# (counted across segments, so the next part's name is always known for the preload hint).
PART_RE = re.compile(r"[0-9a-f]{8}-p[0-9]{1,12}\.ts")
PART_HOLD_BACK_PARTS = 3  # RFC 8216bis: PART-HOLD-BACK at least 2 part targets; 3 advised
SKIP_TARGETS = 6  # RFC 8216bis: CAN-SKIP-UNTIL at least six target durations
PART_TARGETS_LISTED = 3  # parts are listed for segments this many target durations from the end
BLOCK_TARGETS = 3  # a blocking request waits at most this many target durations, then 503


def part_name(epoch: str, number: int) -> str:
    return f"{epoch}-p{number}.ts"


@dataclass(frozen=True, slots=True)
class Part:
    """A finished partial segment: its file, its parent segment's media sequence number, its
    start and length in 90 kHz ticks, and whether it starts with an IDR picture."""

    name: str
    seq: int
    start: int
    duration: int
    independent: bool


class TsMuxing:
    """Packets into an MPEG-TS muxer's streams as they are (no codec context): what the plain
    segment writer and the parted one share. Subclasses set ``container``, ``stream`` (H.264)
    and ``audio`` (AAC, or None)."""

    container: av.container.OutputContainer
    stream: av.stream.Stream
    audio: av.stream.Stream | None
    audio_last = -1

    def _named(self, folder: Path, name: str, seq: int, start: int,
               discontinuity: bool) -> None:
        """The segment's name, media sequence number, start tick, and its files: the final
        one and the temporary one it is written under."""
        self.name = name
        self.seq = seq
        self.start = start
        self.discontinuity = discontinuity
        self.path = folder / name
        self.part = folder / f".{name}.part"

    def _open(self, target: str | io.BytesIO, audio: bool) -> None:
        self.container = av.open(target, mode="w", format="mpegts")
        # Streams without a codec context: packets go to the muxer as they are.
        self.stream = self.container.add_mux_stream("h264", time_base=Fraction(1, VIDEO_CLOCK))
        self.audio = (self.container.add_mux_stream("aac", rate=AUDIO_CLOCK,
                                                    time_base=Fraction(1, VIDEO_CLOCK))
                      if audio else None)

    def mux_video(self, data: bytes, pts: int, keyframe: bool) -> None:
        packet = av.Packet(data)
        packet.pts = packet.dts = pts  # no B-frames on WebRTC: decode order is display order
        packet.time_base = Fraction(1, VIDEO_CLOCK)
        packet.is_keyframe = keyframe
        packet.stream = self.stream
        self.container.mux(packet)

    def write_audio(self, adts: bytes, pts: int) -> None:
        """One ADTS AAC frame at ``pts`` (90 kHz). A frame that would not move the audio clock
        forward (after a re-anchor) is dropped; the muxer would refuse it."""
        if self.audio is None or pts <= self.audio_last or pts < 0:
            return
        self.audio_last = pts
        packet = av.Packet(adts)
        packet.pts = packet.dts = pts
        packet.time_base = Fraction(1, VIDEO_CLOCK)
        packet.stream = self.audio
        self.container.mux(packet)


class PartedSegmentWriter(TsMuxing):
    """One segment written as a run of parts: each part is muxed in memory, written to its own
    file (under a temporary name, then renamed), and appended to the segment's file, which is
    renamed when the segment ends. ``on_part`` hears of each finished part (the recorder
    rewrites the playlist).

    The interface is the plain segment writer's (``write``, ``write_audio``, ``finish``,
    ``abandon``), so the recorder's cut rules stay the same.
    """

    def __init__(self, folder: Path, name: str, seq: int, start: int, *, audio: bool,
                 discontinuity: bool, epoch: str, first_part: int, part_ticks: int,
                 on_part: Callable[[Part], None]) -> None:
        self._named(folder, name, seq, start, discontinuity)
        self.parts: list[Part] = []
        self.next_part = first_part
        self._folder = folder
        self._epoch = epoch
        self._with_audio = audio
        self._part_ticks = part_ticks
        self._on_part = on_part
        self._step = VIDEO_CLOCK // 30  # until two frames show the stream's own step
        self._last_pts: int | None = None
        self._file = open(self.part, "wb")  # closed in finish or abandon
        self._open_part(start, independent=True)

    def _open_part(self, start: int, independent: bool) -> None:
        self._buffer = io.BytesIO()
        self._open(self._buffer, self._with_audio)
        self._part_start = start
        self._part_independent = independent
        self._frames = 0

    def write(self, data: bytes, pts: int, keyframe: bool) -> None:
        """One access unit. A part ends before the frame that would take it past the part
        target (judged by the stream's frame step), so parts stay within ``PART-TARGET``."""
        if self._last_pts is not None and pts > self._last_pts:
            self._step = pts - self._last_pts
        self._last_pts = pts
        if self._frames and pts - self._part_start + self._step > self._part_ticks:
            self._close_part(pts)
            self._open_part(pts, independent=keyframe)
        self.mux_video(data, pts, keyframe)
        self._frames += 1

    def _close_part(self, end: int) -> None:
        self.container.close()
        data = self._buffer.getvalue()
        name = part_name(self._epoch, self.next_part)
        tmp = self._folder / f".{name}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, self._folder / name)
        self._file.write(data)
        part = Part(name, self.seq, self._part_start, max(1, end - self._part_start),
                    self._part_independent)
        self.parts.append(part)
        self.next_part += 1
        self._on_part(part)

    def finish(self, end: int) -> None:
        """The segment ends at tick ``end``: its last part is written, then the segment."""
        if self._frames:
            self._close_part(end)
        else:
            self.container.close()
        self._file.close()
        os.replace(self.part, self.path)

    def abandon(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()
        self._file.close()
        self.part.unlink(missing_ok=True)


def render(*, segments: list[tuple[str, int, float, bool]], parts: list[Part],
           open_segment: tuple[int, bool] | None, first_seq: int, discontinuity_seq: int,
           target_s: int, part_target_s: float, hint: str | None, ended: bool) -> str:
    """The LL-HLS playlist. ``segments`` are (name, seq, seconds, discontinuity) oldest first;
    ``parts`` are the listed parts of the last segments and of the open one; ``open_segment``
    is the open segment's (seq, discontinuity); ``hint`` the next part's name."""
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:6",
        f"#EXT-X-TARGETDURATION:{target_s}",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,"
        f"PART-HOLD-BACK={PART_HOLD_BACK_PARTS * part_target_s:.3f},"
        f"CAN-SKIP-UNTIL={SKIP_TARGETS * target_s:.1f}",
        f"#EXT-X-PART-INF:PART-TARGET={part_target_s:.3f}",
        f"#EXT-X-MEDIA-SEQUENCE:{first_seq}",
    ]
    if discontinuity_seq:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_seq}")
    by_seq: dict[int, list[Part]] = {}
    for part in parts:
        by_seq.setdefault(part.seq, []).append(part)
    for name, seq, seconds, discontinuity in segments:
        if discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        lines.extend(_part_line(p) for p in by_seq.get(seq, ()))
        lines.append(f"#EXTINF:{seconds:.3f},")
        lines.append(name)
    if ended:
        lines.append("#EXT-X-ENDLIST")
    else:
        if open_segment is not None:
            seq, discontinuity = open_segment
            if discontinuity and by_seq.get(seq):
                lines.append("#EXT-X-DISCONTINUITY")
            lines.extend(_part_line(p) for p in by_seq.get(seq, ()))
        if hint is not None:
            lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{hint}"')
    return "\n".join(lines) + "\n"


def _part_line(part: Part) -> str:
    independent = ",INDEPENDENT=YES" if part.independent else ""
    return (f"#EXT-X-PART:DURATION={part.duration / VIDEO_CLOCK:.5f},"
            f'URI="{part.name}"{independent}')


@dataclass(frozen=True, slots=True)
class Position:
    """Where a playlist stands, read from its text: the media sequence number of the first
    segment listed and of the next one (the open segment, whose parts follow the last complete
    segment), how many parts of the open segment are listed, how many parts the last complete
    segment had (None when they are no longer listed), the preload hint, the target duration,
    and whether the playlist ended."""

    first_msn: int
    next_msn: int
    open_parts: int
    last_parts: int | None
    hint: str | None
    target_s: int
    ended: bool
    low_latency: bool

    def has(self, msn: int, part: int | None) -> bool:
        """Whether this playlist satisfies ``_HLS_msn=msn`` (and ``_HLS_part=part``). A part
        index past the last part of a complete segment means part 0 of the next one (RFC
        8216bis §6.2.5.2)."""
        if self.ended:
            return True
        if part is None:
            return msn < self.next_msn
        if msn < self.next_msn - 1:
            return True
        if msn == self.next_msn - 1:
            if self.last_parts is None or part < self.last_parts:
                return True
            msn, part = self.next_msn, 0
        return msn == self.next_msn and part < self.open_parts

    def too_far(self, msn: int) -> bool:
        """More than two segments past the playlist's last one: answered 400 at once."""
        last = self.next_msn if self.open_parts else self.next_msn - 1
        return msn > last + 2


def position(text: str) -> Position:
    first = 0
    complete = 0
    parts_since = 0
    last_parts: int | None = None
    hint: str | None = None
    target = 1
    ended = low_latency = False
    for line in text.splitlines():
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            first = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            target = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-PART:"):
            parts_since += 1
        elif line.startswith("#EXT-X-PRELOAD-HINT:"):
            match = re.search(r'URI="([^"]+)"', line)
            hint = match.group(1) if match else None
        elif line.startswith("#EXT-X-SERVER-CONTROL:"):
            low_latency = "CAN-BLOCK-RELOAD=YES" in line
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line and not line.startswith("#"):
            complete += 1
            last_parts = parts_since or None
            parts_since = 0
    return Position(first, first + complete, parts_since, last_parts, hint, target, ended,
                    low_latency)


def delta(text: str) -> str:
    """The playlist as a delta update (``_HLS_skip=YES``): the segments that end at least
    ``CAN-SKIP-UNTIL`` before the playlist's end are replaced by one ``#EXT-X-SKIP``
    (protocol version 9)."""
    match = re.search(r"CAN-SKIP-UNTIL=([0-9.]+)", text)
    if match is None:
        return text
    boundary = float(match.group(1))
    lines = text.replace("#EXT-X-VERSION:6", "#EXT-X-VERSION:9", 1).splitlines()
    body = next((i for i, line in enumerate(lines) if _in_body(line)), len(lines))
    ends: list[tuple[int, float]] = []  # (index of a segment's URI line, its end in seconds)
    clock = tail = 0.0
    for i in range(body, len(lines)):
        line = lines[i]
        if line.startswith("#EXTINF:"):
            clock += float(line[8:].split(",", 1)[0])
            tail = 0.0
        elif line.startswith("#EXT-X-PART:"):
            found = re.search(r"DURATION=([0-9.]+)", line)
            tail += float(found.group(1)) if found else 0.0
        elif line and not line.startswith("#"):
            ends.append((i, clock))
            tail = 0.0
    total = clock + tail  # the open segment's parts follow the last complete segment
    skipped = [i for i, end in ends if total - end >= boundary]
    if not skipped:
        return "\n".join(lines) + "\n"
    return "\n".join([*lines[:body], f"#EXT-X-SKIP:SKIPPED-SEGMENTS={len(skipped)}",
                      *lines[skipped[-1] + 1:]]) + "\n"


def _in_body(line: str) -> bool:
    """A line of the media segments' part of a playlist (what a delta update may skip)."""
    return (line == "#EXT-X-DISCONTINUITY" or line.startswith(("#EXTINF:", "#EXT-X-PART:"))
            or (bool(line) and not line.startswith("#")))


class Busy(Exception):
    """This process already holds as many blocking requests as it may."""


class _Watch:
    """The waiting requests of one playlist file, woken when its content changes."""

    def __init__(self) -> None:
        self.waiters: list[tuple[Callable[[Position], bool],
                                 asyncio.Future[Position | None]]] = []
        self.stamp: tuple[int, int] | None = None
        self.task: asyncio.Task[None] | None = None
        self.nudge = asyncio.Event()


class PlaylistWaits:
    """Blocking reloads: a request waits until a room's playlist satisfies it, at most
    ``timeout_s``. One polling task per watched playlist file serves all its waiting requests
    (a ``stat`` every ``poll_s``; :meth:`nudge` wakes it at once, for the recorder in this
    process). At most ``limit`` requests wait in this process; beyond that :class:`Busy`."""

    def __init__(self, limit: int, poll_s: float = 0.02) -> None:
        self.limit = limit
        self.poll_s = poll_s
        self.waiting = 0
        self._watches: dict[Path, _Watch] = {}

    async def wait(self, path: Path, ready: Callable[[Position], bool],
                   timeout_s: float) -> Position | None:
        """The playlist's position once ``ready`` holds for it; None after ``timeout_s`` or if
        the file goes away."""
        if self.waiting >= self.limit:
            raise Busy
        watch = self._watches.get(path)
        if watch is None:
            watch = self._watches[path] = _Watch()
        future: asyncio.Future[Position | None] = asyncio.get_running_loop().create_future()
        entry = (ready, future)
        watch.waiters.append(entry)
        if watch.task is None:
            watch.task = asyncio.create_task(self._poll(path, watch), name=f"llhls:{path}")
        self.waiting += 1
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            return None
        finally:
            self.waiting -= 1
            with contextlib.suppress(ValueError):
                watch.waiters.remove(entry)

    def nudge(self, path: Path) -> None:
        """The playlist at ``path`` was just rewritten (by a recorder in this process)."""
        watch = self._watches.get(path)
        if watch is not None:
            watch.nudge.set()

    async def _poll(self, path: Path, watch: _Watch) -> None:
        try:
            while watch.waiters:
                if not self._look(path, watch):
                    break
                watch.nudge.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watch.nudge.wait(), self.poll_s)
        finally:
            watch.task = None
            if self._watches.get(path) is watch:
                del self._watches[path]

    def _look(self, path: Path, watch: _Watch) -> bool:
        """Read the playlist if it changed (a ``stat``, microseconds on a local disk: not
        worth a thread) and wake whom it satisfies; False when the file is gone."""
        try:
            st = path.stat()
        except OSError:
            self._wake(watch, None)
            return False
        stamp = (st.st_mtime_ns, st.st_ino)
        if stamp != watch.stamp:
            watch.stamp = stamp
            with contextlib.suppress(OSError):
                self._wake(watch, position(path.read_text(encoding="ascii")))
        return True

    @staticmethod
    def _wake(watch: _Watch, pos: Position | None) -> None:
        for ready, future in list(watch.waiters):
            if future.done():
                continue
            if pos is None or ready(pos):
                future.set_result(pos)
