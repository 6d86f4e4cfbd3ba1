"""Catalogue, shelf, pin, flash sales and purchases in Valkey.

The catalogue lives per creator (``u:{creator}:products``), its stock beside it
(``u:{creator}:stock``, ``store/stock.py``). A product put on a room's shelf is copied into the
room (``{room}:prod``), and the room sells from units it holds (its allotment, a sale's units),
so every script of the shelf and every purchase touches the room's slot only; catalogue edits
and take-downs are pushed to the copies, units come and go by transfers.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from live_server.errors import (
    CouponUnusable,
    InsufficientStock,
    Internal,
    InvalidField,
    InvalidState,
    LimitReached,
    LiveError,
    NotFound,
    PriceChanged,
    SaleEnded,
    SaleNotStarted,
    SoldOut,
    TakenDown,
)
from live_server.protocol import Json, dumps
from live_server.store.addresses import AddressStore
from live_server.store.core import StoreCore, pairs, text
from live_server.store.stock import CREDITED_KEEP_MS, Short, StockStore, room_holder


def _card(raw: bytes | str) -> Json:
    value: Json = orjson.loads(raw)
    return value


class ShelfStore:
    def __init__(self, core: StoreCore, *, history_max: int, order_stream_max: int) -> None:
        self.core = core
        self.keys = core.keys
        self.history_max = history_max
        self.order_stream_max = order_stream_max
        self.stock = StockStore(core)
        self.addresses = AddressStore(core)  # a buyer's address, copied onto the order
        # orders whose index entries failed after their purchase (this process's retries)
        self.unindexed: dict[str, Json] = {}

    # Catalogue --------------------------------------------------------------------------

    async def save_product(self, product: Json, *, creating: bool = False,
                           stock_set: dict[str, int] | None = None,
                           removed: list[str] | None = None) -> None:
        """The product and the counters of the variants whose units it sets, in one script
        (a removed variant must have no units out in rooms)."""
        reply = await self.stock.save_product(product, creating=creating,
                                              stock_set=stock_set or {}, removed=removed or [])
        status = text(reply[0])
        if status == "not_found":
            raise NotFound("no such product")
        if status == "units_out":
            raise InvalidState(f"variant '{text(reply[1])}' has {int(reply[2])} unit(s) out in "
                               "rooms (allotments, sales, orders): it can be removed once they "
                               "are back", state="units_out", variant_id=text(reply[1]),
                               units=int(reply[2]))
        await self.core.client.hset(self.keys.product_owner, product["id"],
                                    product["creator_id"])

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
                           now: int, ops_takedown: str | None = None) -> None:
        """Refresh the rooms' copies (in the rooms that have one), in one pipeline.
        ``ops_takedown``: ops took it down for this reason; the creator's sockets in these
        rooms are told (``product_taken_down``)."""
        if not room_ids:
            return
        body = dumps(card)
        notice = [] if ops_takedown is None else [
            card["creator_id"], dumps(card.get("title", "")), dumps(ops_takedown)]
        async with self.core.client.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                k, s = self.keys.room(room_id), self.keys.shelf(room_id)
                self.core.scripts.queue(
                    pipe, "product_sync", [k.meta, s.shelf, s.products, k.seq, k.events],
                    [k.channel, self.history_max, now, card["id"], body, commission_bp,
                     *notice])
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
        """The room's ``shelf``, ``pinned`` and ``sales`` (as in a snapshot), in one atomic
        read (``shelf_read.lua``)."""
        s = self.keys.shelf(room_id)
        ids, products, pinned, sales, left, alloc = await self.core.script(
            "shelf_read",
            [s.shelf, s.products, s.pinned, s.sales, s.left, self.keys.allotment(room_id)], [])
        return {**snapshot_fields(ids, pairs(products), pinned, pairs(sales), pairs(left)),
                "allotment": _allotment(pairs(alloc))}

    async def product_state(self, room_id: str, product_id: str,
                            user_id: str | None) -> ProductState:
        """One product's room copy (None when not on the shelf), sale, units left in it,
        pin, units ``user_id`` holds and the room's allotment per variant, in one atomic
        read (``product_read.lua``)."""
        s = self.keys.shelf(room_id)
        at, card, sale, left, pinned, bought, raw_alloc = await self.core.script(
            "product_read",
            [s.shelf, s.products, s.sales, s.left, s.pinned, s.bought,
             self.keys.allotment(room_id)],
            [product_id, f"{product_id}:{user_id}"])
        alloc = pairs(raw_alloc)
        prefix = product_id + ":"
        return ProductState(
            card=_card(card) if card and at is not None else None,
            sale=_card(sale) if sale else None, left=int(left or 0),
            pinned=pinned == product_id.encode(),
            bought=int(bought or 0) if user_id is not None else 0,
            allotment={f[len(prefix):]: n for f, n in _allotment(alloc).items()
                       if f.startswith(prefix)})

    # Sales ------------------------------------------------------------------------------

    async def create_sale(self, room_id: str, creator_id: str, sale: Json,
                          now: int) -> tuple[int, str]:
        """Draw the sale's units from the catalogue (all or nothing: ``insufficient_stock``
        with what is left), then create the sale, which credits them. A sale refused by the
        room leaves its units in the room's allotment, given back to the catalogue at once."""
        pid, vid = sale["product_id"], sale["variant_id"]
        try:
            record, _left = await self.stock.take_draw(creator_id, room_id, pid, vid,
                                                       int(sale["stock"]), now)
        except Short as short:
            raise InsufficientStock("the catalogue has fewer units", left=short.left) from None
        k, s = self.keys.room(room_id), self.keys.shelf(room_id)
        reply = await self.core.script(
            "sale_create",
            [k.meta, s.shelf, s.products, s.sales, s.left, k.seq, k.events,
             self.keys.transfers_in(record["to"])],
            [k.channel, self.history_max, now, pid, dumps(sale), record["units"],
             record["id"], CREDITED_KEEP_MS])
        if text(reply[0]) != "ok":
            await self.stock.finish(record, now)  # to the allotment (a 'dup' if it is there)
            await self.stock.release(room_id, creator_id, pid, now)
            if text(reply[0]) == "transfer_done":
                raise Internal("the sale's units were credited elsewhere; try again")
            _shelf_reply(reply)  # the refusal
        await self.stock.ack(record)
        state = text(reply[2])
        await self.schedule_sale(room_id, sale, state)
        return int(reply[1]), state

    async def schedule_sale(self, room_id: str, sale: Json, state: str) -> None:
        due = sale["start_at"] if state == "scheduled" else sale["end_at"]
        member = f"{room_id}|{sale['product_id']}|{sale['id']}"
        await self.core.client.zadd(self.keys.sales_due, {member: due})

    async def sale_tick(self, member: str, now: int, action: str = "tick") -> str | None:
        """Run one due sale transition; reschedule or forget it. Returns the sale's state."""
        room_id, product_id, sale_id = member.split("|")
        k, s = self.keys.room(room_id), self.keys.shelf(room_id)
        await self.stock.expect_room_transfer(room_id, now)
        reply = await self.core.script(
            "sale_tick",
            [s.sales, s.left, k.seq, k.events, s.products,
             self.keys.transfers_out(room_holder(room_id))],
            [k.channel, self.history_max, now, product_id, sale_id, action, room_id])
        if text(reply[0]) == "ok":
            await self.stock.finish_from(room_id, reply[3], now)  # a closed sale's units
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

    async def buy(self, room_id: str, purchase: Purchase, *, order_id: str, now: int,
                  ttl_ms: int, sample_every: int, address: Json | None,
                  retries: int = 4) -> tuple[Json, bool, int | None]:
        """(order, created now?, units left when created) or the precise refusal. When the
        room's allotment is short the script says by how much; exactly that is drawn from the
        catalogue (``sold_out`` / ``insufficient_stock`` when it has too few) and the purchase
        runs again, at most ``retries`` times (other buyers may take the units drawn)."""
        for _ in range(retries):
            reply = await self._buy_script(room_id, purchase, "buy", now=now, order_id=order_id,
                                           ttl_ms=ttl_ms, sample_every=sample_every,
                                           address=address)
            status = text(reply[0])
            if status == "ok":
                return _card(reply[1]), True, int(reply[2])
            if status == "dup":
                return _card(reply[1]), False, None
            if status != "need":
                raise buy_refusal(status, reply)
            shortage, held = int(reply[1]), int(reply[2])
            creator, vid = text(reply[3]), text(reply[4])
            try:
                await self.stock.draw(creator, room_id, purchase.product_id, vid, shortage, now)
            except Short as short:
                raise _short(short.left + held) from None
        field = f"{purchase.product_id}:{vid}"  # taken by others each time: what is left now
        in_room = await self.stock.allotment(room_id, [field])
        available = await self.stock.available(creator, [field])
        raise _short(in_room[field] + available[field])

    async def quote(self, room_id: str, purchase: Purchase, now: int) -> Json:
        """What the purchase would cost now (the buy script, read-only), with the units left:
        the sale's, or the room's allotment and the catalogue's."""
        reply = await self._buy_script(room_id, purchase, "quote", now=now)
        status = text(reply[0])
        if status != "quote":
            raise buy_refusal(status, reply)
        quote: Json = orjson.loads(reply[1])
        creator = quote.pop("creator_id")
        if not quote.pop("from_sale"):
            field = f"{purchase.product_id}:{quote['variant_id']}"
            quote["left"] += (await self.stock.available(creator, [field]))[field]
        if quote["left"] < purchase.quantity:
            raise _short(int(quote["left"]))
        return quote

    async def _buy_script(self, room_id: str, p: Purchase, mode: str, *, now: int,
                          order_id: str = "", ttl_ms: int = 0, sample_every: int = 1,
                          address: Json | None = None) -> Any:
        k, s, c = self.keys.room(room_id), self.keys.shelf(room_id), self.keys.coupons(room_id)
        return await self.core.script(
            "buy",
            [k.meta, s.shelf, s.products, s.sales, s.left, self.keys.allotment(room_id),
             s.bought, s.idem, s.orders, s.order_list, s.order_stream, k.seq, k.events,
             c.coupons, c.claims, c.uses],
            [k.channel, self.history_max, now, p.buyer, p.product_id, p.variant_id or "",
             p.quantity, p.idempotency_key, order_id, ttl_ms, sample_every,
             self.order_stream_max, dumps(p.name), room_id, p.sale_id or "", p.coupon_id or "",
             "" if p.expected_amount is None else p.expected_amount, mode,
             dumps(address) if address else ""])

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


@dataclasses.dataclass(frozen=True, slots=True)
class ProductState:
    card: Json | None
    sale: Json | None
    left: int  # units left in the sale
    pinned: bool
    bought: int
    allotment: dict[str, int]  # variant id → units the room holds


def _allotment(raw: dict[bytes, bytes]) -> dict[str, int]:
    """``<product>:<variant>`` → units, without the catalogue hints."""
    return {k.decode(): int(v) for k, v in raw.items() if not k.startswith(b"cat:")}


@dataclasses.dataclass(frozen=True, slots=True)
class Purchase:
    """What a buyer asks for: a buy, or its quote (no idempotency key)."""

    buyer: str
    name: str
    product_id: str
    quantity: int
    variant_id: str | None = None
    idempotency_key: str = ""
    sale_id: str | None = None
    coupon_id: str | None = None
    expected_amount: int | None = None


def _short(left: int) -> LiveError:
    if left <= 0:
        return SoldOut("sold out")
    return InsufficientStock("not that many left", left=left)


def buy_refusal(status: str, reply: list[Any]) -> LiveError:
    if status == "not_found":
        return NotFound(f"no such {text(reply[1])}")
    if status == "invalid_state":
        return InvalidState(f"room is {text(reply[1])}", state=text(reply[1]))
    if status == "bad_variant":
        why = text(reply[1])
        return InvalidField(
            "'variant_id' is required: the product comes in several variants" if why == "required"
            else "'variant_id' is not the variant this sale sells" if why == "not_the_sale"
            else "'variant_id' is not a variant of this product", field="variant_id")
    if status == "coupon_unusable":
        return CouponUnusable(f"the coupon cannot be used here ({text(reply[1])})",
                              reason=text(reply[1]))
    if status == "price_changed":
        return PriceChanged("the amount changed", amount=int(reply[1]))
    if status == "taken_down":
        return TakenDown("the product has been taken down")
    if status == "not_started":
        start = int(reply[1])
        return SaleNotStarted("the sale has not started", start_at=start or None)
    if status == "sale_ended":
        end = int(reply[1])
        return SaleEnded("the sale has ended", end_at=end or None)
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
