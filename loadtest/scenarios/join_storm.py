"""join-storm: N viewers connect at a rate; how fast, how reliably, and at what cost.

Why: the start of a big show is a storm of joins. This measures connect latency (TCP connect to
the `welcome` frame) percentiles, failures by reason, the time from the first attempt until the
last viewer is in, the server CPU per 1,000 joins, and the server memory per idle connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from loadtest.probes import cpu_delta
from loadtest.run import Run
from loadtest.scenarios import register
from loadtest.scenarios.base import Scenario, mark_idle


@register
class JoinStorm(Scenario):
    name = "join-storm"
    summary = "N viewers connect at --ramp/s: connect latency, failures, time until all in"
    deliveries = "frames"
    dialects = ("live", "sio")
    default_viewers = 1000
    default_duration = 3.0

    async def drive(self, run: Run) -> None:
        await mark_idle(run)
        run.set_phase("join")
        await run.mark("measure_start")
        limit = run.opts.connect_timeout + run.viewers / max(run.opts.ramp, 1) + 30
        await run.call("connect", limit, rate=run.opts.ramp)
        run.set_phase("hold")
        # Let buffers settle before reading memory; then hold the idle viewers for --duration.
        await asyncio.sleep(1.0)
        await run.mark("connected", conns=True)
        await asyncio.sleep(max(0.0, run.duration - 1.0))
        await run.mark("measure_end")

    async def judge(self, run: Run) -> None:
        m = run.marks.get("connected")
        if m is None:
            return
        t = m.tally
        first, last = t.get("first_attempt_t"), t.get("last_join_t")
        all_in = round(last - first, 3) if first and last else None
        joined = int(t.get("joined", 0))
        failed = int(t.get("failed", 0))
        join_cpu: Any = None
        a, s = run.marks.get("measure_start"), run.marks.get("connected")
        if a and s and joined and a.server.cpu:
            join_cpu = round(1e6 * cpu_delta(a.server, s.server) / joined, 3)
        run.figures["join"] = {
            "viewers": run.viewers,
            "joined": joined,
            "failed": failed,
            "time_until_all_in_s": all_in,
            "joins_per_s": round(joined / all_in, 1) if all_in else None,
            "server_cpu_ms_per_1k_joins": join_cpu,
        }
        run.check("all joined", joined == run.viewers, f"{joined}/{run.viewers} joined")
        run.check("no failures", failed == 0, f"{failed} failed {t.get('fail_reasons', {})}")
