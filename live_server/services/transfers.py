"""Finishing transfers between wallet buckets: the one way every kind of transfer ends, used
by the caller that started it and by the reconciler that finishes what a dead caller left.

A transfer's record (``store/transfers.py``) names its ``kind``; the service that knows that
kind registers how to run its receiving step (``register``): ``credit`` (a plain credit, built
in), ``gift`` and ``club`` (the gifts' and the fan club's payment scripts in their transfer
mode). The receiving step answers from ``xfer:in`` when it ran before, so finishing twice is
finishing once; the paying side then forgets the transfer, or gives the money back when the
receiving side refused it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from live_server.protocol import Json
from live_server.services.periodic import BucketTurns, ClockStats, Periodic
from live_server.store.transfers import Received, TransferStore, memo_of

log = logging.getLogger(__name__)

RECONCILE_INTERVAL_MS = 1000  # how often a process looks for transfers left pending


Finisher = Callable[[str, Json, int], Awaitable[Received]]


class Transfers:
    def __init__(self, store: TransferStore) -> None:
        self.store = store
        self._finishers: dict[str, Finisher] = {"credit": self._credit}

    def register(self, kind: str, finisher: Finisher) -> None:
        self._finishers[kind] = finisher

    async def finish(self, transfer_id: str, record: Json, now: int) -> Received:
        """Run the receiving step (again: it answers once) and end the transfer on the paying
        side."""
        received = await self._finishers[record["kind"]](transfer_id, record, now)
        if received.ok:
            await self.store.drop(int(record["from"]), transfer_id, memo=memo_of(record),
                                  answer=received.answer)
        else:
            await self.store.give_back(record["payer"], transfer_id, now, ref=record["ref"],
                                       memo=memo_of(record))
        return received

    async def _credit(self, transfer_id: str, record: Json, now: int) -> Received:
        await self.store.credit(record["payee"], transfer_id, int(record["amount"]), now,
                                reason=record["reason"], ref=record["ref"])
        return Received(True)


class TransferClock(Periodic):
    """Per process, every second: the transfers pending past their grace (their caller died
    between the steps, or is very slow) are finished. Each bucket's pending transfers are a
    leased schedule, so one process looks at each. A pass looks at one bucket, in turn from a
    place of its own (``BucketTurns``), so a process makes one call a second however many
    buckets there are, and a fleet of processes still covers every bucket every second or so;
    ``finish_pending`` looks at all of them at once."""

    name = "transfer-clock"

    def __init__(self, transfers: Transfers, *, stats: ClockStats | None = None,
                 interval_ms: int = RECONCILE_INTERVAL_MS) -> None:
        super().__init__(interval_ms, stats=stats)
        self.transfers = transfers
        store = transfers.store
        self.due = [self.schedule(store.core, w.transfers_due) for w in store.keys.buckets]
        self.turns = BucketTurns(len(self.due))

    async def run_once(self, now: int) -> int:
        return await self.finish_pending(now, [self.turns.next()])

    async def finish_pending(self, now: int, indexes: list[int] | None = None) -> int:
        """Finish what is due on these buckets (all by default); how many were finished."""
        finished = 0
        for index in range(len(self.due)) if indexes is None else indexes:

            async def step(transfer_id: str, index: int = index) -> None:
                nonlocal finished
                record = (await self.transfers.store.pending(index, [transfer_id]))[0]
                if record is None:  # ended meanwhile: only its schedule entry was left
                    await self.transfers.store.core.client.zrem(
                        self.transfers.store.bucket(index).transfers_due, transfer_id)
                    return
                await self.transfers.finish(transfer_id, record, now)
                finished += 1

            await self.work(self.due[index], now, step)
        if finished:
            log.warning("transfers: %d finished by the reconciler", finished)
        return finished

