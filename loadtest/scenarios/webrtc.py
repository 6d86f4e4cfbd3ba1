"""webrtc: one WHIP publisher (720p, ~1 Mbps), N WHEP viewers; what forwarding costs the server.

Why: the server forwards the publisher's encoded frames to every WebRTC viewer without decoding
or re-encoding; this measures what one viewer costs it, and how that compares with aiortc's own
`MediaRelay` (decode once, encode per viewer), run in the same command with the same publisher
and viewer code (`--peer`, or `python -m loadtest compare webrtc`).

How: the coordinator encodes a few seconds of a synthetic 720p picture once (`media_clip`:
H.264 constrained baseline, no B-frames, a keyframe a second, ~1 Mbps; or VP8) and publishes it
over WHIP in a loop of encoded packets (no live encoding). It measures the server with only the
publisher (`--publisher-only-s`), then the generator processes (`--procs`) open the viewers at
`--join-rate`/s: WHEP POST with a viewer token, ICE on the
machine's non-loopback address, DTLS, SRTP; each viewer's receiver is tapped (`media_hooks`) so
complete frames are counted and keyframes noted, never decoded. When all are in and receiving,
the measure window runs `--duration` s. After it, `--late-joiners` viewers join one at a time
from the coordinator (lightly loaded, so its clock is fair): each one's time from its WHEP POST
to the first complete keyframe it receives. Then everything is closed (WHEP/WHIP DELETE).

Figures (`webrtc`, and `webrtc_peer`, `webrtc_vs_peer` with `--peer`):
- server CPU % per viewer = server CPU over the window / viewers, and the marginal figure
  (minus the publisher-only CPU); viewers per core = 100 / the former;
- bytes out: bytes the viewers' transports received (DTLS+SRTP+SRTCP datagrams, no IP/UDP
  headers; aiortc `getStats()` `RTCTransportStats.bytesReceived`) — what the server sent that
  arrived; server CPU ms per Mbit forwarded;
- frames forwarded: the server's `live_media_frames_forwarded_total` (read from `/metrics` of
  the process holding the room's publisher, from the WHIP `Location`), and frames received by
  the viewers (complete frames out of the jitter buffer); for the peer only the latter;
- late joiner: ms from WHEP POST to the first complete keyframe (the jitter buffer releases a
  frame when the next one starts, so this includes up to one frame interval).
The generator's own CPU per process over the window says whether it, not the server, limited
the run (`generator_cpu_pct_max_process`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from loadtest.media_clip import Clip, encode_clip
from loadtest.media_hooks import check_version
from loadtest.media_peers import Publisher, Viewer
from loadtest.pacing import paced
from loadtest.probes import Probe, PsutilProbe, Sample, cpu_delta, fetch_metrics
from loadtest.scenarios import register
from loadtest.scenarios.base import Scenario
from loadtest.spawn import LOOPBACK, free_port, popen, stop_pid, wait_ready
from loadtest.tokens import creator_token, mint
from loadtest.untyped import load
from loadtest.worker import Swarm, action

psutil = load("psutil")

if TYPE_CHECKING:
    from loadtest.run import Run

#: Issue targets, reported (not enforced): viewers per server core, late joiner's first picture.
TARGET_VIEWERS_PER_CORE = 150
TARGET_LATE_JOIN_MS = 1500.0


# -- generator processes: the viewers ----------------------------------------------------------


@dataclass
class Fleet:
    """The WebRTC viewers of one generator process, by group ("ours", "peer")."""

    groups: dict[str, list[Viewer]] = field(default_factory=dict)
    http: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self.http is None or self.http.closed:
            self.http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=64, force_close=True))
        return self.http


_FLEETS: dict[int, Fleet] = {}


def _fleet(sw: Swarm) -> Fleet:
    return _FLEETS.setdefault(id(sw), Fleet())


@action("webrtc_watch")
async def _watch(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Open `count` viewers of group `group` at `rate`/s on `url` (a WHEP endpoint); wait
    (bounded by `per_viewer_s` each) until each is connected or failed. Group "ours" is counted in
    the process tally (connections, frames, encoded bytes) so the common figures and the
    progress line see it; the peer's viewers are kept out of it."""
    check_version()
    fleet = _fleet(sw)
    group = str(args["group"])
    count = int(args.get("count", 0))
    limit_s = float(args.get("per_viewer_s", 15.0))
    codec = str(args["codec"])
    url = str(args["url"])
    viewers = fleet.groups.setdefault(group, [])
    tally = sw.tally if group == "ours" else None
    first = len(viewers)
    slots = sw.slots[first:first + count]

    def on_frame(nbytes: int) -> None:
        if tally is not None:
            tally.frames += 1
            tally.bytes += nbytes

    def on_connected(ms: float | None) -> None:
        if tally is not None:
            tally.joined += 1
            tally.connected += 1
            tally.last_join_t = time.time()
            if ms is not None:
                tally.connect_ms.add(ms)

    async def one(slot_index: int, token: str | None) -> None:
        v = Viewer(slot_index, codec, on_frame, on_connected)
        viewers.append(v)
        if tally is not None:
            tally.attempts += 1
            if tally.first_attempt_t is None:
                tally.first_attempt_t = time.time()
        ok = await v.watch(fleet.session(), url, token, limit_s)
        if not ok and tally is not None:
            tally.fail(v.stats.fail_reason or "unknown")

    pending: list[asyncio.Task[Any]] = []
    deadline = sw.monotonic_deadline(count / max(float(args.get("rate", 0.0)), 0.1) + limit_s)
    async for batch in paced(len(slots), float(args.get("rate", 0.0)), deadline):
        for i in batch:
            pending.append(sw.spawn(one(slots[i].index, slots[i].token)))
    if pending:
        await asyncio.wait(pending, timeout=limit_s + 5.0)
    ok = sum(1 for v in viewers[first:] if v.stats.status == "connected")
    return {"connected": ok, "failed": len(viewers) - first - ok}


@action("webrtc_wait_frames")
async def _wait_frames(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Wait (bounded) until every connected viewer of `group` has received a frame."""
    viewers = _fleet(sw).groups.get(str(args["group"]), [])
    deadline = time.monotonic() + float(args.get("wait_s", 10.0))
    while time.monotonic() < deadline:
        if all(v.stats.frames > 0 for v in viewers if v.stats.status == "connected"):
            break
        await asyncio.sleep(0.1)
    live = [v for v in viewers if v.stats.status == "connected"]
    return {"connected": len(live), "with_frames": sum(1 for v in live if v.stats.frames)}


@action("webrtc_counts")
async def _counts(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Cumulative counts of `group` now: frames, keyframes, encoded bytes and transport bytes."""
    viewers = _fleet(sw).groups.get(str(args["group"]), [])
    # The frame counts and their time first (no await in between), then the slower getStats.
    out: dict[str, Any] = {
        "frames": sum(v.stats.frames for v in viewers),
        "keyframes": sum(v.stats.keyframes for v in viewers),
        "video_bytes": sum(v.stats.bytes for v in viewers),
        "connected": sum(1 for v in viewers if v.pc.connectionState == "connected"),
        "t": time.time(),
    }
    out["wire_bytes"] = sum(await asyncio.gather(*(v.transport_bytes() for v in viewers)))
    return out


@action("webrtc_report")
async def _report(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Every viewer of `group` as it stands (`ViewerStats.wire()`)."""
    viewers = _fleet(sw).groups.get(str(args["group"]), [])
    return {"viewers": [v.stats.wire() for v in viewers]}


@action("webrtc_close")
async def _close_viewers(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Close the viewers of `group` (WHEP DELETE, then the peer connection), bounded."""
    fleet = _fleet(sw)
    group = str(args["group"])
    viewers = fleet.groups.pop(group, [])
    http = fleet.session()
    if viewers:
        await asyncio.wait([asyncio.ensure_future(v.close(http)) for v in viewers],
                           timeout=float(args.get("wait_s", 15.0)))
    if group == "ours":
        sw.tally.connected = max(0, sw.tally.connected - len(viewers))
    if not fleet.groups and fleet.http is not None:
        await fleet.http.close()
        fleet.http = None
    return {"closed": len(viewers)}


# -- the coordinator ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    """Whole-machine counters at one instant: CPU seconds busy (all cores) and the kernel's
    UDP receive-buffer drops. The benchmark shares the machine with whatever else runs; these
    say how much of it the others took, and whether datagrams were dropped (a late joiner
    whose DTLS handshake loses a datagram waits for aiortc's retransmission timer)."""

    t: float
    busy_s: float
    udp_rcvbuf_errors: int | None

    @classmethod
    def now(cls) -> Machine:
        ct = psutil.cpu_times()
        busy = float(ct.user + ct.system + getattr(ct, "nice", 0.0) + getattr(ct, "irq", 0.0)
                     + getattr(ct, "softirq", 0.0) + getattr(ct, "steal", 0.0))
        return cls(time.monotonic(), busy, _udp_rcvbuf_errors())

    def busy_pct_since(self, earlier: Machine) -> float:
        """CPU % busy between two instants, summed over cores (2 cores: up to 200)."""
        return round(100 * (self.busy_s - earlier.busy_s) / max(1e-6, self.t - earlier.t), 1)

    def drops_since(self, earlier: Machine) -> int | None:
        if self.udp_rcvbuf_errors is None or earlier.udp_rcvbuf_errors is None:
            return None
        return self.udp_rcvbuf_errors - earlier.udp_rcvbuf_errors


def _udp_rcvbuf_errors() -> int | None:
    """`Udp: RcvbufErrors` of /proc/net/snmp (Linux), else None."""
    try:
        with open("/proc/net/snmp") as fh:
            rows = [ln.split() for ln in fh if ln.startswith("Udp:")]
    except OSError:
        return None
    if len(rows) < 2 or "RcvbufErrors" not in rows[0]:
        return None
    return int(rows[1][rows[0].index("RcvbufErrors")])


def _sum(results: list[dict[str, Any]], key: str) -> float:
    return float(sum(float(r.get(key) or 0) for r in results))


async def _server_metrics(home: str | None) -> dict[str, float]:
    """`live_media_*` counters from `/metrics` of the process holding the publisher."""
    text = await fetch_metrics(home + "/metrics", 5.0) if home else None
    if text is None:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("live_media_") and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[name] = float(value)
    return out


@dataclass
class PeerServer:
    """The MediaRelay peer, started by the generator and stopped by its pid."""

    proc: subprocess.Popen[bytes]
    url: str
    log_path: str

    @classmethod
    async def start(cls, secret: str, workdir: str) -> PeerServer:
        port = free_port()
        log_path = os.path.join(workdir, "mediarelay.log")
        cmd = [sys.executable, "-m", "loadtest.peers.mediarelay_room", "--host", LOOPBACK,
               "--port", str(port), f"--secret={secret}"]
        proc = await asyncio.to_thread(popen, cmd, {**os.environ, "PYTHONUNBUFFERED": "1"},
                                       None, log_path)
        url = f"http://{LOOPBACK}:{port}"
        try:
            await wait_ready(url, proc, "/readyz", 30.0)
        except BaseException:
            stop_pid(proc)
            raise
        return cls(proc, url, log_path)

    def stop(self) -> None:
        stop_pid(self.proc)


@dataclass
class GroupRun:
    """What the coordinator measured for one server (ours or the peer)."""

    name: str
    viewers_asked: int
    publisher: Publisher | None = None
    pub_only_cpu_pct: float | None = None
    a_server: Sample | None = None
    b_server: Sample | None = None
    a_gen: Sample | None = None
    b_gen: Sample | None = None
    a_counts: list[dict[str, Any]] = field(default_factory=list)
    b_counts: list[dict[str, Any]] = field(default_factory=list)
    a_metrics: dict[str, float] = field(default_factory=dict)
    b_metrics: dict[str, float] = field(default_factory=dict)
    viewers: list[dict[str, Any]] = field(default_factory=list)
    late: list[dict[str, Any]] = field(default_factory=list)
    pub_a: tuple[int, int] = (0, 0)  # publisher (frames sent, stalls) at the window's start
    pub_b: tuple[int, int] = (0, 0)
    machine_a: Machine | None = None
    machine_b: Machine | None = None
    machine_late: tuple[Machine, Machine] | None = None
    connected: int = 0


@register
class WebRTC(Scenario):
    name = "webrtc"
    summary = ("one 720p ~1 Mbps WHIP publisher, N WHEP viewers that count frames: server CPU "
               "per viewer, bytes and frames out, late joiner's first keyframe; --peer: vs "
               "aiortc MediaRelay")
    deliveries = "frames"
    dialects = ("live",)
    #: `compare webrtc` runs this scenario with `--peer` (the peer is started by the scenario).
    own_peer = True
    default_viewers = 150
    default_duration = 20.0

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("webrtc")
        g.add_argument("--codec", choices=("h264", "vp8"), default="h264",
                       help="codec of the clip (default h264: constrained baseline, no B-frames)")
        g.add_argument("--width", type=int, default=1280, help="picture width (default 1280)")
        g.add_argument("--height", type=int, default=720, help="picture height (default 720)")
        g.add_argument("--fps", type=int, default=30, help="frames per second (default 30)")
        g.add_argument("--bitrate", type=int, default=1_000_000,
                       help="target bits per second of the clip (default 1000000)")
        g.add_argument("--clip-seconds", type=float, default=4.0,
                       help="seconds of video encoded once and looped (default 4)")
        g.add_argument("--join-rate", type=float, default=25.0,
                       help="WHEP sessions opened per second while connecting (default 25; "
                            "--ramp is not used)")
        g.add_argument("--late-joiners", type=int, default=3,
                       help="viewers joining one at a time after the window (default 3)")
        g.add_argument("--publisher-only-s", type=float, default=3.0,
                       help="seconds the server is measured with the publisher alone "
                            "(default 3)")
        g.add_argument("--peer", action="store_true",
                       help="also run aiortc's MediaRelay peer (decode once, encode per "
                            "viewer) with the same publisher and viewers; print the ratio")
        g.add_argument("--peer-viewers", type=int, default=3,
                       help="viewers of the peer (default 3: it encodes once per viewer)")
        g.add_argument("--peer-duration", type=float,
                       help="seconds of the peer's window (default: --duration)")

    def _p(self, key: str, default: Any) -> Any:
        value = self.params.get(key)
        return default if value is None else value

    def server_env(self) -> dict[str, str]:
        # The default (500 WHEP sessions per room and process) must not cap a big run.
        return {"LIVE_MEDIA_MAX_VIEWERS_PER_ROOM": "10000"}

    def time_budget(self, duration: float, viewers: int, ramp: float) -> float:
        rate = max(0.1, float(self._p("join_rate", 25.0)))
        late = int(self._p("late_joiners", 3))
        pub_only = float(self._p("publisher_only_s", 3.0))
        one = 30 + 25 + pub_only + 20 + 15 + late * 13 + 20  # clip, publish, ..., close
        budget = one + viewers / rate + duration
        if self.params.get("peer"):
            pv = int(self._p("peer_viewers", 3))
            budget += one + 30 + pv / rate + float(self._p("peer_duration", duration))
        return budget + 30

    # -- drive -----------------------------------------------------------------------------
    async def drive(self, run: Run) -> None:
        check_version()
        self._ours: GroupRun | None = None
        self._peer: GroupRun | None = None
        run.set_phase("encode")
        clip = await asyncio.to_thread(
            encode_clip, codec=str(self._p("codec", "h264")), width=int(self._p("width", 1280)),
            height=int(self._p("height", 720)), fps=int(self._p("fps", 30)),
            seconds=float(self._p("clip_seconds", 4.0)), bitrate=int(self._p("bitrate", 1e6)))
        self._clip = clip
        base = run.target.url
        ours = GroupRun("ours", run.viewers)
        self._ours = ours
        try:
            await self._measure(run, ours, clip, base, run.target.server_probe,
                                run.duration, marks=True)
        finally:
            await self._close_group(run, ours)
        if self.params.get("peer"):
            workdir = (run.target.spawned.workdir if run.target.spawned
                       else tempfile.mkdtemp(prefix="loadtest-mediarelay-"))
            run.set_phase("peer-start")
            peer_srv = await PeerServer.start(run.target.secret, workdir)
            probe = PsutilProbe([peer_srv.proc.pid], source="psutil (spawned MediaRelay peer)")
            saved = run.target.server_probe
            run.target.server_probe = probe  # the timeline follows the server being measured
            peer = GroupRun("peer", int(self._p("peer_viewers", 3)))
            self._peer = peer
            try:
                await self._measure(run, peer, clip, peer_srv.url, probe,
                                    float(self._p("peer_duration", run.duration)), marks=False)
            finally:
                await self._close_group(run, peer)
                run.target.server_probe = saved
                await asyncio.to_thread(peer_srv.stop)

    async def _measure(self, run: Run, g: GroupRun, clip: Clip, base: str, probe: Probe,
                       duration: float, *, marks: bool) -> None:
        room = run.room
        secret = run.target.secret
        tag = "" if g.name == "ours" else "peer-"
        run.set_phase(f"{tag}publish")
        creator = creator_token(secret)
        http = aiohttp.ClientSession()
        try:
            g.publisher = Publisher(clip)
            await g.publisher.publish(http, f"{base}/api/rooms/{room}/whip", creator)
        finally:
            await http.close()
        # The server with the publisher alone: what receiving the stream costs.
        run.set_phase(f"{tag}pub-only")
        await asyncio.sleep(1.0)
        s0 = await probe.sample()
        await asyncio.sleep(float(self._p("publisher_only_s", 3.0)))
        s1 = await probe.sample()
        g.pub_only_cpu_pct = round(100 * cpu_delta(s0, s1) / max(1e-6, s1.t - s0.t), 2)
        if marks:
            await run.mark("idle")
        run.set_phase(f"{tag}connect")
        rate = float(self._p("join_rate", 25.0))
        codec = clip.codec
        limit = run.opts.connect_timeout
        whep = f"{base}/api/rooms/{room}/whep"
        total = g.viewers_asked
        res = await run.call("webrtc_watch", total / max(rate, 0.1) + limit + 30,
                             rate=rate, count=total, group=g.name, url=whep, codec=codec,
                             per_viewer_s=limit)
        g.connected = int(_sum(res, "connected"))
        await run.call("webrtc_wait_frames", 20.0, group=g.name, wait_s=10.0)
        run.set_phase(f"{tag}settle")
        await asyncio.sleep(1.0 if g.name == "ours" else 2.0)
        if marks:
            await run.mark("connected")
        run.set_phase(f"{tag}measure")
        g.a_counts = await run.call("webrtc_counts", 30.0, group=g.name)
        g.a_metrics = await _server_metrics(g.publisher.home if g.name == "ours" else None)
        g.machine_a = Machine.now()
        g.pub_a = (g.publisher.track.sent_frames, g.publisher.track.stalls)
        if marks:
            m = await run.mark("measure_start")
            g.a_server, g.a_gen = m.server, m.gen
        else:
            g.a_server, g.a_gen = await probe.sample(), await run.gen_probe.sample()
        await asyncio.sleep(duration)
        if marks:
            m = await run.mark("measure_end")
            g.b_server, g.b_gen = m.server, m.gen
        else:
            g.b_server, g.b_gen = await probe.sample(), await run.gen_probe.sample()
        g.machine_b = Machine.now()
        g.pub_b = (g.publisher.track.sent_frames, g.publisher.track.stalls)
        g.b_metrics = await _server_metrics(g.publisher.home if g.name == "ours" else None)
        g.b_counts = await run.call("webrtc_counts", 30.0, group=g.name)
        run.set_phase(f"{tag}late-join")
        before = Machine.now()
        await self._late_joiners(g, whep, codec, limit, secret)
        g.machine_late = (before, Machine.now())
        rep = await run.call("webrtc_report", 30.0, group=g.name)
        g.viewers = [v for r in rep for v in r.get("viewers", [])]

    async def _late_joiners(self, g: GroupRun, whep: str, codec: str, limit: float,
                            secret: str) -> None:
        """One at a time, 1 s apart (keyframe requests are coalesced per room on our server;
        spacing keeps each joiner's own request from merging with the previous one)."""
        async with aiohttp.ClientSession() as http:
            for i in range(int(self._p("late_joiners", 3))):
                v = Viewer(1_000_000 + i, codec)
                try:
                    if await v.watch(http, whep, mint(secret, f"lt-late-{i}"), limit):
                        await v.wait_keyframe(10.0)
                finally:
                    g.late.append(v.stats.wire())
                    await v.close(http)
                await asyncio.sleep(1.0)

    async def _close_group(self, run: Run, g: GroupRun) -> None:
        with contextlib.suppress(Exception):
            await run.call("webrtc_close", 30.0, group=g.name, wait_s=15.0)
        if g.publisher is not None:
            async with aiohttp.ClientSession() as http:
                await g.publisher.close(http)

    # -- judge -----------------------------------------------------------------------------
    def _figures(self, run: Run, g: GroupRun, source: str) -> dict[str, Any]:
        clip = self._clip
        f: dict[str, Any] = {
            "server": source,
            "codec": clip.codec,
            "picture": f"{clip.width}x{clip.height}@{clip.fps}",
            "clip_mbit_per_s": round(clip.bitrate / 1e6, 3),
            "viewers": g.viewers_asked,
            "viewers_connected": g.connected,
            "viewers_with_frames": sum(1 for v in g.viewers if v.get("frames")),
            "publisher_only_cpu_pct": g.pub_only_cpu_pct,
        }
        if not (g.a_server and g.b_server and g.a_counts and g.b_counts):
            return f
        secs = max(1e-6, g.b_server.t - g.a_server.t)
        cpu_s = cpu_delta(g.a_server, g.b_server)
        cpu_pct = 100 * cpu_s / secs
        n = max(1, g.connected)
        per = cpu_pct / n if g.a_server.cpu else None
        marginal = ((cpu_pct - g.pub_only_cpu_pct) / n
                    if per is not None and g.pub_only_cpu_pct is not None else None)
        frames = _sum(g.b_counts, "frames") - _sum(g.a_counts, "frames")
        cwin = max(1e-6, _sum(g.b_counts, "t") / len(g.b_counts)
                   - _sum(g.a_counts, "t") / len(g.a_counts))
        wire = _sum(g.b_counts, "wire_bytes") - _sum(g.a_counts, "wire_bytes")
        video = _sum(g.b_counts, "video_bytes") - _sum(g.a_counts, "video_bytes")
        mbit = 8 * wire / 1e6
        fwd_key = "live_media_frames_forwarded_total"
        forwarded = (g.b_metrics[fwd_key] - g.a_metrics[fwd_key]
                     if fwd_key in g.a_metrics and fwd_key in g.b_metrics else None)
        kreq = "live_media_keyframe_requests_total"
        gen = {k: g.b_gen.cpu[k] - g.a_gen.cpu[k] for k in g.b_gen.cpu
               if g.a_gen and k in g.a_gen.cpu} if g.b_gen else {}
        late_ms = [v.get("first_keyframe_ms") for v in g.late]
        got = [x for x in late_ms if isinstance(x, int | float)]
        f.update({
            "window_s": round(secs, 2),
            "server_cpu_pct": round(cpu_pct, 1),
            "server_cpu_pct_per_viewer": None if per is None else round(per, 3),
            "server_cpu_pct_per_viewer_marginal": (None if marginal is None
                                                   else round(marginal, 3)),
            "viewers_per_core": round(100 / per, 1) if per else None,
            "viewers_per_core_marginal": round(100 / marginal, 1) if marginal else None,
            "bytes_out": int(wire),
            "mbit_out_per_s": round(mbit / cwin, 2),
            "bytes_out_source": "viewers' transports (getStats bytesReceived: DTLS+SRTP+SRTCP)",
            "video_bytes_received": int(video),
            # cumulative at the window's end, the frames' bytes read before the transports'
            # (so every video byte counted had crossed the wire by then): wire ≥ video holds
            # here, while the window's deltas can invert by a frame in flight at its start
            "bytes_out_total": int(_sum(g.b_counts, "wire_bytes")),
            "video_bytes_received_total": int(_sum(g.b_counts, "video_bytes")),
            "server_cpu_ms_per_mbit": round(1000 * cpu_s / mbit, 3) if mbit > 0 else None,
            "frames_forwarded": None if forwarded is None else int(forwarded),
            "frames_forwarded_source": ("server /metrics live_media_frames_forwarded_total"
                                        if forwarded is not None else "viewers (received)"),
            "publisher_fps": round((g.pub_b[0] - g.pub_a[0]) / cwin, 2),
            "publisher_stalls": g.pub_b[1] - g.pub_a[1],
            "frames_forwarded_per_viewer_per_s": (None if forwarded is None
                                                  else round(forwarded / n / cwin, 2)),
            "frames_received": int(frames),
            "frames_per_viewer_per_s": round(frames / n / cwin, 2),
            "keyframe_requests_to_publisher": (
                int(g.b_metrics[kreq] - g.a_metrics[kreq])
                if kreq in g.a_metrics and kreq in g.b_metrics else None),
            "publisher_keyframe_requests": (g.publisher.track.keyframe_requests
                                            if g.publisher else None),
            "late_joiner_first_keyframe_ms": got[0] if got else None,
            "late_joiners_first_keyframe_ms": late_ms,
            "late_joiner_worst_ms": max(got) if got else None,
            "late_joiner_connect_ms": [v.get("connect_ms") for v in g.late],
            "viewer_first_keyframe_ms_median": _median(
                [v.get("first_keyframe_ms") for v in g.viewers]),
            "viewer_frames_min": min((int(v.get("frames") or 0) for v in g.viewers), default=0),
            "generator_cpu_pct_max_process": (round(100 * max(gen.values()) / secs, 1)
                                              if gen else None),
            "generator_cpu_pct_total": round(100 * sum(gen.values()) / secs, 1) if gen else None,
        })
        if g.machine_a and g.machine_b:
            busy = g.machine_b.busy_pct_since(g.machine_a)
            f["machine_cores"] = psutil.cpu_count(logical=True)
            f["machine_busy_pct"] = busy
            # what neither the server nor the generator used (other programs, Valkey, kernel)
            f["machine_busy_pct_others"] = round(
                busy - cpu_pct - (f["generator_cpu_pct_total"] or 0.0), 1)
            f["udp_rcvbuf_drops"] = g.machine_b.drops_since(g.machine_a)
        if g.machine_late:
            b, e = g.machine_late
            f["late_join_machine_busy_pct"] = e.busy_pct_since(b)
            f["late_join_udp_rcvbuf_drops"] = e.drops_since(b)
        return f

    def _judge_group(self, run: Run, g: GroupRun, f: dict[str, Any], prefix: str) -> None:
        run.check(f"{prefix}every viewer connected", g.connected == g.viewers_asked,
                  f"{g.connected}/{g.viewers_asked} connected "
                  f"{_reasons(g.viewers) or ''}".strip())
        with_frames = f.get("viewers_with_frames", 0)
        run.check(f"{prefix}every viewer received frames", with_frames == g.viewers_asked,
                  f"{with_frames}/{g.viewers_asked} viewers received frames "
                  f"(fewest: {f.get('viewer_frames_min')})")
        late = f.get("late_joiners_first_keyframe_ms") or []
        run.check(f"{prefix}late joiners got a keyframe",
                  bool(late) and all(isinstance(x, int | float) for x in late),
                  f"first keyframe ms: {late}")
        run.check(f"{prefix}server CPU figure", f.get("server_cpu_pct_per_viewer") is not None,
                  f"{f.get('server_cpu_pct_per_viewer')} % of a core per viewer")

    async def judge(self, run: Run) -> None:
        ours = getattr(self, "_ours", None)
        if ours is None:
            return
        fo = self._figures(run, ours, "ours")
        per, late = fo.get("viewers_per_core"), fo.get("late_joiner_worst_ms")
        fo["targets"] = {
            f"viewers_per_core>={TARGET_VIEWERS_PER_CORE}": (
                None if per is None else per >= TARGET_VIEWERS_PER_CORE),
            f"late_joiner<{TARGET_LATE_JOIN_MS:g}ms": (
                None if late is None else late < TARGET_LATE_JOIN_MS),
        }
        run.figures["webrtc"] = fo
        self._judge_group(run, ours, fo, "")
        peer = getattr(self, "_peer", None)
        if peer is None:
            return
        fp = self._figures(run, peer, "aiortc MediaRelay peer")
        run.figures["webrtc_peer"] = fp
        self._judge_group(run, peer, fp, "peer: ")
        run.figures["webrtc_vs_peer"] = vs_peer(fo, fp)


def vs_peer(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    """Server CPU per viewer, ours and the peer's, and how many times the peer's is ours."""
    def ratio(key: str) -> float | None:
        a, b = ours.get(key), peer.get(key)
        if isinstance(a, int | float) and isinstance(b, int | float) and a > 0:
            return round(b / a, 1)
        return None

    return {
        "viewers_ours": ours.get("viewers_connected"),
        "viewers_peer": peer.get("viewers_connected"),
        "cpu_pct_per_viewer_ours": ours.get("server_cpu_pct_per_viewer"),
        "cpu_pct_per_viewer_peer": peer.get("server_cpu_pct_per_viewer"),
        "peer_costs_x_per_viewer": ratio("server_cpu_pct_per_viewer"),
        "cpu_pct_per_viewer_marginal_ours": ours.get("server_cpu_pct_per_viewer_marginal"),
        "cpu_pct_per_viewer_marginal_peer": peer.get("server_cpu_pct_per_viewer_marginal"),
        "peer_costs_x_marginal": ratio("server_cpu_pct_per_viewer_marginal"),
        "cpu_ms_per_mbit_ours": ours.get("server_cpu_ms_per_mbit"),
        "cpu_ms_per_mbit_peer": peer.get("server_cpu_ms_per_mbit"),
        "late_joiner_ms_ours": ours.get("late_joiner_first_keyframe_ms"),
        "late_joiner_ms_peer": peer.get("late_joiner_first_keyframe_ms"),
    }


def _median(xs: list[Any]) -> float | None:
    vals = [float(x) for x in xs if isinstance(x, int | float)]
    return round(statistics.median(vals), 2) if vals else None


def _reasons(viewers: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in viewers:
        if v.get("fail_reason"):
            out[v["fail_reason"]] = out.get(v["fail_reason"], 0) + 1
    return out


__all__ = ["WebRTC", "vs_peer"]
