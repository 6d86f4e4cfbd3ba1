"""gifts: N viewers send gifts in bursts, each send retried with the same idempotency key.

Why: gifts are the busiest money path of a show — many viewers tapping a gift again and again
in the same seconds, each tap one ledger transfer (sender → creator and platform). Every viewer
is funded with the development top-up (by its own generator process, with its own token), then
sends `--bursts` bursts of `--per-burst` gifts (one `send_gift` each, a fresh key per gift) and
sends every gift `--retries` more times with the same key, as a client whose answer was lost
would. The figures are the `send_gift` reply latency (p50/p99, first sends and retries alike)
and gifts moved per second. The money is read back through the public API: the room's gift
figures count exactly one send per key (no double charge), the creator's wallet grew by the
creator's share and the creator's share + the platform's share = what the senders paid.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from typing import Any

from loadtest import api
from loadtest.clients import Talker
from loadtest.pacing import paced
from loadtest.run import Run
from loadtest.scenarios import register
from loadtest.scenarios.base import Scenario, connect_all, reply_percentiles, requests_of
from loadtest.worker import Swarm, action

GIFT, PRICE = "rose", 10  # cents: the cheapest gift, so a wallet funds many


@action("fund_talkers")
async def _fund_talkers(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Every talker of this process tops up its own wallet (development top-up)."""
    funded = 0
    for slot in sw.open_slots("talker"):
        client = slot.client
        if isinstance(client, Talker) and client.token:
            url = f"http://{client.host}:{client.port}/api/dev/wallet/topup"
            await api.call("POST", url, client.token, {"amount": int(args["amount"])})
            funded += 1
    return {"funded": funded}


@action("gift_bursts")
async def _gift_bursts(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Every talker sends `per_burst` gifts per burst, each once and then `retries` more times
    with the same key; `rate` > 0 paces all the sends of this process."""
    talkers = [s.client for s in sw.open_slots("talker") if isinstance(s.client, Talker)]
    per, retries, rate = int(args["per_burst"]), int(args["retries"]), float(args.get("rate") or 0)
    tag = secrets.token_hex(3)
    sent = 0
    began = time.perf_counter()
    for burst in range(int(args["bursts"])):
        total = len(talkers) * per * (1 + retries)
        async for batch in paced(total, rate, sw.monotonic_deadline()):
            for n in batch:
                client = talkers[n % len(talkers)]
                gift = (n // len(talkers)) // (1 + retries)
                key = f"{tag}-{n % len(talkers)}-{burst}-{gift}"
                if client.request("send_gift", {"gift_id": GIFT, "idempotency_key": key}):
                    sent += 1
    return {"sent": sent, "send_ms": round((time.perf_counter() - began) * 1000.0, 1)}


async def _read(url: str, token: str) -> dict[str, Any]:
    """A read after the burst: a server still draining it may answer 503 `not_ready` (its
    store pool busy); that answer says to try again shortly, so the read does, for 60 s."""
    for _ in range(60):
        try:
            return await api.call("GET", url, token)
        except api.ApiError as err:
            if "not_ready" not in str(err):
                raise
            await asyncio.sleep(1.0)
    return await api.call("GET", url, token)


@register
class Gifts(Scenario):
    name = "gifts"
    summary = "N viewers send gift bursts with retried keys: send p50/p99, gifts/s, exact sums"
    deliveries = "events"
    default_viewers = 2000
    default_duration = 5.0

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--bursts", type=int, default=3, help="bursts per viewer (3)")
        parser.add_argument("--per-burst", type=int, default=5,
                            help="gifts per viewer per burst (5)")
        parser.add_argument("--retries", type=int, default=1,
                            help="extra sends of every gift with the same key (1)")
        parser.add_argument("--send-rate", type=float, default=0.0,
                            help="sends per second per generator process (0: at once)")

    def p(self, name: str, default: int) -> int:
        return int(self.params.get(name) or default)

    def talkers(self, viewers: int) -> int:
        return viewers  # everyone sends

    async def drive(self, run: Run) -> None:
        if run.target.kind != "live":
            raise ValueError("gifts runs against live_server only")
        await connect_all(run)
        bursts, per, retries = self.p("bursts", 3), self.p("per_burst", 5), self.p("retries", 1)
        self.state["keys"] = bursts * per
        base, creator = run.target.url, run.target.creator_token()
        run.set_phase("fund")
        await run.call("fund_talkers", 120.0, role="talker", amount=bursts * per * PRICE)
        self.state["creator_before"] = int(
            (await api.call("GET", f"{base}/api/me/wallet", creator))["balance"])
        run.set_phase("send")
        await run.mark("measure_start")
        sends = await run.call("gift_bursts", 120.0, role="talker", bursts=bursts,
                               per_burst=per, retries=retries,
                               rate=self.params.get("send_rate") or None)
        self.state["send_ms"] = max((float(r.get("send_ms", 0)) for r in sends), default=0.0)
        await run.call("wait_replies", 60.0, wait_s=30.0)
        await run.mark("measure_end")
        run.set_phase("verify")
        self.state["figures"] = await _read(f"{base}/api/rooms/{run.room}/gifts", creator)
        self.state["creator_after"] = int(
            (await _read(f"{base}/api/me/wallet", creator))["balance"])

    async def judge(self, run: Run) -> None:
        start, end = run.marks.get("measure_start"), run.marks.get("measure_end")
        figs = self.state.get("figures")
        if start is None or end is None or not figs:
            return
        sent, accepted, rejected = requests_of(end.tally, "send_gift")
        p50, p99 = reply_percentiles(end.tally)
        span = max(1e-6, end.t - start.t)
        senders = sum(run.role_counts("talker"))
        keys = senders * int(self.state["keys"])
        gained = int(self.state["creator_after"]) - int(self.state["creator_before"])
        figures = run.figures["gifts"] = {
            "senders": senders, "keys": keys, "sends": sent, "answered": accepted,
            "refusals": rejected, "gifts_moved": figs["sends"],
            "gifts_per_s": round(int(figs["sends"]) / span, 1),
            "sends_answered_per_s": round((accepted + sum(rejected.values())) / span, 1),
            "reply_ms_p50": p50, "reply_ms_p99": p99,
            "generator_send_ms": self.state.get("send_ms"),
            "spent": figs["spent"], "creator": figs["creator"], "platform": figs["platform"],
            "creator_gained": gained,
        }
        run.check("every send answered", accepted == sent and not rejected,
                  f"{accepted} answered of {sent}, refusals {rejected}")
        refused = sum(rejected.values())
        run.check("one charge per key", int(figs["sends"]) == keys if not refused
                  else int(figs["sends"]) <= keys,
                  f"{figs['sends']} sends charged for {keys} keys ({refused} sends refused)")
        run.check("spent exactly", int(figs["spent"]) == int(figs["sends"]) * PRICE,
                  f"{figs['spent']} cents for {figs['sends']} gifts of {PRICE}")
        run.check("creator + platform = spent",
                  int(figs["creator"]) + int(figs["platform"]) == int(figs["spent"]),
                  f"{figs['creator']} + {figs['platform']} vs {figs['spent']}")
        run.check("creator credited its share", gained == int(figs["creator"]),
                  f"creator wallet +{gained}, share {figs['creator']}")
        figures["money_ok"] = all(c["ok"] for c in run.checks if c["name"] in (
            "one charge per key", "spent exactly", "creator + platform = spent",
            "creator credited its share"))
