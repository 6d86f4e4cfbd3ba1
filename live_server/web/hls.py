"""HLS over HTTP: a room's live playlist and its segments, straight from the files the recorder
writes (``live_server/media/hls.py``), with the headers a CDN in front needs.

- The playlist changes every segment: ``max-age=1`` lets a CDN absorb a crowd's polling (one
  origin request per second per edge) while players still see new segments in time.
- A segment never changes under its name (names carry a random prefix per broadcast), so it is
  cacheable for a long time and marked ``immutable``.
- Answers that say "not there (yet)" are ``no-store``: a playlist that does not exist yet will a
  moment later, and a cached 404 must not hide it.
- ``Access-Control-Allow-Origin: *`` on everything: the player may live on another origin, and
  nothing here depends on who asks.

Only names the recorder writes are served (the room id pattern and ``index.m3u8`` or
``<prefix>-<seq>.ts``), so neither ``..`` nor a temporary file can be reached. Files are sent
with ``FileResponse`` (sendfile, file opens off the event loop).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from live_server.errors import BadRequest, LiveError, NotFound
from live_server.media.hls import PLAYLIST, SEGMENT_RE, InvalidRoomId, room_dir
from live_server.media.hls_feed import HlsFeeds
from live_server.web.http import error_response, services
from live_server.web.keys import SERVICES
from live_server.web.media import MEDIA

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"
PLAYLIST_CACHE = "public, max-age=1"
SEGMENT_CACHE = "public, max-age=86400, immutable"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, Age, Date",
}

routes = web.RouteTableDef()


def _refuse(err: LiveError) -> web.Response:
    response = error_response(err)
    response.headers.update(CORS)
    response.headers["Cache-Control"] = "no-store"
    return response


def _serve(request: web.Request, name: str, content_type: str,
           cache: str) -> web.StreamResponse:
    """A file of the room's folder: 400 for a room id or file name that cannot be one, 404 when
    HLS is off or the file is not there (not written yet, or gone)."""
    settings = services(request).settings.hls
    try:
        folder = room_dir(Path(settings.dir), request.match_info["room_id"])
    except InvalidRoomId:
        return _refuse(BadRequest("not a room id"))
    if not settings.enabled:
        return _refuse(NotFound("HLS is not enabled on this server"))
    if name != PLAYLIST and not SEGMENT_RE.fullmatch(name):
        return _refuse(BadRequest("not an HLS file name"))
    path = folder / name
    if not path.is_file():
        return _refuse(NotFound("no such HLS file (not written yet, or gone)"))
    headers = {"Content-Type": content_type, "Cache-Control": cache, **CORS}
    return web.FileResponse(path, headers=headers)


@routes.get("/hls/{room_id}/" + PLAYLIST)
async def playlist(request: web.Request) -> web.StreamResponse:
    """The room's live playlist: the last ``hls.window`` segments."""
    return _serve(request, PLAYLIST, PLAYLIST_TYPE, PLAYLIST_CACHE)


@routes.get("/hls/{room_id}/{segment}")
async def segment(request: web.Request) -> web.StreamResponse:
    """One MPEG-TS segment named in the playlist."""
    return _serve(request, request.match_info["segment"], SEGMENT_TYPE, SEGMENT_CACHE)


@routes.options("/hls/{room_id}/{name}")
async def preflight(request: web.Request) -> web.Response:
    """CORS preflight, for players that send a ``Range`` header or other non-simple requests."""
    return web.Response(status=204, headers={
        **CORS,
        "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
        "Access-Control-Allow-Headers": "Range",
        "Access-Control-Max-Age": "86400",
    })


def hls_ctx() -> Callable[[web.Application], AsyncIterator[None]]:
    """Writes HLS for the rooms whose publisher is in this process: attaches an
    :class:`HlsFeeds` to the media service's publisher listeners. Append it after
    ``media_ctx()``: it needs ``app[MEDIA]``, and its clean-up (stop every feed, delete the
    files) then runs before the media service closes its sessions."""
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SERVICES].settings.hls
        feeds = HlsFeeds(settings)
        if settings.enabled:
            feeds.attach(app[MEDIA])
        try:
            yield
        finally:
            await feeds.close()
    return ctx
