"""The two order endpoints that are not JSON in and out, so not in the command table: the
payment gateway's signed webhook (the signature covers the raw body) and a room's orders as
CSV."""

from __future__ import annotations

from aiohttp import web

from live_server.web.http import identity, json, raw_body, services

routes = web.RouteTableDef()


@routes.post("/api/payments/webhook")
async def webhook(request: web.Request) -> web.Response:
    order = await services(request).orders.webhook(
        await raw_body(request), request.headers.get("X-Live-Signature", ""))
    return json({"order": order})


@routes.get("/api/rooms/{room_id}/orders.csv")
async def room_orders_csv(request: web.Request) -> web.Response:
    room_id = request.match_info["room_id"]
    text = await services(request).orders.room_csv(identity(request), room_id)
    return web.Response(text=text, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="orders-{room_id}.csv"'})
