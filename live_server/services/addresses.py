"""The caller's shipping address: read and replace it. A user token only (guests have none);
only its owner reads it here. Ordering code reads a buyer's address with :meth:`of_user` to
copy it onto their order, which the room's creator and ops then see for fulfilment."""

from __future__ import annotations

from live_server.auth import Identity, require_user
from live_server.domain.address import parse_address
from live_server.protocol import Json, now_ms
from live_server.store.addresses import AddressStore


class AddressService:
    def __init__(self, store: AddressStore) -> None:
        self.store = store

    async def get(self, who: Identity) -> Json:
        return {"address": await self.store.get(require_user(who))}

    async def put(self, who: Identity, body: Json) -> Json:
        uid = require_user(who)
        address = {**parse_address(body), "updated_at": now_ms()}
        await self.store.put(uid, address)
        return {"address": address}

    async def of_user(self, user_id: str) -> Json | None:
        """A buyer's saved address, or None: for the order code, never for another user."""
        return await self.store.get(user_id)
