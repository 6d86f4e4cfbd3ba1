"""WHIP (RFC 9725) and WHEP handlers, and the private media listener of this process.

Answers follow the RFC rather than the JSON API conventions: ``201`` with the SDP answer,
``Location`` (absolute, on the process holding the session), ``ETag`` and ``Link`` headers;
``204`` for DELETE; ``PATCH`` on a session URL with an ``application/trickle-ice-sdpfrag`` body
and ``If-Match`` adds the client's trickled candidates (``204``; ``428`` without ``If-Match``,
``412`` on a stale ETag, ``422`` for an ICE restart, which aiortc cannot do); ``405`` for PATCH
on the endpoint itself; ``307`` to the room's media home; ``409`` + ``Retry-After`` when
nobody publishes. Error bodies are still the project's ``{"error": {...}}`` JSON. Every
answer carries CORS headers so pages on another origin (and the private port, which is another
origin) can use the endpoints.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.web_runner import BaseRunner

from live_server.commands.command import bind_fields
from live_server.errors import (
    BadSdp,
    LiveError,
    MediaDisabled,
    MediaFull,
    MediaRedirect,
    MethodNotAllowed,
    NoPublisher,
    RequestTimeout,
    Unauthorized,
    UnsupportedMediaType,
)
from live_server.media.cohost import GUEST, GUEST_VIEWER, CohostMedia
from live_server.media.service import MediaService
from live_server.web.http import body, error_response, identity, json, raw_body, send_and_close
from live_server.web.http_only import declared_body
from live_server.web.keys import SERVICES

log = logging.getLogger(__name__)

MEDIA = web.AppKey("media", MediaService)
SDP = "application/sdp"
TRICKLE = "application/trickle-ice-sdpfrag"
routes = web.RouteTableDef()
LAYER_PATH = "/api/rooms/{room_id}/whep/{session_id}/layer"
LAYER_FIELDS = declared_body("POST", LAYER_PATH)

_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, PATCH, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, ETag, Link, Retry-After, Accept-Post, "
                                     "Accept-Patch",
    "Access-Control-Max-Age": "86400",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def media(request: web.Request) -> MediaService:
    return request.app[MEDIA]


def _answer_errors(handler: Handler) -> Handler:
    """LiveError → the RFC's status with its headers (Location, Retry-After, Allow) and CORS."""
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except LiveError as err:
            request.app[SERVICES].metrics.errors.labels(err.code).inc()
            response = error_response(err)
            if isinstance(err, MediaRedirect):
                response.headers["Location"] = err.location + request.path_qs
            elif isinstance(err, NoPublisher | MediaFull):
                response.headers["Retry-After"] = str(err.retry_after_s)
            elif err.status == 405:
                response.headers["Allow"] = err.extra.get("allow", "")
            if isinstance(err, RequestTimeout):
                response.headers.update(_CORS)
                return await send_and_close(request, response)
        response.headers.update(_CORS)
        return response
    return wrapped


async def _sdp_body(request: web.Request, content_type: str, what: str) -> str:
    ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype != content_type:
        raise UnsupportedMediaType(f"the body must be {what} (Content-Type: {content_type})")
    try:
        text = (await raw_body(request)).decode("utf-8")
    except UnicodeDecodeError:
        raise BadSdp(f"{what} is not UTF-8") from None
    if not text.strip():
        raise BadSdp(f"empty {what}")
    return text


async def _offer(request: web.Request) -> str:
    return await _sdp_body(request, SDP, "an SDP offer")


def _created(request: web.Request, kind: str, room_id: str, session_id: str, etag: str,
             answer: str, base: str) -> web.Response:
    response = web.Response(status=201, text=answer, content_type=SDP)
    response.headers["Location"] = f"{base}/api/rooms/{room_id}/{kind}/{session_id}"
    response.headers["ETag"] = etag
    for server in media(request).ice_servers:
        response.headers.add("Link", server.link())
    return response


def _options(allow: str, accept_post: bool) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.Response(status=204)
        response.headers["Allow"] = allow
        if accept_post:
            response.headers["Accept-Post"] = SDP
        else:
            response.headers["Accept-Patch"] = TRICKLE
        for server in media(request).ice_servers:
            response.headers.add("Link", server.link())
        return response
    return handler


def _no_patch(allow: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise MethodNotAllowed("PATCH the session URL (Location), not the endpoint",
                               allow=allow)
    return handler


# WHIP -------------------------------------------------------------------------------------

def _media_url(request: web.Request) -> str:
    """This process's media URL for the request's client (``media/urls.py``)."""
    return media(request).home_url(request.url.host or "", request.remote, request.headers)


async def whip_post(request: web.Request) -> web.StreamResponse:
    who = identity(request)
    if who.is_guest:
        raise Unauthorized("a creator token is needed to publish (Authorization: Bearer ...)")
    offer = await _offer(request)
    room_id = request.match_info["room_id"]
    golive = request.query.get("golive", "") in ("1", "true", "yes")
    session, answer, base = await media(request).publish(who, room_id, offer,
                                                         _media_url(request), golive)
    return _created(request, "whip", room_id, session.id, session.etag, answer, base)


def _layer_choice(request: web.Request, value: str) -> str:
    """The ``?layer=`` choice, checked by the layer URL's declared body field, so a bad value
    there and in that body is refused alike."""
    return str(bind_fields(LAYER_FIELDS, {"layer": value},
                           request.app[SERVICES].settings)["layer"])


async def whep_post(request: web.Request) -> web.StreamResponse:
    who = identity(request)
    layer = _layer_choice(request, request.query.get("layer", "auto"))
    offer = await _offer(request)
    room_id = request.match_info["room_id"]
    svc = media(request)
    session, answer = await svc.watch(who, room_id, offer, layer)
    return _created(request, "whep", room_id, session.id, session.etag, answer,
                    _media_url(request))


def _role(kind: str) -> str:
    """The session role behind a session URL's kind (``whip``, ``whep``, ``guests/whip``...)."""
    return {"whip": "publisher", "whep": "viewer", "guests/whip": GUEST,
            "guests/whep": GUEST_VIEWER}[kind]


def _delete(kind: str) -> Handler:
    role = _role(kind)

    async def handler(request: web.Request) -> web.StreamResponse:
        await media(request).end(request.match_info["room_id"], role,
                                 request.match_info["session_id"])
        return web.Response(status=204)
    return handler


def _patch(kind: str) -> Handler:
    """Trickle ICE on a session URL; like DELETE, the URL's secret is the capability."""
    role = _role(kind)

    async def handler(request: web.Request) -> web.StreamResponse:
        fragment = await _sdp_body(request, TRICKLE, "an SDP fragment")
        await media(request).patch(request.match_info["room_id"], role,
                                   request.match_info["session_id"],
                                   request.headers.get("If-Match"), fragment)
        return web.Response(status=204)
    return handler


def _cohost(request: web.Request) -> CohostMedia:
    cohost = media(request).cohost
    if cohost is None:
        raise MediaDisabled("co-hosting is not set up on this server")
    return cohost


async def guest_whip_post(request: web.Request) -> web.StreamResponse:
    """A guest publishes beside the host with the token ``cohost_accept`` gave them (no other
    token opens this endpoint; a removed guest's token is refused)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a guest token is needed to publish (Authorization: Bearer ...)")
    offer = await _offer(request)
    room_id, guest_id = request.match_info["room_id"], request.match_info["user_id"]
    session, answer = await _cohost(request).publish(token.strip(), room_id, guest_id, offer)
    return _created(request, f"guests/{guest_id}/whip", room_id, session.id, session.etag,
                    answer, _media_url(request))


async def guest_whep_post(request: web.Request) -> web.StreamResponse:
    """A viewer's session of one guest's stream (a second WHEP session beside the host's)."""
    who = identity(request)
    offer = await _offer(request)
    room_id, guest_id = request.match_info["room_id"], request.match_info["user_id"]
    session, answer = await _cohost(request).watch(who, room_id, guest_id, offer)
    return _created(request, f"guests/{guest_id}/whep", room_id, session.id, session.etag,
                    answer, _media_url(request))


@_answer_errors
async def _layer(request: web.Request) -> web.StreamResponse:
    """A WHEP session's simulcast layer: GET says which it receives and which the room offers;
    POST ``{"layer": "auto"|"h"|"m"|"l"}`` chooses. Like DELETE, the session URL's secret is the
    capability (no token)."""
    mode = None
    if request.method == "POST":
        mode = bind_fields(LAYER_FIELDS, await body(request),
                           request.app[SERVICES].settings)["layer"]
    return json(media(request).layer(request.match_info["room_id"],
                                     request.match_info["session_id"], mode))


@routes.options(LAYER_PATH)
async def layer_options(request: web.Request) -> web.StreamResponse:
    response = web.Response(status=204)
    response.headers["Allow"] = "GET, POST, OPTIONS"
    response.headers.update(_CORS)
    return response


routes.get(LAYER_PATH)(_layer)
routes.post(LAYER_PATH)(_layer)


@routes.get("/api/rooms/{room_id}/video")
async def video(request: web.Request) -> web.Response:
    """Is there video now, in which codecs (a page decides between WHEP and HLS)."""
    identity(request)  # a bad token is refused even where none is needed
    return json(await media(request).video(request.match_info["room_id"]))


for _kind, _post, _path in (
        ("whip", whip_post, "whip"), ("whep", whep_post, "whep"),
        ("guests/whip", guest_whip_post, "guests/{user_id}/whip"),
        ("guests/whep", guest_whep_post, "guests/{user_id}/whep")):
    _endpoint = f"/api/rooms/{{room_id}}/{_path}"
    _resource = _endpoint + "/{session_id}"
    routes.post(_endpoint)(_answer_errors(_post))
    routes.options(_endpoint)(_answer_errors(_options("POST, OPTIONS", accept_post=True)))
    routes.patch(_endpoint)(_answer_errors(_no_patch("POST, OPTIONS")))
    routes.delete(_resource)(_answer_errors(_delete(_kind)))
    # a session URL's CORS preflight is answered whether or not the session still exists: a
    # browser's DELETE (with Authorization, so preflighted) after the server already ended the
    # session (the publisher left) must reach the DELETE, which then says 404
    routes.options(_resource)(_answer_errors(_options("PATCH, DELETE, OPTIONS",
                                                      accept_post=False)))
    routes.patch(_resource)(_answer_errors(_patch(_kind)))


# The private media listener and the service's life cycle ------------------------------------

class _SameAppRunner(BaseRunner):
    """Serves an already started app on extra sockets. An ``AppRunner`` would run the app's
    startup (and so this very context) a second time; this runner only makes a request
    handler for the app (what ``AppRunner`` does after startup)."""

    def __init__(self, app: web.Application) -> None:
        super().__init__()
        self._app = app

    async def shutdown(self) -> None:
        pass

    async def _make_server(self) -> web.Server:
        server: web.Server = self._app._make_handler()
        return server

    async def _cleanup_server(self) -> None:
        pass


def media_ctx() -> Callable[[web.Application], AsyncIterator[None]]:
    """Starts the media service (built with the other services), opens this process's private
    media port (``media.home_port`` on ``server.host``: with several processes on one
    SO_REUSEPORT port, this is the address that reaches *this* process, recorded as the room's
    media home) and closes every session at shutdown. Append it after the services' context:
    its clean-up then runs first, while the store is still open."""
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        services = app[SERVICES]
        settings = services.settings
        service = services.media
        app[MEDIA] = service
        runner: _SameAppRunner | None = None
        if settings.media.enabled:
            sock = _listen(settings.server.host, settings.media.home_port)
            service.port = int(sock.getsockname()[1])
            runner = _SameAppRunner(app)
            await runner.setup()
            await web.SockSite(runner, sock).start()
            await service.start()
            log.info("media sessions served on port %d", service.port)
        try:
            yield
        finally:
            await service.stop()
            if runner is not None:
                await runner.cleanup()
    return ctx


PORT_SPAN = 64  # with a fixed media.home_port, workers take the first free port from it up


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``port`` (0: any free port) or the first free one above it, so
    several workers sharing one configuration each get their own media port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    candidates = [0] if port == 0 else range(port, min(port + PORT_SPAN, 65536))
    for candidate in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
        except OSError:
            sock.close()
            continue
        sock.setblocking(False)
        return sock
    raise OSError(f"no free media port in {port}-{port + PORT_SPAN - 1} on {host}")


