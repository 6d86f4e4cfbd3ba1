"""The live state of one run: what a scenario drives and what the figures are computed from.

Why apart from the runner: the scenarios need `Run` (to command the viewers, set marks and add
checks) and the runner needs the scenarios (to pick one by name and drive it). With `Run` here,
below both, imports point one way: runner -> scenarios -> run. `Run` knows its scenario only
through `ScenarioInfo`, the few facts the timeline and the report read.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from loadtest import api
from loadtest.aggregate import delta_hist, merge_tallies
from loadtest.pool import WorkerPool
from loadtest.probes import NullProbe, Probe, Sample, cpu_delta
from loadtest.progress import Progress
from loadtest.spawn import Spawned
from loadtest.stats import Histogram
from loadtest.tokens import CREATOR, creator_token, default_secret, mint
from loadtest.worker import WorkerPlan


class ScenarioInfo(Protocol):
    """What a run and its report read of the scenario (a `scenarios.base.Scenario`)."""

    @property
    def name(self) -> str: ...

    @property
    def deliveries(self) -> str: ...

    @property
    def default_duration(self) -> float: ...

    @property
    def params(self) -> dict[str, Any]: ...


@dataclass
class RunOptions:
    """Everything the command line says about one run (see `options.py` for the help texts)."""

    scenario: str
    target: str | None = None
    viewers: int | None = None
    duration: float | None = None
    ramp: float = 1000.0
    procs: int = 2
    room: str | None = None
    creator: str = CREATOR
    secret: str = field(default_factory=default_secret)
    token_file: Path | None = None
    tracers: int = 50
    spawn_server: bool = False
    workers: int = 1
    valkey_fsync: str = "off"
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
    creator: str = CREATOR  # the creator's user id (`--creator`)

    def creator_token(self) -> str:
        """A token of this run's creator."""
        return creator_token(self.secret, self.creator)


class Run:
    """The live state of a run, handed to the scenario's `drive` and `judge`."""

    def __init__(
        self,
        opts: RunOptions,
        scenario: ScenarioInfo,
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
