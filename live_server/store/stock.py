"""Stock shared by every room that sells a product, moved by transfers.

The catalogue's units per variant live with the catalogue, under the creator's hash tag
(``u:{creator}:stock``). A room never sells them directly: it holds an allotment
(``{room}:alloc``) drawn from the catalogue, and a flash sale holds its own units
(``{room}:left``); units come back the same way. Each transfer crosses two slots, so it is
three steps, each one script or command on one slot:

1. ``stock_take.lua`` on the source: take the units and record the transfer as pending
   (id, units actually taken, destination) in the source's ``xout`` hash;
2. ``stock_credit.lua`` on the destination: credit the units once per transfer id (the ids are
   remembered in the destination's ``xin`` zset for ``CREDITED_KEEP_MS``);
3. ``HDEL`` of the pending record on the source: the acknowledgement.

Before step 1 the source is put in the ``xfer:due`` schedule; the reconciler (the shelf
scheduler's every pass) finishes transfers left pending longer than ``GRACE_MS`` (a process
died between the steps) by running steps 2 and 3 again: the credit happens exactly once
whoever runs it. Scripts on the room's slot (an order's cancel or expiry, a sale closing) record
their give-backs as pending in the room's ``xout`` in the same step, so they are finished the
same way.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from live_server.domain.variants import stock_field
from live_server.protocol import Json, dumps
from live_server.store.core import StoreCore, text

GRACE_MS = 5_000  # a pending transfer younger than this may still be finished by its process
CREDITED_KEEP_MS = 86_400_000  # a credited transfer id is remembered a day
ALLOTMENT_CHECK_MS = 30_000  # how often a room holding an allotment is checked for its end


def new_transfer_id() -> str:
    return "t_" + secrets.token_hex(8)


def catalogue_holder(creator_id: str) -> str:
    return f"u|{creator_id}"


def room_holder(room_id: str) -> str:
    return f"r|{room_id}"


class Short(Exception):
    """The catalogue has fewer units than asked: ``left`` is what it has."""

    def __init__(self, left: int) -> None:
        super().__init__(f"only {left} left")
        self.left = left


class StockStore:
    def __init__(self, core: StoreCore) -> None:
        self.core = core
        self.keys = core.keys

    def _stock_key(self, holder: str) -> str:
        kind, name = holder.split("|", 1)
        return self.keys.stock(name) if kind == "u" else self.keys.allotment(name)

    # Reads ------------------------------------------------------------------------------

    async def available(self, creator_id: str, fields: list[str]) -> dict[str, int]:
        """Units available in the catalogue per ``<product>:<variant>`` field."""
        if not fields:
            return {}
        raw = await self.core.client.hmget(self.keys.stock(creator_id), fields)
        return {f: int(v or 0) for f, v in zip(fields, raw, strict=True)}

    async def allotment(self, room_id: str, fields: list[str]) -> dict[str, int]:
        if not fields:
            return {}
        raw = await self.core.client.hmget(self.keys.allotment(room_id), fields)
        return {f: int(v or 0) for f, v in zip(fields, raw, strict=True)}

    async def counters(self, creator_id: str) -> dict[str, int]:
        """Every counter of a creator's stock hash (available, and ``out:`` units in rooms)."""
        raw = await self.core.client.hgetall(self.keys.stock(creator_id))
        return {k.decode(): int(v) for k, v in raw.items()}

    async def pending(self, holder: str) -> list[Json]:
        raw = await self.core.client.hgetall(self.keys.transfers_out(holder))
        return [orjson.loads(v) for v in raw.values()]

    # The catalogue's product and counters -----------------------------------------------

    async def save_product(self, product: Json, *, creating: bool, stock_set: dict[str, int],
                           removed: list[str]) -> Any:
        """The product JSON and its counters in one script; the reply (``ok``,
        ``not_found``, ``units_out``) is the caller's to read."""
        pairs: list[Any] = []
        for vid, units in stock_set.items():
            pairs += [vid, units]
        creator = product["creator_id"]
        return await self.core.script(
            "stock_product", [self.keys.catalogue(creator), self.keys.stock(creator)],
            [product["id"], dumps(product), "create" if creating else "update",
             len(stock_set), *pairs, *removed])

    # Transfers --------------------------------------------------------------------------

    async def _due(self, holder: str, now: int) -> None:
        """The holder is looked at by the reconciler after the grace (a live transfer moves
        its time forward, so the reconciler never races it)."""
        await self.core.client.zadd(self.keys.transfers_due, {holder: now + GRACE_MS})

    async def _room_holds(self, room_id: str, now: int) -> None:
        """The room holds (or is about to hold) an allotment: check its end now and then."""
        await self.core.client.zadd(self.keys.allotment_rooms,
                                    {room_id: now + ALLOTMENT_CHECK_MS}, nx=True)

    async def take_draw(self, creator_id: str, room_id: str, product_id: str, variant_id: str,
                        units: int, now: int) -> tuple[Json, int]:
        """Step 1 of a draw (catalogue → the room's allotment), all or nothing: (the pending
        record, units left in the catalogue), or :class:`Short`."""
        holder, field = catalogue_holder(creator_id), stock_field(product_id, variant_id)
        await self._due(holder, now)
        await self._room_holds(room_id, now)
        record = {"id": new_transfer_id(), "to": room_holder(room_id), "field": field,
                  "out": "", "at": now}
        reply = await self.core.script(
            "stock_take", [self.keys.stock(creator_id), self.keys.transfers_out(holder)],
            [record["id"], field, units, dumps(record), "out:" + field])
        if text(reply[0]) != "ok":
            raise Short(int(reply[1]))
        return {**record, "units": int(reply[1]), "from": holder}, int(reply[2])

    async def draw(self, creator_id: str, room_id: str, product_id: str, variant_id: str,
                   units: int, now: int) -> int:
        """A whole draw into the room's allotment; returns the catalogue's units left."""
        record, left = await self.take_draw(creator_id, room_id, product_id, variant_id,
                                            units, now)
        await self.finish(record, now, hint=left)
        return left

    async def finish(self, record: Json, now: int, *, hint: int | None = None) -> bool:
        """Steps 2 and 3 of a pending transfer: credit it (once), then acknowledge it at the
        source. True if this call credited it."""
        to, field = str(record["to"]), str(record["field"])
        hint_field = "" if hint is None or not to.startswith("r|") else "cat:" + field
        reply = await self.core.script(
            "stock_credit", [self._stock_key(to), self.keys.transfers_in(to)],
            [record["id"], field, int(record["units"]), now, CREDITED_KEEP_MS,
             record.get("out") or "", hint_field, hint if hint is not None else 0])
        await self.ack(record)
        return text(reply[0]) == "ok"

    async def ack(self, record: Json) -> None:
        await self.core.client.hdel(self.keys.transfers_out(str(record["from"])),
                                    str(record["id"]))

    async def release(self, room_id: str, creator_id: str, product_id: str, now: int, *,
                      only_if_ended: bool = False) -> list[Json] | None:
        """Give the room's allotment of one product ('' for all) back to the catalogue; None
        when ``only_if_ended`` and the room is not ended."""
        holder = room_holder(room_id)
        await self._due(holder, now)
        reply = await self.core.script(
            "stock_release", [self.keys.allotment(room_id), self.keys.transfers_out(holder),
                              self.keys.room(room_id).meta],
            [product_id, catalogue_holder(creator_id), now, new_transfer_id(),
             "ended" if only_if_ended else "always"])
        if text(reply[0]) != "ok":
            return None
        records = [{**orjson.loads(r), "from": holder} for r in reply[1:]]
        for record in records:
            await self.finish(record, now)
        return records

    async def finish_from(self, room_id: str, raw: Any, now: int) -> None:
        """Finish a give-back a room's script recorded as pending (its reply's JSON, or an
        empty string when it recorded none)."""
        if raw:
            await self.finish({**orjson.loads(raw), "from": room_holder(room_id)}, now)

    async def expect_room_transfer(self, room_id: str, now: int) -> None:
        """Before a room's script that may record a give-back: the room is in the
        reconciler's schedule, should this process die before finishing it."""
        await self._due(room_holder(room_id), now)

    # The reconciler ---------------------------------------------------------------------

    async def reconcile(self, holder: str, now: int, claimed_until: int) -> int:
        """Finish the holder's transfers pending longer than the grace; forget the holder
        when none is left (unless a transfer started since the claim). Returns how many it
        finished."""
        done, youngest = 0, 0
        for record in await self.pending(holder):
            at = int(record.get("at", 0))
            if at > now - GRACE_MS:
                youngest = max(youngest, at)
                continue
            record["from"] = holder
            to = str(record["to"])
            if to.startswith("r|"):
                await self._room_holds(to[2:], now)
            await self.finish(record, now)
            done += 1
        if youngest:
            await self.core.client.zadd(self.keys.transfers_due, {holder: youngest + GRACE_MS})
        else:
            await self.core.script("stock_unindex", [self.keys.transfers_due],
                                   [holder, claimed_until])
        return done

    async def check_room(self, room_id: str, creator_id: str, now: int,
                         claimed_until: int) -> None:
        """An ended room's allotment goes back to the catalogue; a live room is checked again
        later."""
        released = await self.release(room_id, creator_id, "", now, only_if_ended=True)
        if released is None:
            await self.core.client.zadd(self.keys.allotment_rooms,
                                        {room_id: now + ALLOTMENT_CHECK_MS}, xx=True)
        else:
            await self.core.script("stock_unindex", [self.keys.allotment_rooms],
                                   [room_id, claimed_until])
