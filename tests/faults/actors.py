"""The clients of a show under faults, each bounded in count and in time, and what each was told:
only an answer a client received counts as acknowledged."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from tests.faults.followers import Follower
from tests.faults.show import CREATOR, RETRIED, Show

PACE_S = 0.05  # between one client's actions, unless told otherwise


@dataclass
class Acks:
    """What the clients were told was done."""

    orders: dict[tuple[str, str], str] = field(default_factory=dict)  # (buyer, key) → order id
    packets: dict[str, str] = field(default_factory=dict)             # launch key → packet id
    launched: dict[str, int] = field(default_factory=dict)            # packet id → total
    grabs: dict[tuple[str, str], int] = field(default_factory=dict)   # (packet, user) → amount
    chats: dict[int, str] = field(default_factory=dict)               # seq → text
    unanswered: int = 0     # gave up at the deadline: not acknowledged, must not be duplicated
    retried: int = 0        # requests that needed more than one attempt
    refused: dict[str, int] = field(default_factory=dict)             # final error codes

    def refusal(self, code: str | None) -> None:
        self.refused[str(code)] = self.refused.get(str(code), 0) + 1


async def buyer(show: Show, acks: Acks, user: str, until: float, retry_until: float,
                most: int, pace_s: float = PACE_S) -> None:
    """Buys one unit after another, each with its own idempotency key, retrying a purchase
    with the same key after a failure."""
    loop = asyncio.get_running_loop()
    for n in range(most):
        if loop.time() >= until:
            return
        key = f"{user}-{n}"
        answer = await show.until_answered(
            "POST", f"/api/rooms/{show.room}/buy", user,
            body={"product_id": show.product, "quantity": 1, "idempotency_key": key},
            deadline=retry_until)
        acks.retried += answer.attempts > 1
        if answer.ok:
            acks.orders[(user, key)] = str(answer.body["order"]["id"])
        elif answer.code in RETRIED:
            acks.unanswered += 1
        else:
            acks.refusal(answer.code)
        await asyncio.sleep(pace_s)


async def launcher(show: Show, acks: Acks, until: float, retry_until: float, most: int,
                   every_s: float) -> None:
    """The creator launches a red packet now and then, each with its own idempotency key."""
    loop = asyncio.get_running_loop()
    for n in range(most):
        if loop.time() >= until:
            return
        key = f"launch-{n}"
        total = 1000 + n
        answer = await show.until_answered(
            "POST", f"/api/rooms/{show.room}/red-packets", CREATOR, "creator",
            body={"total": total, "shares": 50, "split": "random", "idempotency_key": key},
            deadline=retry_until)
        acks.retried += answer.attempts > 1
        if answer.ok:
            packet = str(answer.body["packet"]["id"])
            acks.packets[key] = packet
            acks.launched[packet] = total
        elif answer.code in RETRIED:
            acks.unanswered += 1
        else:
            acks.refusal(answer.code)
        await asyncio.sleep(every_s)


async def grabber(show: Show, acks: Acks, user: str, until: float, retry_until: float) -> None:
    """Grabs every packet the creator was told it launched, once each, retrying after a
    failure. A retry answered ``already_grabbed`` means the lost attempt went through: not
    acknowledged (the client never learnt the amount), but it must be in the books once."""
    loop = asyncio.get_running_loop()
    tried: set[str] = set()
    while loop.time() < until:
        todo = [p for p in acks.launched if p not in tried]
        if not todo:
            await asyncio.sleep(PACE_S)
            continue
        for packet in todo:
            tried.add(packet)
            answer = await show.until_answered("POST", f"/api/red-packets/{packet}/grab", user,
                                               body={}, deadline=retry_until)
            acks.retried += answer.attempts > 1
            if answer.ok:
                acks.grabs[(packet, user)] = int(answer.body["amount"])
            elif answer.code in RETRIED:
                acks.unanswered += 1
            else:
                acks.refusal(answer.code)
            await asyncio.sleep(PACE_S)


async def chatter(follower: Follower, acks: Acks, until: float, every_s: float = 0.1) -> None:
    """Chats until ``until``; a message counts when its reply (with its seq) came back."""
    loop = asyncio.get_running_loop()
    for n in range(100_000):
        if loop.time() >= until:
            return
        text = f"{follower.user} says {n}"
        seq = await follower.say(text)
        if seq is not None:
            acks.chats[seq] = text
        await asyncio.sleep(every_s)
