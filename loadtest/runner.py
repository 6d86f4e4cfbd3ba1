"""One run of one scenario against one server: set up, drive, sample, judge, report.

Why one runner for every scenario: the figures every run must report (latency percentiles,
throughput, connection outcomes, slow-consumer closes, server CPU per 1,000 deliveries, server
memory per viewer, Valkey CPU, the generator's own CPU) are computed here the same way for all
of them, from the marks a scenario sets (`idle`, `connected`, `measure_start`, `measure_end`)
and from a once-a-second timeline. A scenario only says what the viewers do and what it checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import os
import socket
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest import api
from loadtest.aggregate import delta_hist, merge_tallies
from loadtest.pool import WorkerPool
from loadtest.probes import (
    MetricsProbe,
    NullProbe,
    Probe,
    PsutilProbe,
    Sample,
    ValkeyInfoProbe,
    cpu_delta,
)
from loadtest.progress import Progress
from loadtest.scenarios import Scenario, load_all
from loadtest.spawn import Spawned, spawn
from loadtest.stats import Histogram
from loadtest.tokens import TokenSource, creator_token, default_secret, mint
from loadtest.worker import WorkerPlan


@dataclass
class RunOptions:
    """Everything the command line says about one run (see `cli.py` for the help texts)."""

    scenario: str
    target: str | None = None
    viewers: int | None = None
    duration: float | None = None
    ramp: float = 1000.0
    procs: int = 2
    room: str | None = None
    secret: str = field(default_factory=default_secret)
    token_file: Path | None = None
    tracers: int = 50
    spawn_server: bool = False
    workers: int = 1
    tick_ms: int | None = None
    server_env: dict[str, str] = field(default_factory=dict)
    server_pids: list[int] = field(default_factory=list)
    valkey_pid: int | None = None
    valkey_url: str | None = None
    metrics: bool = False
    connect_timeout: float = 15.0
    out: Path = Path("loadtest/out")
    quiet: bool = False
    kind: str = "live"
    label: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    html: bool = True


@dataclass
class Mark:
    """Aligned snapshot: generator figures and process samples at one instant."""

    name: str
    t: float
    tally: dict[str, Any]
    server: Sample
    valkey: Sample
    gen: Sample
    conns_by_pid: dict[int, int] = field(default_factory=dict)


@dataclass
class Target:
    kind: str
    url: str
    host: str
    port: int
    secret: str
    server_probe: Probe
    valkey_probe: Probe
    spawned: Spawned | None = None
    notes: list[str] = field(default_factory=list)


def require_loopback(url: str) -> tuple[str, int]:
    """(host, port) of `url`; refuses anything that is not a loopback address."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 80
    try:
        addrs = {
            str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        }
    except OSError as exc:
        raise ValueError(f"cannot resolve {host!r}: {exc}") from exc
    for a in addrs:
        if not ipaddress.ip_address(a.split("%")[0]).is_loopback:
            raise ValueError(f"{url}: {a} is not a loopback address; load goes to loopback only")
    return ("127.0.0.1" if host == "localhost" else host), port


class Run:
    """The live state of a run, handed to the scenario's `drive` and `judge`."""

    def __init__(
        self,
        opts: RunOptions,
        scenario: Scenario,
        target: Target,
        room: str,
        plans: list[WorkerPlan],
    ) -> None:
        self.opts = opts
        self.scenario = scenario
        self.target = target
        self.room = room
        self.plans = plans
        self.pool = WorkerPool(plans)
        self.gen_probe: Probe = NullProbe()
        self.viewers = sum(len(p.viewers) for p in plans)
        self.marks: dict[str, Mark] = {}
        self.timeline: list[dict[str, Any]] = []
        self.figures: dict[str, Any] = {}
        self.checks: list[dict[str, Any]] = []
        self.phase = "setup"
        self.t0 = time.time()
        self.finals: list[dict[str, Any]] = []
        self.progress = Progress(quiet=opts.quiet, label=f"{opts.kind}:{scenario.name}")
        self._prev_row: tuple[float, dict[str, Any], Sample, Sample, Sample] | None = None

    # -- for scenarios ----------------------------------------------------------------------
    @property
    def duration(self) -> float:
        return float(self.opts.duration or self.scenario.default_duration)

    @property
    def tick_ms(self) -> int:
        return int(self.opts.tick_ms or 100)

    def tally(self) -> dict[str, Any]:
        """The sum of the latest figures of every generator process."""
        return merge_tallies([t for t in self.pool.latest if t is not None])

    def role_counts(self, role: str) -> list[int]:
        return [sum(1 for _, r in p.viewers if r == role) for p in self.plans]

    def split(self, total: float, role: str | None = None) -> list[float]:
        """Share `total` (a rate or a count) among the processes by their viewers of `role`."""
        weights = (
            self.role_counts(role) if role else [len(p.viewers) for p in self.plans]
        )
        s = sum(weights)
        if s == 0:
            return [0.0] * len(self.plans)
        return [total * w / s for w in weights]

    async def call(
        self,
        action: str,
        limit_s: float,
        *,
        role: str | None = None,
        rate: float | None = None,
        count: int | None = None,
        **args: Any,
    ) -> list[dict[str, Any]]:
        """Run `action` in every process; `rate` and `count` are totals, shared by role."""
        per: list[dict[str, Any]] = [{} for _ in self.plans]
        if rate is not None:
            for p, r in zip(per, self.split(rate, role), strict=True):
                p["rate"] = r
        if count is not None:
            shares = self.split(float(count), role)
            ints = [math.floor(x) for x in shares]
            for i in range(count - sum(ints)):
                ints[i % len(ints)] += 1
            for p, c in zip(per, ints, strict=True):
                p["count"] = c
        return await self.pool.call(action, limit_s, per_worker=per, **args)

    async def mark(self, name: str, *, conns: bool = False) -> Mark:
        """Take an aligned snapshot now (all generator processes answer `snapshot`)."""
        results = await self.pool.call("snapshot", 30.0)
        server, valkey, gen = await asyncio.gather(
            self.target.server_probe.sample(),
            self.target.valkey_probe.sample(),
            self.gen_probe.sample(),
        )
        by_pid: dict[int, int] = {}
        if conns and self.target.kind == "live":
            by_pid = await api.connections_by_pid(
                self.target.url, mint(self.target.secret, "lt-ops", "ops")
            )
        m = Mark(name, time.time(), merge_tallies(results), server, valkey, gen, by_pid)
        self.marks[name] = m
        return m

    async def wait_until(
        self, pred: Callable[[dict[str, Any]], bool], limit_s: float, every: float = 0.2
    ) -> bool:
        """Poll the generator figures until `pred` holds (True) or `limit_s` passes (False)."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            results = await self.pool.call("snapshot", 30.0)
            if pred(merge_tallies(results)):
                return True
            await asyncio.sleep(every)
        return False

    def set_phase(self, name: str) -> None:
        self.phase = name

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append({"name": name, "ok": bool(ok), "detail": detail})

    # -- timeline ---------------------------------------------------------------------------
    async def _sample_row(self) -> None:
        now = time.time()
        tally = self.tally()
        server, valkey, gen = await asyncio.gather(
            self.target.server_probe.sample(),
            self.target.valkey_probe.sample(),
            self.gen_probe.sample(),
        )
        prev = self._prev_row
        self._prev_row = (now, tally, server, valkey, gen)
        if prev is None:
            return
        pt, ptally, pserver, pvalkey, pgen = prev
        dt = max(1e-6, now - pt)

        def rate(key: str) -> float:
            return float(tally.get(key, 0) - ptally.get(key, 0)) / dt

        win = delta_hist(tally.get("chat_ms"), ptally.get("chat_ms"))
        cwin = delta_hist(tally.get("connect_ms"), ptally.get("connect_ms"))
        sent_now = sum(tally.get("sent", {}).values())
        sent_prev = sum(ptally.get("sent", {}).values())
        row = {
            "t": round(now - self.t0, 2),
            "phase": self.phase,
            "connected": tally.get("connected", 0),
            "joined": tally.get("joined", 0),
            "failed": tally.get("failed", 0),
            "frames_per_s": round(rate("frames"), 1),
            "mbytes_per_s": round(rate("bytes") / 1e6, 3),
            "events_per_s": round(rate("events"), 1),
            "deliveries_per_s": round(rate(self.scenario.deliveries), 1),
            "sent_per_s": round((sent_now - sent_prev) / dt, 1),
            "latency_p50_ms": _num(win.percentile(50)),
            "latency_p99_ms": _num(win.percentile(99)),
            "latency_max_ms": _num(win.percentile(100)),
            "connect_p99_ms": _num(cwin.percentile(99)),
            "slow_consumer_closes": tally.get("closes", {}).get(4008, 0),
            "server_cpu_pct": round(100 * cpu_delta(pserver, server) / dt, 1),
            "server_rss_mb": round(server.rss_total / 1e6, 1),
            "valkey_cpu_pct": round(100 * cpu_delta(pvalkey, valkey) / dt, 1),
            "valkey_rss_mb": round(valkey.rss_total / 1e6, 1),
            "gen_cpu_pct": round(100 * cpu_delta(pgen, gen) / dt, 1),
        }
        self.timeline.append(row)
        p99 = tally.get("chat_ms")
        self.progress.show(row, Histogram.from_wire(p99) if isinstance(p99, dict) else None)

    async def sampler(self, stop: asyncio.Event) -> None:
        """Once a second until `stop`: one timeline row and one progress line."""
        while not stop.is_set():
            with contextlib.suppress(Exception):
                await self._sample_row()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


def _num(x: float) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else round(x, 2)


async def resolve_target(opts: RunOptions, scenario: Scenario) -> Target:
    """Start the server (`--spawn-server`) or check the given one, and choose the probes."""
    if opts.spawn_server:
        env = dict(scenario.server_env())
        if opts.tick_ms:
            env["LIVE_REALTIME_TICK_MS"] = str(opts.tick_ms)
        env.update(opts.server_env)
        sp = await spawn(opts.kind, workers=opts.workers, env=env, cwd=os.getcwd())
        return Target(
            kind=opts.kind,
            url=sp.url,
            host=sp.host,
            port=sp.port,
            secret=sp.secret,
            server_probe=PsutilProbe([sp.pid], source="psutil (spawned)"),
            valkey_probe=PsutilProbe([sp.valkey_pid], tree=False, source="psutil (spawned)"),
            spawned=sp,
            notes=[f"server env: {env}"] if env else [],
        )
    if not opts.target:
        raise ValueError("give --target http://127.0.0.1:PORT or --spawn-server")
    host, port = require_loopback(opts.target)
    server_probe: Probe
    if opts.server_pids:
        server_probe = PsutilProbe(opts.server_pids, source="psutil (--server-pids)")
    elif opts.metrics or opts.kind == "live":
        server_probe = MetricsProbe(opts.target)
    else:
        server_probe = NullProbe()
    valkey_probe: Probe
    if opts.valkey_pid:
        valkey_probe = PsutilProbe([opts.valkey_pid], tree=False, source="psutil (--valkey-pid)")
    elif opts.valkey_url:
        require_loopback(opts.valkey_url.replace("redis://", "http://"))
        valkey_probe = ValkeyInfoProbe(opts.valkey_url)
    else:
        valkey_probe = NullProbe()
    return Target(
        kind=opts.kind,
        url=opts.target.rstrip("/"),
        host=host,
        port=port,
        secret=opts.secret,
        server_probe=server_probe,
        valkey_probe=valkey_probe,
    )


def assign_roles(
    viewers: int, tracers: int, talkers: int, procs: int
) -> list[list[tuple[int, str]]]:
    """Deal viewers round-robin to processes; tracers first, then talkers, then sinks."""
    tracers = min(tracers, viewers)
    talkers = min(talkers, viewers - tracers)
    out: list[list[tuple[int, str]]] = [[] for _ in range(procs)]
    for i in range(viewers):
        role = "tracer" if i < tracers else ("talker" if i < tracers + talkers else "sink")
        out[i % procs].append((i, role))
    return out


async def setup_room(opts: RunOptions, target: Target) -> str:
    if opts.room:
        return opts.room
    if target.kind != "live":
        return f"lt-room-{int(time.time())}"
    creator = creator_token(target.secret)
    return await api.create_live_room(target.url, creator, f"loadtest {opts.scenario}")


async def execute(opts: RunOptions) -> dict[str, Any]:
    """Run one scenario end to end and return the report (a JSON-able dict)."""
    scenarios = load_all()
    if opts.scenario not in scenarios:
        raise ValueError(f"unknown scenario {opts.scenario!r}; known: {', '.join(scenarios)}")
    cls = scenarios[opts.scenario]
    if opts.kind not in cls.dialects:
        raise ValueError(f"scenario {cls.name} does not run against {opts.kind}")
    scenario = cls(opts.params)
    viewers = int(opts.viewers or cls.default_viewers)
    duration = float(opts.duration or cls.default_duration)
    opts.viewers, opts.duration = viewers, duration
    procs = max(1, min(opts.procs, viewers))
    target = await resolve_target(opts, scenario)
    try:
        secret = target.secret
        tokens = (
            TokenSource.from_file(opts.token_file, secret)
            if opts.token_file
            else TokenSource(secret=secret)
        )
        room = await setup_room(opts, target)
        budget = scenario.time_budget(duration, viewers, opts.ramp) + opts.connect_timeout
        deadline = time.time() + budget + 30.0
        roles = assign_roles(viewers, opts.tracers, scenario.talkers(viewers), procs)
        plans = [
            WorkerPlan(
                index=i,
                scenario_module=type(scenario).__module__,
                dialect=target.kind,
                host=target.host,
                port=target.port,
                room=room,
                tokens=tokens,
                viewers=roles[i],
                connect_timeout=opts.connect_timeout,
                deadline=deadline,
            )
            for i in range(procs)
        ]
        run = Run(opts, scenario, target, room, plans)
        return await _drive(run, budget)
    finally:
        if target.spawned is not None:
            await asyncio.to_thread(target.spawned.stop)


async def _drive(run: Run, budget: float) -> dict[str, Any]:
    started = time.time()
    await run.pool.start()
    run.gen_probe = PsutilProbe([os.getpid(), *run.pool.pids], tree=False, source="psutil")
    gen_start = await run.gen_probe.sample()
    stop = asyncio.Event()
    sampler = asyncio.ensure_future(run.sampler(stop))
    error: str | None = None
    try:
        async with asyncio.timeout(budget):
            await run.scenario.drive(run)
    except TimeoutError:
        error = f"scenario did not finish within its time budget of {budget:.0f}s"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await sampler
        gen_end = await run.gen_probe.sample()
        with contextlib.suppress(Exception):
            await run.pool.call("close", 15.0, wait_s=5.0)
        await run.pool.stop()
        run.progress.done()
    run.finals = [f for f in run.pool.finals if f is not None]
    if error is None:
        try:
            await run.scenario.judge(run)
        except Exception as exc:
            error = f"judge: {type(exc).__name__}: {exc}"
    from loadtest.figures import common_figures

    report = common_figures(run, gen_start, gen_end, started)
    loss = report["figures"]["loss"]
    if loss["accepted_messages"] and loss["tracers_checked"]:
        run.check("no lost messages", loss["lost"] == 0,
                  f"{loss['lost']} lost over {loss['tracers_checked']} tracers")
        run.check("no duplicates", loss["duplicated"] == 0, f"{loss['duplicated']} duplicated")
        seq = report["figures"]["sequence"]
        run.check("no sequence gaps", seq["gaps"] == 0 and seq["duplicates"] == 0,
                  f"{seq['gaps']} missing seq, {seq['duplicates']} repeated")
    if error:
        report["error"] = error
        run.check("completed", False, error)
    if run.pool.errors:
        report["worker_errors"] = run.pool.errors[:20]
    return report
