"""HLS for mass audiences: the publisher's H.264 remuxed, never transcoded, into a rolling
window of MPEG-TS segments and a live playlist, one folder per room.

Why MPEG-TS and not fMP4: a TS segment carries the SPS/PPS in-band and needs no init segment,
so each segment is a file PyAV writes and closes on its own, with the Annex-B access units the
WebRTC depacketizer already produces (fMP4 would need the parameter sets converted to an
``avcC`` record up front and a new init segment whenever the publisher's resolution changes).
Every HLS player reads TS.

Why our own segmenter and not FFmpeg's ``hls`` muxer: the cut rule (a segment starts with an
IDR picture), the window, the delete-after-grace rule, atomic playlist writes and the clean-up
when the room ends are a few dozen lines here, testable without depending on muxer flags that
change between FFmpeg versions.

Everything runs on the caller's thread: muxing an access unit is a copy into PyAV's write buffer
(about 10 µs), and a segment change is one file close, one rename, a playlist of a few hundred
bytes written and renamed, and an unlink — about half a millisecond on a local disk every
segment; a thread hop per frame would cost more than it saves.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import secrets
import shutil
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av

from live_server.media.frames import H264_IDR, H264_PPS, H264_SPS, h264_nal_spans
from live_server.media.hls_audio import AUDIO_CLOCK, AacTranscoder
from live_server.media.llhls import (
    PART_TARGETS_LISTED,
    Part,
    PartedSegmentWriter,
    TsMuxing,
    part_name,
    position,
    render,
)

log = logging.getLogger(__name__)

VIDEO_CLOCK = 90_000  # RTP clock of video and the MPEG-TS time base
PLAYLIST = "index.m3u8"
SEGMENT_SUFFIX = ".ts"
# A room id becomes a folder name: only URL-safe characters, no dots, so never "." or "..".
ROOM_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# What the HTTP side may serve; the recorder writes nothing else under these names. The prefix
# is random per recorder: a room that broadcasts again never reuses a segment's URL, so caches
# may keep segments as immutable.
SEGMENT_RE = re.compile(r"[0-9a-f]{8}-[0-9]{1,12}\.ts")
# A timestamp step larger than this, or going back further than _MAX_BACK_S, is not a late or
# reordered frame but a new clock (the publisher reconnected) or a long outage.
_MAX_GAP_S = 10
_MAX_BACK_S = 1


# Sequence numbers of a new broadcast begin at the clock counted in half segments, at most this
# many digits (blocking reloads name them in ``_HLS_msn``, which takes at most 12).
_CLOCK_SEQ_MODULO = 10**11


def clock_sequence(segment_ms: int, now_ms: int) -> int:
    """The lowest media sequence number a broadcast starting at ``now_ms`` may use.

    Why: a cache keeps a blocking reload's answer (``index.m3u8?_HLS_msn=<n>&_HLS_part=<p>``)
    for six target durations under that URL. A new broadcast of the room numbering its
    segments from 0 again would be answered, through the cache, with the previous broadcast's
    playlist, whose parts are gone. A live broadcast adds one number per segment (at least
    ``segment_ms`` of media each), while this floor grows by two per ``segment_ms`` of wall
    time, so a later broadcast starts above every number an earlier one used, on whichever
    machine it runs (the recorder also reads the room's earlier playlist when it finds one,
    for publishers that sent faster than real time)."""
    return now_ms // max(1, segment_ms // 2) % _CLOCK_SEQ_MODULO


def _unnamed_after(next_msn: int) -> int:
    """The first sequence number no request to a playlist whose open segment is ``next_msn``
    can have named: a blocking request may ask for up to two segments past it (further is
    refused, ``llhls.Position.too_far``)."""
    return next_msn + 3


def _sequence_after(playlist: Path) -> int:
    """``_unnamed_after`` for the playlist file at ``playlist``; 0 without one."""
    try:
        text = playlist.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return 0
    try:
        return _unnamed_after(position(text).next_msn)
    except ValueError:
        return 0


class InvalidRoomId(ValueError):
    """A room id that cannot safely name a folder."""


def room_dir(root: Path, room_id: str) -> Path:
    """The folder holding a room's playlist and segments. Refuses anything that is not a plain
    URL-safe id, so a room id can never climb out of ``root``."""
    if not ROOM_ID_RE.fullmatch(room_id):
        raise InvalidRoomId(f"not a room id: {room_id[:80]!r}")
    return Path(root) / room_id


def remove_room(root: Path, room_id: str) -> None:
    """Delete everything written for a room, e.g. after ``close(remove=False)`` or a crash."""
    shutil.rmtree(room_dir(root, room_id), ignore_errors=True)


class _Timeline:
    """Turns 32-bit RTP timestamps into a 64-bit, strictly increasing tick count starting at 0.

    Wrap-around is handled by reading each step modulo 2**32 as a signed difference. A small step
    back (reordering, a repeated timestamp) is clamped to one tick after the previous output, as
    the muxer requires. A big jump either way (the publisher's new session, a long outage) keeps
    the output continuous, one usual frame step after the previous, and is reported so the
    playlist can mark a discontinuity.
    """

    def __init__(self, clock: int) -> None:
        self._max_gap = _MAX_GAP_S * clock
        self._max_back = _MAX_BACK_S * clock
        self._step = clock // 30  # a frame at 30 fps until the stream shows its own step
        self._raw: int | None = None
        self._ext = 0
        self._offset = 0
        self.last = -1

    @property
    def step(self) -> int:
        return self._step

    def place(self, raw: int) -> tuple[int, bool]:
        raw &= 0xFFFFFFFF
        if self._raw is None:
            self._raw = raw
            self.last = 0
            return 0, False
        delta = ((raw - self._raw + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        ext = self._ext + delta
        jump = delta > self._max_gap or delta < -self._max_back
        if jump:
            self._offset = self.last + self._step - ext
        elif 0 < delta <= self._max_back:
            self._step = delta
        if delta > 0 or jump:
            self._ext, self._raw = ext, raw
        out = max(ext + self._offset, self.last + 1)
        self.last = out
        return out, jump


@dataclass(frozen=True, slots=True)
class Segment:
    """A finished segment: its file name, media sequence number, start and length in 90 kHz
    ticks."""

    name: str
    seq: int
    start: int
    duration: int
    discontinuity: bool
    parts: tuple[str, ...] = ()  # its partial segments' file names (Low-Latency HLS)


class _SegmentWriter(TsMuxing):
    """One MPEG-TS file being written under a temporary name; renamed when complete, so the
    HTTP side never serves a partial segment."""

    def __init__(self, folder: Path, name: str, seq: int, start: int, *, audio: bool,
                 discontinuity: bool) -> None:
        self._named(folder, name, seq, start, discontinuity)
        self._open(str(self.part), audio)

    def write(self, data: bytes, pts: int, keyframe: bool) -> None:
        self.mux_video(data, pts, keyframe)

    def finish(self, end: int) -> None:
        """Complete the file; ``end`` (the next segment's start) matters to parted writers."""
        self.container.close()
        os.replace(self.part, self.path)

    def abandon(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()
        self.part.unlink(missing_ok=True)


class HlsRecorder:
    """Writes one room's HLS rendition from the publisher's encoded H.264.

    Feed it every video access unit in order; it drops everything until the first IDR picture,
    cuts a new segment at the first IDR picture at least ``segment_ms`` after the current
    segment's start, lists the last ``window`` segments in ``index.m3u8`` and deletes a segment
    once it has been out of the playlist long enough for a player that read an older playlist to
    have fetched it (RFC 8216 §6.2.2: the segment's duration plus the playlist's).

    ``audio=True`` when the publisher sends Opus: every segment then carries an AAC track from
    the start (see :meth:`feed_audio`).

    ``part_ms`` makes it Low-Latency HLS (``media/llhls.py``): every segment is also written
    as parts of about ``part_ms``, the playlist lists the recent ones with a preload hint and
    the server-control tags, and ``on_playlist`` hears of each playlist write (a blocking
    reload waiting in this process wakes at once).

    ``request_keyframe`` is called when the current segment is due to end but no IDR picture
    has come, and again every half segment while none comes (a request can be lost): browsers
    send IDR pictures only when asked, so the media core answers it with a PLI to the
    publisher. Without IDR pictures a segment simply grows; the playlist's target duration
    follows.
    """

    def __init__(self, room_id: str, root: Path, segment_ms: int, window: int, *,
                 audio: bool = False,
                 request_keyframe: Callable[[], None] | None = None,
                 part_ms: int | None = None,
                 on_playlist: Callable[[Path], None] | None = None,
                 first_seq: int = 0) -> None:
        if segment_ms <= 0 or window <= 0:
            raise ValueError("segment_ms and window must be positive")
        self.room_id = room_id
        self.dir = room_dir(root, room_id)
        self._segment_ticks = segment_ms * VIDEO_CLOCK // 1000
        self._window = window
        self._request_keyframe = request_keyframe
        if part_ms is not None and not 0 < part_ms < segment_ms:
            raise ValueError("part_ms must be positive and shorter than segment_ms")
        self._part_ms = part_ms
        self._on_playlist = on_playlist
        self._parts: deque[Part] = deque()  # listed partial segments, oldest first
        self._next_part = 0
        self._timeline = _Timeline(VIDEO_CLOCK)
        self._writer: _SegmentWriter | PartedSegmentWriter | None = None
        self._segments: deque[Segment] = deque()  # listed in the playlist, oldest first
        self._retired: deque[tuple[int, Segment]] = deque()  # (delete at tick, segment)
        self._epoch = secrets.token_hex(4)
        # Above the room's earlier playlist, if one is still here (the same process's previous
        # broadcast is deleted before this one starts: its feed passes ``first_seq``).
        self._first_seq = max(first_seq, _sequence_after(self.dir / PLAYLIST))
        self._next_seq = self._first_seq
        self._discontinuity_seq = 0
        self._pending_discontinuity = False
        self._target_s = max(1, math.ceil(segment_ms / 1000))
        self._sps: bytes | None = None
        self._pps: bytes | None = None
        self._keyframe_asked: int | None = None  # tick of the last request in this segment
        self._closed = False
        # Segments carry an audio track when the publisher has one (``audio=True``, known from
        # its offer) or, failing that, from the first segment started after an Opus packet.
        self._audio_on = audio
        self._audio_timeline = _Timeline(AUDIO_CLOCK)
        self._aac: AacTranscoder | None = None
        self._audio_anchor = 0  # video tick at which the transcoder's sample 0 plays
        self._audio_next = 0  # audio tick the next Opus packet should start at
        self.dropped = 0  # access units dropped while waiting for an IDR picture
        # What an earlier broadcast (or a crash) left here would mix with this one.
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def playlist_path(self) -> Path:
        return self.dir / PLAYLIST

    @property
    def sequence_after(self) -> int:
        """The first sequence number no request to this recorder's playlist can have named
        (a blocking request may ask for up to two segments past the open one): where the next
        broadcast of the room begins."""
        return _unnamed_after(self._next_seq)

    @property
    def segments(self) -> list[Segment]:
        """The segments the playlist lists now, oldest first."""
        return list(self._segments)

    def feed_video(self, data: bytes, rtp_timestamp: int, keyframe: bool) -> None:
        """One H.264 access unit in Annex-B form with its RTP timestamp (90 kHz).

        ``keyframe`` is the caller's view; the recorder reads the NAL unit types itself because
        a segment must start with an IDR picture and the SPS/PPS it needs (kept from earlier
        access units and put in front of an IDR picture that comes without them).
        """
        if self._closed or not data:
            return
        idr = sps = pps = new_sps = False
        for begin, end in h264_nal_spans(data):
            kind = data[begin] & 0x1F
            if kind == H264_IDR:
                idr = True
            elif kind == H264_SPS:
                unit = data[begin:end].rstrip(b"\x00")
                new_sps = self._sps is not None and unit != self._sps
                self._sps, sps = unit, True
            elif kind == H264_PPS:
                self._pps, pps = data[begin:end].rstrip(b"\x00"), True
        if idr != keyframe:
            log.debug("hls %s: keyframe flag %s but IDR %s", self.room_id, keyframe, idr)
        startable = idr and self._sps is not None and self._pps is not None
        if self._writer is None and not startable:
            self.dropped += 1
            return
        pts, jump = self._timeline.place(rtp_timestamp)
        if jump and self._next_seq > self._first_seq:
            # A new clock: what follows comes from another encoder session.
            if self._writer is not None:
                self._finish(pts)
            self._pending_discontinuity = True
            if not startable:
                self.dropped += 1
                return
        if startable and (not sps or not pps):
            data = self._parameter_sets(sps, pps) + data
        try:
            writer = self._writer
            # A new SPS (the publisher changed resolution) starts a segment at once, marked
            # as a discontinuity, so players set up their decoder again.
            if startable and (writer is None or new_sps
                              or pts - writer.start >= self._segment_ticks):
                if writer is not None:
                    self._finish(pts)
                    self._pending_discontinuity = self._pending_discontinuity or new_sps
                writer = self._writer = self._open_writer(pts)
                self._pending_discontinuity = False
                self._next_seq += 1
                self._keyframe_asked = None
            assert writer is not None
            writer.write(data, pts, startable)
        except (av.FFmpegError, OSError) as err:
            # Not worth the media core's loop: lose this segment, start again at the next IDR.
            log.warning("hls %s: segment failed, waiting for the next keyframe: %s",
                        self.room_id, err)
            self._abandon()
            self._pending_discontinuity = (self._pending_discontinuity
                                           or self._next_seq > self._first_seq)
            return
        if (not startable and self._request_keyframe is not None
                and pts - writer.start >= self._segment_ticks
                and (self._keyframe_asked is None
                     or pts - self._keyframe_asked >= self._segment_ticks // 2)):
            self._keyframe_asked = pts
            self._request_keyframe()

    def feed_audio(self, data: bytes, rtp_timestamp: int) -> None:
        """One Opus packet with its RTP timestamp (48 kHz), transcoded to AAC.

        The audio and video RTP clocks start at unrelated random values; without the RTCP
        sender reports that relate them, audio is anchored to the video frame fed last when the
        first audio packet is written (and again after a jump in the audio clock). Packets
        arrive in real time, so the two stay within the network jitter of each other. A hole in
        the audio clock up to a second (lost packets, DTX) is filled with silence so audio does
        not run ahead of video.
        """
        if self._closed or not data:
            return
        if not self._audio_on:
            self._audio_on = True
            if self._writer is not None:
                # This segment was opened without an audio track; the next one has it, and
                # the playlist tells players the stream's layout changed there.
                self._pending_discontinuity = True
        writer = self._writer
        if writer is None or writer.audio is None:
            return
        ticks, jump = self._audio_timeline.place(rtp_timestamp)
        hole = ticks - self._audio_next
        if self._aac is None or jump or hole > AUDIO_CLOCK:
            self._aac = AacTranscoder()
            self._audio_anchor = self._timeline.last
            self._audio_next = ticks
            hole = 0
        elif hole < -AUDIO_CLOCK // 100:  # a packet already played (duplicate, reordered)
            return
        try:
            frames = self._aac.silence(hole)
            samples, more = self._aac.transcode(data)
            for adts, pts in frames + more:
                writer.write_audio(adts, self._audio_anchor + pts * VIDEO_CLOCK // AUDIO_CLOCK)
        except (av.FFmpegError, OSError) as err:
            log.debug("hls %s: audio packet dropped: %s", self.room_id, err)
            return
        self._audio_next = ticks + samples

    def close(self, remove: bool) -> None:
        """End of the broadcast. ``remove=True`` deletes the room's folder (the room ended);
        ``remove=False`` finishes the last segment and leaves a playlist with ``#EXT-X-ENDLIST``
        for players to reach the end; a later ``close(remove=True)`` (or :func:`remove_room`)
        deletes them."""
        if self._closed:
            if remove:
                shutil.rmtree(self.dir, ignore_errors=True)
            return
        self._closed = True
        self._aac = None
        try:
            if self._writer is not None:
                if remove:
                    self._abandon()
                else:
                    self._finish(self._timeline.last + self._timeline.step)
            if not remove and self._segments:
                self._write_playlist(ended=True)
        except OSError as err:  # the broadcast is over either way; say why the files are odd
            log.warning("hls %s: could not end the playlist: %s", self.room_id, err)
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)

    def release(self) -> None:
        """Stop writing and leave the room's files as they are: another process took the room's
        video over and writes this folder now (its segments have their own names)."""
        if self._closed:
            return
        self._closed = True
        self._aac = None
        if self._writer is not None:
            self._writer.abandon()  # only this broadcast's unfinished segment
            self._writer = None

    def _open_writer(self, pts: int) -> _SegmentWriter | PartedSegmentWriter:
        name = f"{self._epoch}-{self._next_seq}{SEGMENT_SUFFIX}"
        if self._part_ms is None:
            return _SegmentWriter(self.dir, name, self._next_seq, pts, audio=self._audio_on,
                                  discontinuity=self._pending_discontinuity)
        return PartedSegmentWriter(
            self.dir, name, self._next_seq, pts, audio=self._audio_on,
            discontinuity=self._pending_discontinuity, epoch=self._epoch,
            first_part=self._next_part, part_ticks=self._part_ms * VIDEO_CLOCK // 1000,
            on_part=self._part_done)

    def _part_done(self, part: Part) -> None:
        self._next_part += 1
        self._parts.append(part)
        self._write_playlist(ended=False)

    def _abandon(self) -> None:
        """Drop the open segment, and its parts from the playlist (their files go at once: a
        player that fetched one gets the next segment with a discontinuity)."""
        writer = self._writer
        if writer is None:
            return
        self._writer = None
        writer.abandon()
        for part in [p for p in self._parts if p.seq == writer.seq]:
            self._parts.remove(part)
            (self.dir / part.name).unlink(missing_ok=True)

    def _parameter_sets(self, have_sps: bool, have_pps: bool) -> bytes:
        out = b""
        if not have_sps and self._sps is not None:
            out += b"\x00\x00\x00\x01" + self._sps
        if not have_pps and self._pps is not None:
            out += b"\x00\x00\x00\x01" + self._pps
        return out

    def _finish(self, end: int) -> None:
        """Complete the open segment at tick ``end``, slide the window, rewrite the playlist
        and delete the segments whose grace time has passed."""
        writer = self._writer
        assert writer is not None
        self._writer = None
        try:
            writer.finish(end)
        except (av.FFmpegError, OSError) as err:
            log.warning("hls %s: could not finish segment %d: %s", self.room_id, writer.seq, err)
            self._writer = writer
            self._abandon()
            self._pending_discontinuity = True
            return
        parts = (tuple(p.name for p in writer.parts) if isinstance(writer, PartedSegmentWriter)
                 else ())
        segment = Segment(writer.name, writer.seq, writer.start, max(1, end - writer.start),
                          writer.discontinuity, parts)
        self._segments.append(segment)
        self._target_s = max(self._target_s, math.floor(segment.duration / VIDEO_CLOCK + 0.5))
        self._unlist_old_parts()
        # The longest playlist that listed a segment now leaving is the one before this append.
        before = sum(s.duration for s in self._segments) - segment.duration
        while len(self._segments) > self._window:
            old = self._segments.popleft()
            if old.discontinuity:
                self._discontinuity_seq += 1
            self._retired.append((end + old.duration + before, old))
        self._write_playlist(ended=False)
        while self._retired and self._retired[0][0] <= end:
            _, old = self._retired.popleft()
            (self.dir / old.name).unlink(missing_ok=True)
            for name in old.parts:
                (self.dir / name).unlink(missing_ok=True)

    def _unlist_old_parts(self) -> None:
        """Parts stay listed for the segments within ``PART_TARGETS_LISTED`` target durations
        of the live edge (RFC 8216bis); their files go with their segment's."""
        keep: set[int] = set()
        span = 0
        for segment in reversed(self._segments):
            span += segment.duration
            if span > PART_TARGETS_LISTED * self._target_s * VIDEO_CLOCK:
                break
            keep.add(segment.seq)
        newest = self._segments[-1].seq if self._segments else -1
        while self._parts and self._parts[0].seq not in keep and self._parts[0].seq <= newest:
            self._parts.popleft()

    def _write_playlist(self, ended: bool) -> None:
        if self._part_ms is not None:
            self._write(self._render_low_latency(ended))
            return
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{self._target_s}",
            f"#EXT-X-MEDIA-SEQUENCE:{self._segments[0].seq}",
        ]
        if self._discontinuity_seq:
            lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{self._discontinuity_seq}")
        for segment in self._segments:
            if segment.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            lines.append(f"#EXTINF:{segment.duration / VIDEO_CLOCK:.3f},")
            lines.append(segment.name)
        if ended:
            lines.append("#EXT-X-ENDLIST")
        self._write("\n".join(lines) + "\n")

    def _render_low_latency(self, ended: bool) -> str:
        writer = self._writer
        open_seq = writer.seq if writer is not None else self._next_seq
        assert self._part_ms is not None
        return render(
            segments=[(s.name, s.seq, s.duration / VIDEO_CLOCK, s.discontinuity)
                      for s in self._segments],
            parts=list(self._parts),
            open_segment=(open_seq, writer.discontinuity) if writer is not None else None,
            first_seq=self._segments[0].seq if self._segments else open_seq,
            discontinuity_seq=self._discontinuity_seq, target_s=self._target_s,
            part_target_s=self._part_ms / 1000,
            hint=part_name(self._epoch, self._next_part), ended=ended)

    def _write(self, text: str) -> None:
        # Written aside and renamed: a reader sees the old playlist or the new one, never half.
        tmp = self.dir / f".{PLAYLIST}.tmp"
        tmp.write_text(text, encoding="ascii")
        os.replace(tmp, self.playlist_path)
        if self._on_playlist is not None:
            self._on_playlist(self.playlist_path)
