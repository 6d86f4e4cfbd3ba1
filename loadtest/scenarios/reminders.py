"""reminders: a scheduled show with S subscribers starts while N of them watch other rooms.

Why: a big show's start is one moment in which every subscriber who has the app open must hear
`show_starting` on whatever socket they have, wherever it is connected. The server publishes
once per start on a global channel and each process asks Valkey which of its own connected
users are subscribed (SMISMEMBER in chunks of 1,000, one pipelined round trip), so the cost
should grow with the connected users per process, not with the subscribers.

The N viewers watch the run's live room; a scheduled show of `lt-creator` gets `--subscribers`
subscribers through the public API (every viewer, then made-up users who are not connected, up
to S). Then the show starts and every viewer records when its notice arrives. The figures are
the time from the start request to each notice (p50/p99/max), the start's own answer time and
the Valkey commands the start cost (INFO commandstats before and after: SMISMEMBER calls,
PUBLISH calls, all commands; per server process). The checks: the count read back is S, every
viewer heard the notice exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from loadtest import api
from loadtest.clients import Sink
from loadtest.run import Run
from loadtest.scenarios import register
from loadtest.scenarios.base import Scenario, connect_all
from loadtest.stats import Histogram
from loadtest.tokens import mint
from loadtest.worker import Swarm, action

NOTICE = b'"show_starting"'
SUBSCRIBE_CONCURRENCY = 64
HOUR_MS = 3_600_000


@dataclass
class NoticeLog:
    """One generator process's record: per viewer index, when each notice arrived (ms)."""

    got: dict[int, list[float]] = field(default_factory=dict)
    armed: int = 0
    all_in: asyncio.Event = field(default_factory=asyncio.Event)  # every armed viewer heard


_LOGS: dict[int, NoticeLog] = {}  # id(Swarm) → its log (one Swarm per generator process)


def _hook(client: Sink, index: int, log: NoticeLog) -> None:
    """Record the arrival of a `show_starting` frame on this viewer, then count it as usual."""
    counted = client.on_text

    def on_text(payload: bytes) -> None:
        if NOTICE in payload:
            log.got.setdefault(index, []).append(time.time() * 1000.0)
            if len(log.got) >= log.armed:
                log.all_in.set()
        counted(payload)

    client.on_text = on_text  # type: ignore[method-assign]


@action("notice_arm")
async def _arm(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Every open viewer of this process starts recording `show_starting` arrivals."""
    log = _LOGS[id(sw)] = NoticeLog()
    for slot in sw.open_slots():
        if slot.client is not None:
            _hook(slot.client, slot.index, log)
            log.armed += 1
    return {"armed": log.armed}


@action("notice_wait")
async def _wait(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Until every armed viewer heard a notice (or `wait_s`), then a little longer for any
    duplicate; the arrival times and how many arrived twice."""
    log = _LOGS.get(id(sw)) or NoticeLog()
    if log.armed:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(log.all_in.wait(), float(args.get("wait_s", 30.0)))
    await asyncio.sleep(float(args.get("settle_s", 0.5)))
    return {"armed": log.armed, "arrivals": [times[0] for times in log.got.values()],
            "duplicates": sum(len(times) - 1 for times in log.got.values())}


async def subscribe(base: str, room: str, tokens: list[str]) -> tuple[int, float]:
    """Every token asks for the reminder (HTTP, `SUBSCRIBE_CONCURRENCY` at a time); how many
    were refused and how long it took (s)."""
    began = time.perf_counter()
    refused = 0
    queue = iter(tokens)
    url = f"{base}/api/rooms/{room}/reminder"
    connector = aiohttp.TCPConnector(limit=SUBSCRIBE_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            nonlocal refused
            for tok in queue:
                async with session.post(url, headers={"Authorization": f"Bearer {tok}"}) as r:
                    await r.read()
                    refused += r.status != 200
        await asyncio.gather(*(worker() for _ in range(SUBSCRIBE_CONCURRENCY)))
    return refused, time.perf_counter() - began


async def command_stats(url: str | None) -> dict[str, int]:
    """Valkey's own counts: calls of the commands a start costs, and every command."""
    if not url:
        return {}
    client = aioredis.from_url(url)
    try:
        stats = await client.info("commandstats")
        total = await client.info("stats")
    finally:
        await client.aclose()
    out = {name: int((stats.get(f"cmdstat_{name}") or {}).get("calls", 0))
           for name in ("smismember", "publish", "evalsha", "sscan")}
    out["all"] = int(total.get("total_commands_processed", 0))
    return out


@register
class Reminders(Scenario):
    name = "reminders"
    summary = ("a scheduled show with S subscribers starts while N of them watch another room: "
               "start → notice p50/p99/max, Valkey commands per process")
    deliveries = "events"
    default_viewers = 5000
    default_duration = 5.0

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--subscribers", type=int, default=50_000,
                            help="subscribers of the show, the viewers included (default 50000)")

    def time_budget(self, duration: float, viewers: int, ramp: float) -> float:
        subscribers = int(self.params.get("subscribers", 50_000))
        return super().time_budget(duration, viewers, ramp) + subscribers / 300.0 + 60.0

    async def drive(self, run: Run) -> None:
        if run.target.kind != "live":
            raise ValueError("reminders runs against live_server only")
        source = run.plans[0].tokens
        if source.file_tokens:
            raise ValueError("reminders needs minted tokens (the viewers' user ids)")
        base, creator = run.target.url, run.target.creator_token()
        await connect_all(run)
        show = await api.call("POST", f"{base}/api/rooms", creator, {
            "title": "loadtest reminders", "scheduled_at": int(time.time() * 1000) + HOUR_MS})
        show_id = str(show["id"])
        run.set_phase("subscribe")
        total = max(int(self.params.get("subscribers", 50_000)), run.viewers)
        tokens = [source.viewer(i) for i in range(run.viewers)]
        tokens += [mint(source.secret, f"{source.user_prefix}-r{j}", "viewer")
                   for j in range(total - run.viewers)]
        refused, took = await subscribe(base, show_id, tokens)
        self.state.update(subscribers=total, refused=refused, subscribe_s=round(took, 1))
        self.state["count"] = int((await api.get_room(base, show_id)).get("reminders", -1))

        armed = await run.call("notice_arm", 30.0)
        self.state["armed"] = sum(int(a.get("armed", 0)) for a in armed)
        valkey = (run.target.spawned.valkey_url if run.target.spawned is not None
                  else run.opts.valkey_url)
        before = await command_stats(valkey)
        run.set_phase("start")
        await run.mark("measure_start")
        t0 = time.time() * 1000.0
        started = await api.call("POST", f"{base}/api/rooms/{show_id}/start", creator)
        self.state["start_reply_ms"] = round(time.time() * 1000.0 - t0, 1)
        waits = await run.call("notice_wait", 60.0, wait_s=30.0, settle_s=1.0)
        await run.mark("measure_end")
        after = await command_stats(valkey)
        self.state.update(t0=t0, started_at=int(started.get("started_at") or 0),
                          arrivals=[t for w in waits for t in w.get("arrivals", [])],
                          duplicates=sum(int(w.get("duplicates", 0)) for w in waits),
                          cost={k: after[k] - before.get(k, 0) for k in after})

    async def judge(self, run: Run) -> None:
        if "arrivals" not in self.state:
            return
        st = self.state
        t0 = float(st["t0"])
        since_start = Histogram()
        for t in st["arrivals"]:
            since_start.add(max(0.0, t - t0))
        processes = max(1, int(run.opts.workers))
        cost = st.get("cost") or {}
        notified = len(st["arrivals"])
        run.figures["reminders"] = {
            "viewers_connected": st["armed"], "subscribers": st["subscribers"],
            "subscribers_read_back": st["count"], "subscribe_refused": st["refused"],
            "subscribe_s": st["subscribe_s"], "notified": notified,
            "duplicates": st["duplicates"], "start_reply_ms": st["start_reply_ms"],
            "notice_ms_p50": round(since_start.percentile(50), 1) if notified else None,
            "notice_ms_p99": round(since_start.percentile(99), 1) if notified else None,
            "notice_ms_max": round(max(st["arrivals"]) - t0, 1) if notified else None,
            "server_processes": processes,
            "valkey_commands": cost,
            "smismember_per_process": round(cost.get("smismember", 0) / processes, 1)
            if cost else None,
            "publish_per_start": cost.get("publish"),
        }
        run.check("every subscription counted", st["count"] == st["subscribers"]
                  and st["refused"] == 0,
                  f"{st['count']} read back of {st['subscribers']}, {st['refused']} refused")
        run.check("every connected subscriber notified", notified == st["armed"],
                  f"{notified} of {st['armed']}")
        run.check("each notice once", st["duplicates"] == 0, f"{st['duplicates']} duplicates")
