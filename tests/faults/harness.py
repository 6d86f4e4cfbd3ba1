"""One show under one fault, the same for every scenario: followers join, the clients act while
the fault strikes, then no viewer may be frozen and the books must match what was
acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from live_server.store.keys import Keys
from tests.faults import books
from tests.faults.actors import Acks, buyer, chatter, grabber, launcher
from tests.faults.followers import Follower, everyone_hears
from tests.faults.scale import Scale
from tests.faults.show import Show

RETRY_WINDOW_S = 20.0  # after the show, how long a client keeps asking about its last action


@dataclass
class Run:
    show: Show
    scale: Scale
    followers: list[Follower] = field(default_factory=list)
    acks: Acks = field(default_factory=Acks)

    async def join(self, count: int) -> list[Follower]:
        """``count`` more followers, each joined."""
        fresh = [Follower(self.show.urls, self.show.room, f"f{len(self.followers) + i}")
                 for i in range(count)]
        for f in fresh:
            f.start()
        for f in fresh:
            await f.joined()
        self.followers += fresh
        return fresh

    async def act(self, fault: Callable[[float], Awaitable[Any]]) -> None:
        """The show: every client acts for ``scale.show_s`` while ``fault(start)`` runs."""
        scale, show, acks = self.scale, self.show, self.acks
        start = asyncio.get_running_loop().time()
        until, retry_until = start + scale.show_s, start + scale.show_s + RETRY_WINDOW_S
        await asyncio.gather(
            fault(start),
            launcher(show, acks, until, retry_until, scale.launches,
                     every_s=scale.show_s / scale.launches),
            *(buyer(show, acks, f"b{i}", until, retry_until, scale.max_orders, scale.pace_s)
              for i in range(scale.buyers)),
            *(grabber(show, acks, f"g{i}", until, retry_until) for i in range(scale.grabbers)),
            *(chatter(f, acks, until) for f in self.followers[:scale.chatters]))

    async def check(self, title: str, store: Any, key_prefix: str,
                    env: dict[str, str]) -> None:
        """No frozen viewer, then the books: print the figures, fail on any loss or
        duplicate, on units that do not add up, or on an audit mismatch."""
        last = await everyone_hears(self.followers, "after the fault")
        for f in self.followers:
            await f.stop()
        show, acks, keys = self.show, self.acks, Keys(key_prefix)
        ordered, problems = await books.orders(show, acks)
        figures = [ordered, *await books.packets_and_grabs(show, acks, store, keys),
                   await books.ledger(acks, store, keys), await books.chats(show, acks),
                   await books.guaranteed(self.followers, store, keys, show.room, last)]
        audit = await books.audit(env)
        rejoins = sum(f.rejoins for f in self.followers)
        snapshots = sum(f.snapshots for f in self.followers)
        books.assert_whole(
            f"{title}: {acks.retried} requests retried, {acks.unanswered} unanswered at the "
            f"deadline, viewers rejoined {rejoins}x ({snapshots} by snapshot); {audit}",
            figures)
        assert not problems, problems
        assert snapshots == 0, "a viewer that came back with since and epoch got a snapshot"
        assert acks.orders and acks.grabs and acks.chats, "the show did not happen"


async def run_on(urls: list[str], http: Any, scale: Scale) -> Run:
    """A show set up on the servers at ``urls`` and its viewers joined: what a scenario starts
    from before its fault."""
    show = Show(http, urls)
    await show.setup(sale_stock=scale.buyers * scale.max_orders)
    run = Run(show, scale)
    await run.join(scale.chatters + scale.watchers)
    return run


async def run_on_own_valkey(server_factory: Any, valkey_url: str, http: Any,
                            scale: Scale) -> tuple[Run, list[Any]]:
    """``scale.servers`` server processes on the test's own Valkey, a show set up on them and
    its viewers joined (the run, the servers)."""
    from tests.faults.show import FAST_ENV

    servers = [await server_factory(redis_url=valkey_url, env=FAST_ENV)
               for _ in range(scale.servers)]
    return await run_on([srv.url for srv in servers], http, scale), servers

