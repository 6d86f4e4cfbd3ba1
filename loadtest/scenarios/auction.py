"""auction: N bidders bid in the last seconds of a live auction with anti-snipe.

Why: the end of an auction is a write burst on one key of one room where order matters: every
accepted bid must raise the price, every bid inside the anti-snipe window must move the end to
exactly `now + snipe`, and the end must be decided once however many processes run the clock.
Every viewer but the `--tracers` is a bidder. The auction opens with `--lead` seconds to go; once
the last `--window` seconds begin, the bidders each send one `auction_bid` over their socket,
spread evenly over the window (all bidders together at N / window per second). A bid's amount
follows the wall clock (start + step × slots elapsed, at the bidders' combined rate), so bidders
on different generator processes bid the same amount at the same moment, as real bidders do
when they tap "Bid" on the same price; every tenth also gives a proxy maximum five steps up.
The figures are the bid reply latency (p50/p99) and bids answered per second. The invariants
are read from the room's event stream (a websocket watcher in the driver) and the public API:
accepted bids strictly increasing, one `auction_bid` event per accepted bid, each end moved
exactly as the rule says, one `auction_ended`, one winner and one order at the final price.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import time
from typing import Any

import aiohttp
import orjson

from loadtest import api
from loadtest.clients import Talker
from loadtest.pacing import paced
from loadtest.run import Run
from loadtest.scenarios import register
from loadtest.scenarios.base import Scenario, connect_all, reply_percentiles, requests_of
from loadtest.tokens import mint
from loadtest.worker import Swarm, action

START, STEP = 1000, 100  # cents: the start price and the one increment of the table


@action("bid_window")
async def _bid_window(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Every talker of this process sends one `auction_bid`, paced at `rate` over the window.
    The amount is START + STEP × the slots elapsed since `t0_ms` at the bidders' combined
    `slots_per_s`; a tenth add `max_amount` five steps up."""
    aid, t0, slots = str(args["auction_id"]), float(args["t0_ms"]), float(args["slots_per_s"])
    talkers = [(s.index, s.client) for s in sw.open_slots("talker")
               if isinstance(s.client, Talker)]
    sent = 0
    async for batch in paced(len(talkers), float(args.get("rate") or 0.0),
                             sw.monotonic_deadline()):
        for n in batch:
            index, client = talkers[n]
            amount = START + STEP * max(0, int((time.time() * 1000 - t0) / 1000 * slots))
            fields: dict[str, Any] = {"auction_id": aid, "amount": amount,
                                      "idempotency_key": f"lt-{index}"}
            if index % 10 == 0:
                fields["max_amount"] = amount + 5 * STEP
            if client.request("auction_bid", fields):
                sent += 1
    return {"sent": sent}


class Watcher:
    """The room's event stream as a viewer receives it: every `auction_*` event, in order."""

    def __init__(self, url: str, room: str, token: str) -> None:
        self.url = url.replace("http", "ws", 1) + f"/ws/rooms/{room}"
        self.token = token
        self.events: list[dict[str, Any]] = []
        self.ended = asyncio.Event()
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(
                self.url, params={"token": self.token}, max_msg_size=0) as ws:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                frame = orjson.loads(msg.data)
                if frame.get("type") == "welcome":
                    self.ready.set()
                for ev in frame.get("events") or []:
                    if str(ev.get("type", "")).startswith("auction_"):
                        self.events.append(ev)
                        if ev["type"] == "auction_ended":
                            self.ended.set()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task


def end_rule_errors(start_end: int, snipe: int, bids: list[dict[str, Any]]) -> list[str]:
    """Where the events' `end_at` differs from the anti-snipe rule replayed from `start_end`."""
    wrong, end = [], start_end
    for b in bids:
        expected = b["now"] + snipe if end - b["now"] < snipe else end
        if b["end_at"] != expected or b["extended"] != (expected != end):
            wrong.append(f"bid at {b['now']}: end {b['end_at']}, expected {expected}")
        end = expected
    return wrong


@register
class AuctionScenario(Scenario):
    name = "auction"
    summary = "N bidders in an auction's last seconds: bid p50/p99, bids/s, anti-snipe exact"
    deliveries = "events"
    default_viewers = 2000
    default_duration = 10.0

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--window", type=float, default=10.0,
                            help="seconds of bidding before the scheduled end (default 10)")
        parser.add_argument("--lead", type=float, default=12.0,
                            help="seconds from opening the auction to its scheduled end "
                                 "(default 12; at least --window)")
        parser.add_argument("--snipe", type=float, default=10.0,
                            help="anti-snipe seconds (default 10)")

    def talkers(self, viewers: int) -> int:
        return viewers  # every viewer but the tracers bids

    def server_env(self) -> dict[str, str]:
        return {"LIVE_AUCTIONS_MIN_DURATION_MS": "1000",
                "LIVE_AUCTIONS_SCHEDULER_INTERVAL_MS": "100"}

    def time_budget(self, duration: float, viewers: int, ramp: float) -> float:
        return super().time_budget(duration, viewers, ramp) + self.lead + self.snipe + 30.0

    @property
    def window(self) -> float:
        return float(self.params.get("window") or 10.0)

    @property
    def lead(self) -> float:
        return max(float(self.params.get("lead") or 12.0), self.window)

    @property
    def snipe(self) -> float:
        return float(self.params.get("snipe") or 10.0)

    async def drive(self, run: Run) -> None:
        if run.target.kind != "live":
            raise ValueError("auction runs against live_server only")
        await connect_all(run)
        base, creator = run.target.url, run.target.creator_token()
        product = await api.call("POST", f"{base}/api/products", creator, {
            "title": "Auction item", "list_price": 99900, "live_price": 99900, "stock": 1,
            "per_buyer_limit": 1, "commission_bp": 1000})
        await api.call("POST", f"{base}/api/rooms/{run.room}/shelf", creator,
                       {"product_id": product["id"]})
        watcher = Watcher(base, run.room, mint(run.target.secret, "lt-auction-watch"))
        watcher.start()
        await asyncio.wait_for(watcher.ready.wait(), 30)
        auction = await api.call("POST", f"{base}/api/rooms/{run.room}/auctions", creator, {
            "product_id": product["id"], "start_price": START,
            "increments": [{"step": STEP}], "duration_ms": int(self.lead * 1000),
            "mode": "anti_snipe", "snipe_ms": int(self.snipe * 1000)})
        self.state["auction"] = auction
        # the last `window` seconds begin
        await asyncio.sleep(max(0.0, auction["end_at"] / 1000 - self.window - time.time()))
        bidders = sum(run.role_counts("talker"))
        run.set_phase("bid")
        await run.mark("measure_start")
        await run.call("bid_window", self.window + 30.0, role="talker",
                       rate=bidders / self.window, auction_id=auction["id"],
                       t0_ms=time.time() * 1000, slots_per_s=bidders / self.window)
        await run.call("wait_replies", 60.0, wait_s=30.0)
        await run.mark("measure_end")
        run.set_phase("end")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watcher.ended.wait(), self.snipe + self.window + 30.0)
        await asyncio.sleep(1.0)  # every clock has had a pass after the end
        await watcher.stop()
        self.state["events"] = watcher.events
        run.set_phase("verify")
        self.state["orders"] = await api.call(
            "GET", f"{base}/api/rooms/{run.room}/orders?limit=5000", creator)

    async def judge(self, run: Run) -> None:
        start, end = run.marks.get("measure_start"), run.marks.get("measure_end")
        auction = self.state.get("auction")
        if start is None or end is None or auction is None:
            return
        events = self.state.get("events") or []
        bids = [e["data"] for e in events if e["type"] == "auction_bid"]
        ended = [e["data"] for e in events if e["type"] == "auction_ended"]
        orders = [o for o in (self.state.get("orders") or {}).get("orders") or []
                  if o.get("auction_id") == auction["id"]]
        sent, accepted, rejected = requests_of(end.tally, "auction_bid")
        p50, p99 = reply_percentiles(end.tally)
        span = max(1e-6, end.t - start.t)
        prices = [b["price"] for b in bids]
        snipe_ms = int(self.snipe * 1000)
        wrong_ends = end_rule_errors(int(auction["end_at"]), snipe_ms, bids)
        final = ended[0]["auction"] if ended else {}
        run.figures["auction"] = {
            "bidders": sum(run.role_counts("talker")), "bids_sent": sent,
            "accepted": accepted, "refusals": rejected,
            "bids_answered_per_s": round((accepted + sum(rejected.values())) / span, 1),
            "accepted_per_s": round(accepted / span, 1),
            "reply_ms_p50": p50, "reply_ms_p99": p99,
            "events": len(bids), "extensions": sum(1 for b in bids if b["extended"]),
            "end_moved_ms": (final.get("end_at", auction["end_at"]) - auction["end_at"]),
            "final_price": final.get("price"), "orders": len(orders),
        }
        run.check("every bid answered", accepted + sum(rejected.values()) == sent,
                  f"{accepted} accepted + {sum(rejected.values())} refused of {sent}")
        run.check("accepted bids strictly increasing",
                  all(a < b for a, b in itertools.pairwise(prices)),
                  f"{len(prices)} prices, first {prices[:3]}, last {prices[-3:]}")
        run.check("one event per accepted bid", len(bids) == accepted,
                  f"{len(bids)} auction_bid events, {accepted} accepted")
        run.check("timer extended exactly as the rule says", not wrong_ends,
                  f"{len(wrong_ends)} wrong: {wrong_ends[:3]}")
        run.check("refusals are too low or closed",
                  set(rejected) <= {"bid_too_low", "auction_closed"}, f"refusals {rejected}")
        run.check("ended once", len(ended) == 1, f"{len(ended)} auction_ended events")
        winner = bids[-1]["leader_id"] if bids else None
        run.check("one winner, the last leader",
                  bool(ended) and final.get("leader") == winner and
                  final.get("price") == (prices[-1] if prices else None),
                  f"winner {final.get('leader')} at {final.get('price')}, last event "
                  f"{winner} at {prices[-1] if prices else None}")
        run.check("the order created once", len(orders) == 1 and orders[0]["buyer"] == winner
                  and orders[0]["amount"] == final.get("price"),
                  f"{len(orders)} orders: {[(o['buyer'], o['amount']) for o in orders]}")
