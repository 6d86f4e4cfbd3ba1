"""Shipping addresses in Valkey: one JSON string per user (``u:{user}:address``).

Only the user's own requests read it through here; an order carries a copy taken when it is
paid, which the room's creator and ops see. It never goes into a room's keys or events.
"""

from __future__ import annotations

import orjson

from live_server.protocol import Json, dumps
from live_server.store.core import StoreCore


class AddressStore:
    def __init__(self, core: StoreCore) -> None:
        self.core = core
        self.keys = core.keys

    async def get(self, user_id: str) -> Json | None:
        raw = await self.core.client.get(self.keys.address(user_id))
        if raw is None:
            return None
        value: Json = orjson.loads(raw)
        return value

    async def put(self, user_id: str, address: Json) -> None:
        await self.core.client.set(self.keys.address(user_id), dumps(address))
