"""The two order endpoints that are not JSON in and out, so not in the command table: the
payment gateway's signed webhook (the signature covers the raw body) and a room's orders as
CSV."""

from __future__ import annotations

from aiohttp import web

from live_server.commands.command import bind_fields
from live_server.domain.gifts import is_topup_id
from live_server.protocol import loads_object
from live_server.web.http import csv_file, identity, json, raw_body, services
from live_server.web.http_only import declared_body

routes = web.RouteTableDef()
WEBHOOK_FIELDS = declared_body("POST", "/api/payments/webhook")


@routes.post("/api/payments/webhook")
async def webhook(request: web.Request) -> web.Response:
    """The signature first, then the body bound by the rule every command follows (its fields
    as the OpenAPI document declares them), then the transition."""
    svc = services(request)
    raw = await raw_body(request)
    svc.orders.verify_webhook(raw, request.headers.get("X-Live-Signature", ""))
    event = bind_fields(WEBHOOK_FIELDS, loads_object(raw), svc.settings)
    if is_topup_id(event["order_id"]):  # a wallet top-up, paid like an order
        return json({"topup": await svc.topups.webhook(event)})
    return json({"order": await svc.orders.webhook(event)})


@routes.get("/api/rooms/{room_id}/orders.csv")
async def room_orders_csv(request: web.Request) -> web.Response:
    room_id = request.match_info["room_id"]
    text = await services(request).orders.room_csv(identity(request), room_id)
    return csv_file(text, f"orders-{room_id}.csv")
