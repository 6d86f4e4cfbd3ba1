"""show: a whole live show — viewers arriving and leaving, chat, heart bursts — as a timeline.

Why: the other scenarios stress one path at a time; a show mixes them the way a real broadcast
does, and the report's timeline shows every figure through the phases:
`opening` (the first half of the audience arrives), `live` (chat, hearts, viewers leaving and
new ones arriving), `peak` (the rest arrive), `closing` (the audience leaves).

Segments are hooks that run during `live`, one function each, registered with `@segment`:
`chat`, `hearts`, `pinned-product` (a product on the shelf, pinned as "now explaining") and
`flash-sale` (halfway through `live`, a sale of half as many units as there are talkers, and
every talker buys once: it must sell out exactly) and `red-packet-storm` (three quarters through
`live`, the creator launches a packet of half as many shares as there are talkers and every talker
grabs once: exactly that many grabs, by distinct viewers, and the money adds up).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

from loadtest.run import Run
from loadtest.scenarios import register
from loadtest.scenarios.base import Scenario, mark_idle
from loadtest.scenarios.flash_sale import product_view, shelve_product, start_sale
from loadtest.scenarios.red_packet import money_checks, read_back, stage_packets

Segment = Callable[["Show", Run, float], Awaitable[None]]
SEGMENTS: dict[str, Segment] = {}


def segment(name: str) -> Callable[[Segment], Segment]:
    """Register a show segment under `name`: `async def fn(show, run, seconds)`."""

    def deco(fn: Segment) -> Segment:
        SEGMENTS[name] = fn
        return fn

    return deco


@segment("chat")
async def _chat(show: Show, run: Run, seconds: float) -> None:
    await run.call("send", seconds + 30.0, role="talker", rate=show.chat_rate, op="chat",
                   duration=seconds)


@segment("hearts")
async def _hearts(show: Show, run: Run, seconds: float) -> None:
    # Bursts: one second on, one second off.
    end = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() + 1.0 <= end:
        await run.call("send", 31.0, role="talker", rate=show.hearts_rate / 10, op="heart",
                       fields={"count": 10}, duration=1.0)
        await asyncio.sleep(1.0)


@segment("pinned-product")
async def _pinned(show: Show, run: Run, seconds: float) -> None:
    pid = await shelve_product(run, 100, pin=True)
    show.state["pinned_view"] = await product_view(run, pid)


@segment("flash-sale")
async def _flash_sale(show: Show, run: Run, seconds: float) -> None:
    await asyncio.sleep(seconds / 2)
    units = max(1, show.talkers(run.viewers) // 2)
    pid = await shelve_product(run, units)
    sale_id = await start_sale(run, pid, units)
    await run.call("buy_once", 30.0, role="talker", product_id=pid, sale_id=sale_id)
    await run.call("wait_replies", 30.0, wait_s=10.0)
    show.state["sale"] = {"units": units, "view": await product_view(run, pid)}


@segment("red-packet-storm")
async def _red_packets(show: Show, run: Run, seconds: float) -> None:
    await asyncio.sleep(seconds * 3 / 4)
    shares = max(1, show.talkers(run.viewers) // 2)
    ids, funds, _rate = await stage_packets(run, 1, shares)
    await run.call("grab_all", 30.0, role="talker", packet_ids=ids)
    await run.call("wait_replies", 30.0, wait_s=10.0)
    views, after = await read_back(run, ids)
    show.state["packets"] = {"shares": shares, "views": views, "funds": funds, "after": after}


@register
class Show(Scenario):
    name = "show"
    summary = "viewers arriving/leaving, chat, hearts: a timeline of every figure"
    deliveries = "chats"
    default_viewers = 400
    default_duration = 20.0

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--chatters", type=int, default=20,
                            help="viewers that talk (default 20)")
        parser.add_argument("--chat-rate", type=float, default=10.0,
                            help="chat messages per second during the show (default 10)")
        parser.add_argument("--hearts-rate", type=float, default=500.0,
                            help="hearts per second during bursts (default 500)")
        parser.add_argument("--churn", type=float, default=0.2,
                            help="share of the audience that leaves and is replaced (default 0.2)")
        parser.add_argument("--segments", default="chat,hearts",
                            help="comma-separated segments run during `live` (known: chat, "
                                 "hearts, pinned-product, flash-sale, red-packet-storm)")

    @property
    def chat_rate(self) -> float:
        return float(self.params.get("chat_rate", 10.0))

    @property
    def hearts_rate(self) -> float:
        return float(self.params.get("hearts_rate", 500.0))

    def talkers(self, viewers: int) -> int:
        return int(self.params.get("chatters", 20))

    def server_env(self) -> dict[str, str]:
        return {"LIVE_CHAT_RATE_PER_S": "100", "LIVE_CHAT_BURST": "1000",
                "LIVE_WS_MAX_FRAMES_PER_S": "100"}

    def segment_names(self) -> list[str]:
        names = [s.strip() for s in str(self.params.get("segments", "chat,hearts")).split(",")]
        for n in names:
            if n and n not in SEGMENTS:
                raise ValueError(f"unknown show segment {n!r}")
        return [n for n in names if n]

    async def drive(self, run: Run) -> None:
        names = self.segment_names()
        quarter = run.duration / 4
        n = run.viewers
        ramp = run.opts.ramp
        await mark_idle(run)
        run.set_phase("opening")
        await run.mark("measure_start")
        # Tracers and talkers first (they must see the whole show), then half the audience.
        await run.call("connect", 60.0 + n / ramp, roles=["tracer", "talker"], rate=ramp)
        await run.call("connect", 60.0 + n / ramp, role="sink", count=n // 2, rate=ramp,
                       roles=["sink"])
        await run.mark("connected", conns=True)
        await asyncio.sleep(max(0.0, quarter - 1.0))
        run.set_phase("live")
        churn = int(n * float(self.params.get("churn", 0.2)))
        tasks = [asyncio.ensure_future(SEGMENTS[s](self, run, 2 * quarter)) for s in names]
        await run.call("leave", quarter + 30.0, role="sink", count=churn,
                       rate=churn / max(quarter, 0.1), duration=quarter)
        await run.call("connect", quarter + 60.0, role="sink", count=churn,
                       rate=churn / max(quarter, 0.1), roles=["sink"], duration=quarter)
        run.set_phase("peak")
        await run.call("connect", 60.0 + n / ramp, rate=ramp, roles=["sink"])
        await asyncio.gather(*tasks)
        await run.call("wait_replies", 15.0, wait_s=5.0)
        run.set_phase("closing")
        await asyncio.sleep(1.0)
        await run.mark("measure_end")
        await run.call("leave", quarter + 30.0, role="sink",
                       rate=max(1.0, n / max(quarter, 0.1)), duration=quarter)

    async def judge(self, run: Run) -> None:
        end = run.marks.get("measure_end")
        if end is None:
            return
        peak = max((r.get("connected", 0) for r in run.timeline), default=0)
        run.figures["show"] = {
            "segments": self.segment_names(),
            "peak_connected": peak,
            "joins": end.tally.get("joined", 0),
            "chat_accepted": (end.tally.get("accepted") or {}).get("chat", 0),
            "hearts_accepted": end.tally.get("hearts_accepted", 0),
            "timeline_rows": len(run.timeline),
        }
        run.check("no failures", int(end.tally.get("failed", 0)) == 0,
                  f"{end.tally.get('failed', 0)} failed {end.tally.get('fail_reasons', {})}")
        pinned = self.state.get("pinned_view")
        if pinned is not None:
            run.check("product pinned", bool(pinned.get("pinned")),
                      f"pinned={pinned.get('pinned')}")
        sale = self.state.get("sale")
        if sale is not None:
            accepted = int((end.tally.get("accepted") or {}).get("buy", 0))
            left = sale["view"].get("stock_left")
            run.figures["show"]["flash_sale"] = {"units": sale["units"], "reserved": accepted,
                                                 "stock_left": left}
            run.check("flash sale sold out exactly", accepted == sale["units"] and left == 0,
                      f"{accepted} reserved of {sale['units']}, stock left {left}")
        packets = self.state.get("packets")
        if packets is not None:
            grabs = int((end.tally.get("accepted") or {}).get("grab", 0))
            grabbed = money_checks(run, packets["views"], packets["funds"], packets["after"],
                                   grabs, packets["shares"])
            run.figures["show"]["red_packets"] = {"shares": packets["shares"], "grabs": grabs,
                                                  "grabbed_cents": grabbed}
