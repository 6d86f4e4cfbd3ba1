"""Follows, the fan club and intimacy in Valkey.

Followers and intimacy are the creator's user keys (``u:{creator}:...``). The fan club is on
the creator's wallet bucket (``club_key``): joining pays the fee to the creator in the same
script that adds the member (``fan_club_join.lua``), one script when the member's wallet is on
that bucket too. A member on another bucket pays through a transfer (``store/transfers.py``):
``xfer_hold.lua`` takes the fee on the member's bucket (ledger ``user:<member> → xfer:<id>``,
reason ``fan_club_transfer``), the join script in its transfer mode credits the creator from
``xfer:<id>`` (reason ``fan_club``) or, for a member already, refuses for good (the fee then
goes back, ``xfer_return.lua``); a join whose process died between the steps is finished by
the reconciler (``services/transfers.py``, the ``club`` finisher is ``FanService``'s).
"""

from __future__ import annotations

import secrets

from live_server.errors import AlreadyMember, InsufficientFunds, Internal
from live_server.protocol import Json
from live_server.store.core import StoreCore, text
from live_server.store.keys import Keys
from live_server.store.transfers import Memo, Received, TransferStore, memo_of

# the member's ledger entry into a transfer to the creator's bucket (``user:<member> →
# xfer:<id>``); the transfer's entry out of it is ``fan_club``
TRANSFER_REASON = "fan_club_transfer"
# how long a member's join stays remembered on their bucket (the transfer's memo): a second
# join meanwhile finishes the first instead of paying again
JOIN_MEMO_TTL_MS = 86_400_000


def club_key(keys: Keys, creator_id: str) -> str:
    """hash: the creator's fan club, member → joined at (ms), on the creator's bucket."""
    return keys.wallet(creator_id).key(f"club:{creator_id}")


class FanStore:
    def __init__(self, core: StoreCore, *, recent_max: int) -> None:
        self.core = core
        self.keys = core.keys
        self.recent_max = recent_max
        self.transfers = TransferStore(core, recent_max=recent_max)  # members on other buckets

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
            pipe.hexists(club_key(self.keys, creator_id), user_id)
            points, member = await pipe.execute()
        return int(points or 0), bool(member)

    async def fans_card(self, creator_id: str, user_id: str | None, day: int, top: int,
                        ) -> tuple[int, int, bool, bool, int, int, list[tuple[str, int]]]:
        """(followers, fan-club members, user follows, user is a member, user's intimacy total,
        user's points on ``day``, the ``top`` fans by intimacy) in one round trip."""
        k = self.keys
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.scard(k.followers(creator_id))
            pipe.hlen(club_key(k, creator_id))
            pipe.sismember(k.followers(creator_id), user_id or "")
            pipe.hexists(club_key(k, creator_id), user_id or "")
            pipe.zscore(k.intimacy(creator_id), user_id or "")
            pipe.hget(k.intimacy_day(creator_id, day), user_id or "")
            pipe.zrevrange(k.intimacy(creator_id), 0, top - 1, withscores=True)
            followers, members, follows, member, total, today, best = await pipe.execute()
        return (int(followers), int(members), bool(follows), bool(member), int(total or 0),
                int(today or 0), [(u.decode(), int(score)) for u, score in best])

    async def is_member(self, creator_id: str, user_id: str) -> bool:
        return bool(await self.core.client.hexists(club_key(self.keys, creator_id), user_id))

    async def join_club(self, user_id: str, creator_id: str, fee: int, now: int) -> int:
        """Pay the fee and join; the member's balance. A member whose wallet is on another
        bucket than the creator's pays through a transfer."""
        payer, payee = self.keys.wallet(user_id), self.keys.wallet(creator_id)
        if fee > 0 and payer.index != payee.index:
            return await self._join_apart(user_id, creator_id, fee, now)
        reply = await self.core.script("fan_club_join",
                                       *self._join_call(user_id, creator_id, fee, now))
        status = text(reply[0])
        if status == "ok":
            return int(reply[1])
        if status == "member":
            raise AlreadyMember("already a member of this fan club")
        if status == "insufficient_funds":
            raise InsufficientFunds("not enough money in the wallet", balance=int(reply[1]),
                                    needed=fee)
        raise Internal(f"unexpected reply {status}")

    def _join_call(self, user_id: str, creator_id: str, fee: int, now: int,
                   transfer_id: str = "") -> tuple[list[str], list[object]]:
        """``fan_club_join.lua``'s keys and arguments, on the creator's bucket."""
        w = self.keys.wallet(creator_id)
        return ([w.balances, w.ledger, w.recent(user_id), w.recent(creator_id),
                 club_key(self.keys, creator_id), w.transfers_in],
                [now, user_id, creator_id, fee, self.recent_max, transfer_id])

    async def _join_apart(self, user_id: str, creator_id: str, fee: int, now: int) -> int:
        """The fee through a transfer: paid on the member's bucket, the join on the creator's,
        then the transfer ended (or the fee given back to a member already). A join of this
        member to this club already in flight (another call, a process that died) is finished
        and this one answered ``member``, having paid nothing."""
        if await self.is_member(creator_id, user_id):  # the usual second join: nothing moves
            raise AlreadyMember("already a member of this fan club")
        transfer_id, record, memo = self.join_transfer(user_id, creator_id, fee, now)
        held = await self.transfers.hold(user_id, transfer_id, record, now,
                                         reason=TRANSFER_REASON, ref=creator_id, memo=memo)
        if held.status == "insufficient_funds":
            raise InsufficientFunds("not enough money in the wallet", balance=held.balance,
                                    needed=fee)
        if held.status == "repeat":  # joined through a transfer ended meanwhile
            raise AlreadyMember("already a member of this fan club")
        if held.status == "held" and held.record is not None:
            await self.finish_join(held.transfer_id, held.record, now)
            raise AlreadyMember("already a member of this fan club")
        if held.status != "ok":
            raise Internal(f"unexpected reply {held.status}")
        if not await self.finish_join(transfer_id, record, now):
            raise AlreadyMember("already a member of this fan club")
        return held.balance

    def join_transfer(self, user_id: str, creator_id: str, fee: int,
                      now: int) -> tuple[str, Json, Memo]:
        """A join's transfer from the member's bucket: its id, its record (what finishes it)
        and its memo (the member's joins in flight, by club, on the member's bucket)."""
        memo = Memo(self.keys.wallet(user_id).key(f"clubjoin:{user_id}"), creator_id,
                    JOIN_MEMO_TTL_MS)
        record: Json = {
            "kind": "club", "amount": fee, "payer": user_id,
            "from": self.keys.wallet(user_id).index, "to": self.keys.wallet(creator_id).index,
            "ref": creator_id, "reason": TRANSFER_REASON, "creator": creator_id, "at": now,
            "memo": {"key": memo.key, "field": memo.field, "ttl_ms": memo.ttl_ms}}
        return "c" + secrets.token_hex(8), record, memo

    async def receive_join(self, transfer_id: str, record: Json, now: int) -> Received:
        """The receiving step of a join's transfer, on the creator's bucket: its first answer
        (``ok|<joined at>`` or ``refused|member``), however often it runs, and whether this
        call made the join."""
        reply = await self.core.script("fan_club_join", *self._join_call(
            record["payer"], record["creator"], int(record["amount"]), now, transfer_id))
        status = text(reply[0])
        if status == "ok":
            return Received(True, str(now).encode(), moved=True)
        if status == "seen":
            return Received.parse(bytes(reply[1]))
        if status == "member":
            return Received(False, b"member", moved=True)
        raise Internal(f"unexpected reply {status}")

    async def finish_join(self, transfer_id: str, record: Json, now: int) -> bool:
        """Run the join's receiving step and end the transfer: True when joined (the transfer
        dropped), False when refused (the fee given back)."""
        received = await self.receive_join(transfer_id, record, now)
        if received.ok:
            await self.transfers.drop(int(record["from"]), transfer_id, memo=memo_of(record),
                                      answer=received.answer)
            return True
        await self.transfers.give_back(record["payer"], transfer_id, now, ref=record["ref"],
                                       memo=memo_of(record))
        return False
