"""A schedule worked by every process at once: a zset of member → due time in ms, claimed with a
lease, with failures counted per member and repeat offenders parked.

Each process claims what is due (``due_claim.lua`` pushes the members it returns to the end of
their lease), so N processes do each member once; a member whose step neither reschedules nor
removes it (the step failed, or its process died) is claimed again when the lease runs out.
Failures are counted in ``<schedule>:fails`` (a hash, shared by the processes); the one that
reaches the limit moves the member to ``<schedule>:parked`` (a zset, member → when), where it
waits for an operator. Every command touches one key, so the keys need no common hash tag."""

from __future__ import annotations

import redis.exceptions

from live_server.store.core import StoreCore

# A failure of Valkey itself (down, unreachable, too slow) rather than of the item: it says
# nothing about the item, so it is not counted against it.
OUTAGE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError, TimeoutError)


class Schedule:
    def __init__(self, core: StoreCore, key: str, *, lease_ms: int, park_after: int) -> None:
        self.core = core
        self.key = key
        self.fails_key = f"{key}:fails"
        self.parked_key = f"{key}:parked"
        self.lease_ms = lease_ms
        self.park_after = park_after

    async def claim(self, now: int, limit: int) -> list[str]:
        """The members due at ``now`` (at most ``limit``), now leased to this process."""
        found = await self.core.script("due_claim", [self.key], [now, self.lease_ms, limit])
        return [m.decode() for m in found]

    async def failed(self, member: str, now: int) -> bool:
        """Count one failure of ``member``; park it when it reaches the limit (True)."""
        fails = int(await self.core.client.hincrby(self.fails_key, member, 1))
        if fails < self.park_after:
            return False
        await self.park(member, now)
        return True

    async def park(self, member: str, now: int) -> None:
        """Move ``member`` aside: out of the schedule, into ``<schedule>:parked``."""
        # parked first: should the removal fail, the member is parked and due, not lost
        await self.core.client.zadd(self.parked_key, {member: now})
        await self.core.client.zrem(self.key, member)
        await self.core.client.hdel(self.fails_key, member)

    async def succeeded(self, members: list[str]) -> None:
        """Forget the failures of members that have now gone through (one command a pass)."""
        if members:
            await self.core.client.hdel(self.fails_key, *members)

    async def parked(self) -> int:
        return int(await self.core.client.zcard(self.parked_key))
