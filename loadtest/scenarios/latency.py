"""latency: glass-to-glass latency of the room's video over Low-Latency HLS and over WebRTC.

Why: the issue's targets are HLS ≤ 3 s and WebRTC ≤ 500 ms from the publisher's camera to the
viewer's screen. Both paths carry the publisher's encoded frames unchanged, so a frame can
carry its own send time.

How: the coordinator encodes a small clip once (`media_clip`) and publishes it over WHIP in a
loop; just before aiortc packetizes a frame, `StampedTrack` puts the wall-clock time in an H.264
SEI message (user data unregistered, our UUID, 16 hex digits of microseconds: no zero bytes,
so no emulation prevention) in front of the frame's first slice. Every path keeps SEI NAL
units (the relay forwards RTP as it came; the HLS remux copies access units).
- WebRTC: one WHEP viewer (aiortc, frames out of its jitter buffer, not decoded); latency =
  when the frame is complete − its stamp.
- HLS: `HlsPlayer` follows the playlist as hls.js does in low-latency mode: it tunes in
  PART-HOLD-BACK behind the live edge (the playlist's end), starting at the independent part
  before that point, then asks for each next part with a blocking reload
  (`_HLS_msn`/`_HLS_part`), fetches it, demuxes its frames (PyAV, no decode) and shows them in
  real time from the tune-in point; a frame that comes after its time stalls playback (counted)
  and later frames shift. Latency = when the frame is shown − its stamp; also the arrival
  latency (when the part holding it was fetched − its stamp), the path's own share.
Publisher, viewer and player share one process and one clock (`time.time()`). Neither client
decodes or renders: a browser adds its decoder's and compositor's few tens of ms.
Without low-latency HLS on the server (`LIVE_HLS_LOW_LATENCY=false`, `--classic`) the player
tunes in three target durations behind the end and polls the playlist every target duration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import re
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from loadtest.media_clip import Clip, LoopTrack, encode_clip
from loadtest.media_hooks import check_version
from loadtest.media_peers import Publisher, Viewer
from loadtest.scenarios import register
from loadtest.scenarios.base import Scenario
from loadtest.tokens import creator_token, mint
from loadtest.untyped import load

av = load("av")

if TYPE_CHECKING:
    from loadtest.run import Run

#: The issue's targets (reported, and checked on the 95th percentile).
TARGET_HLS_MS = 3000.0
TARGET_WEBRTC_MS = 500.0
#: Our SEI payload's UUID (user data unregistered): no zero bytes.
STAMP_UUID = bytes.fromhex("4c4c484c53b7a5e1ab2c9d3e7f61c8e9")
_SEI_HEAD = b"\x00\x00\x00\x01\x06\x05" + bytes([16 + 16]) + STAMP_UUID


def stamp_frame(data: bytes, micros: int) -> bytes:
    """The access unit with an SEI holding ``micros`` in front of its first slice."""
    sei = _SEI_HEAD + f"{micros:016x}".encode() + b"\x80"
    pos = 0
    while True:
        pos = data.find(b"\x00\x00\x01", pos)
        if pos < 0 or pos + 3 >= len(data):
            return sei + data
        if data[pos + 3] & 0x1F in (1, 5):  # a slice: the SEI goes just before it
            start = pos - 1 if pos > 0 and data[pos - 1] == 0 else pos
            return data[:start] + sei + data[start:]
        pos += 3


def read_stamp(data: bytes) -> float | None:
    """The send time (seconds, wall clock) an access unit carries, if any."""
    pos = data.find(STAMP_UUID)
    if pos < 0:
        return None
    digits = data[pos + 16:pos + 32]
    try:
        return int(digits, 16) / 1e6
    except ValueError:
        return None


class StampedTrack(LoopTrack):
    """The looped clip, each frame stamped with the wall-clock time it is handed to aiortc."""

    async def recv(self) -> Any:
        packet = await super().recv()
        stamped = av.Packet(stamp_frame(bytes(packet), time.time_ns() // 1000))
        stamped.pts, stamped.dts, stamped.time_base = packet.pts, packet.dts, packet.time_base
        return stamped


class StampViewer(Viewer):
    """A WHEP viewer that notes each frame's latency: complete − stamped."""

    def __init__(self, index: int, codec: str) -> None:
        super().__init__(index, codec)
        self.latencies_ms: list[float] = []

    def _frame(self, codec: str, data: bytes, keyframe: bool, at: float) -> None:
        super()._frame(codec, data, keyframe, at)
        sent = read_stamp(data)
        if sent is not None:
            self.latencies_ms.append(1000 * (time.time() - sent))


# -- the HLS player ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    msn: int
    index: int
    uri: str
    start: float  # seconds from the playlist's first segment
    duration: float
    independent: bool


@dataclass
class Playlist:
    """What the player reads of a media playlist."""

    target: float
    first_msn: int
    segments: list[tuple[int, str, float, float]]  # (msn, uri, start, duration)
    parts: list[Part]
    hold_back: float | None  # PART-HOLD-BACK; None without low-latency HLS
    end: float
    ended: bool

    @classmethod
    def parse(cls, text: str) -> Playlist:
        target, msn, clock, ended = 2.0, 0, 0.0, False
        hold_back: float | None = None
        segments: list[tuple[int, str, float, float]] = []
        parts: list[Part] = []
        pending: list[tuple[str, float, bool]] = []
        extinf = 0.0
        first_msn: int | None = None
        for line in text.splitlines():
            if line.startswith("#EXT-X-TARGETDURATION:"):
                target = float(line.split(":", 1)[1])
            elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
                msn = int(line.split(":", 1)[1])
                first_msn = msn
            elif line.startswith("#EXT-X-SERVER-CONTROL:"):
                found = re.search(r"PART-HOLD-BACK=([0-9.]+)", line)
                hold_back = float(found.group(1)) if found else None
            elif line.startswith("#EXT-X-PART:"):
                uri = re.search(r'URI="([^"]+)"', line)
                dur = re.search(r"DURATION=([0-9.]+)", line)
                if uri and dur:
                    pending.append((uri.group(1), float(dur.group(1)),
                                    "INDEPENDENT=YES" in line))
            elif line.startswith("#EXTINF:"):
                extinf = float(line[8:].split(",", 1)[0])
            elif line == "#EXT-X-ENDLIST":
                ended = True
            elif line and not line.startswith("#"):
                cls._add_parts(parts, pending, msn, clock)
                segments.append((msn, line, clock, extinf))
                clock += extinf
                msn += 1
                pending = []
        cls._add_parts(parts, pending, msn, clock)  # the open segment's
        end = max(clock, parts[-1].start + parts[-1].duration if parts else 0.0)
        return cls(target, first_msn or 0, segments, parts, hold_back, end, ended)

    @staticmethod
    def _add_parts(parts: list[Part], pending: list[tuple[str, float, bool]], msn: int,
                   clock: float) -> None:
        at = clock
        for i, (uri, duration, independent) in enumerate(pending):
            parts.append(Part(msn, i, uri, at, duration, independent))
            at += duration


@dataclass
class HlsPlayer:
    """Plays a room's LL-HLS as hls.js would (see the module's docstring); frames' latencies."""

    url: str  # the playlist's URL
    shown_ms: list[float] = field(default_factory=list)
    arrival_ms: list[float] = field(default_factory=list)
    stalls: int = 0
    parts: int = 0
    segments: int = 0
    blocking_reloads: int = 0
    hold_back_s: float | None = None
    tune_in_ms: float | None = None
    _origin: tuple[float, int] | None = None  # (wall time, pts) the playout clock started at
    playing_since: float | None = None  # time.monotonic() when the playout clock started
    _start_pts: int | None = None  # the first pts to show (the tune-in point)

    async def play(self, http: aiohttp.ClientSession, seconds: float) -> None:
        """Tune in (waiting, bounded, until the show has run long enough), then play
        ``seconds``."""
        t0 = time.monotonic()
        pl = await self._first_playlist(http, t0 + 30.0)
        if pl is None:
            return
        self.tune_in_ms = round(1000 * (time.monotonic() - t0), 1)
        deadline = time.monotonic() + seconds
        if pl.hold_back is None:
            await self._play_segments(http, pl, deadline)
            return
        self.hold_back_s = pl.hold_back
        point = pl.end - pl.hold_back
        start = max((p for p in pl.parts if p.independent and p.start <= point),
                    key=lambda p: p.start, default=pl.parts[0])
        skip_to = point - start.start  # seconds into the first part where playback begins
        part: Part | None = start
        while part is not None and time.monotonic() < deadline:
            await self._fetch(http, part.uri, skip_to)
            skip_to = 0.0
            self.parts += 1
            part, pl = await self._next(http, pl, part, deadline)

    async def _first_playlist(self, http: aiohttp.ClientSession,
                              deadline: float) -> Playlist | None:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(self.url) as resp:
                    if resp.status == 200:
                        pl = Playlist.parse(await resp.text())
                        # a viewer joining a show under way: enough listed to tune in at
                        # the hold-back point (at the very start, a player would begin at
                        # the first frame and then stall its way to the edge)
                        if (pl.parts and pl.hold_back is not None
                                and pl.end >= pl.hold_back + pl.target):
                            return pl
                        if pl.hold_back is None and len(pl.segments) >= 3:
                            return pl
            await asyncio.sleep(0.2)
        return None

    async def _next(self, http: aiohttp.ClientSession, pl: Playlist, done: Part,
                    deadline: float) -> tuple[Part | None, Playlist]:
        """The part after ``done``: from this playlist if listed, else a blocking reload."""
        while time.monotonic() < deadline:
            found = _after(pl, done)
            if found is not None:
                return found, pl
            if pl.ended:
                return None, pl
            query = f"_HLS_msn={done.msn}&_HLS_part={done.index + 1}"
            self.blocking_reloads += 1
            try:
                async with http.get(f"{self.url}?{query}") as resp:
                    if resp.status == 200:
                        pl = Playlist.parse(await resp.text())
                    else:
                        await asyncio.sleep(0.1)
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.1)
        return None, pl

    async def _play_segments(self, http: aiohttp.ClientSession, pl: Playlist,
                             deadline: float) -> None:
        """Classic HLS: three target durations behind the end, a reload every target."""
        index = max(0, len(pl.segments) - 3)
        msn = pl.segments[index][0]
        while time.monotonic() < deadline:
            listed = {m: uri for m, uri, _, _ in pl.segments}
            if msn in listed:
                await self._fetch(http, listed[msn], 0.0)
                self.segments += 1
                msn += 1
                continue
            await asyncio.sleep(pl.target / 2)
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(self.url) as resp:
                    if resp.status == 200:
                        pl = Playlist.parse(await resp.text())

    async def _fetch(self, http: aiohttp.ClientSession, uri: str, skip_s: float) -> None:
        base = self.url.rsplit("/", 1)[0]
        try:
            async with http.get(f"{base}/{uri}") as resp:
                if resp.status != 200:
                    return
                body = await resp.read()
        except (aiohttp.ClientError, TimeoutError):
            return
        arrived = time.time()
        for pts, sent in _frames(body):
            if sent is not None:
                self.arrival_ms.append(1000 * (arrived - sent))
            if self._start_pts is None:
                self._start_pts = pts + round(skip_s * 90_000)
            if pts < self._start_pts:
                continue  # decoded to reach the tune-in point, not shown
            if self._origin is None:
                self._origin = (arrived, pts)
                self.playing_since = time.monotonic()
            wall0, pts0 = self._origin
            due = wall0 + (pts - pts0) / 90_000
            if arrived > due + 0.001:  # not there in time: playback waited for it
                self.stalls += 1
                self._origin = (wall0 + arrived - due, pts0)
                due = arrived
            if sent is not None:
                self.shown_ms.append(1000 * (due - sent))


def _after(pl: Playlist, done: Part) -> Part | None:
    later = [p for p in pl.parts if (p.msn, p.index) > (done.msn, done.index)]
    if not later:
        return None
    nxt = min(later, key=lambda p: (p.msn, p.index))
    if nxt.msn == done.msn and nxt.index == done.index + 1:
        return nxt
    if nxt.msn == done.msn + 1 and nxt.index == 0:
        # the next segment's first part, once ``done``'s segment is complete
        return nxt if any(m == done.msn for m, _, _, _ in pl.segments) else None
    return nxt  # the player fell behind the listed parts: carry on from the oldest listed


def _frames(body: bytes) -> list[tuple[int, float | None]]:
    """(pts, stamp) of every video access unit of an MPEG-TS part or segment."""
    out: list[tuple[int, float | None]] = []
    try:
        with av.open(io.BytesIO(body), format="mpegts") as container:
            for packet in container.demux(video=0):
                if packet.pts is not None and packet.size:
                    out.append((int(packet.pts), read_stamp(bytes(packet))))
    except av.FFmpegError:
        return []
    return out


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None, "n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 1), "p95": round(p95, 1),
            "max": round(ordered[-1], 1), "n": len(ordered)}


# -- the scenario ------------------------------------------------------------------------------


@register
class Latency(Scenario):
    name = "latency"
    summary = ("glass-to-glass latency of stamped frames: one WHIP publisher, one WHEP viewer "
               "and one LL-HLS player (blocking reloads, parts) on the same clock")
    deliveries = "frames"
    dialects = ("live",)
    default_viewers = 0
    default_duration = 30.0

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("latency")
        g.add_argument("--latency-width", type=int, default=640,
                       help="picture width of the stamped clip (default 640)")
        g.add_argument("--latency-height", type=int, default=360,
                       help="picture height (default 360)")
        g.add_argument("--latency-fps", type=int, default=30, help="frames per second (30)")
        g.add_argument("--classic", action="store_true",
                       help="the server without low-latency HLS (classic HLS, for comparison)")

    def _p(self, key: str, default: Any) -> Any:
        value = self.params.get(key)
        return default if value is None else value

    def server_env(self) -> dict[str, str]:
        return {"LIVE_HLS_LOW_LATENCY": "false" if self.params.get("classic") else "true"}

    def time_budget(self, duration: float, viewers: int, ramp: float) -> float:
        return 30 + 25 + 20 + 30 + duration + 30  # clip, publish, viewer, tune-in, play, close

    async def drive(self, run: Run) -> None:
        check_version()
        run.set_phase("encode")
        fps = int(self._p("latency_fps", 30))
        clip: Clip = await asyncio.to_thread(
            encode_clip, codec="h264", width=int(self._p("latency_width", 640)),
            height=int(self._p("latency_height", 360)), fps=fps, seconds=2.0,
            bitrate=600_000)
        base, room, secret = run.target.url, run.room, run.target.secret
        track = StampedTrack(clip)
        publisher = Publisher(clip, track)
        viewer = StampViewer(0, "h264")
        player = HlsPlayer(f"{base}/hls/{room}/index.m3u8")
        self.state.update(viewer=viewer, player=player, clip=clip, track=track)
        async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=15)) as http:
            try:
                run.set_phase("publish")
                await publisher.publish(http, f"{base}/api/rooms/{room}/whip",
                                        creator_token(secret))
                await run.mark("idle")
                run.set_phase("watch")
                watched = await viewer.watch(http, f"{base}/api/rooms/{room}/whep",
                                             mint(secret, "lt-latency"), 20.0)
                self.state["whep_connected"] = watched
                await run.mark("connected")
                run.set_phase("measure")
                await run.mark("measure_start")
                await player.play(http, run.duration)
                await run.mark("measure_end")
            finally:
                await viewer.close(http)
                await publisher.close(http)

    async def judge(self, run: Run) -> None:
        viewer: StampViewer | None = self.state.get("viewer")
        player: HlsPlayer | None = self.state.get("player")
        if viewer is None or player is None:
            return
        hls = percentiles(player.shown_ms)
        rtc = percentiles(viewer.latencies_ms)
        low_latency = player.hold_back_s is not None
        track: StampedTrack | None = self.state.get("track")
        since = player.playing_since
        # a publisher stalled while the player plays puts its frames' stamps that much later
        # than their timeline: the player, on the timeline, shows them that much sooner
        stalled_ms = 0.0 if track is None or since is None else round(
            1000 * sum(s for at, s in track.stalled if at >= since), 1)
        run.figures["latency"] = {
            "hls_mode": "low-latency" if low_latency else "classic",
            "hls_latency_ms": hls,
            "hls_arrival_ms": percentiles(player.arrival_ms),
            "hls_stalls": player.stalls,
            "hls_parts_fetched": player.parts,
            "hls_segments_fetched": player.segments,
            "hls_blocking_reloads": player.blocking_reloads,
            "hls_part_hold_back_s": player.hold_back_s,
            "hls_tune_in_ms": player.tune_in_ms,
            "publisher_stalled_ms": stalled_ms,
            "webrtc_latency_ms": rtc,
            "webrtc_frames": viewer.stats.frames,
            "targets": {
                f"hls_p95<={TARGET_HLS_MS:g}ms": (None if hls["p95"] is None
                                                   else hls["p95"] <= TARGET_HLS_MS),
                f"webrtc_p95<={TARGET_WEBRTC_MS:g}ms": (None if rtc["p95"] is None
                                                         else rtc["p95"] <= TARGET_WEBRTC_MS),
            },
            "what": "shown (HLS: played from PART-HOLD-BACK behind the edge; WebRTC: frame "
                    "complete) minus the stamp put in the frame's SEI when it was sent",
        }
        run.check("WHEP viewer connected and got stamped frames", bool(viewer.latencies_ms),
                  f"{len(viewer.latencies_ms)} stamped frames of {viewer.stats.frames}")
        run.check("HLS player showed stamped frames", bool(player.shown_ms),
                  f"{len(player.shown_ms)} frames, {player.parts} parts, "
                  f"{player.segments} segments")
        if low_latency:
            run.check("HLS player used blocking reloads and parts",
                      player.blocking_reloads > 0 and player.parts > 0,
                      f"{player.blocking_reloads} blocking reloads, {player.parts} parts")


__all__ = ["HlsPlayer", "Latency", "Playlist", "read_stamp", "stamp_frame"]
