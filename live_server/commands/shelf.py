"""The catalogue, a room's shelf, the pin, sales, the product card, quoting and buying."""

from __future__ import annotations

import dataclasses
from typing import Any

from live_server.commands.access import (
    ANYONE,
    PRODUCT_OWNER,
    PRODUCT_OWNER_OR_OPS,
    ROOM_CREATOR,
    SELLER,
    USER,
)
from live_server.commands.command import Call, Command, Route
from live_server.commands.fields import ABSENT, Field, Integer, ListOf, ProductId, SafeId, Text
from live_server.config import Settings
from live_server.domain.rooms import MAX_TIME_MS
from live_server.domain.shelf import DESCRIPTION_MAX, MAX_BP, TITLE_MAX, URL_MAX
from live_server.domain.variants import (
    MAX_OPTIONS,
    MAX_VALUES,
    MAX_VARIANTS,
    NAME_MAX,
    VALUE_MAX,
    VARIANT_ID,
)
from live_server.domain.variants import URL_MAX as VARIANT_URL_MAX
from live_server.errors import (
    CouponUnusable,
    GuestsNotAllowed,
    InsufficientStock,
    InvalidField,
    InvalidState,
    LimitReached,
    NotFound,
    PriceChanged,
    SaleEnded,
    SaleNotStarted,
    SoldOut,
    TakenDown,
)
from live_server.protocol import Json

ROOM = "/api/rooms/{room_id}"
PRODUCT = "/api/products/{product_id}"
PRODUCT_ID = ProductId("product_id", "a product id (`p_...`)")
POSITION = Integer("position", "0-based; -1: the end", lo=-1, hi=10_000)
VARIANT_PATTERN = VARIANT_ID.pattern.strip("^$")


@dataclasses.dataclass(frozen=True, slots=True)
class JsonList(Field):
    """A JSON array of objects (a product's options or variants): the type and length are
    checked here, each item by the domain's rules (``domain/variants.py``); ``items`` is the
    item's JSON Schema for the documents."""

    max_items: int = 50
    items: Json = dataclasses.field(default_factory=dict)

    def check(self, value: Any, settings: Settings) -> list[Any]:
        if not isinstance(value, list) or len(value) > self.max_items:
            raise self.invalid(f"must be a list of at most {self.max_items} items")
        if not all(isinstance(v, dict) for v in value):
            raise self.invalid("must hold objects")
        return value

    def type_schema(self, settings: Settings) -> Json:
        return {"type": "array", "maxItems": self.max_items, "items": self.items}


OPTIONS = JsonList(
    "options", "what the product comes in: at most 3 options of 1-20 values", required=False,
    max_items=MAX_OPTIONS, items={
        "type": "object", "additionalProperties": False, "required": ["name", "values"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": NAME_MAX},
            "values": {"type": "array", "minItems": 1, "maxItems": MAX_VALUES,
                       "items": {"type": "string", "minLength": 1, "maxLength": VALUE_MAX}}}})


def _variants_field(creating: bool) -> JsonList:
    return JsonList(
        "variants", "one per combination sold (absent: one variant `v0` with `stock`); a PATCH "
        "replaces the list, keeping the variants whose `id` it names", required=False,
        max_items=MAX_VARIANTS, items={
            "type": "object", "additionalProperties": False,
            "properties": {
                "id": {"type": "string", "pattern": f"^{VARIANT_PATTERN}$",
                       "description": "a kept variant's id (absent: a new variant)"},
                "options": {"type": "object", "additionalProperties": {"type": "string"},
                            "description": "option name → one of its values"},
                "stock": {"type": "integer", "minimum": 0,
                          "description": "units available in the warehouse"},
                "price_delta": {"type": "integer",
                                "description": "cents added to the live price (may be "
                                               "negative; the price is never below 0)"},
                "image_url": {"type": "string", "maxLength": VARIANT_URL_MAX}}})


VARIANT_ID_FIELD = Text("variant_id", "the variant (optional when the product has one)",
                        required=False, max_len=24, pattern=VARIANT_PATTERN)

PURCHASE_FIELDS: tuple[Field, ...] = (
    PRODUCT_ID, VARIANT_ID_FIELD,
    Integer("quantity", required=False, default=1, lo=1, hi=lambda s: s.shelf.max_quantity),
    Text("sale_id", "buy only inside this flash sale (its buttons send it)", required=False,
         max_len=40, pattern="s_[0-9a-f]{1,36}"),
    Text("coupon_id", "a coupon the buyer claimed in this room, or `best`", required=False,
         max_len=40, pattern="(best|c_[A-Za-z0-9_-]{1,38})"),
    Integer("expected_amount", "cents the buyer saw: refused `price_changed` when the "
            "amount differs", required=False, lo=0,
            hi=lambda s: s.shelf.max_price_cents * s.shelf.max_quantity),
)
PURCHASE_ERRORS = (NotFound, InvalidField, InvalidState, TakenDown, SaleNotStarted, SaleEnded,
                   SoldOut, InsufficientStock, LimitReached, CouponUnusable, PriceChanged)


def _product_fields(creating: bool) -> tuple[Field, ...]:
    """A new product's fields, or a PATCH's (any of them, at least one)."""
    def maybe(default: object) -> object:
        return default if creating else ABSENT

    def price(name: str, doc: str) -> Integer:
        return Integer(name, doc, required=creating, lo=0, hi=lambda s: s.shelf.max_price_cents)

    return (
        Text("title", required=creating, min_len=1, max_len=TITLE_MAX),
        Text("description", required=False, default=maybe(""), max_len=DESCRIPTION_MAX),
        Text("image_url", "an http(s) URL or a path", required=False, default=maybe(""),
             max_len=URL_MAX),
        price("list_price", "cents"),
        price("live_price", "cents, at most the list price"),
        Text("currency", "the deployment's currency (shelf.currency)", required=False,
             default=maybe(lambda s: s.shelf.currency), max_len=3, pattern="[A-Z]{3}"),
        Integer("stock", "units available (a one-variant product; else per variant)",
                required=False, lo=0, hi=lambda s: s.shelf.max_stock),
        Integer("per_buyer_limit", required=False, default=maybe(1), lo=1,
                hi=lambda s: s.shelf.max_per_buyer),
        Integer("commission_bp", "basis points of the amount paid", required=False,
                default=maybe(0), lo=0, hi=MAX_BP),
        OPTIONS, _variants_field(creating),
    )


async def _create_product(call: Call) -> Json:
    return await call.services.shelf.create_product(call.who, call.args)


async def _catalogue(call: Call) -> Json:
    return {"products": await call.services.shelf.catalogue(call.who)}


async def _get_product(call: Call) -> Json:
    return await call.services.shelf.get_product(call.who, call.args["product_id"])


async def _update_product(call: Call) -> Json:
    changes = {k: v for k, v in call.args.items() if k != "product_id"}
    return await call.services.shelf.update_product(call.who, call.args["product_id"], changes)


async def _delete_product(call: Call) -> Json:
    await call.services.shelf.delete_product(call.who, call.args["product_id"])
    return {}


async def _take_down(call: Call) -> Json:
    a = call.args
    return await call.services.shelf.take_down(call.who, a["product_id"], a["reason"])


async def _restore(call: Call) -> Json:
    return await call.services.shelf.restore(call.who, call.args["product_id"])


async def _shelf(call: Call) -> Json:
    return await call.services.shelf.shelf(call.room_id)


async def _shelf_add(call: Call) -> Json:
    a = call.args
    return {"seq": await call.services.shelf.shelf_add(call.who, call.room_id, a["product_id"],
                                                       a["position"])}


async def _shelf_order(call: Call) -> Json:
    return {"seq": await call.services.shelf.shelf_order(call.who, call.room_id,
                                                         call.args["product_ids"])}


async def _shelf_move(call: Call) -> Json:
    a = call.args
    return {"seq": await call.services.shelf.shelf_move(call.who, call.room_id,
                                                        a["product_id"], a["position"])}


async def _shelf_remove(call: Call) -> Json:
    return {"seq": await call.services.shelf.shelf_remove(call.who, call.room_id,
                                                          call.args["product_id"])}


async def _pin(call: Call) -> Json:
    return {"seq": await call.services.shelf.pin(call.who, call.room_id,
                                                 call.args["product_id"])}


async def _create_sale(call: Call) -> Json:
    return await call.services.shelf.create_sale(call.who, call.room_id, call.args)


async def _cancel_sale(call: Call) -> Json:
    await call.services.shelf.cancel_sale(call.who, call.room_id, call.args["product_id"])
    return {}


async def _product(call: Call) -> Json:
    view = await call.services.shelf.product_view(call.who, call.room_id,
                                                  call.args["product_id"])
    await call.services.show_reports.note_card_view(call.who, call.room_id,
                                                    call.args["product_id"])
    return view


async def _buy(call: Call) -> Json:
    # a buy naming a sale this process knows closed is answered here (services/local_refusals)
    return await call.services.local_refusals.buy(
        call.room_id, call.who.user_id, call.args,
        lambda: call.services.shelf.buy(call.who, call.room_id, call.args))


async def _quote(call: Call) -> Json:
    return await call.services.shelf.quote(call.who, call.room_id, call.args)


SEQ = "`{\"seq\"}` of the `shelf_updated` event"
OWNER_ERRORS = (NotFound,)
SHELF_ERRORS = (NotFound, InvalidState, TakenDown)

COMMANDS = (
    # the catalogue
    Command("create_product", "Add a product to the caller's catalogue.", _create_product,
            SELLER, _product_fields(creating=True), http=Route("POST", "/api/products", 201),
            reply="the product (with `commission_bp`)"),
    Command("list_products", "The caller's catalogue.", _catalogue, SELLER,
            http=Route("GET", "/api/products"), reply="`{\"products\": [...]}`"),
    Command("get_product", "One product of the caller's catalogue (ops: any).", _get_product,
            PRODUCT_OWNER_OR_OPS, (PRODUCT_ID,), OWNER_ERRORS, http=Route("GET", PRODUCT),
            reply="the product"),
    Command("update_product", "Edit a product; the shelves' copies follow "
            "(`product_updated`).", _update_product, PRODUCT_OWNER,
            (PRODUCT_ID, *_product_fields(creating=False)), OWNER_ERRORS,
            http=Route("PATCH", PRODUCT), reply="the product"),
    Command("delete_product", "Remove a product from the catalogue.", _delete_product,
            PRODUCT_OWNER, (PRODUCT_ID,), OWNER_ERRORS, http=Route("DELETE", PRODUCT),
            reply="`{}`"),
    Command("take_down", "Stop a product everywhere (owner or ops).", _take_down,
            PRODUCT_OWNER_OR_OPS,
            (PRODUCT_ID, Text("reason", required=False, default="", max_len=200)),
            OWNER_ERRORS, http=Route("POST", PRODUCT + "/takedown"),
            reply="the product, `status: taken_down`"),
    Command("restore", "Put a taken-down product back on sale (the owner after their own "
            "take-down, ops always).", _restore, PRODUCT_OWNER_OR_OPS, (PRODUCT_ID,),
            (NotFound, InvalidState), http=Route("POST", PRODUCT + "/restore"),
            reply="the product, `status: on_sale`"),
    # the shelf and the pin
    Command("shelf", "The room's shelf, pin and sales.", _shelf, ANYONE, errors=(NotFound,),
            op="shelf", http=Route("GET", ROOM + "/shelf"),
            reply="`{\"products\", \"pinned\", \"sales\"}`"),
    Command("shelf_add", "Put a catalogue product on the shelf.", _shelf_add, ROOM_CREATOR,
            (PRODUCT_ID, Integer("position", "0-based; -1: the end", required=False,
                                 default=-1, lo=-1, hi=10_000)),
            SHELF_ERRORS, http=Route("POST", ROOM + "/shelf", 201), reply=SEQ),
    Command("shelf_order", "Reorder the shelf: exactly its products, in the new order.",
            _shelf_order, ROOM_CREATOR, (ListOf("product_ids", item=PRODUCT_ID),),
            SHELF_ERRORS, http=Route("PUT", ROOM + "/shelf"), reply=SEQ),
    Command("shelf_move", "Move one product on the shelf.", _shelf_move, ROOM_CREATOR,
            (PRODUCT_ID, POSITION), SHELF_ERRORS,
            http=Route("PATCH", ROOM + "/shelf/{product_id}"), reply=SEQ),
    Command("shelf_remove", "Take a product off the shelf (and the pin).", _shelf_remove,
            ROOM_CREATOR, (PRODUCT_ID,), SHELF_ERRORS,
            http=Route("DELETE", ROOM + "/shelf/{product_id}"), reply=SEQ),
    Command("pin", "Pin the product being explained, or null to clear.", _pin, ROOM_CREATOR,
            (ProductId("product_id", "a shelf product, or null to clear the pin",
                       nullable=True),),
            SHELF_ERRORS, op="pin", http=Route("PUT", ROOM + "/pinned"),
            reply="`{\"seq\"}` of the `product_pinned` event"),
    # sales
    Command("create_sale", "A flash sale of a shelf product: price, stock and window.",
            _create_sale, ROOM_CREATOR,
            (PRODUCT_ID, VARIANT_ID_FIELD,
             Integer("price", "cents, at most the product's list price", lo=0,
                     hi=lambda s: s.shelf.max_price_cents),
             Integer("stock", "units drawn from the catalogue's stock of the variant now",
                     lo=1, hi=lambda s: s.shelf.max_stock),
             Integer("start_at", "ms; absent: now", required=False, lo=0, hi=MAX_TIME_MS),
             Integer("end_at", "ms, after start_at and in the future", lo=0,
                     hi=MAX_TIME_MS)),
            (*SHELF_ERRORS, InvalidField, InsufficientStock),
            http=Route("POST", ROOM + "/sales", 201), reply="the sale with `left`"),
    Command("cancel_sale", "Cancel a product's open or scheduled sale (`sale_ended`, "
            "`cancelled`).", _cancel_sale, ROOM_CREATOR, (PRODUCT_ID,), (NotFound,),
            http=Route("DELETE", ROOM + "/sales/{product_id}"), reply="`{}`"),
    # viewers
    Command("product", "A shelf product as this viewer sees it: price, sale, window, its "
            "variants (price and units left each), what they may still buy.", _product,
            ANYONE, (PRODUCT_ID,),
            (NotFound, GuestsNotAllowed), op="product",
            http=Route("GET", ROOM + "/products/{product_id}"), reply="the product view"),
    Command("buy", "Reserve units of a shelf product: at the live price (plus the variant's "
            "price_delta), or inside its flash sale; with a claimed coupon. The same "
            "idempotency key answers the same order.", _buy, USER,
            (*PURCHASE_FIELDS,
             SafeId("idempotency_key", "one per purchase attempt; retry with the same")),
            PURCHASE_ERRORS,
            op="buy", http=Route("POST", ROOM + "/buy", created="created"),
            reply="`{\"order\", \"created\", \"left\"}` (HTTP: 201 when created, 200 for a "
                  "repeated key)"),
    Command("quote", "What `buy` with these fields would charge now (the same arithmetic, "
            "nothing reserved), and the caller's claimed coupons.", _quote, USER,
            PURCHASE_FIELDS, PURCHASE_ERRORS, op="quote",
            http=Route("POST", ROOM + "/quote"),
            reply="`{\"unit_price\", \"quantity\", \"subtotal\", \"discount\", "
                  "\"coupon_id\", \"amount\", \"currency\", \"sale_id\", \"variant_id\", "
                  "\"left\", \"coupons\"}`"),
)
