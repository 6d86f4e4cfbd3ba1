"""chat: N viewers in one room, M chatters sending at a total rate; every message to everyone.

Why: chat fan-out is the server's hottest path. Tracers measure delivery latency from the send
time in the text (`t=<ms> n=<counter> w=<process>`) and check sequence numbers; every viewer
counts chat events, so deliveries are measured, not assumed: expected = accepted messages x
viewers in the room. When the generator starts the server it raises the chat rate limit
(`LIVE_CHAT_RATE_PER_S`, `LIVE_CHAT_BURST`) and, if needed, the frame limit
(`LIVE_WS_MAX_FRAMES_PER_S`) so the chatters are not throttled.
"""

from __future__ import annotations

import argparse
import math

from loadtest.run import Run
from loadtest.scenarios import register
from loadtest.scenarios.base import Scenario, connect_all


@register
class Chat(Scenario):
    name = "chat"
    summary = "N viewers in one room, M chatters at a total rate: latency, deliveries, loss"
    deliveries = "chats"
    dialects = ("live", "sio")
    default_viewers = 500
    default_duration = 10.0

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--chatters", type=int, default=20,
                            help="viewers that send chat (default 20)")
        parser.add_argument("--rate", type=float, default=20.0,
                            help="chat messages per second, all chatters together (default 20)")
        parser.add_argument("--drain", type=float, default=5.0,
                            help="seconds to wait after the last send for deliveries (default 5)")

    @property
    def rate(self) -> float:
        return float(self.params.get("rate", 20.0))

    @property
    def chatters(self) -> int:
        return int(self.params.get("chatters", 20))

    def talkers(self, viewers: int) -> int:
        return self.chatters

    def server_env(self) -> dict[str, str]:
        per = self.rate / max(1, self.chatters)
        return {
            "LIVE_CHAT_RATE_PER_S": str(max(100.0, 4 * per)),
            "LIVE_CHAT_BURST": str(max(1000, math.ceil(8 * per))),
            "LIVE_WS_MAX_FRAMES_PER_S": str(max(30, math.ceil(4 * per) + 10)),
        }

    def time_budget(self, duration: float, viewers: int, ramp: float) -> float:
        return super().time_budget(duration, viewers, ramp) + float(self.params.get("drain", 5.0))

    async def drive(self, run: Run) -> None:
        await connect_all(run)
        run.set_phase("chat")
        await run.mark("measure_start")
        await run.call("send", run.duration + 30.0, role="talker", rate=self.rate,
                       op="chat", duration=run.duration)
        await run.call("wait_replies", 15.0, wait_s=5.0)
        run.set_phase("drain")
        snap = await run.mark("sent")
        accepted = int((snap.tally.get("accepted") or {}).get("chat", 0))
        connected = int(snap.tally.get("connected", 0))
        want = accepted * connected
        await run.wait_until(lambda t: int(t.get("chats", 0)) >= want,
                             float(self.params.get("drain", 5.0)))
        await run.mark("measure_end")

    async def judge(self, run: Run) -> None:
        sent_m, end = run.marks.get("sent"), run.marks.get("measure_end")
        if sent_m is None or end is None or "measure_start" not in run.marks:
            return
        start = run.marks["measure_start"]
        accepted = int((sent_m.tally.get("accepted") or {}).get("chat", 0))
        sent = int((sent_m.tally.get("sent") or {}).get("chat", 0))
        connected = int(start.tally.get("connected", 0))
        delivered = int(end.tally.get("chats", 0)) - int(start.tally.get("chats", 0))
        expected = accepted * connected
        run.figures["chat"] = {
            "sent": sent,
            "accepted": accepted,
            "rejected": (sent_m.tally.get("rejected") or {}),
            "viewers_in_room": connected,
            "expected_deliveries": expected,
            "delivered": delivered,
            "delivery_ratio": round(delivered / expected, 5) if expected else None,
            "send_rate_per_s": round(sent / run.duration, 1),
        }
        run.check("all sent accepted", accepted == sent and sent > 0, f"{accepted}/{sent}")
        run.check("deliveries equal expected", delivered == expected,
                  f"{delivered} of {expected} (accepted x viewers)")
        run.check("no slow-consumer closes",
                  int((end.tally.get("closes") or {}).get(4008, 0)) == 0,
                  f"{(end.tally.get('closes') or {}).get(4008, 0)} closed with 4008")
