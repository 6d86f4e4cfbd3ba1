"""``GET /api/rooms/{room_id}/thumbnail.jpg``: a live room's stream thumbnail, outside the
command table because the answer is a JPEG, not JSON (``media/thumbnail.py`` makes it).

Ops only: the console is its one reader, and a decode is the only CPU the video path spends on
pictures, so it is not offered to every visitor (the landing page's cards keep the room's
cover). ``Cache-Control: private, max-age=5``: the picture is made again at most every 5 s.
No picture in this process is 404 ``not_found``, ``no-store`` (it may have one a moment later).
"""

from __future__ import annotations

from aiohttp import web

from live_server.errors import NotFound
from live_server.web.http import error_response, identity, services

routes = web.RouteTableDef()

CACHE = "private, max-age=5"


@routes.get("/api/rooms/{room_id}/thumbnail.jpg")
async def thumbnail(request: web.Request) -> web.Response:
    jpeg = await services(request).thumbnails.for_ops(identity(request),
                                                      request.match_info["room_id"])
    if jpeg is None:
        refused = error_response(NotFound(
            "no video picture of this room here (not broadcasting, or its video is on "
            "another machine)"))
        refused.headers["Cache-Control"] = "no-store"
        return refused
    return web.Response(body=jpeg, content_type="image/jpeg",
                        headers={"Cache-Control": CACHE})
