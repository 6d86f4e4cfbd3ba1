"""One run of one scenario against one server: set up, drive, sample, judge, report.

Why one runner for every scenario: the figures every run must report (latency percentiles,
throughput, connection outcomes, slow-consumer closes, server CPU per 1,000 deliveries, server
memory per viewer, Valkey CPU, the generator's own CPU) are computed here the same way for all
of them, from the marks a scenario sets (`idle`, `connected`, `measure_start`, `measure_end`)
and from a once-a-second timeline. A scenario only says what the viewers do and what it checks.
The run's live state (`Run`, the marks, the timeline) is in `run.py`, below the scenarios.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import time
import urllib.parse
from typing import Any

from loadtest import api
from loadtest.figures import common_figures
from loadtest.probes import (
    MetricsProbe,
    NullProbe,
    Probe,
    PsutilProbe,
    ValkeyInfoProbe,
)
from loadtest.report import summary_table, write_all
from loadtest.run import Run, RunOptions, Target
from loadtest.scenarios import Scenario, load_all
from loadtest.spawn import spawn
from loadtest.tokens import TokenSource
from loadtest.worker import WorkerPlan


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


async def resolve_target(opts: RunOptions, scenario: Scenario) -> Target:
    """Start the server (`--spawn-server`) or check the given one, and choose the probes."""
    if opts.spawn_server:
        env = dict(scenario.server_env())
        if opts.tick_ms:
            env["LIVE_REALTIME_TICK_MS"] = str(opts.tick_ms)
        env.update(opts.server_env)
        sp = await spawn(opts.kind, workers=opts.workers, env=env, cwd=os.getcwd(),
                         fsync=opts.valkey_fsync)
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
            creator=opts.creator,
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
        creator=opts.creator,
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
    creator = target.creator_token()
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
        return await _drive(run, scenario, budget)
    finally:
        if target.spawned is not None:
            await asyncio.to_thread(target.spawned.stop)


async def _drive(run: Run, scenario: Scenario, budget: float) -> dict[str, Any]:
    started = time.time()
    await run.pool.start()
    run.gen_probe = PsutilProbe([os.getpid(), *run.pool.pids], tree=False, source="psutil")
    gen_start = await run.gen_probe.sample()
    stop = asyncio.Event()
    sampler = asyncio.ensure_future(run.sampler(stop))
    error: str | None = None
    try:
        async with asyncio.timeout(budget):
            await scenario.drive(run)
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
            await scenario.judge(run)
        except Exception as exc:
            error = f"judge: {type(exc).__name__}: {exc}"
    report = common_figures(run, gen_start, gen_end, started)
    loss = report["figures"]["loss"]
    if loss["accepted_messages"] and loss["tracers_checked"]:
        owed = scenario.owes_every_message  # a sampled chat leaves gaps on purpose
        if owed:
            run.check("no lost messages", loss["lost"] == 0,
                      f"{loss['lost']} lost over {loss['tracers_checked']} tracers")
        run.check("no duplicates", loss["duplicated"] == 0, f"{loss['duplicated']} duplicated")
        seq = report["figures"]["sequence"]
        run.check("no sequence gaps" if owed else "no repeated seq",
                  (seq["gaps"] == 0 or not owed) and seq["duplicates"] == 0,
                  f"{seq['gaps']} missing seq, {seq['duplicates']} repeated")
    if error:
        report["error"] = error
        run.check("completed", False, error)
    if run.pool.errors:
        report["worker_errors"] = run.pool.errors[:20]
    return report


def run_and_report(opts: RunOptions) -> int:
    """Run, print the summary, write the report files; the exit status (0 when every check
    held, 1 when one failed, 2 when the run itself did not complete)."""
    report = asyncio.run(execute(opts))
    print(summary_table(report))
    paths = write_all(report, opts.out, html=opts.html)
    for kind, path in paths.items():
        print(f"  {kind}: {path}")
    if report.get("error"):
        return 2
    return 0 if all(c["ok"] for c in report.get("checks", [])) else 1
