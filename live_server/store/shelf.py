"""Catalogue, shelf, pin, flash sales and purchases in Valkey.

The catalogue lives per creator (``u:{creator}:products``). A product put on a room's shelf is
copied into the room (``{room}:prod``), so every script of the shelf and every purchase touches
the room's slot only; catalogue edits and take-downs are pushed to the copies.
"""

from __future__ import annotations

from typing import Any

import orjson

from live_server.errors import (
    InsufficientStock,
    Internal,
    InvalidField,
    InvalidState,
    LimitReached,
    LiveError,
    NotFound,
    SaleEnded,
    SaleNotStarted,
    SoldOut,
    TakenDown,
)
from live_server.protocol import Json, dumps
from live_server.store.core import StoreCore, text


def _card(raw: bytes | str) -> Json:
    value: Json = orjson.loads(raw)
    return value


class ShelfStore:
    def __init__(self, core: StoreCore, *, history_max: int, order_stream_max: int) -> None:
        self.core = core
        self.keys = core.keys
        self.history_max = history_max
        self.order_stream_max = order_stream_max
        # orders whose index entries failed after their purchase (this process's retries)
        self.unindexed: dict[str, Json] = {}

    # Catalogue --------------------------------------------------------------------------

    async def save_product(self, product: Json) -> None:
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.catalogue(product["creator_id"]), product["id"], dumps(product))
            pipe.hset(self.keys.product_owner, product["id"], product["creator_id"])
            await pipe.execute()

    async def catalogue_size(self, creator_id: str) -> int:
        return int(await self.core.client.hlen(self.keys.catalogue(creator_id)))

    async def product(self, product_id: str) -> Json | None:
        owner = await self.core.client.hget(self.keys.product_owner, product_id)
        if owner is None:
            return None
        raw = await self.core.client.hget(self.keys.catalogue(owner.decode()), product_id)
        return _card(raw) if raw else None

    async def catalogue(self, creator_id: str) -> list[Json]:
        raw = await self.core.client.hgetall(self.keys.catalogue(creator_id))
        return sorted((_card(v) for v in raw.values()), key=lambda p: (p["created_at"], p["id"]))

    async def delete_product(self, creator_id: str, product_id: str) -> None:
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.hdel(self.keys.catalogue(creator_id), product_id)
            pipe.hdel(self.keys.product_owner, product_id)
            await pipe.execute()

    async def sync_product(self, room_ids: list[str], card: Json, commission_bp: int,
                           now: int) -> None:
        """Refresh the rooms' copies (in the rooms that have one), in one pipeline."""
        if not room_ids:
            return
        body = dumps(card)
        async with self.core.client.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                k, s = self.keys.room(room_id), self.keys.shelf(room_id)
                self.core.scripts.queue(
                    pipe, "product_sync", [k.meta, s.shelf, s.products, k.seq, k.events],
                    [k.channel, self.history_max, now, card["id"], body, commission_bp])
            await self.core.scripts.execute(pipe)

    # Shelf and pin ----------------------------------------------------------------------

    async def edit_shelf(self, room_id: str, by: str, action: str, args: list[Any], *,
                         max_shelf: int, now: int) -> int:
        k, s = self.keys.room(room_id), self.keys.shelf(room_id)
        reply = await self.core.script(
            "shelf_edit", [k.meta, s.shelf, s.products, s.pinned, k.seq, k.events],
            [k.channel, self.history_max, now, dumps(by), action, max_shelf, *args])
        return _shelf_reply(reply)

    async def pin(self, room_id: str, by: str, product_id: str | None, now: int) -> int:
        k, s = self.keys.room(room_id), self.keys.shelf(room_id)
        reply = await self.core.script(
            "shelf_pin", [k.meta, s.shelf, s.products, s.pinned, k.seq, k.events],
            [k.channel, self.history_max, now, dumps(by), product_id or ""])
        return _shelf_reply(reply)

    async def shelf_state(self, room_id: str) -> Json:
        """The room's ``shelf``, ``pinned`` and ``sales`` (as in a snapshot), in one
        transaction."""
        s = self.keys.shelf(room_id)
        async with self.core.client.pipeline(transaction=True) as pipe:
            pipe.lrange(s.shelf, 0, -1)
            pipe.hgetall(s.products)
            pipe.get(s.pinned)
            pipe.hgetall(s.sales)
            pipe.hgetall(s.left)
            ids, products, pinned, sales, left = await pipe.execute()
        return snapshot_fields(ids, products, pinned, sales, left)

    async def product_state(self, room_id: str, product_id: str, user_id: str | None,
                            ) -> tuple[Json | None, Json | None, int, bool, int]:
        """One product's (room copy, or None when not on the shelf; sale; units left in it;
        pinned?; units ``user_id`` holds) in one transaction."""
        s = self.keys.shelf(room_id)
        async with self.core.client.pipeline(transaction=True) as pipe:
            pipe.lpos(s.shelf, product_id)
            pipe.hget(s.products, product_id)
            pipe.hget(s.sales, product_id)
            pipe.hget(s.left, product_id)
            pipe.get(s.pinned)
            pipe.hget(s.bought, f"{product_id}:{user_id}")
            at, card, sale, left, pinned, bought = await pipe.execute()
        return (_card(card) if card and at is not None else None, _card(sale) if sale else None,
                int(left or 0), pinned == product_id.encode(),
                int(bought or 0) if user_id is not None else 0)

    # Sales ------------------------------------------------------------------------------

    async def create_sale(self, room_id: str, sale: Json, now: int) -> tuple[int, str]:
        k, s = self.keys.room(room_id), self.keys.shelf(room_id)
        reply = await self.core.script(
            "sale_create", [k.meta, s.shelf, s.products, s.sales, s.left, k.seq, k.events],
            [k.channel, self.history_max, now, sale["product_id"], dumps(sale), sale["stock"]])
        seq = _shelf_reply(reply)  # or the refusal
        state = text(reply[2])
        await self.schedule_sale(room_id, sale, state)
        return seq, state

    async def schedule_sale(self, room_id: str, sale: Json, state: str) -> None:
        due = sale["start_at"] if state == "scheduled" else sale["end_at"]
        member = f"{room_id}|{sale['product_id']}|{sale['id']}"
        await self.core.client.zadd(self.keys.sales_due, {member: due})

    async def sale_tick(self, member: str, now: int, action: str = "tick") -> str | None:
        """Run one due sale transition; reschedule or forget it. Returns the sale's state."""
        room_id, product_id, sale_id = member.split("|")
        k, s = self.keys.room(room_id), self.keys.shelf(room_id)
        reply = await self.core.script(
            "sale_tick", [s.sales, s.left, k.seq, k.events],
            [k.channel, self.history_max, now, product_id, sale_id, action])
        if text(reply[0]) != "ok" or int(reply[1]) == 0:
            await self.core.client.zrem(self.keys.sales_due, member)
            return text(reply[2]) if text(reply[0]) == "ok" else None
        await self.core.client.zadd(self.keys.sales_due, {member: int(reply[1])})
        return text(reply[2])

    async def due_sales(self, now: int, limit: int = 200) -> list[str]:
        found = await self.core.client.zrangebyscore(self.keys.sales_due, "-inf", now,
                                                     start=0, num=limit)
        return [m.decode() for m in found]

    # Buying -----------------------------------------------------------------------------

    async def buy(self, room_id: str, *, buyer: str, name: str, product_id: str, quantity: int,
                  idempotency_key: str, order_id: str, now: int, ttl_ms: int,
                  sample_every: int) -> tuple[Json, bool, int | None]:
        """(order, created now?, stock left when created) or the precise refusal."""
        k, s = self.keys.room(room_id), self.keys.shelf(room_id)
        reply = await self.core.script(
            "buy",
            [k.meta, s.products, s.sales, s.left, s.bought, s.idem, s.orders, s.order_list,
             s.order_stream, k.seq, k.events],
            [k.channel, self.history_max, now, buyer, product_id, quantity, idempotency_key,
             order_id, ttl_ms, sample_every, self.order_stream_max, dumps(name), room_id])
        status = text(reply[0])
        if status == "ok":
            return _card(reply[1]), True, int(reply[2])
        if status == "dup":
            return _card(reply[1]), False, None
        raise buy_refusal(status, reply)

    async def index_order(self, order: Json) -> None:
        """The buyer's pointer index and the expiry schedule of a new order: other slots than
        the room's, so written after the buy script (idempotent). If this fails the order is
        kept in ``unindexed`` and written again by ``reindex`` (the scheduler's every pass):
        a reservation must not miss its expiry."""
        try:
            async with self.core.client.pipeline(transaction=False) as pipe:
                pipe.zadd(self.keys.buyer_orders(order["buyer"]),
                          {order["id"]: order["created_at"]})
                if order["state"] == "reserved":
                    pipe.zadd(self.keys.orders_due, {order["id"]: order["expires_at"]})
                await pipe.execute()
        except Exception:
            self.unindexed[order["id"]] = order
            raise
        self.unindexed.pop(order["id"], None)

    async def reindex(self) -> int:
        """Write the index entries that failed before; returns how many are still waiting."""
        for order in list(self.unindexed.values()):
            await self.index_order(order)
        return len(self.unindexed)


def buy_refusal(status: str, reply: list[Any]) -> LiveError:
    if status == "not_found":
        return NotFound(f"no such {text(reply[1])}")
    if status == "taken_down":
        return TakenDown("the product has been taken down")
    if status == "not_started":
        start = int(reply[1])
        return SaleNotStarted("the sale has not started", start_at=start or None)
    if status == "sale_ended":
        return SaleEnded("the sale has ended", end_at=int(reply[1]))
    if status == "sold_out":
        return SoldOut("sold out")
    if status == "insufficient_stock":
        return InsufficientStock("not that many left", left=int(reply[1]))
    if status == "limit_reached":
        return LimitReached("over the per-buyer limit", may_buy=int(reply[1]))
    return Internal(f"unexpected reply {status}")


def _shelf_reply(reply: list[Any]) -> int:
    status = text(reply[0])
    if status == "ok":
        return int(reply[1])
    if status == "not_found":
        raise NotFound("no such room")
    if status == "invalid_state":
        raise InvalidState(f"room is {text(reply[1])}", state=text(reply[1]))
    if status == "not_on_shelf":
        raise NotFound("the product is not on this room's shelf")
    if status == "on_shelf":
        raise InvalidField("the product is already on the shelf")
    if status == "full":
        raise InvalidField("the shelf is full")
    if status == "mismatch":
        raise InvalidField("'product_ids' must list exactly the products on the shelf")
    if status == "taken_down":
        raise TakenDown("the product has been taken down")
    if status == "sale_exists":
        raise InvalidState("this product already has a sale that has not closed",
                           state="sale_exists")
    raise Internal(f"unexpected reply {status}")


def snapshot_fields(ids: list[bytes], products: dict[bytes, bytes], pinned: bytes | None,
                    sales: dict[bytes, bytes], left: dict[bytes, bytes]) -> Json:
    """``shelf`` (the cards in shelf order), ``pinned`` (its card) and ``sales`` (of the
    products on the shelf, each with its units left) from raw replies."""
    order = [i.decode() for i in ids]
    cards = {k.decode(): _card(v) for k, v in products.items() if not k.startswith(b"bp:")}
    stock = {k.decode(): int(v) for k, v in left.items() if not k.startswith(b"n:")}
    pin = pinned.decode() if pinned else None
    return {
        "shelf": [cards[i] for i in order if i in cards],
        "pinned": cards.get(pin) if pin else None,
        "sales": {pid: {**_card(sale), "left": stock.get(pid, 0)}
                  for pid, sale in ((k.decode(), v) for k, v in sales.items()) if pid in order},
    }
