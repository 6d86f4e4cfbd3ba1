"""hearts: heart bursts from many viewers; the room total must be exact and counted once per tick.

Why: hearts are the highest-rate writes a room sees. Senders send `heart {"count": C}` frames at
a total rate; the server's replies (`accepted`) are summed by the generator, and the room total
is read back through the public `GET /api/rooms/{id}` (`counters.hearts`) before and after: the
difference must equal the accepted sum exactly. Tracers check that the `counters` event comes
at most once per tick (never two in one frame, no more events than ticks elapsed) and that the
last total they saw equals the one read back.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import math
from typing import Any

from loadtest import api
from loadtest.run import Run
from loadtest.scenarios import register
from loadtest.scenarios.base import Scenario, connect_all


@register
class Hearts(Scenario):
    name = "hearts"
    summary = "heart bursts from many viewers: exact room total, counters at most once per tick"
    deliveries = "events"
    default_viewers = 300
    default_duration = 10.0

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--senders", type=int, default=100,
                            help="viewers that send hearts (default 100)")
        parser.add_argument("--hearts-rate", type=float, default=5000.0,
                            help="hearts per second, all senders together (default 5000)")
        parser.add_argument("--per-frame", type=int, default=50,
                            help="hearts per frame, 1..hearts.max_per_frame (default 50)")

    @property
    def senders(self) -> int:
        return int(self.params.get("senders", 100))

    @property
    def per_frame(self) -> int:
        return int(self.params.get("per_frame", 50))

    @property
    def frame_rate(self) -> float:
        return float(self.params.get("hearts_rate", 5000.0)) / self.per_frame

    def talkers(self, viewers: int) -> int:
        return self.senders

    def server_env(self) -> dict[str, str]:
        per = self.frame_rate / max(1, self.senders)
        env = {"LIVE_HEARTS_MAX_PER_FRAME": str(max(50, self.per_frame))}
        if per > 25:
            env["LIVE_WS_MAX_FRAMES_PER_S"] = str(math.ceil(2 * per) + 10)
        return env

    async def drive(self, run: Run) -> None:
        await connect_all(run)
        before = await api.room_hearts(run.target.url, run.room)
        self.state["before"] = before
        run.set_phase("hearts")
        await run.mark("measure_start")
        await run.call("send", run.duration + 30.0, role="talker", rate=self.frame_rate,
                       op="heart", fields={"count": self.per_frame}, duration=run.duration)
        await run.mark("sent")
        await run.call("wait_replies", 15.0, wait_s=5.0)
        run.set_phase("settle")
        # Every reply is in, but accepted hearts reach the room total at their process's next
        # tick, and the counters event carrying the total goes out once the room's counters
        # interval (500 ms by default) has passed, later on a loaded machine: wait (bounded)
        # until the tracers have seen a total that is still the room's when read again, and
        # let the checks below say whether they did.
        deadline = asyncio.get_running_loop().time() + 15.0
        while True:
            after = await api.room_hearts(run.target.url, run.room)
            seen = await run.wait_until(functools.partial(_shows, after), 2.0)
            if seen and await api.room_hearts(run.target.url, run.room) == after:
                break
            if asyncio.get_running_loop().time() > deadline:
                break
        await run.mark("measure_end")
        self.state["after"] = after

    async def judge(self, run: Run) -> None:
        before = self.state.get("before")
        after = self.state.get("after")
        end, start, sent_m = (run.marks.get(k) for k in ("measure_end", "measure_start", "sent"))
        if end is None or start is None or sent_m is None:
            return
        accepted = int(end.tally.get("hearts_accepted", 0)) - int(
            start.tally.get("hearts_accepted", 0))
        frames_sent = int((end.tally.get("sent") or {}).get("heart", 0))
        send_s = max(1e-6, sent_m.t - start.t)
        tick = run.tick_ms
        ratios = []
        for f in run.finals:
            for tr in f.get("tracers") or []:
                first, last, n = tr.get("first_counters_ts"), tr.get("last_counters_ts"), tr.get(
                    "counters_seen", 0)
                if first is not None and last is not None and n > 1 and last > first:
                    ratios.append((n - 1) / ((last - first) / tick))
        per_tick = max(ratios) if ratios else None
        max_per_frame = int(end.tally.get("counters_max_per_frame", 0))
        total = (after - before) if isinstance(after, int) and isinstance(before, int) else None
        run.figures["hearts"] = {
            "frames_sent": frames_sent,
            "hearts_sent": frames_sent * self.per_frame,
            "hearts_accepted": accepted,
            "accepted_per_s": round(accepted / send_s, 1),
            "room_total_before": before,
            "room_total_after": after,
            "room_total_delta": total,
            "tracer_last_total": end.tally.get("last_hearts"),
            "counters_events_per_tick_max": round(per_tick, 3) if per_tick is not None else None,
            "counters_events_max_per_frame": max_per_frame,
            "counters_min_gap_ms": end.tally.get("counters_min_gap_ms"),
            "rejected": end.tally.get("rejected") or {},
        }
        run.check("room total exact", total == accepted and accepted > 0,
                  f"room delta {total} vs accepted {accepted}")
        run.check("tracers saw the final total", end.tally.get("last_hearts") == after,
                  f"tracers {end.tally.get('last_hearts')} vs room {after}")
        run.check("counters at most once per tick",
                  max_per_frame <= 1 and (per_tick is None or per_tick <= 1.05),
                  f"max {max_per_frame} per frame, {per_tick and round(per_tick, 3)} per tick")


def _shows(total: int | None, tally: dict[str, Any]) -> bool:
    """Whether the tracers' last counters event carried ``total``."""
    return tally.get("last_hearts") == total
