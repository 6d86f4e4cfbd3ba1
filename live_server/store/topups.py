"""Wallet top-ups in Valkey: the top-up orders and the one script that credits a paid one.

A top-up lives on its user's wallet bucket (``keys.wallet(user)``, ``store/keys.py``):
``topup:<id>`` (hash: user, amount, provider, state, times, the payment reference once paid),
``topups:<user>`` (the user's latest), ``topup:refs`` (payment reference → top-up id) and
``topup:all`` (the bucket's top-ups, walked by the audit over every bucket). ``topup_pay.lua``
credits the wallet and records the payment reference in one step on that one slot, so a
replayed notice credits nothing.

The payment provider's notice names only the top-up's id, so the id tells its bucket without a
lookup: an id is minted (``new_id``) so that it hashes to its user's bucket
(``bucket_index(id) == bucket_index(user)``, the same CRC-32 as a user's), and the top-up is
found at ``keys.wallet(id)``. With one bucket every id qualifies at once.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

from live_server.domain.gifts import TOPUP_PREFIX
from live_server.errors import Internal, InvalidField, InvalidState, NotFound, Replayed
from live_server.protocol import Json
from live_server.store.core import StoreCore, text
from live_server.store.keys import WalletKeys, bucket_index

USER_LIST_MAX = 50


class TopupStore:
    def __init__(self, core: StoreCore, *, recent_max: int) -> None:
        self.core = core
        self.keys = core.keys
        self.recent_max = recent_max

    def new_id(self, user_id: str) -> str:
        """A fresh top-up id on ``user_id``'s bucket (about as many tries as buckets)."""
        n, home = len(self.keys.buckets), self.keys.wallet(user_id).index
        while True:
            topup_id = TOPUP_PREFIX + secrets.token_hex(10)
            if bucket_index(topup_id, n) == home:
                return topup_id

    def bucket(self, topup_id: str) -> WalletKeys:
        """The bucket a top-up is on, from its id alone (its user's)."""
        return self.keys.wallet(topup_id)

    def topup(self, topup_id: str) -> str:
        return self.bucket(topup_id).key(f"topup:{topup_id}")

    @staticmethod
    def references(w: WalletKeys) -> str:
        """hash: payment reference → top-up id (a reference credits once)."""
        return w.key("topup:refs")

    @staticmethod
    def every(w: WalletKeys) -> str:
        """zset: every top-up id of the bucket by creation time (the audit walks them)."""
        return w.key("topup:all")

    def of_user(self, user_id: str) -> str:
        return self.keys.wallet(user_id).key(f"topups:{user_id}")

    async def create(self, topup: Json) -> None:
        w = self.bucket(topup["id"])
        if w.index != self.keys.wallet(topup["user"]).index:
            raise Internal("a top-up id not on its user's bucket")
        async with self.core.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.topup(topup["id"]), mapping={
                "user": topup["user"], "amount": topup["amount"], "provider": topup["provider"],
                "state": "pending", "created_at": topup["created_at"],
                "expires_at": topup["expires_at"]})
            pipe.zadd(self.every(w), {topup["id"]: topup["created_at"]})
            pipe.zadd(self.of_user(topup["user"]), {topup["id"]: topup["created_at"]})
            pipe.zremrangebyrank(self.of_user(topup["user"]), 0, -USER_LIST_MAX - 1)
            await pipe.execute()

    async def get(self, topup_id: str) -> Json | None:
        raw = await self.core.client.hgetall(self.topup(topup_id))
        if not raw:
            return None
        h = {a.decode(): b.decode() for a, b in raw.items()}
        out: Json = {"id": topup_id, "user": h["user"], "amount": int(h["amount"]),
                     "provider": h["provider"], "state": h["state"],
                     "created_at": int(h["created_at"]), "expires_at": int(h["expires_at"])}
        if "paid_at" in h:
            out["paid_at"], out["reference"] = int(h["paid_at"]), h["reference"]
        return out

    async def pay(self, topup_id: str, user_id: str, reference: str, amount: int, now: int,
                  provider: str) -> int:
        """Credit the top-up once; the user's balance. ``replayed`` for a reference seen
        before, ``invalid_state`` for a top-up already paid. One script on the top-up's
        bucket, which is its user's."""
        w = self.bucket(topup_id)
        if w.index != self.keys.wallet(user_id).index:
            raise Internal("a top-up not on its user's bucket")
        reply = await self.core.script(
            "topup_pay", [self.topup(topup_id), w.balances, w.ledger, w.recent(user_id),
                          self.references(w)],
            [now, topup_id, reference, amount, self.recent_max, provider])
        status = text(reply[0])
        if status == "ok":
            return int(reply[1])
        if status == "not_found":
            raise NotFound("no such top-up")
        if status == "replayed":
            raise Replayed("this payment was already applied")
        if status == "paid":
            raise InvalidState("the top-up is already paid", state="paid")
        if status == "amount_mismatch":
            raise InvalidField("'amount' does not match the top-up")
        raise Internal(f"unexpected reply {status}")

    async def mine(self, user_id: str, limit: int) -> list[Json]:
        ids = await self.core.client.zrevrange(self.of_user(user_id), 0, limit - 1)
        out = []
        for raw in ids:
            topup = await self.get(raw.decode())
            if topup is not None:
                out.append(topup)
        return out

    async def every_topup(self, batch: int = 500) -> AsyncIterator[Json]:
        """The audit's read: every top-up of every bucket, each bucket's oldest first."""
        for w in self.keys.buckets:
            start = 0
            while True:
                ids = await self.core.client.zrange(self.every(w), start, start + batch - 1)
                if not ids:
                    break
                for raw in ids:
                    topup = await self.get(raw.decode())
                    if topup is not None:
                        yield topup
                start += batch
