"""flash-sale: N buyers race for M units of one product in a flash sale.

Why: the opening second of a flash sale is the hardest write burst a room sees, and the one where
a mistake costs money. Every viewer but the `--tracers` (they watch) is a buyer: once all are in
the room, each sends one `buy` (per-buyer limit 1, its own idempotency key) at once (or at
`--buy-rate`/s), naming the sale (`sale_id`, from the create-sale reply) as a flash-sale button
does. The figures are reservations per second, answers per second (winners and losers) and the
`buy` reply latency of every answer (p50/p99).
The invariants are read back through the public API: exactly min(N, M) reservations, each by a
distinct buyer, the stock left at zero when N ≥ M, and every other buyer told `sold_out`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from loadtest import api
from loadtest.clients import Talker
from loadtest.pacing import paced
from loadtest.run import Run
from loadtest.scenarios import register
from loadtest.scenarios.base import Scenario, connect_all, reply_percentiles, requests_of
from loadtest.worker import Swarm, action


@action("buy_once")
async def _buy_once(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Every talker of this process sends one `buy` (its idempotency key is its viewer index)
    naming the sale when one is given; with `rate` > 0 they go out at that rate, else all at
    once. `send_ms`: how long this process took to send them."""
    fields: dict[str, Any] = {"product_id": str(args["product_id"]), "quantity": 1}
    if args.get("sale_id"):
        fields["sale_id"] = str(args["sale_id"])
    rate = float(args.get("rate") or 0.0)
    talkers = [(s.index, s.client) for s in sw.open_slots("talker")
               if isinstance(s.client, Talker)]
    sent = 0
    began = time.perf_counter()
    async for batch in paced(len(talkers), rate, sw.monotonic_deadline()):
        for n in batch:
            index, client = talkers[n]
            if client.request("buy", {**fields, "idempotency_key": f"lt-{index}"}):
                sent += 1
    return {"sent": sent, "send_ms": round((time.perf_counter() - began) * 1000.0, 1)}


async def shelve_product(run: Run, stock: int, *, pin: bool = False) -> str:
    """A product of the load-test creator on the room's shelf (pinned if asked); its id."""
    base, creator = run.target.url, run.target.creator_token()
    product = await api.call("POST", f"{base}/api/products", creator, {
        "title": "Flash item", "list_price": 19900, "live_price": 9900,
        "stock": max(stock, 1), "per_buyer_limit": 1, "commission_bp": 1000})
    pid = str(product["id"])
    await api.call("POST", f"{base}/api/rooms/{run.room}/shelf", creator, {"product_id": pid})
    if pin:
        await api.call("PUT", f"{base}/api/rooms/{run.room}/pinned", creator,
                       {"product_id": pid})
    return pid


async def start_sale(run: Run, pid: str, units: int) -> str:
    """A flash sale of `units` on the product, open now for an hour; its id (the buy buttons
    of a sale send it)."""
    creator = run.target.creator_token()
    now = int(time.time() * 1000)
    sale = await api.call("POST", f"{run.target.url}/api/rooms/{run.room}/sales", creator, {
        "product_id": pid, "price": 4900, "stock": units, "start_at": now,
        "end_at": now + 3600_000})
    return str(sale["id"])


async def product_view(run: Run, pid: str) -> dict[str, Any]:
    view: dict[str, Any] = await api.call(
        "GET", f"{run.target.url}/api/rooms/{run.room}/products/{pid}")
    return view


@register
class FlashSale(Scenario):
    name = "flash-sale"
    summary = "N buyers race for M units: reservations/s, buy reply p50/p99, invariants"
    deliveries = "events"
    default_viewers = 5000
    default_duration = 5.0

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--units", type=int, default=100,
                            help="units in the sale (default 100)")
        parser.add_argument("--buy-rate", type=float, default=0.0,
                            help="buys per second, all buyers together (default 0: all at once)")

    @property
    def units(self) -> int:
        return int(self.params.get("units", 100))

    def talkers(self, viewers: int) -> int:
        return viewers  # everyone buys

    def server_env(self) -> dict[str, str]:
        return {"LIVE_SHELF_RESERVATION_TTL_MS": "600000"}

    async def _stage(self, run: Run) -> tuple[str, str]:
        pid = await shelve_product(run, self.units)
        return pid, await start_sale(run, pid, self.units)

    async def drive(self, run: Run) -> None:
        if run.target.kind != "live":
            raise ValueError("flash-sale runs against live_server only")
        await connect_all(run)
        pid, sale_id = await self._stage(run)
        run.set_phase("buy")
        await run.mark("measure_start")
        rate = float(self.params.get("buy_rate") or 0.0)
        limit = run.viewers / rate + 30.0 if rate > 0 else 30.0
        sends = await run.call("buy_once", limit, role="talker", rate=rate or None,
                               product_id=pid, sale_id=sale_id)
        self.state["send_ms"] = max((float(r.get("send_ms", 0)) for r in sends), default=0.0)
        await run.call("wait_replies", 60.0, wait_s=30.0)
        await run.mark("measure_end")
        run.set_phase("verify")
        base = run.target.url
        creator = run.target.creator_token()
        self.state["orders"] = await api.call(
            "GET", f"{base}/api/rooms/{run.room}/orders?limit=5000", creator)
        self.state["view"] = await product_view(run, pid)

    async def judge(self, run: Run) -> None:
        orders = (self.state.get("orders") or {}).get("orders") or []
        view = self.state.get("view") or {}
        start, end = run.marks.get("measure_start"), run.marks.get("measure_end")
        if start is None or end is None:
            return
        sent, accepted, rejected = requests_of(end.tally, "buy")
        p50, p99 = reply_percentiles(end.tally)
        span = max(1e-6, end.t - start.t)
        buyers_n = sum(run.role_counts("talker"))  # tracers watch, they do not buy
        expected = min(self.units, buyers_n)
        buyers = {o.get("buyer") for o in orders}
        run.figures["flash_sale"] = {
            "buyers": buyers_n, "watchers": run.viewers - buyers_n, "units": self.units,
            "buys_sent": sent,
            "reservations": accepted, "refusals": rejected,
            "reservations_per_s": round(accepted / span, 1),
            "buys_answered_per_s": round((accepted + sum(rejected.values())) / span, 1),
            "reply_ms_p50": p50, "reply_ms_p99": p99,
            "generator_send_ms": self.state.get("send_ms"),
            "orders_read_back": len(orders), "distinct_buyers": len(buyers),
            "stock_left": view.get("stock_left"),
        }
        run.check("every buyer answered", accepted + sum(rejected.values()) == buyers_n,
                  f"{accepted} reserved + {sum(rejected.values())} refused of {buyers_n}")
        run.check("exact reservations", accepted == expected == len(orders),
                  f"{accepted} replies, {len(orders)} orders, expected {expected}")
        run.check("distinct buyers", len(buyers) == len(orders),
                  f"{len(buyers)} buyers for {len(orders)} orders")
        run.check("losers told sold out", set(rejected) <= {"sold_out"},
                  f"refusals {rejected}")
        if buyers_n >= self.units:
            run.check("stock at zero", view.get("stock_left") == 0,
                      f"stock left {view.get('stock_left')}")
