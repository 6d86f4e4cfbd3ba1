"""Follows, the fan club and intimacy in Valkey.

Followers and intimacy are the creator's user keys (``u:{creator}:...``). The fan club is
under ``{wallets}``: joining pays the fee to the creator in the same script that adds the
member, so it is one script on the wallets' slot.
"""

from __future__ import annotations

from live_server.errors import AlreadyMember, InsufficientFunds, Internal
from live_server.store.core import StoreCore, text


class FanStore:
    def __init__(self, core: StoreCore, *, recent_max: int) -> None:
        self.core = core
        self.keys = core.keys
        self.recent_max = recent_max

    async def follow(self, user_id: str, creator_id: str, on: bool, now: int) -> int:
        """Follow or unfollow; the creator's follower count. The first follow is timed (kept
        on unfollow): a show report counts the followers it won."""
        key = self.keys.followers(creator_id)
        async with self.core.client.pipeline(transaction=True) as pipe:
            if on:
                pipe.sadd(key, user_id)
                pipe.zadd(self.keys.follow_times(creator_id), {user_id: now}, nx=True)
            else:
                pipe.srem(key, user_id)
            pipe.scard(key)
            count = (await pipe.execute())[-1]
        return int(count)

    async def follows(self, user_id: str, creator_id: str) -> bool:
        return bool(await self.core.client.sismember(self.keys.followers(creator_id), user_id))

    async def add_intimacy(self, creator_id: str, user_id: str, points: int, cap: int,
                           day: int, source: str) -> tuple[int, int]:
        """(points added, new total): at most ``cap`` points a user earns from ``source``
        per ``day``."""
        reply = await self.core.script(
            "intimacy_add",
            [self.keys.intimacy(creator_id), self.keys.intimacy_day(creator_id, day)],
            [user_id, points, cap, 2 * 86_400, source])
        return int(reply[0]), int(reply[1])

    async def add_intimacy_many(self, items: list[tuple[str, str, int]], cap: int, day: int,
                                source: str) -> list[int]:
        """add_intimacy for many (creator, user, points) of one source, in one pipelined round;
        the points added to each."""
        async with self.core.client.pipeline(transaction=False) as pipe:
            for creator_id, user_id, points in items:
                self.core.scripts.queue(
                    pipe, "intimacy_add",
                    [self.keys.intimacy(creator_id), self.keys.intimacy_day(creator_id, day)],
                    [user_id, points, cap, 2 * 86_400, source])
            replies = await self.core.scripts.execute(pipe)
        return [int(reply[0]) for reply in replies]

    async def badge(self, creator_id: str, user_id: str) -> tuple[int, bool]:
        """(intimacy points, fan-club member) of a user toward a creator."""
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.zscore(self.keys.intimacy(creator_id), user_id)
            pipe.hexists(self.keys.fan_club(creator_id), user_id)
            points, member = await pipe.execute()
        return int(points or 0), bool(member)

    async def fans_card(self, creator_id: str, user_id: str | None, day: int, top: int,
                        ) -> tuple[int, int, bool, bool, int, int, list[tuple[str, int]]]:
        """(followers, fan-club members, user follows, user is a member, user's intimacy total,
        user's points on ``day``, the ``top`` fans by intimacy) in one round trip."""
        k = self.keys
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.scard(k.followers(creator_id))
            pipe.hlen(k.fan_club(creator_id))
            pipe.sismember(k.followers(creator_id), user_id or "")
            pipe.hexists(k.fan_club(creator_id), user_id or "")
            pipe.zscore(k.intimacy(creator_id), user_id or "")
            pipe.hget(k.intimacy_day(creator_id, day), user_id or "")
            pipe.zrevrange(k.intimacy(creator_id), 0, top - 1, withscores=True)
            followers, members, follows, member, total, today, best = await pipe.execute()
        return (int(followers), int(members), bool(follows), bool(member), int(total or 0),
                int(today or 0), [(u.decode(), int(score)) for u, score in best])

    async def join_club(self, user_id: str, creator_id: str, fee: int, now: int) -> int:
        """Pay the fee and join; the member's balance."""
        k = self.keys
        reply = await self.core.script(
            "fan_club_join",
            [k.balances, k.ledger, k.recent(user_id), k.recent(creator_id),
             k.fan_club(creator_id)],
            [now, user_id, creator_id, fee, self.recent_max])
        status = text(reply[0])
        if status == "ok":
            return int(reply[1])
        if status == "member":
            raise AlreadyMember("already a member of this fan club")
        if status == "insufficient_funds":
            raise InsufficientFunds("not enough money in the wallet", balance=int(reply[1]),
                                    needed=fee)
        raise Internal(f"unexpected reply {status}")
