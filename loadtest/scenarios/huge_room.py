"""huge-room: N viewers, M chatters and the creator in one room over `chat.sample_above_viewers`.

Why: in a huge room every viewer gets a sample of the chat (at most `chat.sample_per_second`
ordinary messages a second, the creator's always). This run shows the three claims with
measured figures: chat deliveries per viewer per second stay at the budget whatever the
chatters send, the creator's messages reach every viewer (counted exactly at the end, when only
the creator talks: deliveries = messages x viewers), and what sampling saves in server CPU per
1,000 deliveries and per second (run once more with `--no-sample` for the same run without it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

import aiohttp
import orjson

from loadtest.run import Run
from loadtest.scenarios import register
from loadtest.scenarios.base import connect_all
from loadtest.scenarios.chat import Chat

#: the creator's closing messages, sent when nobody else talks: each must reach every viewer
CLOSING_MESSAGES = 3


class Creator:
    """The room's creator on a websocket of its own: chats every `every` seconds and keeps
    the seqs its messages were given."""

    def __init__(self, url: str, room: str, token: str) -> None:
        self.url = url.replace("http", "ws", 1) + f"/ws/rooms/{room}"
        self.token = token
        self.seqs: list[int] = []
        self.refused: list[str] = []  # error codes

    async def talk(self, count: int, every: float) -> None:
        async with aiohttp.ClientSession() as http, http.ws_connect(
                self.url, params={"token": self.token}, max_msg_size=0) as ws:
            replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
            joined = asyncio.Event()

            async def read() -> None:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        frame = orjson.loads(msg.data)
                        if frame.get("type") == "welcome":
                            joined.set()
                        elif frame.get("type") in ("reply", "error"):
                            replies.put_nowait(frame)

            reader = asyncio.create_task(read())
            try:
                await asyncio.wait_for(joined.wait(), 30.0)  # a chat before the welcome is refused
                for n in range(count):
                    await ws.send_str(orjson.dumps(
                        {"op": "chat", "id": n, "text": f"creator {n}"}).decode())
                    frame = await asyncio.wait_for(replies.get(), 10.0)
                    seq = (frame.get("data") or {}).get("seq")
                    if frame.get("type") == "reply" and isinstance(seq, int):
                        self.seqs.append(seq)
                    else:
                        self.refused.append(str((frame.get("error") or {}).get("code", frame)))
                    await asyncio.sleep(every)
            finally:
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader


@register
class HugeRoom(Chat):
    name = "huge-room"
    summary = ("N viewers, M chatters and the creator in a sampled room: chat per viewer per "
               "second, the creator's reach, CPU per 1k deliveries")
    default_viewers = 10_000
    default_duration = 20.0

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--per-second", type=float, default=10.0,
                            help="chat.sample_per_second on a spawned server (default 10)")
        parser.add_argument("--above", type=int, default=2000,
                            help="chat.sample_above_viewers on a spawned server (default 2000)")
        parser.add_argument("--no-sample", action="store_true",
                            help="the same run without sampling (chat.sample_above_viewers=0)")

    @property
    def per_second(self) -> float:
        return float(self.params.get("per_second", 10.0))

    @property
    def sampled(self) -> bool:
        return not self.params.get("no_sample", False)

    @property
    def owes_every_message(self) -> bool:
        return not self.sampled

    def server_env(self) -> dict[str, str]:
        above = int(self.params.get("above", 2000)) if self.sampled else 0
        return {**super().server_env(), "LIVE_CHAT_SAMPLE_ABOVE_VIEWERS": str(above),
                "LIVE_CHAT_SAMPLE_PER_SECOND": str(self.per_second)}

    def time_budget(self, duration: float, viewers: int, ramp: float) -> float:
        return super().time_budget(duration, viewers, ramp) + CLOSING_MESSAGES + 10.0

    async def drive(self, run: Run) -> None:
        await connect_all(run)
        creator = Creator(run.target.url, run.room, run.target.creator_token())
        run.set_phase("chat")
        await run.mark("measure_start")
        talking = asyncio.create_task(creator.talk(max(1, int(run.duration)), 1.0))
        await run.call("send", run.duration + 30.0, role="talker", rate=self.rate,
                       op="chat", duration=run.duration)
        await run.call("wait_replies", 15.0, wait_s=5.0)
        await talking
        run.set_phase("drain")
        snap = await run.mark("sent")
        drain = float(self.params.get("drain", 5.0))
        if self.sampled:
            await asyncio.sleep(min(2.0, drain))  # the last ticks go out
        else:  # every message to every viewer: wait for them, bounded
            accepted = int((snap.tally.get("accepted") or {}).get("chat", 0))
            want = (accepted + len(creator.seqs)) * int(snap.tally.get("connected", 0))
            base = int(run.marks["measure_start"].tally.get("chats", 0))
            await run.wait_until(lambda t: int(t.get("chats", 0)) - base >= want, drain)
        await run.mark("measure_end")
        # the creator alone: every viewer must get each of these, sampled room or not
        run.set_phase("creator")
        closing = Creator(run.target.url, run.room, run.target.creator_token())
        await closing.talk(CLOSING_MESSAGES, 0.2)
        want = CLOSING_MESSAGES * int(run.marks["measure_end"].tally.get("connected", 0))
        base = int(run.marks["measure_end"].tally.get("chats", 0))
        await run.wait_until(lambda t: int(t.get("chats", 0)) - base >= want, 10.0)
        await run.mark("creator_end")
        self.state["creator"] = {"during": len(creator.seqs), "refused": creator.refused,
                                 "closing": len(closing.seqs)}

    async def judge(self, run: Run) -> None:
        marks = run.marks
        start, sent_m, end = marks.get("measure_start"), marks.get("sent"), marks.get("measure_end")
        last = marks.get("creator_end")
        if start is None or sent_m is None or end is None or last is None:
            return
        creator = self.state.get("creator") or {}
        accepted = int((sent_m.tally.get("accepted") or {}).get("chat", 0))
        connected = int(start.tally.get("connected", 0))
        delivered = int(end.tally.get("chats", 0)) - int(start.tally.get("chats", 0))
        window = max(1e-6, end.t - start.t)
        per_viewer_s = delivered / max(1, connected) / window
        closing = int(last.tally.get("chats", 0)) - int(end.tally.get("chats", 0))
        bound = self.per_second * (window + 1) + int(creator.get("during", 0))
        run.figures["huge_room"] = {
            "sampled": self.sampled,
            "per_second": self.per_second,
            "viewers_in_room": connected,
            "chat_accepted": accepted,
            "chat_sent_per_s": round(accepted / run.duration, 1),
            "creator_messages": int(creator.get("during", 0)),
            "delivered": delivered,
            "window_s": round(window, 2),
            "chat_per_viewer_per_s": round(per_viewer_s, 2),
            "closing_creator_deliveries": closing,
            "closing_expected": CLOSING_MESSAGES * connected,
        }
        run.check("creator's messages accepted",
                  not creator.get("refused") and int(creator.get("closing", 0))
                  == CLOSING_MESSAGES, f"{creator}")
        run.check("the creator's closing messages reached every viewer",
                  closing == CLOSING_MESSAGES * connected,
                  f"{closing} of {CLOSING_MESSAGES} x {connected}")
        if self.sampled:
            run.check("chat per viewer within the budget",
                      delivered <= connected * bound,
                      f"{per_viewer_s:.2f}/s per viewer; at most {bound:.0f} in {window:.1f} s")
        else:
            run.check("every message to every viewer", delivered == accepted * connected
                      + int(creator.get("during", 0)) * connected,
                      f"{delivered} deliveries")
        run.check("no slow-consumer closes",
                  int((last.tally.get("closes") or {}).get(4008, 0)) == 0,
                  f"{(last.tally.get('closes') or {}).get(4008, 0)} closed with 4008")
