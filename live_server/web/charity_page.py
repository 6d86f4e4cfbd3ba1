"""``GET /charity/{room_id}``: a charity show's public receipt page (its data comes from the
command table's ``GET /api/rooms/{room_id}/charity`` and ``.../charity/entries``)."""

from __future__ import annotations

from aiohttp import web

from live_server.web.misc import STATIC_DIR

routes = web.RouteTableDef()


@routes.get("/charity/{room_id}")
async def charity_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "charity.html", headers={"Cache-Control": "no-cache"})
