"""Ops endpoints: every live room with its figures (video included), reports, the moderation
log."""

from __future__ import annotations

import asyncio

from aiohttp import web

from live_server.auth import require_ops
from live_server.protocol import now_ms
from live_server.web.http import identity, int_query, json, services
from live_server.web.media import MEDIA

routes = web.RouteTableDef()


@routes.get("/api/ops/rooms")
async def ops_rooms(request: web.Request) -> web.Response:
    require_ops(identity(request))
    s = services(request)
    now = now_ms()
    limit = int_query(request, "limit", 200, 1, 1000)
    rooms = await s.room_store.many(await s.room_store.live_ids(limit))
    ids = [r.id for r in rooms]
    figures, homes = await asyncio.gather(s.room_store.figures_many(ids, now),
                                          request.app[MEDIA].store.homes(ids))
    out = [
        {**r.public(), **figures[r.id],
         "video": ({"publishing": True, "codecs": home.codecs, "home": home.url}
                   if home is not None else {"publishing": False})}
        for r, home in zip(rooms, homes, strict=True)
    ]
    return json({"rooms": out, "processes": await s.presence.processes(now)})


@routes.get("/api/ops/reports")
async def ops_reports(request: web.Request) -> web.Response:
    require_ops(identity(request))
    limit = int_query(request, "limit", 100, 1, 1000)
    return json({"reports": await services(request).chat_store.reports(limit)})


@routes.get("/api/ops/moderation")
async def ops_moderation(request: web.Request) -> web.Response:
    require_ops(identity(request))
    limit = int_query(request, "limit", 100, 1, 1000)
    room_id = request.query.get("room") or None
    return json({"actions": await services(request).modlog.actions(limit, room_id)})
