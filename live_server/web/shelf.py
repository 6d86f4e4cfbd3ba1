"""HTTP handlers for the catalogue, shelves, sales, purchases and orders. Thin: parse, call the
service, answer."""

from __future__ import annotations

from aiohttp import web

from live_server.domain.shelf import product_id_field
from live_server.errors import InvalidField, MissingField
from live_server.protocol import get_int, get_str
from live_server.web.http import body, identity, int_query, json, raw_body, services

routes = web.RouteTableDef()


def _pid(request: web.Request) -> str:
    return product_id_field({"product_id": request.match_info["product_id"]})


def _room(request: web.Request) -> str:
    return request.match_info["room_id"]


# Catalogue ---------------------------------------------------------------------------------

@routes.post("/api/products")
async def create_product(request: web.Request) -> web.Response:
    product = await services(request).shelf.create_product(identity(request),
                                                           await body(request))
    return json(product, status=201)


@routes.get("/api/products")
async def list_products(request: web.Request) -> web.Response:
    return json({"products": await services(request).shelf.catalogue(identity(request))})


@routes.get("/api/products/{product_id}")
async def get_product(request: web.Request) -> web.Response:
    return json(await services(request).shelf.get_product(identity(request), _pid(request)))


@routes.patch("/api/products/{product_id}")
async def update_product(request: web.Request) -> web.Response:
    svc = services(request).shelf
    return json(await svc.update_product(identity(request), _pid(request), await body(request)))


@routes.delete("/api/products/{product_id}")
async def delete_product(request: web.Request) -> web.Response:
    await services(request).shelf.delete_product(identity(request), _pid(request))
    return json({})


@routes.post("/api/products/{product_id}/takedown")
async def take_down(request: web.Request) -> web.Response:
    data = await body(request)
    reason = (get_str(data, "reason", max_len=200, required=False) or "").strip()
    return json(await services(request).shelf.take_down(identity(request), _pid(request),
                                                        reason))


@routes.post("/api/products/{product_id}/restore")
async def restore(request: web.Request) -> web.Response:
    return json(await services(request).shelf.restore(identity(request), _pid(request)))


# Shelf, pin, sales -------------------------------------------------------------------------

@routes.get("/api/rooms/{room_id}/shelf")
async def get_shelf(request: web.Request) -> web.Response:
    identity(request)
    return json(await services(request).shelf.shelf(_room(request)))


@routes.post("/api/rooms/{room_id}/shelf")
async def shelf_add(request: web.Request) -> web.Response:
    data = await body(request)
    svc = services(request).shelf
    position = get_int(data, "position", lo=-1, hi=10_000, default=-1)
    seq = await svc.shelf_add(identity(request), _room(request), product_id_field(data), position)
    return json({"seq": seq}, status=201)


@routes.put("/api/rooms/{room_id}/shelf")
async def shelf_order(request: web.Request) -> web.Response:
    data = await body(request)
    ids = data.get("product_ids")
    if not isinstance(ids, list) or len(ids) > 10_000:
        raise InvalidField("'product_ids' must be a list of product ids")
    pids = [product_id_field({"product_id": i}) for i in ids]
    seq = await services(request).shelf.shelf_order(identity(request), _room(request), pids)
    return json({"seq": seq})


@routes.patch("/api/rooms/{room_id}/shelf/{product_id}")
async def shelf_move(request: web.Request) -> web.Response:
    position = get_int(await body(request), "position", lo=-1, hi=10_000)
    seq = await services(request).shelf.shelf_move(identity(request), _room(request),
                                                   _pid(request), position)
    return json({"seq": seq})


@routes.delete("/api/rooms/{room_id}/shelf/{product_id}")
async def shelf_remove(request: web.Request) -> web.Response:
    seq = await services(request).shelf.shelf_remove(identity(request), _room(request),
                                                     _pid(request))
    return json({"seq": seq})


@routes.put("/api/rooms/{room_id}/pinned")
async def pin(request: web.Request) -> web.Response:
    data = await body(request)
    if "product_id" not in data:
        raise MissingField("'product_id' is required (null clears the pin)")
    pid = None if data["product_id"] is None else product_id_field(data)
    seq = await services(request).shelf.pin(identity(request), _room(request), pid)
    return json({"seq": seq})


@routes.post("/api/rooms/{room_id}/sales")
async def create_sale(request: web.Request) -> web.Response:
    sale = await services(request).shelf.create_sale(identity(request), _room(request),
                                                     await body(request))
    return json(sale, status=201)


@routes.delete("/api/rooms/{room_id}/sales/{product_id}")
async def cancel_sale(request: web.Request) -> web.Response:
    await services(request).shelf.cancel_sale(identity(request), _room(request), _pid(request))
    return json({})


@routes.get("/api/rooms/{room_id}/products/{product_id}")
async def product_view(request: web.Request) -> web.Response:
    return json(await services(request).shelf.product_view(identity(request), _room(request),
                                                           _pid(request)))


@routes.post("/api/rooms/{room_id}/buy")
async def buy(request: web.Request) -> web.Response:
    data = await body(request)
    s = services(request)
    result = await s.shelf.buy(
        identity(request), _room(request), product_id_field(data),
        get_int(data, "quantity", lo=1, hi=s.settings.shelf.max_quantity, default=1),
        get_str(data, "idempotency_key", max_len=64) or "")
    return json(result, status=201 if result["created"] else 200)


# Orders ------------------------------------------------------------------------------------

@routes.get("/api/me/orders")
async def my_orders(request: web.Request) -> web.Response:
    limit = int_query(request, "limit", 50, 1, 500)
    return json(await services(request).orders.mine(identity(request), limit))


@routes.get("/api/me/earnings")
async def my_earnings(request: web.Request) -> web.Response:
    limit = int_query(request, "limit", 100, 1, 1000)
    return json(await services(request).orders.earnings(identity(request), limit))


@routes.get("/api/orders/{order_id}")
async def get_order(request: web.Request) -> web.Response:
    return json(await services(request).orders.get(identity(request),
                                                   request.match_info["order_id"]))


@routes.post("/api/orders/{order_id}/pay")
async def pay(request: web.Request) -> web.Response:
    data = await body(request)
    outcome = get_str(data, "outcome", max_len=20, required=False) or "confirm"
    return json(await services(request).orders.pay(identity(request),
                                                   request.match_info["order_id"], outcome))


@routes.post("/api/orders/{order_id}/{action:cancel|fulfil|refund}")
async def order_action(request: web.Request) -> web.Response:
    svc = services(request).orders
    action = request.match_info["action"]
    fn = {"cancel": svc.cancel, "fulfil": svc.fulfil, "refund": svc.refund}[action]
    return json(await fn(identity(request), request.match_info["order_id"]))


@routes.post("/api/payments/webhook")
async def webhook(request: web.Request) -> web.Response:
    order = await services(request).orders.webhook(
        await raw_body(request), request.headers.get("X-Live-Signature", ""))
    return json({"order": order})


@routes.get("/api/rooms/{room_id}/orders")
async def room_orders(request: web.Request) -> web.Response:
    limit = int_query(request, "limit", 200, 1, 5000)
    return json(await services(request).orders.room_orders(identity(request), _room(request),
                                                           limit))


@routes.get("/api/rooms/{room_id}/orders.csv")
async def room_orders_csv(request: web.Request) -> web.Response:
    text = await services(request).orders.room_csv(identity(request), _room(request))
    return web.Response(text=text, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="orders-{_room(request)}.csv"'})
