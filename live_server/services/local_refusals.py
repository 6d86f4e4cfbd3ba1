"""Answering the losers of a rush in this process: buys naming a closed flash sale, grabs of a
red packet with no share left.

Why turns: the thousands of buys or grabs that arrive in the same second all reach Valkey
through one connection pool, and a request queued in the pool makes its round trip when its
turn comes even if the sale sold out meanwhile. So buys naming a sale and grabs take turns here
instead (at most ``permits`` at Valkey at once, fewer than the pool's connections, so they never
queue there and leave connections to everything else): each asks the process's ``GoneRecord``
(``realtime/gone.py``, which holds the rules) before queueing and again when its turn comes, and
one that the record refuses is answered at once, with the refusal the script would have given
(``buy_refusal`` / ``grab_refusal``, the store's own mapping), and counted
(``live_local_refusals_total{kind, stage}``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from live_server.errors import LiveError
from live_server.realtime.gone import GoneRecord
from live_server.store.shelf import buy_refusal

T = TypeVar("T")

Refuse = Callable[[], LiveError | None]
CountRefusal = Callable[[str, str], None]  # (error code, "at_once" | "after_wait")


class LocalRefusals:
    def __init__(self, gone: GoneRecord, *, permits: int,
                 count: CountRefusal | None = None) -> None:
        self.gone = gone
        self._turns = asyncio.Semaphore(max(1, permits))
        self._count = count or (lambda code, stage: None)

    async def run(self, refuse: Refuse, call: Callable[[], Awaitable[T]], *,
                  prepare: Callable[[], Awaitable[None]] | None = None) -> T:
        """``call`` (the Valkey call) in its turn, unless ``refuse`` gives the answer: asked
        before queueing and again once the turn came (after ``prepare``, which may fill the
        record)."""
        self._refuse(refuse, "at_once")
        async with self._turns:
            if prepare is not None:
                await prepare()
            self._refuse(refuse, "after_wait")
            return await call()

    def _refuse(self, refuse: Refuse, stage: str) -> None:
        err = refuse()
        if err is not None:
            self._count(err.code, stage)
            raise err

    async def buy(self, room_id: str, sale_id: str | None, user_id: str | None, key: str,
                  call: Callable[[], Awaitable[T]]) -> T:
        """A buy: when it names a sale, refused here if the sale is known closed (and this
        process never sent this buyer's key for it), else sent in its turn with its key noted
        as sent."""
        if not sale_id or user_id is None:
            return await call()

        def refuse() -> LiveError | None:
            known = self.gone.sale_refusal(room_id, sale_id, user_id, key)
            return None if known is None else buy_refusal(known.status, known.reply)

        async def send() -> T:
            self.gone.sending(room_id, sale_id, user_id, key)
            try:
                return await call()
            finally:
                self.gone.answered(room_id, sale_id, user_id, key)

        return await self.run(refuse, send)
