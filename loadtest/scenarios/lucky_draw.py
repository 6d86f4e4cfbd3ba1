"""lucky-draw: N viewers enter a lucky draw (福袋) within its countdown, then it is drawn.

Why: a lucky draw's entries come in one rush when the host announces it, each one script on
the room's slot (a set), and at the end one process reads the whole set and computes the
winners. The creator (`lt-creator`) opens a cash draw; once every viewer is in the room, each
sends one `draw_enter` (at once, or at `--enter-rate`/s) and then a second one, which must be a
no-op. The figures are the entry reply latency (p50/p99, target p99 ≤ 300 ms) and the time from
the draw's `end_at` to its result being readable (the clock's pass + freezing + computing +
recording). A second draw measures the draw itself at scale: `--seeded` entrants (default
50,000) written straight into its entrant set in Valkey, then drawn (target < 1 s), and the
result checked with `python -m live_server verify-draw`.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from typing import Any

import redis.asyncio as aioredis

from loadtest import api
from loadtest.clients import Talker
from loadtest.pacing import paced
from loadtest.run import Run
from loadtest.scenarios import register
from loadtest.scenarios.base import Scenario, connect_all, reply_percentiles, requests_of
from loadtest.worker import Swarm, action

EACH = 100  # cents per winner


@action("draw_enter_all")
async def _enter_all(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Every talker of this process sends `draw_enter` `times` times (at `rate`/s, else at
    once); `send_ms`: how long this process took to send them."""
    draw_id, times = str(args["draw_id"]), int(args.get("times", 1))
    rate = float(args.get("rate") or 0.0)
    talkers = [s.client for s in sw.open_slots("talker") if isinstance(s.client, Talker)]
    sent = 0
    began = time.perf_counter()
    async for batch in paced(len(talkers) * times, rate, sw.monotonic_deadline()):
        for n in batch:
            if talkers[n % len(talkers)].request("draw_enter", {"draw_id": draw_id}):
                sent += 1
    return {"sent": sent, "send_ms": round((time.perf_counter() - began) * 1000.0, 1)}


async def wait_drawn(base: str, draw_id: str, end_at: int, limit_s: float) -> tuple[Any, float]:
    """Poll the draw until it is drawn: (the draw, ms from its end_at to the result seen)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        found = await api.call("GET", f"{base}/api/draws/{draw_id}", None)
        if found.get("state") == "drawn":
            return found, round(time.time() * 1000.0 - end_at, 1)
        await asyncio.sleep(0.02)
    raise TimeoutError(f"draw {draw_id} not drawn within {limit_s} s")


async def seed_entrants(valkey_url: str, room: str, draw_id: str, count: int) -> None:
    """Write `count` made-up entrants straight into the draw's entrant set (what `count`
    entries would have left), in pipelined batches."""
    client = aioredis.from_url(valkey_url)
    try:
        # the server's key prefix is its own (a spawned server's is random): find the draw
        found = [k async for k in client.scan_iter(match=f"*:{{{room}}}:draw:{draw_id}",
                                                   count=10_000)]
        if len(found) != 1:
            raise RuntimeError(f"draw {draw_id}'s key not found in Valkey ({found})")
        key = found[0].decode()
        for start in range(0, count, 5000):
            ids = [f"seed-{i:06d}" for i in range(start, min(count, start + 5000))]
            await client.sadd(f"{key}:ent", *ids)
        await client.hset(key, "n", count)
    finally:
        await client.aclose()


@register
class LuckyDraw(Scenario):
    name = "lucky-draw"
    summary = "N viewers enter a lucky draw: entry p50/p99, end→result ms, a seeded draw's time"
    deliveries = "events"
    default_viewers = 5000
    default_duration = 5.0

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--winners", type=int, default=100,
                            help="winners of the entered draw (default 100)")
        parser.add_argument("--enter-rate", type=float, default=0.0,
                            help="entries per second, all viewers together (default 0: at once)")
        parser.add_argument("--window", type=int, default=0,
                            help="seconds entries stay open (default: room for every viewer "
                                 "to enter at the rate, plus 10 s)")
        parser.add_argument("--seeded", type=int, default=50_000,
                            help="entrants of the seeded draw, written into Valkey (0: none)")

    def talkers(self, viewers: int) -> int:
        return viewers  # everyone enters

    def server_env(self) -> dict[str, str]:
        return {"LIVE_DRAWS_MIN_DURATION_MS": "1000", "LIVE_DRAWS_MAX_WINNERS": "1000"}

    async def drive(self, run: Run) -> None:
        if run.target.kind != "live":
            raise ValueError("lucky-draw runs against live_server only")
        await connect_all(run)
        base, creator = run.target.url, run.target.creator_token()
        winners = int(self.params.get("winners") or 100)
        rate = float(self.params.get("enter_rate") or 0.0)
        window = int(self.params.get("window") or
                     max(5.0, run.viewers / rate if rate > 0 else run.viewers / 1000) + 10)
        await api.call("POST", f"{base}/api/dev/wallet/topup", creator,
                       {"amount": EACH * (winners + 1000)})
        made = await api.call("POST", f"{base}/api/rooms/{run.room}/draws", creator,
                              {"prize_kind": "cash", "amount": EACH, "winners": winners,
                               "duration_s": window})
        draw = made["draw"]
        run.set_phase("enter")
        await run.mark("measure_start")
        sends = await run.call("draw_enter_all", window + 30.0, role="talker",
                               draw_id=draw["id"], times=2, rate=rate or None)
        self.state["send_ms"] = max((float(r.get("send_ms", 0)) for r in sends), default=0.0)
        await run.call("wait_replies", 60.0, wait_s=30.0)
        await run.mark("measure_end")
        run.set_phase("draw")
        found, took = await wait_drawn(base, draw["id"], int(draw["end_at"]), window + 60.0)
        self.state.update(draw=found, end_to_result_ms=took)
        seeded = int(self.params.get("seeded", 50_000))
        if seeded > 0:
            valkey = (run.target.spawned.valkey_url if run.target.spawned is not None
                      else run.opts.valkey_url)
            if valkey:
                await self.seeded_draw(run, base, creator, valkey, seeded)

    async def seeded_draw(self, run: Run, base: str, creator: str, valkey: str,
                          count: int) -> None:
        run.set_phase("seeded-draw")
        made = await api.call("POST", f"{base}/api/rooms/{run.room}/draws", creator,
                              {"prize_kind": "cash", "amount": EACH, "winners": 1000,
                               "duration_s": 10})
        draw = made["draw"]
        began = time.perf_counter()
        await seed_entrants(valkey, run.room, draw["id"], count)
        self.state["seed_s"] = round(time.perf_counter() - began, 2)
        found, took = await wait_drawn(base, draw["id"], int(draw["end_at"]), 60.0)
        verified = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "live_server", "verify-draw", draw["id"],
                             "--url", base], capture_output=True, text=True, timeout=120)
        self.state.update(seeded=found, seeded_end_to_result_ms=took,
                          seeded_verify=verified.returncode,
                          seeded_verify_out=(verified.stdout or verified.stderr)[:300])

    async def judge(self, run: Run) -> None:
        start, end = run.marks.get("measure_start"), run.marks.get("measure_end")
        draw = self.state.get("draw")
        if start is None or end is None or draw is None:
            return
        sent, accepted, rejected = requests_of(end.tally, "draw_enter")
        p50, p99 = reply_percentiles(end.tally)
        entrants = sum(run.role_counts("talker"))
        result = draw.get("result") or {}
        figures = run.figures["lucky_draw"] = {
            "entrants": entrants, "entries_sent": sent, "entries_answered": accepted,
            "refusals": rejected, "entry_reply_ms_p50": p50, "entry_reply_ms_p99": p99,
            "entries_per_s": round(accepted / max(1e-6, end.t - start.t), 1),
            "generator_send_ms": self.state.get("send_ms"),
            "entrant_count": result.get("entrant_count"),
            "winners": len(result.get("winners") or []),
            "end_to_result_ms": self.state.get("end_to_result_ms"),
        }
        run.check("every entry answered", accepted == 2 * entrants and not rejected,
                  f"{accepted} answered of {2 * entrants}, refusals {rejected}")
        run.check("each viewer counted once", result.get("entrant_count") == entrants,
                  f"{result.get('entrant_count')} entrants for {entrants} viewers")
        want = min(int(draw.get("winners", 0)), entrants)
        run.check("winners distinct and as many as wanted",
                  len(set(result.get("winners") or [])) == want,
                  f"{len(set(result.get('winners') or []))} of {want}")
        seeded = self.state.get("seeded")
        if seeded is not None:
            sres = seeded.get("result") or {}
            figures.update(seeded_entrants=sres.get("entrant_count"),
                           seed_write_s=self.state.get("seed_s"),
                           seeded_end_to_result_ms=self.state.get("seeded_end_to_result_ms"),
                           seeded_verify=self.state.get("seeded_verify_out"))
            run.check("seeded entrants all drawn from", sres.get("entrant_count") ==
                      int(self.params.get("seeded", 50_000)), str(sres.get("entrant_count")))
            run.check("seeded draw verifies", self.state.get("seeded_verify") == 0,
                      str(self.state.get("seeded_verify_out")))
