"""The catalogue, a room's shelf, the pin, sales, the product card and buying."""

from __future__ import annotations

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
from live_server.domain.rooms import MAX_TIME_MS
from live_server.domain.shelf import DESCRIPTION_MAX, MAX_BP, TITLE_MAX, URL_MAX
from live_server.errors import (
    GuestsNotAllowed,
    InsufficientStock,
    InvalidState,
    LimitReached,
    NotFound,
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
        Integer("stock", required=creating, lo=0, hi=lambda s: s.shelf.max_stock),
        Integer("per_buyer_limit", required=False, default=maybe(1), lo=1,
                hi=lambda s: s.shelf.max_per_buyer),
        Integer("commission_bp", "basis points of the amount", required=False,
                default=maybe(0), lo=0, hi=MAX_BP),
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
    a = call.args
    return await call.services.shelf.buy(call.who, call.room_id, a["product_id"],
                                         a["quantity"], a["idempotency_key"])


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
            (PRODUCT_ID,
             Integer("price", "cents, at most the product's list price", lo=0,
                     hi=lambda s: s.shelf.max_price_cents),
             Integer("stock", "at most the product's stock", lo=1,
                     hi=lambda s: s.shelf.max_stock),
             Integer("start_at", "ms; absent: now", required=False, lo=0, hi=MAX_TIME_MS),
             Integer("end_at", "ms, after start_at and in the future", lo=0,
                     hi=MAX_TIME_MS)),
            SHELF_ERRORS, http=Route("POST", ROOM + "/sales", 201),
            reply="the sale with `left`"),
    Command("cancel_sale", "Cancel a product's open or scheduled sale (`sale_ended`, "
            "`cancelled`).", _cancel_sale, ROOM_CREATOR, (PRODUCT_ID,), (NotFound,),
            http=Route("DELETE", ROOM + "/sales/{product_id}"), reply="`{}`"),
    # viewers
    Command("product", "A shelf product as this viewer sees it: price, sale, window, what "
            "they may still buy.", _product, ANYONE, (PRODUCT_ID,),
            (NotFound, GuestsNotAllowed), op="product",
            http=Route("GET", ROOM + "/products/{product_id}"), reply="the product view"),
    Command("buy", "Reserve units of a product on sale; the same idempotency key answers the "
            "same order.", _buy, USER,
            (PRODUCT_ID,
             Integer("quantity", required=False, default=1, lo=1,
                     hi=lambda s: s.shelf.max_quantity),
             SafeId("idempotency_key", "one per purchase attempt; retry with the same")),
            (NotFound, TakenDown, SaleNotStarted, SaleEnded, SoldOut, InsufficientStock,
             LimitReached),
            op="buy", http=Route("POST", ROOM + "/buy", created="created"),
            reply="`{\"order\", \"created\", \"left\"}` (HTTP: 201 when created, 200 for a "
                  "repeated key)"),
)
