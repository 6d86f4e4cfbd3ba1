"""HLS over HTTP: a room's live playlist and its segments, straight from the files the recorder
writes (``live_server/media/hls.py``), with the headers a CDN in front needs.

- The playlist changes every segment (with Low-Latency HLS, every part): cacheable for half a
  target duration, in whole seconds and at least one (``max-age=1`` at the defaults, and always
  with Low-Latency HLS, whose players follow the edge by blocking reloads), so a CDN absorbs a
  crowd's polling (one origin request per second or so per edge) while players still see new
  segments in time.
- A segment never changes under its name (names carry a random prefix per broadcast), so it is
  cacheable for a long time and marked ``immutable``.
- Answers that say "not there (yet)" are ``no-store``: a playlist that does not exist yet will a
  moment later, and a cached 404 must not hide it.
- ``Access-Control-Allow-Origin: *`` on everything: the player may live on another origin, and
  nothing here depends on who asks.

Only names the recorder writes are served (the room id pattern and ``index.m3u8``,
``<prefix>-<seq>.ts`` or a part's ``<prefix>-p<n>.ts``), so neither ``..`` nor a temporary file
can be reached. Files are sent with ``FileResponse`` (sendfile, file opens off the event loop).

Low-Latency HLS (``hls.low_latency``, ``media/llhls.py``):

- ``_HLS_msn`` / ``_HLS_part`` make a playlist request block until the playlist holds that
  part (or segment), at most three target durations (then 503 ``hls_not_yet``, as RFC 8216bis
  says); more than two segments ahead is a 400 at once. The answer to such a URL never goes
  stale (any later playlist also holds that part), so it is cacheable for six target durations
  and a CDN collapses a crowd's identical requests into one. Such a URL names one broadcast's
  part only because a new broadcast of the room numbers its segments above the previous one's
  (``media/hls.py``, :func:`clock_sequence`); an ended playlist (``#EXT-X-ENDLIST``) ignores
  the directives and is cached like the plain playlist.
- A request for the part named by ``#EXT-X-PRELOAD-HINT`` blocks the same way until the part
  is written.
- ``_HLS_skip=YES`` answers a delta update (``#EXT-X-SKIP``).
- At most ``hls.max_blocking`` requests wait in one process; beyond that 503 ``hls_busy`` with
  ``Retry-After`` (metrics ``live_hls_blocking_waiting``, ``live_hls_blocking_total``).

Every answer is counted in ``live_hls_requests_total{kind,status}`` (:func:`count_request`, on
``on_response_prepare`` so a file's final status, a revalidation's 304 or a range's 206, is the
one counted): behind a cache, the requests that reached the origin.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from prometheus_client import Counter, Gauge

from live_server.config import HlsSettings
from live_server.errors import BadRequest, HlsBusy, HlsNotYet, LiveError, NotFound, RetryLater
from live_server.media.hls import PLAYLIST, SEGMENT_RE, InvalidRoomId, room_dir
from live_server.media.hls_feed import HlsFeeds
from live_server.media.llhls import (
    BLOCK_TARGETS,
    PART_RE,
    SKIP_TARGETS,
    Busy,
    PlaylistWaits,
    Position,
    delta,
    position,
)
from live_server.web.http import error_response, services
from live_server.web.keys import SERVICES
from live_server.web.media import MEDIA

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"
PLAYLIST_CACHE = "public, max-age=1"  # Low-Latency HLS, and any ended playlist
SEGMENT_CACHE = "public, max-age=86400, immutable"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, Age, Date",
}

routes = web.RouteTableDef()


@dataclass(frozen=True, slots=True)
class Blocking:
    """This process's blocking requests: the waits and their count by result."""

    waits: PlaylistWaits
    results: Counter | None = None

    def count(self, result: str) -> None:
        if self.results is not None:
            self.results.labels(result).inc()


BLOCKING = web.AppKey("hls_blocking", Blocking)
REQUESTS = web.AppKey("hls_requests", Counter)


def playlist_cache(settings: HlsSettings) -> str:
    """The live playlist's ``Cache-Control``: half the configured target duration in whole
    seconds (at least one); one second with Low-Latency HLS (a new part every ``part_ms``)."""
    if settings.low_latency:
        return PLAYLIST_CACHE
    target_s = math.ceil(settings.segment_ms / 1000)
    return f"public, max-age={max(1, target_s // 2)}"


def blocking_cache(pos: Position) -> str:
    """A blocking reload's ``Cache-Control``, from the playlist it is answered with: six
    target durations (its answer never goes stale), or the plain playlist's one second when
    that playlist has ended (the directives are ignored then, RFC 8216bis)."""
    if pos.ended:
        return PLAYLIST_CACHE
    return f"public, max-age={SKIP_TARGETS * pos.target_s}"


def _refuse(err: LiveError) -> web.Response:
    response = error_response(err)
    response.headers.update(CORS)
    response.headers["Cache-Control"] = "no-store"
    if isinstance(err, RetryLater):
        response.headers["Retry-After"] = str(err.retry_after_s)
    return response


def _locate(request: web.Request, name: str) -> Path | web.Response:
    """The path of a file of the room's folder, or the refusal: 400 for a room id or file name
    that cannot be one, 404 when HLS is off."""
    settings = services(request).settings.hls
    try:
        folder = room_dir(Path(settings.dir), request.match_info["room_id"])
    except InvalidRoomId:
        return _refuse(BadRequest("not a room id"))
    if not settings.enabled:
        return _refuse(NotFound("HLS is not enabled on this server"))
    if name != PLAYLIST and not SEGMENT_RE.fullmatch(name) and not PART_RE.fullmatch(name):
        return _refuse(BadRequest("not an HLS file name"))
    return folder / name


def _file(path: Path, content_type: str, cache: str) -> web.StreamResponse:
    """The file, or 404 when it is not there (not written yet, or gone)."""
    if not path.is_file():
        return _refuse(NotFound("no such HLS file (not written yet, or gone)"))
    headers = {"Content-Type": content_type, "Cache-Control": cache, **CORS}
    return web.FileResponse(path, headers=headers)


def _read(path: Path) -> str | None:
    """A playlist's text (a few kB on a local disk: not worth a thread)."""
    try:
        return path.read_text(encoding="ascii")
    except OSError:
        return None


def _int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise BadRequest(f"{name} must be a whole number")
    return int(raw)


@routes.get("/hls/{room_id}/" + PLAYLIST)
async def playlist(request: web.Request) -> web.StreamResponse:
    """The room's live playlist: the last ``hls.window`` segments; with Low-Latency HLS also
    blocking reloads (``_HLS_msn``, ``_HLS_part``) and delta updates (``_HLS_skip=YES``)."""
    path = _locate(request, PLAYLIST)
    if isinstance(path, web.Response):
        return path
    query = request.query
    skip = query.get("_HLS_skip", "").upper() in ("YES", "V2")
    blocking_asked = "_HLS_msn" in query or "_HLS_part" in query
    blocking = request.app.get(BLOCKING)
    settings = services(request).settings.hls
    plain_cache = playlist_cache(settings)
    if not settings.low_latency or not (skip or blocking_asked):
        return _file(path, PLAYLIST_TYPE, plain_cache)
    try:
        msn, part = _int(request, "_HLS_msn"), _int(request, "_HLS_part")
        if part is not None and msn is None:
            raise BadRequest("_HLS_part needs _HLS_msn")
    except BadRequest as err:
        return _refuse(err)
    text = _read(path)
    if text is None:
        return _refuse(NotFound("no such HLS file (not written yet, or gone)"))
    pos = position(text)
    if not pos.low_latency:
        return _file(path, PLAYLIST_TYPE, plain_cache)  # directives ignored, as RFC says
    cache = plain_cache
    if msn is not None:
        if not pos.has(msn, part):
            if pos.too_far(msn):
                if blocking is not None:
                    blocking.count("too_far")
                return _refuse(BadRequest("_HLS_msn is more than two segments ahead"))
            got = await _block(blocking, path, pos, lambda p: p.has(msn, part))
            if isinstance(got, web.Response):
                return got
            text = _read(path)
            if text is None:
                return _refuse(NotFound("no such HLS file (not written yet, or gone)"))
            pos = position(text)
        cache = blocking_cache(pos)
    if skip:
        text = delta(text)
    return web.Response(body=text.encode("ascii"), headers={
        "Content-Type": PLAYLIST_TYPE, "Cache-Control": cache, **CORS})


async def _block(blocking: Blocking | None, path: Path, pos: Position,
                 ready: Callable[[Position], bool]) -> Position | web.Response:
    """Wait until the playlist at ``path`` is ``ready``: the position, or the refusal."""
    if blocking is None:  # an app without the HLS context: nothing watches, so no waiting
        return _refuse(HlsNotYet(1))
    try:
        got = await blocking.waits.wait(path, ready, BLOCK_TARGETS * pos.target_s)
    except Busy:
        blocking.count("busy")
        return _refuse(HlsBusy(1))
    if got is None:
        blocking.count("timed_out")
        return _refuse(HlsNotYet(1))
    blocking.count("answered")
    return got


@routes.get("/hls/{room_id}/{segment}")
async def segment(request: web.Request) -> web.StreamResponse:
    """One MPEG-TS segment or part named in the playlist. The part the playlist's preload hint
    names waits (like a blocking reload) until it is written."""
    name = request.match_info["segment"]
    path = _locate(request, name)
    if isinstance(path, web.Response):
        return path
    if PART_RE.fullmatch(name) and not path.is_file():
        text = _read(path.parent / PLAYLIST)
        pos = position(text) if text is not None else None
        if pos is not None and pos.hint == name and not pos.ended:
            got = await _block(request.app.get(BLOCKING), path.parent / PLAYLIST, pos,
                               lambda p: p.hint != name or p.ended)
            if isinstance(got, web.Response):
                return got
    return _file(path, SEGMENT_TYPE, SEGMENT_CACHE)


async def count_request(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` (installed by ``create_app``): count an answer of the routes
    above in ``live_hls_requests_total`` by kind (``playlist``, ``playlist_blocking`` with
    ``_HLS_msn``, ``segment``, ``part``) and final status. A signal rather than the handlers,
    because a file's status (200, 304, 206) is settled only while it is sent."""
    counter = request.app.get(REQUESTS)
    if counter is None:
        return
    handler = request.match_info.route.handler
    if handler is playlist:
        kind = "playlist_blocking" if "_HLS_msn" in request.query else "playlist"
    elif handler is segment:
        kind = "part" if PART_RE.fullmatch(request.match_info.get("segment", "")) else "segment"
    else:
        return
    counter.labels(kind, str(response.status)).inc()


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
        services = app[SERVICES]
        settings = services.settings.hls
        waits = PlaylistWaits(settings.max_blocking)
        registry = services.metrics.registry
        Gauge("live_hls_blocking_waiting",
              "Blocking HLS requests (LL-HLS playlist reloads, preload-hinted parts) waiting "
              "in this process", registry=registry).set_function(lambda: waits.waiting)
        app[BLOCKING] = Blocking(waits, Counter(
            "live_hls_blocking", "Blocking HLS requests by result: answered, timed_out (503 "
            "hls_not_yet), busy (503 hls_busy), too_far (400)", ["result"], registry=registry))
        app[REQUESTS] = Counter(
            "live_hls_requests", "HLS answers of this process by kind (playlist, "
            "playlist_blocking, segment, part) and HTTP status: behind a cache, the requests "
            "that reached the origin", ["kind", "status"], registry=registry)
        feeds = HlsFeeds(settings, on_playlist=waits.nudge)
        if settings.enabled:
            feeds.attach(app[MEDIA])
        try:
            yield
        finally:
            await feeds.close()
    return ctx
