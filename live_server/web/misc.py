"""Health, readiness, metrics, identity, development login and the pages."""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path

from aiohttp import web

from live_server.auth import mint
from live_server.commands.command import bind_fields
from live_server.errors import Forbidden, NotReady, Unauthorized
from live_server.web.http import body, identity, json, services
from live_server.web.http_only import declared_body

routes = web.RouteTableDef()
STATIC_DIR = Path(__file__).resolve().parent.parent.parent / "static"


class StaticFiles(web.StaticResource):
    """``/static/``: aiohttp's static files, except that a name the file system cannot even
    look up (a component over NAME_MAX or a path over PATH_MAX: ``ENAMETOOLONG``) is a missing
    file, 404. aiohttp lets that ``OSError`` through, and anyone could turn it into a 500 with
    a traceback in the log. Other ``OSError``s (a failing disk) stay server errors."""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await super()._handle(request)
        except OSError as err:
            if err.errno != errno.ENAMETOOLONG:
                raise
            raise web.HTTPNotFound() from None


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return json({"ok": True, "process": services(request).node.id})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    try:
        await asyncio.wait_for(services(request).ping_store(), 2)
    except Exception:
        raise NotReady("valkey does not answer") from None
    return json({"ok": True})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    s = services(request)
    s.metrics.connections.set(s.hub.connection_count)
    s.metrics.rooms_local.set(s.hub.room_count)
    s.metrics.set_room_online(s.hub.busiest_rooms(s.settings.ops.top_rooms_gauge))
    return web.Response(body=s.metrics.render(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    who = identity(request)
    if who.user_id is None:
        raise Unauthorized("a token is needed")
    return json({"id": who.user_id, "name": who.name, "role": who.role, "exp": who.exp})


DEV_TOKEN_FIELDS = declared_body("POST", "/api/dev/token")


@routes.post("/api/dev/token")
async def dev_token(request: web.Request) -> web.Response:
    """Bound by its declared fields like every body (an unknown field is ``invalid_field``)."""
    s = services(request)
    if not s.settings.auth.dev_login:
        raise Forbidden("development login is off")
    args = bind_fields(DEV_TOKEN_FIELDS, await body(request), s.settings)
    user = args["user"]
    token = mint(s.settings.auth.secret, user, args["role"], name=args.get("name") or user,
                 ttl_s=s.settings.auth.token_ttl_s)
    return json({"token": token})


def _page(name: str) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / name, headers={"Cache-Control": "no-cache"})


@routes.get("/")
async def index(request: web.Request) -> web.FileResponse:
    return _page("index.html")


@routes.get("/watch/{room_id}")
async def watch(request: web.Request) -> web.FileResponse:
    return _page("watch.html")


@routes.get("/studio")
async def studio(request: web.Request) -> web.FileResponse:
    return _page("studio.html")


@routes.get("/shows")
async def shows_page(request: web.Request) -> web.FileResponse:
    return _page("shows.html")


@routes.get("/ops")
async def ops_page(request: web.Request) -> web.FileResponse:
    return _page("ops.html")
