"""Shelf use cases: the creator's catalogue, a room's shelf and pin, flash sales, the product
card a viewer sees, quoting and buying. Each checks the role first; every write is one script
(stock moves between the catalogue and rooms by transfers: ``store/stock.py``)."""

from __future__ import annotations

import contextlib
import logging
import secrets

from live_server.auth import (
    Identity,
    require_product_role,
    require_room_creator,
    require_seller,
    require_user,
)
from live_server.config import Settings
from live_server.domain.rooms import Room
from live_server.domain.shelf import (
    Limits,
    apply_update,
    may_buy,
    parse_product,
    parse_sale,
    product_id_field,
    public_product,
    unit_price,
    variants_of,
    window_state,
)
from live_server.domain.variants import stock_field
from live_server.errors import (
    Forbidden,
    GuestsNotAllowed,
    InvalidField,
    InvalidState,
    NotFound,
    TakenDown,
)
from live_server.protocol import Json, dumps, is_safe_id, now_ms
from live_server.services.after_commit import AfterCommit
from live_server.services.moderation_log import ModerationLog
from live_server.services.periodic import LEASE_MS, PARK_AFTER, ClockStats, Periodic
from live_server.store.orders import OrderStore
from live_server.store.rooms import RoomStore
from live_server.store.shelf import ProductState, Purchase, ShelfStore

log = logging.getLogger(__name__)


def new_order_id(room_id: str) -> str:
    return f"o.{room_id}.{secrets.token_hex(8)}"


class ShelfService:
    def __init__(self, settings: Settings, rooms: RoomStore, shelf: ShelfStore,
                 log_: ModerationLog, after: AfterCommit | None = None) -> None:
        self.settings = settings
        self.rooms = rooms
        self.store = shelf
        self.log = log_
        self.after = after or AfterCommit()
        cfg = settings.shelf
        self.limits = Limits(max_price=cfg.max_price_cents, max_stock=cfg.max_stock,
                             max_per_buyer=cfg.max_per_buyer, max_sale_ms=cfg.max_sale_ms,
                             currency=cfg.currency)

    # Catalogue --------------------------------------------------------------------------

    async def create_product(self, who: Identity, body: Json) -> Json:
        uid = require_seller(who)
        if await self.store.catalogue_size(uid) >= self.settings.shelf.max_catalogue:
            raise InvalidField("the catalogue is full")
        product = parse_product(body, self.limits, creator_id=uid, now=now_ms())
        await self.store.save_product(
            product, creating=True,
            stock_set={v["id"]: int(v["stock"]) for v in product["variants"]})
        return product

    async def _own_product(self, who: Identity, product_id: str, *,
                           ops_may: bool = False) -> Json:
        """The product, if ``who`` may act on it: its creator with a creator token, or ops
        where ``ops_may`` (read, take down, restore). The role is checked before the product is
        loaded, the owner after."""
        uid = require_product_role(who, ops_may=ops_may)
        product = await self.store.product(product_id)
        if product is None:
            raise NotFound("no such product")
        if not who.is_ops and product["creator_id"] != uid:
            raise Forbidden("only the product's creator may do this")
        return product

    async def get_product(self, who: Identity, product_id: str) -> Json:
        product = await self._own_product(who, product_id, ops_may=True)
        return (await self._with_stock([product]))[0]

    async def catalogue(self, who: Identity) -> list[Json]:
        return await self._with_stock(await self.store.catalogue(require_seller(who)))

    async def _with_stock(self, products: list[Json]) -> list[Json]:
        """Products as their owner sees them: each variant's ``stock`` (units available in
        the warehouse) and ``out`` (units in rooms) from the counters, ``stock`` their sum."""
        if not products:
            return []
        counters = await self.store.stock.counters(products[0]["creator_id"])
        out = []
        for product in products:
            variants = [{**v, "stock": counters.get(stock_field(product["id"], v["id"]), 0),
                         "out": counters.get("out:" + stock_field(product["id"], v["id"]), 0)}
                        for v in variants_of(product)]
            out.append({**product, "variants": variants,
                        "options": list(product.get("options") or []),
                        "stock": sum(v["stock"] for v in variants)})
        return out

    async def update_product(self, who: Identity, product_id: str, body: Json) -> Json:
        product = await self._own_product(who, product_id)
        updated, stock_set, removed = apply_update(product, body, self.limits, now_ms())
        await self.store.save_product(updated, stock_set=stock_set, removed=removed)
        await self._push(updated)
        return (await self._with_stock([updated]))[0]

    async def delete_product(self, who: Identity, product_id: str) -> None:
        """Remove from the catalogue. Rooms keep their copy for orders already placed; the
        product can no longer be put on a shelf."""
        product = await self._own_product(who, product_id)
        await self.store.delete_product(product["creator_id"], product_id)

    async def take_down(self, who: Identity, product_id: str, reason: str) -> Json:
        """The owner or ops stop a product everywhere: purchases are refused at once."""
        product = await self._own_product(who, product_id, ops_may=True)
        assert who.user_id is not None
        product = {**product, "status": "taken_down", "updated_at": now_ms(),
                   "takedown": {"by": who.user_id, "reason": reason}}
        await self.store.save_product(product)
        # ops' decision is news to the creator: their sockets are told why (viewers only see
        # the product's card change)
        await self._push(product, ops_takedown=reason if who.is_ops else None)
        if who.is_ops:
            await self.log.record("", who.user_id, "take_down", product["creator_id"], reason,
                                  {"product_id": product_id})
        return product

    async def restore(self, who: Identity, product_id: str) -> Json:
        """Back on sale. A product ops took down comes back only by ops: the owner cannot
        overrule a moderation decision."""
        product = await self._own_product(who, product_id, ops_may=True)
        assert who.user_id is not None
        if product.get("status") != "taken_down":
            raise InvalidState("the product is on sale", state=product.get("status"))
        by = (product.get("takedown") or {}).get("by")
        if not who.is_ops and by != product["creator_id"]:
            raise Forbidden("taken down by ops: only ops may put it back on sale")
        product = {**product, "status": "on_sale", "updated_at": now_ms()}
        product.pop("takedown", None)
        await self.store.save_product(product)
        await self._push(product)
        if who.is_ops:
            await self.log.record("", who.user_id, "restore", product["creator_id"], "",
                                  {"product_id": product_id})
        return product

    async def _push(self, product: Json, ops_takedown: str | None = None) -> None:
        """Refresh the copies in the creator's rooms (those that have the product)."""
        await self.store.sync_product(await self.rooms.owned_ids(product["creator_id"]),
                                      public_product(product), int(product["commission_bp"]),
                                      now_ms(), ops_takedown)

    # Shelf and pin ----------------------------------------------------------------------

    async def _owned_room(self, who: Identity, room_id: str) -> tuple[Room, str]:
        room = await self.rooms.require(room_id)
        return room, require_room_creator(who, room.creator_id, "change its shelf")

    async def shelf_add(self, who: Identity, room_id: str, product_id: str,
                        position: int = -1) -> int:
        room, uid = await self._owned_room(who, room_id)
        product = await self.store.product(product_id)
        if product is None or product["creator_id"] != room.creator_id:
            raise NotFound("no such product in your catalogue")
        if product["status"] != "on_sale":
            raise TakenDown("the product has been taken down")
        return await self.store.edit_shelf(
            room_id, uid, "add",
            [product_id, position, _json(public_product(product)), product["commission_bp"]],
            max_shelf=self.settings.shelf.max_shelf, now=now_ms())

    async def shelf_remove(self, who: Identity, room_id: str, product_id: str) -> int:
        """Off the shelf: its unclosed sale is cancelled and the room's allotment of it goes
        back to the catalogue (both give their units back)."""
        room, uid = await self._owned_room(who, room_id)
        seq = await self.store.edit_shelf(room_id, uid, "remove", [product_id],
                                          max_shelf=self.settings.shelf.max_shelf, now=now_ms())
        state = await self.store.product_state(room_id, product_id, None)
        if state.sale is not None and state.sale["state"] != "closed":
            await self.store.sale_tick(f"{room_id}|{product_id}|{state.sale['id']}", now_ms(),
                                       "cancel")
        await self.store.stock.release(room_id, room.creator_id, product_id, now_ms())
        return seq

    async def shelf_move(self, who: Identity, room_id: str, product_id: str,
                         position: int) -> int:
        _room, uid = await self._owned_room(who, room_id)
        return await self.store.edit_shelf(room_id, uid, "move", [product_id, position],
                                           max_shelf=self.settings.shelf.max_shelf, now=now_ms())

    async def shelf_order(self, who: Identity, room_id: str, product_ids: list[str]) -> int:
        _room, uid = await self._owned_room(who, room_id)
        if len(set(product_ids)) != len(product_ids):
            raise InvalidField("'product_ids' lists a product twice")
        return await self.store.edit_shelf(room_id, uid, "order", product_ids,
                                           max_shelf=self.settings.shelf.max_shelf, now=now_ms())

    async def pin(self, who: Identity, room_id: str, product_id: str | None) -> int:
        _room, uid = await self._owned_room(who, room_id)
        return await self.store.pin(room_id, uid, product_id, now_ms())

    async def shelf(self, room_id: str) -> Json:
        """The shelf's cards, each variant with its price now and units left."""
        room = await self.rooms.require(room_id)
        view = await self.store.shelf_state(room_id)
        allotment: dict[str, int] = view.pop("allotment")
        cards: list[Json] = view.pop("shelf")
        fields = [stock_field(c["id"], v["id"]) for c in cards for v in variants_of(c)]
        available = await self.store.stock.available(room.creator_id, fields)
        now = now_ms()
        products = []
        for card in cards:
            sale = view["sales"].get(card["id"])
            state = ProductState(card=card, sale=sale, left=int(sale["left"]) if sale else 0,
                                 pinned=False, bought=0, allotment={
                                     v["id"]: allotment.get(stock_field(card["id"], v["id"]), 0)
                                     for v in variants_of(card)})
            variants = _variant_views(state, available, now)
            products.append({**card, "variants": variants})
        return {"products": products, **view}

    # Sales ------------------------------------------------------------------------------

    async def create_sale(self, who: Identity, room_id: str, body: Json) -> Json:
        """A sale of one variant; its units are drawn from the catalogue now."""
        room, _uid = await self._owned_room(who, room_id)
        product_id = product_id_field(body)
        card = (await self.store.product_state(room_id, product_id, None)).card
        if card is None:
            raise NotFound("the product is not on this room's shelf")
        now = now_ms()
        sale = parse_sale(body, self.limits, product=card, now=now)
        _seq, state = await self.store.create_sale(room_id, room.creator_id, sale, now)
        return {**sale, "state": state, "left": sale["stock"]}

    async def cancel_sale(self, who: Identity, room_id: str, product_id: str) -> None:
        await self._owned_room(who, room_id)
        sale = (await self.store.product_state(room_id, product_id, None)).sale
        if sale is None or sale["state"] == "closed":
            raise NotFound("no open or scheduled sale for this product")
        await self.store.sale_tick(f"{room_id}|{product_id}|{sale['id']}", now_ms(), "cancel")

    # What a viewer sees and buys --------------------------------------------------------

    async def product_view(self, who: Identity, room_id: str, product_id: str) -> Json:
        room = await self.rooms.require(room_id)
        if who.is_guest and not room.allow_guests:
            raise GuestsNotAllowed("log in to see this room")
        state = await self.store.product_state(room_id, product_id, who.user_id)
        card, sale = state.card, state.sale
        if card is None:
            raise NotFound("the product is not on this room's shelf")
        now = now_ms()
        fields = [stock_field(card["id"], v["id"]) for v in variants_of(card)]
        variants = _variant_views(state, await self.store.stock.available(room.creator_id,
                                                                          fields), now)
        window = "none"
        if sale is not None:
            window = ("closed" if sale["state"] == "closed"
                      else window_state(int(sale["start_at"]), int(sale["end_at"]), now))
        limit = int(card["per_buyer_limit"])
        buyable = card["status"] == "on_sale" and room.state != "ended"
        stock_left = sum(int(v["left"]) for v in variants)
        return {
            "product": card, "options": list(card.get("options") or []), "variants": variants,
            "price": min(int(v["price"]) for v in variants),
            "sale": {**sale, "left": state.left} if sale else None,
            "window": window, "stock_left": stock_left, "pinned": state.pinned,
            "bought": state.bought, "limit_left": max(0, limit - state.bought),
            "may_buy": may_buy(limit, state.bought, stock_left) if buyable else 0,
            "server_time": now,
        }

    def _purchase(self, who: Identity, args: Json, idempotency_key: str = "") -> Purchase:
        uid = require_user(who)
        quantity = int(args.get("quantity", 1))
        if not 1 <= quantity <= self.settings.shelf.max_quantity:
            raise InvalidField(
                f"'quantity' must be between 1 and {self.settings.shelf.max_quantity}")
        return Purchase(buyer=uid, name=who.name, product_id=str(args["product_id"]),
                        quantity=quantity, variant_id=args.get("variant_id"),
                        idempotency_key=idempotency_key, sale_id=args.get("sale_id"),
                        coupon_id=args.get("coupon_id"),
                        expected_amount=args.get("expected_amount"))

    async def buy(self, who: Identity, room_id: str, args: Json) -> Json:
        """Reserve units: ``args`` are the ``buy`` command's fields (product_id, quantity,
        idempotency_key, and optionally variant_id, sale_id, coupon_id, expected_amount)."""
        idempotency_key = str(args.get("idempotency_key", ""))
        if not is_safe_id(idempotency_key):
            raise InvalidField("'idempotency_key' must be 1-64 characters of letters, digits, "
                               "'_', '-', '.', '@'")
        purchase = self._purchase(who, args, idempotency_key)
        cfg = self.settings.shelf
        order, created, left = await self.store.buy(
            room_id, purchase, order_id=new_order_id(room_id), now=now_ms(),
            ttl_ms=cfg.reservation_ttl_ms, sample_every=cfg.bought_sample_every,
            address=await self.store.addresses.get(purchase.buyer))
        # bought: a failing index write is retried by the scheduler, never an error reply
        await self.after.run("order_index", self.store.index_order(order))
        return {"order": order, "created": created, "left": left}

    async def quote(self, who: Identity, room_id: str, args: Json) -> Json:
        """What ``buy`` with these fields would charge now, and the buyer's coupons."""
        return await self.store.quote(room_id, self._purchase(who, args), now_ms())


def _variant_views(state: ProductState, available: dict[str, int], now: int) -> list[Json]:
    """Each variant with its price now and its units left: the sale's for the variant of a sale
    open now, else the catalogue's and the room's allotment."""
    card, sale = state.card, state.sale
    assert card is not None
    open_sale = (sale is not None and sale["state"] != "closed"
                 and window_state(int(sale["start_at"]), int(sale["end_at"]), now) == "open")
    out = []
    for v in variants_of(card):
        if open_sale and sale is not None and sale.get("variant_id", "v0") == v["id"]:
            price, left = int(sale["price"]), state.left
        else:
            price = unit_price(int(card["live_price"]), int(v.get("price_delta", 0)))
            left = (available.get(stock_field(card["id"], v["id"]), 0)
                    + state.allotment.get(v["id"], 0))
        out.append({"id": v["id"], "options": v.get("options", {}), "price": price,
                    "left": left, "image_url": v.get("image_url", "")})
    return out


def _json(value: Json) -> str:
    return dumps(value).decode()


class Scheduler(Periodic):
    """Per process: every ``shelf.scheduler_interval_ms``, run the sale transitions and the
    reservation expiries that are due, finish stock transfers left pending past their grace
    (the reconciler), and give an ended room's allotment back. Every process may do it at
    once: each claims its items with a lease (``Periodic.work``), and each transition is a
    script that acts only if it is still to be done, so it happens exactly once."""

    name = "shelf-scheduler"

    def __init__(self, shelf: ShelfStore, orders: OrderStore, interval_ms: int, *,
                 stats: ClockStats | None = None, lease_ms: int = LEASE_MS,
                 park_after: int = PARK_AFTER) -> None:
        self.shelf = shelf
        self.orders = orders
        super().__init__(interval_ms, stats=stats, lease_ms=lease_ms, park_after=park_after)
        self.sales_due = self.schedule(shelf.core, shelf.keys.sales_due)
        self.orders_due = self.schedule(orders.core, orders.keys.orders_due)
        self.transfers_due = self.schedule(shelf.core, shelf.keys.transfers_due)
        self.allotment_rooms = self.schedule(shelf.core, shelf.keys.allotment_rooms)
        self.rooms_of: dict[str, str] = {}  # room id → its creator (cached: never changes)

    async def run_once(self, now: int) -> int:
        """One pass; returns how many due items it claimed."""

        async def sale(member: str) -> None:
            await self.shelf.sale_tick(member, now)

        async def expire(order_id: str) -> None:
            try:
                await self.orders.transition(order_id, "expire", actor="system", now=now)
            except NotFound:
                await self.orders.forget_due(order_id)
            except InvalidState as exc:  # paid, cancelled or expired already (elsewhere)
                if exc.extra.get("state") != "reserved":
                    await self.orders.forget_due(order_id)

        stock = self.shelf.stock
        claimed_until = now + self.lease_ms  # the time a claim gives its members

        async def reconcile(holder: str) -> None:
            await stock.reconcile(holder, now, claimed_until)

        async def allotment(room_id: str) -> None:
            creator = self.rooms_of.get(room_id)
            if creator is None:
                raw = await self.shelf.core.client.hget(self.shelf.keys.room(room_id).meta,
                                                        "creator_id")
                if raw is None:  # no such room: nothing it could hold
                    await self.shelf.core.client.zrem(self.shelf.keys.allotment_rooms, room_id)
                    return
                creator = self.rooms_of[room_id] = raw.decode()
            await stock.check_room(room_id, creator, now, claimed_until)

        if self.shelf.unindexed:  # purchases whose expiry entry failed to be written
            with contextlib.suppress(Exception):  # a store still failing: next pass
                await self.shelf.reindex()
        return (await self.work(self.sales_due, now, sale)
                + await self.work(self.orders_due, now, expire)
                + await self.work(self.transfers_due, now, reconcile)
                + await self.work(self.allotment_rooms, now, allotment))
