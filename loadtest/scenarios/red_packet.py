"""red-packet-storm: N viewers grab from K red packets at once.

Why: a red packet is a money burst — every viewer in the room presses Grab in the same second,
and each grab moves money between two wallets. The creator (`lt-creator`) tops up with the
development top-up and launches K random-split packets of `--shares` shares; once every viewer
is in the room, each sends one `grab` per packet at once (or at `--grab-rate`/s). The figures are
grabs per second (answered and successful) and the `grab` reply latency of every answer, winners
and losers (p50/p99). The money
invariants are read back through the public API: exactly min(N, shares) grabs per packet by
distinct users, each ≥ 1 cent, shares summing to the packet's total, every loser told
`none_left`, and the creator's wallet + every grabbed share = the money before.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from loadtest import api
from loadtest.clients import Talker
from loadtest.pacing import paced
from loadtest.run import Run
from loadtest.scenarios import register
from loadtest.scenarios.base import Scenario, connect_all, reply_percentiles, requests_of
from loadtest.worker import Swarm, action

TOTAL_PER_SHARE = 888  # cents: a packet of S shares holds S × 8.88


@action("grab_all")
async def _grab_all(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Every talker of this process sends one `grab` per packet; with `rate` > 0 the grabs go
    out at that rate, else all at once. `send_ms`: how long this process took to send them."""
    packets = [str(p) for p in args["packet_ids"]]
    rate = float(args.get("rate") or 0.0)
    talkers = [s.client for s in sw.open_slots("talker") if isinstance(s.client, Talker)]
    sent = 0
    began = time.perf_counter()
    async for batch in paced(len(packets) * len(talkers), rate, sw.monotonic_deadline()):
        for n in batch:
            packet, client = packets[n // len(talkers)], talkers[n % len(talkers)]
            if client.request("grab", {"packet_id": packet}):
                sent += 1
    return {"sent": sent, "send_ms": round((time.perf_counter() - began) * 1000.0, 1)}


LAUNCHES_AT_ONCE = 16  # launches in flight together while staging (the launch figure)


async def stage_packets(run: Run, packets: int, shares: int) -> tuple[list[str], int, float]:
    """The creator tops up and launches `packets` random-split packets of `shares` shares,
    `LAUNCHES_AT_ONCE` in flight; returns their ids, the creator's balance before the launches
    and the launches completed per second (each one a money move out of the creator's wallet,
    so a change to how money moves shows here as well as in the grabs)."""
    base, creator = run.target.url, run.target.creator_token()
    total = shares * TOTAL_PER_SHARE
    await api.call("POST", f"{base}/api/dev/wallet/topup", creator, {"amount": total * packets})
    funds = int((await api.call("GET", f"{base}/api/me/wallet", creator))["balance"])
    gate = asyncio.Semaphore(LAUNCHES_AT_ONCE)

    async def launch() -> str:
        async with gate:
            made = await api.call("POST", f"{base}/api/rooms/{run.room}/red-packets", creator,
                                  {"total": total, "shares": shares, "split": "random"})
        return str(made["packet"]["id"])

    began = time.perf_counter()
    ids = list(await asyncio.gather(*(launch() for _ in range(packets))))
    rate = packets / max(1e-6, time.perf_counter() - began)
    return ids, funds, round(rate, 1)


async def read_back(run: Run, ids: list[str]) -> tuple[list[dict[str, Any]], int]:
    """Each packet's public record, and the creator's balance now."""
    base, creator = run.target.url, run.target.creator_token()
    views = [await api.call("GET", f"{base}/api/red-packets/{pid}", creator) for pid in ids]
    after = int((await api.call("GET", f"{base}/api/me/wallet", creator))["balance"])
    return views, after


def money_checks(run: Run, views: list[dict[str, Any]], funds: int, after: int,
                 accepted: int, expected: int) -> int:
    """The invariants every red packet run proves; returns the cents grabbed."""
    records = [v.get("record") or [] for v in views]
    grabbed = sum(int(r["amount"]) for rec in records for r in rec)
    run.check("exact grabs", accepted == expected == sum(len(rec) for rec in records),
              f"{accepted} replies, {sum(len(r) for r in records)} claims, expected {expected}")
    run.check("distinct grabbers per packet",
              all(len({r["user"] for r in rec}) == len(rec) for rec in records),
              f"{[len({r['user'] for r in rec}) for rec in records]} users for "
              f"{[len(rec) for rec in records]} claims")
    run.check("every share at least one cent",
              all(r["amount"] >= 1 for rec in records for r in rec),
              f"smallest share {min((r['amount'] for rec in records for r in rec), default=0)}")
    full = [v for v in views if v.get("shares_left") == 0]
    run.check("full packets sum to their total",
              all(sum(r["amount"] for r in v["record"]) == v["total"] for v in full),
              f"{len(full)} full packets, grabbed {grabbed} cents")
    held = sum(int(v.get("amount_left", 0)) for v in views)  # refunds are in `after`
    run.check("money conserved", after + grabbed + held == funds,
              f"creator {funds} → {after}, grabbed {grabbed}, still in packets {held}")
    return grabbed


@register
class RedPacketStorm(Scenario):
    name = "red-packet-storm"
    summary = "N viewers grab from K red packets: grabs/s, grab reply p50/p99, money invariants"
    deliveries = "events"
    default_viewers = 5000
    default_duration = 5.0

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--packets", type=int, default=1,
                            help="red packets launched at once (default 1)")
        parser.add_argument("--shares", type=int, default=100,
                            help="shares per packet (default 100)")
        parser.add_argument("--grab-rate", type=float, default=0.0,
                            help="grabs per second, all viewers together (default 0: at once)")

    @property
    def packets(self) -> int:
        return int(self.params.get("packets", 1))

    @property
    def shares(self) -> int:
        return int(self.params.get("shares", 100))

    def talkers(self, viewers: int) -> int:
        return viewers  # everyone grabs

    async def drive(self, run: Run) -> None:
        if run.target.kind != "live":
            raise ValueError("red-packet-storm runs against live_server only")
        await connect_all(run)
        ids, funds, self.state["launches_per_s"] = await stage_packets(run, self.packets,
                                                                        self.shares)
        run.set_phase("grab")
        await run.mark("measure_start")
        rate = float(self.params.get("grab_rate") or 0.0)
        limit = run.viewers * len(ids) / rate + 30.0 if rate > 0 else 30.0
        sends = await run.call("grab_all", limit, role="talker", rate=rate or None,
                               packet_ids=ids)
        self.state["send_ms"] = max((float(r.get("send_ms", 0)) for r in sends), default=0.0)
        await run.call("wait_replies", 60.0, wait_s=30.0)
        await run.mark("measure_end")
        run.set_phase("verify")
        self.state["views"], self.state["after"] = await read_back(run, ids)
        self.state["funds"] = funds

    async def judge(self, run: Run) -> None:
        views = self.state.get("views") or []
        funds = int(self.state.get("funds", 0))
        after = int(self.state.get("after", 0))
        start, end = run.marks.get("measure_start"), run.marks.get("measure_end")
        if start is None or end is None:
            return
        sent, accepted, rejected = requests_of(end.tally, "grab")
        p50, p99 = reply_percentiles(end.tally)
        span = max(1e-6, end.t - start.t)
        grabbers = sum(run.role_counts("talker"))
        attempts = grabbers * len(views)
        expected = min(self.shares, grabbers) * len(views)
        figures = run.figures["red_packet_storm"] = {
            "grabbers": grabbers, "packets": len(views), "shares": self.shares,
            "grabs_sent": sent, "grabs": accepted, "refusals": rejected,
            "grabs_per_s": round(accepted / span, 1),
            "grabs_answered_per_s": round((accepted + sum(rejected.values())) / span, 1),
            "reply_ms_p50": p50, "reply_ms_p99": p99,
            "generator_send_ms": self.state.get("send_ms"),
            "launches_per_s": self.state.get("launches_per_s"),
            "claims_read_back": sum(len(v.get("record") or []) for v in views),
            "creator_before": funds, "creator_after": after,
        }
        run.check("every grab answered", accepted + sum(rejected.values()) == attempts,
                  f"{accepted} grabbed + {sum(rejected.values())} refused of {attempts}")
        run.check("losers told none left", set(rejected) <= {"none_left"},
                  f"refusals {rejected}")
        figures["grabbed_cents"] = money_checks(run, views, funds, after, accepted, expected)
