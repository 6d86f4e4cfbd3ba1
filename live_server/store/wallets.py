"""Wallets and the ledger in Valkey.

A user's wallet (balance, latest entries) is on the user's bucket (``keys.wallet(user)``, a
slot ``{wallets}`` or ``{wallets:<k>}``, ``store/keys.py``); a movement within one bucket is
one script on its slot with its ledger entry written in the same script, and one between two
buckets is a transfer (``store/transfers.py``). Each bucket's ledger is append-only; the audit
reads them back in full.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from live_server.protocol import Json
from live_server.store.core import StoreCore


class WalletStore:
    def __init__(self, core: StoreCore, *, recent_max: int) -> None:
        self.core = core
        self.keys = core.keys
        self.recent_max = recent_max

    async def topup(self, user_id: str, amount: int, now: int, ref: str) -> int:
        """The development top-up, on the user's bucket; the balance."""
        w = self.keys.wallet(user_id)
        reply = await self.core.script("wallet_topup", [w.balances, w.ledger, w.recent(user_id)],
                                       [now, user_id, amount, self.recent_max, ref])
        return int(reply[1])

    async def wallet(self, user_id: str, limit: int) -> tuple[int, list[Json]]:
        """The balance and the latest entries, read on the user's bucket at one moment."""
        w = self.keys.wallet(user_id)
        bal, recent = await self.core.script(
            "wallet_read", [w.balances, w.recent(user_id)], [user_id, limit])
        return int(bal or 0), [orjson.loads(r) for r in recent]

    # Audit reads ------------------------------------------------------------------------

    async def ledger_entries(self, batch: int = 5000) -> AsyncIterator[dict[str, str]]:
        """Every ledger entry of every bucket (an async iterator of dicts), each bucket's
        oldest first, with ``bucket`` (its index)."""
        for w in self.keys.buckets:
            start = "-"
            while True:
                rows = await self.core.client.xrange(w.ledger, start, "+", count=batch)
                if not rows:
                    break
                for entry_id, fields in rows:
                    yield {key.decode(): value.decode() for key, value in fields.items()} | {
                        "id": entry_id.decode(), "bucket": str(w.index)}
                start = "(" + rows[-1][0].decode()

    async def balances(self) -> dict[str, int]:
        """Every wallet's balance, from every bucket (a user on a bucket that is not theirs
        is named ``<user>@<bucket>``, so the audit sees it)."""
        out: dict[str, int] = {}
        for w in self.keys.buckets:
            raw = await self.core.client.hgetall(w.balances)
            for key, value in raw.items():
                user = key.decode()
                if self.keys.wallet(user).index != w.index:
                    user = f"{user}@{w.index}"
                out[user] = out.get(user, 0) + int(value)
        return out
