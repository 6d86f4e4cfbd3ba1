"""Calls of a burst that share their round trips to Valkey.

Why: in a burst (a thousand viewers tapping a gift in the same second) every request that
makes its own round trip holds a pooled connection until the event loop comes back to read the
reply, and with thousands of tasks ready that is one busy loop turn per round trip. The pool
then runs dry and requests wait in it until they are refused ``not_ready``, while Valkey itself
is mostly idle. So:

* ``Pipelined`` sends the calls that arrive while one batch is out as the next batch, with one
  ``send_many`` (one pipeline: one round trip, one connection); each call still gets its own
  answer or its own error.
* ``Shared`` lets concurrent reads of the same thing (a room's record) share one read in
  flight; a read that starts after the shared one was answered reads again, so nothing older
  than the request's own arrival is answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
K = TypeVar("K", bound=Hashable)

BATCH_MAX = 500  # calls in one pipeline


class Pipelined(Generic[T, R]):
    def __init__(self, send_many: Callable[[list[T]], Awaitable[Sequence[R | Exception]]],
                 *, batch_max: int = BATCH_MAX) -> None:
        self.send_many = send_many
        self.batch_max = batch_max
        self.waiting: list[tuple[T, asyncio.Future[R]]] = []
        self.sending: asyncio.Task[None] | None = None

    async def call(self, item: T) -> R:
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self.waiting.append((item, done))
        if self.sending is None:
            self.sending = asyncio.ensure_future(self._send())
        return await done

    async def _send(self) -> None:
        try:
            while self.waiting:
                batch = self.waiting[:self.batch_max]
                del self.waiting[:self.batch_max]
                try:
                    answers = await self.send_many([item for item, _ in batch])
                except BaseException as exc:  # each waiting call hears why, then the next batch
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, done), answer in zip(batch, answers, strict=True):
                    if done.done():  # its caller went away (a closed socket)
                        continue
                    if isinstance(answer, Exception):
                        done.set_exception(answer)
                    else:
                        done.set_result(answer)
        finally:
            self.sending = None


class Shared(Generic[K, R]):
    def __init__(self, read: Callable[[K], Awaitable[R]]) -> None:
        self.read = read
        self.reading: dict[K, asyncio.Future[R]] = {}

    async def get(self, key: K) -> R:
        pending = self.reading.get(key)
        if pending is None or pending.done():
            pending = asyncio.ensure_future(self.read(key))
            self.reading[key] = pending
            pending.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(pending)  # a caller that goes away leaves the read to others

    def _forget(self, key: K, done: asyncio.Future[R]) -> None:
        if self.reading.get(key) is done:
            del self.reading[key]
        if not done.cancelled():
            done.exception()  # retrieved: a failed read nobody awaits any more is not logged
