"""Ops endpoints: every live room with its figures (video included), reports, the moderation
log."""

from __future__ import annotations

from aiohttp import web

from live_server.web.http import identity, int_query, json, services

routes = web.RouteTableDef()


@routes.get("/api/ops/rooms")
async def ops_rooms(request: web.Request) -> web.Response:
    who = identity(request)
    limit = int_query(request, "limit", 200, 1, 1000)
    return json(await services(request).ops.live_rooms(who, limit))


@routes.get("/api/ops/reports")
async def ops_reports(request: web.Request) -> web.Response:
    who = identity(request)
    limit = int_query(request, "limit", 100, 1, 1000)
    return json({"reports": await services(request).ops.reports(who, limit)})


@routes.get("/api/ops/moderation")
async def ops_moderation(request: web.Request) -> web.Response:
    who = identity(request)
    limit = int_query(request, "limit", 100, 1, 1000)
    room_id = request.query.get("room") or None
    return json({"actions": await services(request).ops.moderation(who, limit, room_id)})
