"""Small helpers shared by the HTTP handlers: identity, bodies, JSON answers, the error
middleware that turns LiveError into ``{"error": {...}}`` with the right status."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable
from typing import Any

import orjson
from aiohttp import web

from live_server import logs
from live_server.auth import GUEST, Identity, verify
from live_server.container import STORE_UNAVAILABLE, Services
from live_server.errors import (
    Internal,
    LiveError,
    NotFound,
    NotReady,
    PayloadTooLarge,
    RequestTimeout,
    Unauthorized,
    WrongMethod,
)
from live_server.protocol import Json, is_safe_id, loads_object
from live_server.web.keys import SERVICES

log = logging.getLogger(__name__)
REQUEST_ID = "X-Request-Id"


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


def identity(request: web.Request) -> Identity:
    """The bearer token's identity, or the guest. A bad token is an error, not a guest."""
    header = request.headers.get("Authorization", "")
    if not header:
        return GUEST
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("expected 'Authorization: Bearer <token>'")
    s = services(request).settings
    return verify(s.auth.secret, token.strip(), leeway_s=s.auth.leeway_s)


async def raw_body(request: web.Request) -> bytes:
    """The whole body (it may come in many pieces: ``read(n)`` answers with the first that
    arrived), refused over ``http.max_body_bytes`` or when it is not all there within
    ``http.body_timeout_ms``: aiohttp waits for a body as long as the client trickles it, and
    the front door's timeouts end with the request head."""
    limits = services(request).settings.http
    limit = limits.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body larger than {limit} bytes")
    pieces: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(limits.body_timeout_ms / 1000):
            while size <= limit and (piece := await request.content.read(limit + 1 - size)):
                pieces.append(piece)
                size += len(piece)
    except TimeoutError:
        raise RequestTimeout(
            f"the body did not arrive within {limits.body_timeout_ms} ms") from None
    raw = b"".join(pieces)
    if len(raw) > limit:
        raise PayloadTooLarge(f"body larger than {limit} bytes")
    return raw


async def body(request: web.Request) -> Json:
    raw = await raw_body(request)
    if not raw.strip():
        return {}
    return loads_object(raw)


def json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def csv_file(text: str, filename: str) -> web.Response:
    """A CSV export the browser saves as ``filename`` (orders, a show's report)."""
    return web.Response(text=text, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


def error_response(err: LiveError) -> web.Response:
    return json({"error": err.to_dict()}, status=err.status)


@web.middleware
def error_middleware(request: web.Request, handler: Any) -> Awaitable[web.StreamResponse]:
    """Coded errors as JSON. Not a coroutine itself: a websocket handler runs as long as its
    connection and handles its own errors, so it is returned as it is and no middleware frame
    stays alive for every connected viewer."""
    if request.path.startswith("/ws/"):
        return handler(request)  # type: ignore[no-any-return]
    return _answer_errors(request, handler)


async def send_and_close(request: web.Request,
                         response: web.StreamResponse) -> web.StreamResponse:
    """Send the answer, then close the connection at once (a body that timed out). aiohttp
    would otherwise read and drop the unread rest of the body for its lingering time (10 s),
    serving the trickler on."""
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()  # the answer is written; closing flushes it first
    return response


def request_id(request: web.Request) -> str:
    """The caller's ``X-Request-Id`` when it is a plain id (a proxy's, to follow one request
    through both logs), else a fresh one."""
    given = request.headers.get(REQUEST_ID, "")
    if is_safe_id(given):
        return given
    return secrets.token_hex(8)


async def _answer_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """The answer, with ``X-Request-Id``; every line logged meanwhile carries that id (and the
    room's, on a room's route). The path is logged without its query: it may hold a token."""
    rid = request_id(request)
    with logs.bind(request_id=rid, room_id=request.match_info.get("room_id")):
        response = await _answer(request, handler, rid)
    if not response.prepared:  # a streamed answer has sent its headers already
        response.headers[REQUEST_ID] = rid
    return response


async def _answer(request: web.Request, handler: Any, rid: str) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except LiveError as err:
        request.app[SERVICES].metrics.errors.labels(err.code).inc()
        response = error_response(err)
        if isinstance(err, RequestTimeout):  # sent here, so it carries its id already
            response.headers[REQUEST_ID] = rid
            return await send_and_close(request, response)
        return response
    except web.HTTPNotFound:
        return error_response(NotFound("no such route"))
    except web.HTTPMethodNotAllowed:
        return error_response(WrongMethod("method not allowed"))
    except web.HTTPException:
        raise
    except STORE_UNAVAILABLE as exc:
        # one line per kind of failure (logs.RateLimit): an outage fails every request alike
        log.warning("store unavailable on %s %s", request.method, request.path, exc_info=True,
                    extra={"error": type(exc).__name__})
        request.app[SERVICES].metrics.errors.labels(NotReady.code).inc()
        response = error_response(NotReady("the store cannot be reached; try again shortly"))
        response.headers["Retry-After"] = "1"
        return response
    except Exception as exc:
        ref = secrets.token_hex(4)
        # one line per kind of failure (logs.RateLimit): a Valkey outage fails every request
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=True,
                  extra={"ref": ref, "error": type(exc).__name__})
        request.app[SERVICES].metrics.errors.labels(Internal.code).inc()
        return error_response(Internal(f"internal error (ref {ref})"))

