"""A show's replay over HTTP: its VOD playlist (made from the parts' own playlists, with the
chapters) and its segments, like ``/hls/`` (CORS, no directory listing, only the names the
recorder writes); and ``replay_ctx()``, which records the shows of this process's publishers
and runs the replay sweep.

- The playlist is built per request from what is on disk and the chapters in Valkey; a replay
  does not change once its show ended, but ops may delete it, so ``max-age=60``.
- A segment never changes under its name: ``immutable``, cacheable for a day.
- Nothing is served unless the room has ended and its replay is ready; "not there" answers are
  ``no-store``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from live_server.errors import NotFound
from live_server.media.replay import ReplayFeeds
from live_server.web.hls import (
    CORS,
    PLAYLIST_TYPE,
    SEGMENT_CACHE,
    SEGMENT_TYPE,
    _refuse,
    preflight,
)
from live_server.web.http import services
from live_server.web.keys import SERVICES
from live_server.web.media import MEDIA

PLAYLIST_CACHE = "public, max-age=60"

routes = web.RouteTableDef()


@routes.get("/replays/{room_id}/index.m3u8")
async def playlist(request: web.Request) -> web.StreamResponse:
    """The replay's VOD playlist: every broadcast of the show, the chapters as DATERANGEs."""
    text = await services(request).replays.playlist(request.match_info["room_id"])
    if text is None:
        return _refuse(NotFound("no replay to play for this room"))
    return web.Response(body=text.encode(), headers={
        "Content-Type": PLAYLIST_TYPE, "Cache-Control": PLAYLIST_CACHE, **CORS})


@routes.get("/replays/{room_id}/{part}/{segment}")
async def segment(request: web.Request) -> web.StreamResponse:
    """One MPEG-TS segment of one part of the replay."""
    m = request.match_info
    path = await services(request).replays.segment(m["room_id"], m["part"], m["segment"])
    if path is None:
        return _refuse(NotFound("no such replay file"))
    return web.FileResponse(path, headers={
        "Content-Type": SEGMENT_TYPE, "Cache-Control": SEGMENT_CACHE, **CORS})


# CORS preflight, for players that send a ``Range`` header: the same answer as ``/hls/``'s
routes.options("/replays/{room_id}/index.m3u8")(preflight)
routes.options("/replays/{room_id}/{part}/{segment}")(preflight)


def replay_ctx() -> Callable[[web.Application], AsyncIterator[None]]:
    """Records the shows whose publisher is in this process (a :class:`ReplayFeeds` on the
    media service's publisher listeners) and sweeps old replays. Append it after
    ``media_ctx()``: its clean-up (every part ended) then runs before the media service
    closes its sessions."""
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        svc = app[SERVICES]
        settings = svc.settings
        feeds = ReplayFeeds(svc.replays, settings.replays, settings.hls)
        if settings.replays.enabled:
            feeds.attach(app[MEDIA])
        svc.replay_sweep.start()
        try:
            yield
        finally:
            await svc.replay_sweep.stop()
            await feeds.close()
    return ctx
