"""Wallet top-ups in Valkey: the top-up orders and the one script that credits a paid one.

A top-up is a hash under ``{wallets}`` (``topup:<id>``: user, amount, provider, state, times,
the payment reference once paid); ``topup:all`` lists every one for the audit, ``topups:<user>``
a user's latest. ``topup_pay.lua`` credits the wallet and records the payment reference in one
step, so a replayed notice credits nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from live_server.errors import Internal, InvalidField, InvalidState, NotFound, Replayed
from live_server.protocol import Json
from live_server.store.core import StoreCore, text

USER_LIST_MAX = 50


class TopupStore:
    def __init__(self, core: StoreCore, *, recent_max: int) -> None:
        self.core = core
        self.keys = core.keys
        self.base = f"{core.keys.prefix}:{{wallets}}"
        self.recent_max = recent_max

    def topup(self, topup_id: str) -> str:
        return f"{self.base}:topup:{topup_id}"

    @property
    def references(self) -> str:
        """hash: payment reference → top-up id (a reference credits once)."""
        return f"{self.base}:topup:refs"

    @property
    def every(self) -> str:
        """zset: every top-up id by creation time (the audit walks it)."""
        return f"{self.base}:topup:all"

    def of_user(self, user_id: str) -> str:
        return f"{self.base}:topups:{user_id}"

    async def create(self, topup: Json) -> None:
        async with self.core.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.topup(topup["id"]), mapping={
                "user": topup["user"], "amount": topup["amount"], "provider": topup["provider"],
                "state": "pending", "created_at": topup["created_at"],
                "expires_at": topup["expires_at"]})
            pipe.zadd(self.every, {topup["id"]: topup["created_at"]})
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
        before, ``invalid_state`` for a top-up already paid."""
        k = self.keys
        reply = await self.core.script(
            "topup_pay", [self.topup(topup_id), k.balances, k.ledger, k.recent(user_id),
                          self.references],
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
        """The audit's read: every top-up, oldest first."""
        start = 0
        while True:
            ids = await self.core.client.zrange(self.every, start, start + batch - 1)
            if not ids:
                return
            for raw in ids:
                topup = await self.get(raw.decode())
                if topup is not None:
                    yield topup
            start += batch
