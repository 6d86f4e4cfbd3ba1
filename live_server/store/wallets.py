"""Wallets and the ledger in Valkey.

Every key here carries the hash tag ``{wallets}``, like the red packets' and the fan club's:
a movement between any two accounts (a creator, a packet, a grabber) is one script on one
slot, and its ledger entry is written in the same script. The ledger is append-only; the
audit reads it back in full.
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
        k = self.keys
        reply = await self.core.script("wallet_topup", [k.balances, k.ledger, k.recent(user_id)],
                                       [now, user_id, amount, self.recent_max, ref])
        return int(reply[1])

    async def wallet(self, user_id: str, limit: int) -> tuple[int, list[Json]]:
        bal, recent = await self.core.script(
            "wallet_read", [self.keys.balances, self.keys.recent(user_id)], [user_id, limit])
        return int(bal or 0), [orjson.loads(r) for r in recent]

    # Audit reads ------------------------------------------------------------------------

    async def ledger_entries(self, batch: int = 5000) -> AsyncIterator[dict[str, str]]:
        """Every ledger entry, oldest first (an async iterator of dicts)."""
        start = "-"
        while True:
            rows = await self.core.client.xrange(self.keys.ledger, start, "+", count=batch)
            if not rows:
                return
            for entry_id, fields in rows:
                yield {key.decode(): value.decode() for key, value in fields.items()} | {
                    "id": entry_id.decode()}
            start = "(" + rows[-1][0].decode()

    async def balances(self) -> dict[str, int]:
        raw = await self.core.client.hgetall(self.keys.balances)
        return {key.decode(): int(value) for key, value in raw.items()}
