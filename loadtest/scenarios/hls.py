"""hls: N Low-Latency HLS viewers of one room, through a cache or straight at the origin; how
many requests reach the origin per 1,000 viewers.

Why: an HLS audience is meant to cost the servers little because a CDN stands in front of them
(docs/OPERATIONS.md, "HLS: disk, CDN, several machines"). This measures what that leaves for
the origin, with nginx as the CDN stand-in (`loadtest/hls_cache.py`, the configuration the
runbook shows; `--hls-cache nginx`, the default), a cache already running in front of the
target (`--hls-cache http://127.0.0.1:PORT`), or none (`--hls-cache none`: every viewer at the
origin, for comparison).

How: the coordinator encodes a short clip once (`media_clip`, H.264) and publishes it over WHIP
in a loop. Once the room's playlist has enough parts to tune in, the generator processes start
the viewers at `--ramp`/s. Each viewer does what hls.js does in low-latency mode, without
decoding: it reads the playlist, starts at the independent part PART-HOLD-BACK behind the live
edge, fetches each part (a valid MPEG-TS body: whole 188-byte packets with their sync byte)
and asks for the next one with a blocking reload (`_HLS_msn`/`_HLS_part`) when the playlist it
has does not list it yet. Over the `--duration` window it counts its requests by kind, their
answers and times; the origin counts the requests it answered (`live_hls_requests_total` from
its `/metrics`: exact for one server process, so spawn it with `--workers 1`), and nginx logs
each request's cache status and whether it went to the origin.

Figures (`hls`): client and origin requests (total, per second, by kind), origin requests per
1,000 viewers per second, the hit ratio, nginx's cache statuses, parts per viewer per second
(the publisher makes 1 / part target), request times by kind (behind stock nginx a request
waiting for another's answer is woken every 500 ms at most), failures and invalid bodies.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from loadtest.hls_cache import CacheProxy, start_cache
from loadtest.media_clip import Clip, encode_clip
from loadtest.media_hooks import check_version
from loadtest.media_peers import Publisher
from loadtest.pacing import paced
from loadtest.probes import PsutilProbe, cpu_delta, fetch_metrics
from loadtest.scenarios import register
from loadtest.scenarios.base import Scenario
from loadtest.scenarios.latency import Part, Playlist, _after
from loadtest.stats import Histogram
from loadtest.worker import Swarm, action

if TYPE_CHECKING:
    from loadtest.run import Run

TS_PACKET = 188
#: Request kinds, as the origin's metric names them.
KINDS = ("playlist", "playlist_blocking", "part", "segment")
_METRIC = re.compile(r'live_hls_requests_total\{kind="([a-z_]+)",status="(\d+)"\} ([0-9.e+]+)')


# -- generator processes: the viewers ----------------------------------------------------------


@dataclass
class Crowd:
    """The HLS viewers of one generator process and what they counted, cumulative."""

    http: aiohttp.ClientSession | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    requests: collections.Counter[str] = field(default_factory=collections.Counter)
    answers: collections.Counter[str] = field(default_factory=collections.Counter)  # kind:status
    times: dict[str, Histogram] = field(default_factory=dict)
    bytes: int = 0
    invalid: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    tuned_in: int = 0
    tune_in_ms: Histogram = field(default_factory=Histogram)
    parts_by_viewer: list[int] = field(default_factory=list)

    def wire(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests), "answers": dict(self.answers),
            "times": {k: h.to_wire() for k, h in self.times.items()}, "bytes": self.bytes,
            "invalid": dict(self.invalid), "errors": dict(self.errors),
            "tuned_in": self.tuned_in, "tune_in_ms": self.tune_in_ms.to_wire(),
            "parts_by_viewer": list(self.parts_by_viewer), "t": time.time(),
        }


_CROWDS: dict[int, Crowd] = {}


def _crowd(sw: Swarm) -> Crowd:
    return _CROWDS.setdefault(id(sw), Crowd())


def valid_ts(body: bytes) -> bool:
    """Whole MPEG-TS packets, each starting with the sync byte."""
    return (len(body) > 0 and len(body) % TS_PACKET == 0
            and all(body[i] == 0x47 for i in range(0, len(body), TS_PACKET)))


class HlsViewer:
    """One low-latency viewer: tune in PART-HOLD-BACK behind the edge, then each next part."""

    def __init__(self, crowd: Crowd, index: int, url: str, sw: Swarm) -> None:
        self.crowd = crowd
        self.index = index
        self.url = url
        self.base = url.rsplit("/", 1)[0]
        self.sw = sw

    async def _get(self, kind: str, url: str) -> tuple[int, bytes]:
        c = self.crowd
        assert c.http is not None
        c.requests[kind] += 1
        t0 = time.monotonic()
        try:
            async with c.http.get(url) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            c.errors[f"{kind}:{type(exc).__name__}"] += 1
            return 0, b""
        c.times.setdefault(kind, Histogram()).add(1000 * (time.monotonic() - t0))
        c.answers[f"{kind}:{status}"] += 1
        c.bytes += len(body)
        self.sw.tally.bytes += len(body)
        return status, body

    async def _playlist(self, query: str = "") -> Playlist | None:
        kind = "playlist_blocking" if "_HLS_msn" in query else "playlist"
        status, body = await self._get(kind, self.url + query)
        if status != 200:
            return None
        try:
            pl = Playlist.parse(body.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            self.crowd.invalid[kind] += 1
            return None
        if not pl.parts or pl.hold_back is None:
            self.crowd.invalid[kind] += 1  # not a low-latency playlist with parts
            return None
        return pl

    async def watch(self, limit_s: float, tuned: asyncio.Future[bool]) -> None:
        """Tune in within ``limit_s`` (``tuned`` says whether), then follow the edge until
        cancelled."""
        t0 = time.monotonic()
        pl: Playlist | None = None
        while pl is None and time.monotonic() - t0 < limit_s:
            pl = await self._playlist()
            if pl is None:
                await asyncio.sleep(0.2)
        if pl is None:
            tuned.set_result(False)
            return
        self.crowd.tuned_in += 1
        self.crowd.tune_in_ms.add(1000 * (time.monotonic() - t0))
        self.sw.tally.joined += 1
        self.sw.tally.connected += 1
        tuned.set_result(True)
        point = pl.end - (pl.hold_back or 0.0)
        part: Part = max((p for p in pl.parts if p.independent and p.start <= point),
                         key=lambda p: p.start, default=pl.parts[0])
        while True:
            status, body = await self._get("part", f"{self.base}/{part.uri}")
            if status == 200:
                if valid_ts(body):
                    self.crowd.parts_by_viewer[self.index] += 1
                    self.sw.tally.frames += 1  # a delivery: one part to one viewer
                else:
                    self.crowd.invalid["part"] += 1
            pl, part = await self._next(pl, part)

    async def _next(self, pl: Playlist, done: Part) -> tuple[Playlist, Part]:
        while True:
            found = _after(pl, done)
            if found is not None:
                return pl, found
            got = await self._playlist(f"?_HLS_msn={done.msn}&_HLS_part={done.index + 1}")
            if got is None:
                await asyncio.sleep(0.2)  # an error answer: as a player, retry shortly
            else:
                pl = got


@action("hls_watch")
async def _watch(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Start this process's viewers (one per slot) at `rate`/s on `url`; return once each has
    tuned in or given up (`per_viewer_s`)."""
    crowd = _crowd(sw)
    if crowd.http is None:
        crowd.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=None),
            timeout=aiohttp.ClientTimeout(total=30))
    url = str(args["url"])
    limit_s = float(args.get("per_viewer_s", 20.0))
    count = len(sw.slots)
    tuned: list[asyncio.Future[bool]] = []
    loop = asyncio.get_running_loop()
    deadline = sw.monotonic_deadline(count / max(float(args.get("rate", 0.0)), 0.1) + limit_s)
    async for batch in paced(count, float(args.get("rate", 0.0)), deadline):
        for _ in batch:
            index = len(crowd.parts_by_viewer)
            crowd.parts_by_viewer.append(0)
            sw.tally.attempts += 1
            future: asyncio.Future[bool] = loop.create_future()
            tuned.append(future)
            viewer = HlsViewer(crowd, index, url, sw)
            crowd.tasks.append(sw.spawn(viewer.watch(limit_s, future)))
    if tuned:
        await asyncio.wait(tuned, timeout=limit_s + 5.0)
    return {"tuned_in": crowd.tuned_in, "started": len(tuned)}


@action("hls_counts")
async def _counts(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    return _crowd(sw).wire()


@action("hls_stop")
async def _stop(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Stop every viewer and close the session; the final counts."""
    crowd = _crowd(sw)
    for task in crowd.tasks:
        task.cancel()
    if crowd.tasks:
        await asyncio.wait(crowd.tasks, timeout=10.0)
    if crowd.http is not None:
        await crowd.http.close()
    return crowd.wire()


# -- the coordinator ---------------------------------------------------------------------------


def origin_counts(text: str | None) -> dict[str, float]:
    """``kind:status`` → the origin's count, from its Prometheus text."""
    out: dict[str, float] = {}
    for line in (text or "").splitlines():
        found = _METRIC.fullmatch(line.strip())
        if found:
            out[f"{found[1]}:{found[2]}"] = float(found[3])
    return out


def _merge_counts(rows: list[dict[str, Any]], key: str) -> collections.Counter[str]:
    total: collections.Counter[str] = collections.Counter()
    for row in rows:
        total.update({k: int(v) for k, v in (row.get(key) or {}).items()})
    return total


def _by_kind(counts: dict[str, float] | collections.Counter[str]) -> dict[str, float]:
    out: dict[str, float] = collections.defaultdict(float)
    for key, n in counts.items():
        out[key.split(":", 1)[0]] += n
    return dict(out)


def _diff(b: dict[str, float], a: dict[str, float]) -> dict[str, float]:
    return {k: v - a.get(k, 0.0) for k, v in b.items() if v - a.get(k, 0.0)}


@register
class Hls(Scenario):
    name = "hls"
    summary = ("N Low-Latency HLS viewers (blocking reloads, parts) through nginx as the CDN "
               "stand-in (or another cache, or none): origin requests per 1,000 viewers, hit "
               "ratio")
    deliveries = "frames"
    dialects = ("live",)
    default_viewers = 1000
    default_duration = 30.0

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("hls")
        g.add_argument("--hls-cache", default="nginx", metavar="nginx|none|URL",
                       help="nginx (default): start nginx in front of the target (needs the "
                            "nginx binary; Debian: nginx-light) and stop it after; none: "
                            "viewers ask the origin directly; URL: a cache already running in "
                            "front of the target (loopback)")
        g.add_argument("--hls-cache-workers", type=int, default=1,
                       help="nginx worker processes when the scenario starts it (default 1)")
        g.add_argument("--hls-width", type=int, default=640, help="clip width (640)")
        g.add_argument("--hls-height", type=int, default=360, help="clip height (360)")
        g.add_argument("--hls-bitrate", type=int, default=300_000,
                       help="clip bitrate in bit/s (300000: each 1/3 s part is about 12 kB)")

    def _p(self, key: str, default: Any) -> Any:
        value = self.params.get(key)
        return default if value is None else value

    @property
    def mode(self) -> str:
        return str(self._p("hls_cache", "nginx"))

    def server_env(self) -> dict[str, str]:
        env = {"LIVE_HLS_LOW_LATENCY": "true",
               # every viewer of a run without a cache comes from 127.0.0.1
               "LIVE_HTTP_MAX_CONNECTIONS_PER_IP": "0"}
        if self.mode == "none":
            env["LIVE_HLS_MAX_BLOCKING"] = "100000"  # each viewer holds a blocking request
        return env

    def time_budget(self, duration: float, viewers: int, ramp: float) -> float:
        tune_in = viewers / ramp if ramp > 0 else 0.0
        return 30 + 25 + 30 + 15 + tune_in + 30 + duration + 40

    async def drive(self, run: Run) -> None:
        check_version()
        run.set_phase("encode")
        clip: Clip = await asyncio.to_thread(
            encode_clip, codec="h264", width=int(self._p("hls_width", 640)),
            height=int(self._p("hls_height", 360)), fps=30, seconds=2.0,
            bitrate=int(self._p("hls_bitrate", 300_000)))
        origin, room = run.target.url, run.room
        publisher = Publisher(clip)
        cache: CacheProxy | None = None
        self.state["clip"] = clip
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            try:
                run.set_phase("publish")
                await publisher.publish(http, f"{origin}/api/rooms/{room}/whip",
                                        run.target.creator_token())
                playlist = f"{origin}/hls/{room}/index.m3u8"
                pl = await _ready(http, playlist, 30.0)
                self.state["hold_back_s"] = pl.hold_back
                base = origin
                if self.mode == "nginx":
                    run.set_phase("cache")
                    workdir = (run.target.spawned.workdir if run.target.spawned
                               else tempfile.mkdtemp(prefix="loadtest-hls-cache-"))
                    cache = await asyncio.to_thread(
                        start_cache, origin, Path(workdir) / "nginx",
                        workers=int(self._p("hls_cache_workers", 1)))
                    base = cache.url
                    self.state["cache_pid"] = cache.pid
                elif self.mode != "none":
                    base = self.mode.rstrip("/")
                self.state["through"] = base
                await self._watch(run, f"{base}/hls/{room}/index.m3u8", cache)
            finally:
                with contextlib.suppress(Exception):
                    self.state["final"] = await run.call("hls_stop", 30.0)
                if cache is not None:
                    await asyncio.to_thread(cache.stop)
                await publisher.close(http)

    async def _watch(self, run: Run, url: str, cache: CacheProxy | None) -> None:
        await run.mark("idle")
        run.set_phase("tune-in")
        limit = run.opts.connect_timeout + 10.0
        await run.call("hls_watch", run.viewers / max(run.opts.ramp, 1.0) + limit + 30,
                       rate=run.opts.ramp, url=url, per_viewer_s=limit)
        run.set_phase("settle")
        await asyncio.sleep(2.0)
        await run.mark("connected")
        run.set_phase("measure")
        metrics_url = f"{run.target.url}/metrics"
        await run.mark("measure_start")
        # the viewers' counts, the origin's and nginx's log window taken back to back: the
        # same requests in all three, give or take the ones in flight at either end
        origin_playlist = f"{run.target.url}/hls/{run.room}/index.m3u8"
        nginx = PsutilProbe([cache.pid], source="psutil (nginx)") if cache else None
        a_nginx = await nginx.sample() if nginx else None
        a_counts, a_text, a_part = await asyncio.gather(
            run.call("hls_counts", 30.0), fetch_metrics(metrics_url, 10.0),
            _next_part(origin_playlist))
        t_a = time.time()
        await asyncio.sleep(run.duration)
        b_counts, b_text, b_part = await asyncio.gather(
            run.call("hls_counts", 30.0), fetch_metrics(metrics_url, 10.0),
            _next_part(origin_playlist))
        t_b = time.time()
        b_nginx = await nginx.sample() if nginx else None
        if a_nginx is not None and b_nginx is not None:
            self.state["nginx_cpu_pct"] = round(
                100 * cpu_delta(a_nginx, b_nginx) / max(1e-6, b_nginx.t - a_nginx.t), 1)
        await run.mark("measure_end")
        self.state.update(a_counts=a_counts, b_counts=b_counts, a_origin=origin_counts(a_text),
                          b_origin=origin_counts(b_text), window=(t_a, t_b),
                          parts_published=(b_part - a_part
                                           if a_part is not None and b_part is not None
                                           else None))
        if cache is not None:
            await asyncio.sleep(1.5)  # nginx flushes its access log every second
            self.state["cache_statuses"] = cache.cache_statuses(t_a, t_b)

    # -- judge -----------------------------------------------------------------------------
    async def judge(self, run: Run) -> None:
        a, b = self.state.get("a_counts"), self.state.get("b_counts")
        if not a or not b:
            return
        t_a, t_b = self.state["window"]
        secs = max(1e-6, t_b - t_a)
        viewers = run.viewers
        client_by_kind = dict(_merge_counts(b, "requests") - _merge_counts(a, "requests"))
        client = sum(client_by_kind.values())
        answers = _merge_counts(b, "answers") - _merge_counts(a, "answers")
        failures = {k: n for k, n in answers.items() if not k.endswith(":200")}
        errors = _merge_counts(b, "errors") - _merge_counts(a, "errors")
        invalid = _merge_counts(b, "invalid")
        origin_diff = _diff(self.state["b_origin"], self.state["a_origin"])
        origin_by_kind = _by_kind(origin_diff)
        statuses: dict[str, int] = self.state.get("cache_statuses") or {}
        spawned_one = run.target.spawned is not None and run.opts.workers == 1
        if origin_diff and (spawned_one or not statuses):
            origin = sum(origin_by_kind.values())
            origin_source = "server /metrics live_hls_requests_total"
            if not spawned_one:
                origin_source += " (one server process's own count)"
        elif statuses:
            origin = float(statuses.get("origin", 0))
            origin_source = "nginx access log (requests passed to the origin)"
        else:
            origin = 0.0
            origin_source = "none"
        parts_a: list[int] = [n for row in a for n in row.get("parts_by_viewer") or []]
        parts_b: list[int] = [n for row in b for n in row.get("parts_by_viewer") or []]
        per_viewer = sorted((nb - (parts_a[i] if i < len(parts_a) else 0)) / secs
                            for i, nb in enumerate(parts_b))
        times: dict[str, Histogram] = {}  # histograms do not subtract: the whole run's
        for row in b:
            for kind, wire in (row.get("times") or {}).items():
                times.setdefault(kind, Histogram()).merge(Histogram.from_wire(wire))
        tuned = sum(int(row.get("tuned_in", 0)) for row in b)
        tune_in = Histogram()
        for row in b:
            tune_in.merge(Histogram.from_wire(row.get("tune_in_ms") or {}))
        bytes_window = sum(int(r.get("bytes", 0)) for r in b) - sum(
            int(r.get("bytes", 0)) for r in a)
        published = self.state.get("parts_published")
        part_target = round(secs / published, 3) if published else None  # measured
        f: dict[str, Any] = {
            "through": ("nginx started by the scenario" if self.mode == "nginx"
                        else "the origin directly" if self.mode == "none"
                        else f"the cache at {self.mode}"),
            "viewers": viewers,
            "viewers_tuned_in": tuned,
            "tune_in_ms": tune_in.summary(),
            "window_s": round(secs, 2),
            "parts_published": published,
            "part_s_measured": part_target,
            "part_hold_back_s": self.state.get("hold_back_s"),
            "client_requests": int(client),
            "client_requests_per_s": round(client / secs, 1),
            "client_requests_by_kind": client_by_kind,
            "client_requests_per_viewer_per_s": round(client / secs / max(1, tuned), 2),
            "origin_requests": int(origin),
            "origin_requests_source": origin_source,
            "origin_requests_per_s": round(origin / secs, 2),
            "origin_requests_by_kind": {k: int(v) for k, v in origin_by_kind.items()},
            "origin_requests_by_kind_status": {k: int(v) for k, v in origin_diff.items()},
            "origin_requests_per_1000_viewers_per_s": (
                round(1000 * origin / secs / tuned, 3) if tuned else None),
            # with every viewer at the edge and full collapsing: 2 (the part and the blocking
            # reload that announced it), whatever the audience
            "origin_requests_per_published_part": (
                round(origin / published, 2) if published else None),
            "origin_share": round(origin / client, 5) if client else None,
            "hit_ratio": (round(1 - origin / client, 5)  # no cache, no ratio
                          if client and self.mode != "none" else None),
            "cache_statuses": statuses,
            "nginx_pid": self.state.get("cache_pid"),
            "nginx_cpu_pct": self.state.get("nginx_cpu_pct"),  # master and workers, % of a core
            "parts_per_viewer_per_s": {
                "min": round(per_viewer[0], 2) if per_viewer else None,
                "median": round(per_viewer[len(per_viewer) // 2], 2) if per_viewer else None,
                "published": round(published / secs, 2) if published else None},
            "mbytes_to_viewers_per_s": round(bytes_window / secs / 1e6, 2),
            "request_ms_by_kind_whole_run": {k: h.summary() for k, h in times.items()},
            "failures": dict(failures),
            "errors": dict(errors),
            "invalid": dict(invalid),
        }
        run.figures["hls"] = f
        run.check("every viewer tuned in", tuned == viewers, f"{tuned}/{viewers}")
        fewest = f["parts_per_viewer_per_s"]["min"]
        run.check("every viewer got parts in the window", bool(fewest),
                  f"fewest parts per viewer per second: {fewest}")
        run.check("valid playlists and parts", not invalid, str(dict(invalid) or "none invalid"))
        run.check("every request answered 200", not failures and not errors,
                  f"failures {dict(failures) or 0}, errors {dict(errors) or 0}")
        if self.mode != "none":
            run.check("the origin served fewer requests than the viewers asked",
                      0 < origin < client, f"origin {int(origin)} of {int(client)}")


_HINT = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="[0-9a-f]+-p(\d+)\.ts"')


async def _next_part(url: str) -> int | None:
    """The number of the part the origin's playlist announces next (its preload hint): the
    parts published between two readings are the difference."""
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http, \
                http.get(url) as resp:
            found = _HINT.search(await resp.text())
            return int(found[1]) if found else None
    return None


async def _ready(http: aiohttp.ClientSession, url: str, limit_s: float) -> Playlist:
    """The origin's playlist once a viewer can tune in: parts, and PART-HOLD-BACK plus a target
    duration listed (bounded)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with http.get(url) as resp:
                if resp.status == 200:
                    pl = Playlist.parse(await resp.text())
                    if (pl.parts and pl.hold_back is not None
                            and pl.end >= pl.hold_back + pl.target):
                        return pl
        await asyncio.sleep(0.2)
    raise RuntimeError(f"no low-latency playlist with parts at {url} within {limit_s:g} s "
                       "(is HLS on and the publisher's video H.264?)")


__all__ = ["Hls", "HlsViewer", "origin_counts", "valid_ts"]
