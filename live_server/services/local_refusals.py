"""Answering the losers of a rush in this process: buys naming a closed flash sale, grabs of a
red packet with no share left.

Why turns: the thousands of buys or grabs that arrive in the same second all reach Valkey
through one connection pool, and a request queued in the pool makes its round trip when its
turn comes even if the sale sold out meanwhile. So buys naming a sale and grabs take turns here
instead (at most ``permits`` at Valkey at once, fewer than the pool's connections, so they never
queue there and leave connections to everything else). Each asks the process's ``GoneRecord``
(``realtime/gone.py``, which holds the rules) before queueing, again whenever the record learns
something (``on_change``: every waiting request is asked at once, so a sell-out answers the whole
queue in one pass instead of one turn at a time), and once more just before its Valkey call. One
that the record refuses is answered at once with the refusal the script would have given
(``buy_refusal`` / ``grab_refusal``, the store's own mapping) and counted
(``live_local_refusals_total{kind, stage}``).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from live_server.errors import LiveError
from live_server.realtime.gone import GoneRecord, SaleBuy
from live_server.store.shelf import buy_refusal

T = TypeVar("T")

Refuse = Callable[[], LiveError | None]
CountRefusal = Callable[[str, str], None]  # (error code, "at_once" | "after_wait")
_Waiter = tuple[asyncio.Future[None], Refuse]


class LocalRefusals:
    def __init__(self, gone: GoneRecord, *, permits: int,
                 count: CountRefusal | None = None) -> None:
        self.gone = gone
        self._free = max(1, permits)
        self._queue: collections.deque[_Waiter] = collections.deque()
        self._count = count or (lambda code, stage: None)
        gone.on_change = self._recheck

    @property
    def waiting(self) -> int:
        return len(self._queue)

    async def run(self, refuse: Refuse, call: Callable[[], Awaitable[T]], *,
                  prepare: Callable[[], Awaitable[None]] | None = None) -> T:
        """``call`` (the Valkey call) in its turn, unless ``refuse`` gives the answer: asked
        before queueing, whenever the record changes while it waits, and once its turn came
        (after ``prepare``, which may fill the record), just before ``call``."""
        err = refuse()
        if err is not None:
            self._count(err.code, "at_once")
            raise err
        await self._turn(refuse)
        try:
            if prepare is not None:
                await prepare()
            err = refuse()
            if err is not None:
                self._count(err.code, "after_wait")
                raise err
            return await call()
        finally:
            self._release()

    async def _turn(self, refuse: Refuse) -> None:
        if self._free > 0 and not self._queue:
            self._free -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (fut, refuse)
        self._queue.append(entry)
        try:
            await fut  # a turn handed over (result), or refused meanwhile (exception)
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._release()  # the turn came with the cancel: pass it on
            else:
                self._drop(entry)
            raise

    def _drop(self, entry: _Waiter) -> None:
        try:
            self._queue.remove(entry)
        except ValueError:
            pass

    def _release(self) -> None:
        """Hand the turn to the next waiter still waiting, or give it back."""
        while self._queue:
            fut, _refuse = self._queue.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self._free += 1

    def _recheck(self) -> None:
        """The record learnt something: every waiting request it now refuses is answered."""
        if not self._queue:
            return
        keep: collections.deque[_Waiter] = collections.deque()
        for fut, refuse in self._queue:
            if fut.done():
                continue
            err = refuse()
            if err is None:
                keep.append((fut, refuse))
                continue
            self._count(err.code, "after_wait")
            fut.set_exception(err)
        self._queue = keep

    async def buy(self, room_id: str, user_id: str | None, args: dict[str, Any],
                  call: Callable[[], Awaitable[T]]) -> T:
        """A buy (the ``buy`` command's fields): when it names a sale, refused here if the
        record knows the script's answer, else sent in its turn with its key noted as sent."""
        sale_id = args.get("sale_id")
        if not sale_id or user_id is None:
            return await call()
        variant = args.get("variant_id")
        buy = SaleBuy(str(sale_id), str(args.get("product_id")),
                      None if variant is None else str(variant), user_id,
                      str(args.get("idempotency_key")))

        def refuse() -> LiveError | None:
            known = self.gone.sale_refusal(room_id, buy)
            return None if known is None else buy_refusal(known.status, known.reply)

        async def send() -> T:
            self.gone.sending(room_id, buy.sale_id, buy.user_id, buy.key)
            try:
                return await call()
            finally:
                self.gone.answered(room_id, buy.sale_id, buy.user_id, buy.key)

        return await self.run(refuse, send)
