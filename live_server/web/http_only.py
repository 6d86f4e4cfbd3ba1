"""The HTTP endpoints outside the command table, declared for the OpenAPI document: health,
readiness, metrics, pages, identity and the development login, WHIP/WHEP and
video, HLS, the orders CSV, the payment webhook, the room websocket and the document itself.

Their handlers live in ``web/misc.py``, ``web/media.py``, ``web/hls.py``,
``web/shelf.py``, ``web/ws.py`` and ``web/openapi.py``; a test checks that every route the
application serves is declared here or in the table, and nothing more.
"""

from __future__ import annotations

import dataclasses

from live_server.commands.fields import Choice, Field, Integer, SafeId, Text
from live_server.errors import (
    BadRequest,
    BadSdp,
    Banned,
    Forbidden,
    GuestsMustLogIn,
    HlsBusy,
    HlsNotYet,
    IceRestartUnsupported,
    InvalidField,
    InvalidJson,
    InvalidSignature,
    InvalidState,
    LiveError,
    MediaDisabled,
    MediaFull,
    MediaRedirect,
    MethodNotAllowed,
    MissingField,
    NoPublisher,
    NotFound,
    NotReady,
    OfferNotAcceptable,
    PaymentDeclined,
    PreconditionFailed,
    PreconditionRequired,
    Replayed,
    Unauthorized,
    UnsupportedMediaType,
)

JSON = "application/json"
SDP = "application/sdp"


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    """One method on one path. ``body``: JSON fields, or the media type of a body that is not
    JSON; ``answer``: what a success carries, in ``content_type``."""

    method: str
    path: str
    summary: str
    tag: str
    who: str = "anyone"
    status: int = 200
    answer: str = ""
    content_type: str = JSON
    query: tuple[Field, ...] = ()
    body: tuple[Field, ...] | str | None = None
    errors: tuple[type[LiveError], ...] = ()
    token: bool = True  # a token, if sent, is checked (401 when bad)


def _page(path: str, summary: str) -> Endpoint:
    return Endpoint("GET", path, summary, "pages", answer="the page", content_type="text/html",
                    token=False)


_WHIP_ERRORS = (BadSdp, UnsupportedMediaType, OfferNotAcceptable, Unauthorized, Forbidden,
                NotFound, InvalidState, MediaDisabled)
_WHEP_ERRORS = (BadSdp, UnsupportedMediaType, OfferNotAcceptable, GuestsMustLogIn, Banned,
                NotFound, InvalidState, NoPublisher, MediaRedirect, MediaFull, MediaDisabled)


_LAYER = Choice("layer", "a simulcast room's video layer: `auto` (what the viewer's network "
                "carries), or `h`, `m`, `l` (largest, middle, smallest)", required=False,
                choices=("auto", "h", "m", "l"))


def _media(kind: str, who: str, errors: tuple[type[LiveError], ...],
           path: str = "", label: str = "") -> tuple[Endpoint, ...]:
    endpoint = f"/api/rooms/{{room_id}}/{path or kind}"
    session = endpoint + "/{session_id}"
    name = label or kind.upper()
    query: tuple[Field, ...] = ()
    if kind == "whip":
        query = (Choice("golive", "1: a scheduled room goes live", required=False,
                        choices=("1", "true", "yes")),)
    elif kind == "whep":
        query, errors = (_LAYER,), (*errors, InvalidField)
    return (
        Endpoint("POST", endpoint, f"{name}: send an SDP offer, get the answer (`Location`: "
                 "the session)" + (" (`?golive=1`: go live too)" if kind == "whip" else "")
                 + (" (`?layer=`: the simulcast layer to start with)" if kind == "whep"
                    else ""),
                 "media", who, 201, "the SDP answer", SDP, body=SDP, errors=errors,
                 query=query),
        Endpoint("OPTIONS", endpoint, f"{name} preflight: `Accept-Post`, `Link` (ICE servers)",
                 "media", status=204, token=False),
        Endpoint("PATCH", endpoint, "PATCH goes to the session URL: 405 with `Allow`",
                 "media", errors=(MethodNotAllowed,), token=False),
        Endpoint("DELETE", session, f"End the {name} session (whoever holds its URL)",
                 "media", "the holder of the session URL", 204, errors=(NotFound,),
                 token=False),
        Endpoint("OPTIONS", session, "Preflight of the session URL", "media", status=204,
                 token=False),
        Endpoint("PATCH", session, "Trickle ICE (RFC 9725 4.3): the client's late candidates "
                 "with `If-Match: <ETag>`; an ICE restart is refused (422)", "media",
                 "the holder of the session URL", 204,
                 body="application/trickle-ice-sdpfrag",
                 errors=(BadSdp, UnsupportedMediaType, NotFound, PreconditionRequired,
                         PreconditionFailed, IceRestartUnsupported), token=False),
    )


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/healthz", "The process runs", "health",
             answer="`{\"ok\": true, \"process\"}`", token=False),
    Endpoint("GET", "/readyz", "Valkey answers", "health", answer="`{\"ok\": true}`",
             errors=(NotReady,), token=False),
    Endpoint("GET", "/metrics", "Prometheus metrics", "health", answer="Prometheus text",
             content_type="text/plain", token=False),
    Endpoint("GET", "/api/me", "Who the token says", "identity", "anyone with a token",
             answer="`{\"id\", \"name\", \"role\", \"exp\"}`", errors=(Unauthorized,)),
    Endpoint("POST", "/api/dev/token", "Development login (only when auth.dev_login is on)",
             "identity", answer="`{\"token\"}`", errors=(Forbidden, InvalidField),
             body=(SafeId("user", "the user id"),
                   Text("name", "display name", required=False, max_len=40),
                   Choice("role", required=False, default="viewer",
                          choices=("viewer", "creator", "ops")))),
    _page("/", "Live rooms"),
    _page("/watch/{room_id}", "A room's viewer page"),
    _page("/studio", "The creator studio"),
    _page("/shows", "A creator's shows and each show's report"),
    _page("/ops", "The ops console"),
    _page("/charity/{room_id}", "A charity show's public receipt"),
    Endpoint("GET", "/static/{path}", "The pages' files (scripts, styles, vendored players)",
             "pages", answer="the file", content_type="application/octet-stream",
             errors=(NotFound,), token=False),
    Endpoint("GET", "/ws/rooms/{room_id}", "The room websocket (upgrade): see "
             "`x-websocket-ops`", "websocket", status=101, answer="Switching Protocols",
             query=(Text("token", "a JWT (or send an `auth` frame)", required=False,
                         max_len=4096),
                    Integer("since", "the last seq seen", required=False),
                    Choice("guest", "1: join as a guest at once", required=False,
                           choices=("1",))),
             token=False),
    *_media("whip", "the room's creator, or ops", _WHIP_ERRORS),
    *_media("whep", "anyone the room admits", _WHEP_ERRORS),
    Endpoint("GET", "/api/rooms/{room_id}/whep/{session_id}/layer", "A WHEP session's "
             "simulcast layer: the choice, the layer received and the room's layers",
             "media", "the holder of the session URL",
             answer="`{\"mode\", \"layer\", \"switching_to\", \"layers\"}`",
             errors=(NotFound, InvalidState), token=False),
    Endpoint("POST", "/api/rooms/{room_id}/whep/{session_id}/layer", "Choose a WHEP "
             "session's simulcast layer (switched at the layer's next keyframe)", "media",
             "the holder of the session URL",
             answer="`{\"mode\", \"layer\", \"switching_to\", \"layers\"}`",
             body=(dataclasses.replace(_LAYER, required=True),),
             errors=(NotFound, InvalidState, InvalidField, MissingField, InvalidJson),
             token=False),
    Endpoint("OPTIONS", "/api/rooms/{room_id}/whep/{session_id}/layer", "Preflight of the "
             "layer URL", "media", status=204, token=False),
    *_media("guest_whip", "the guest, with the token `cohost_accept` gave them", (
        *_WHIP_ERRORS, NoPublisher, MediaRedirect), "guests/{user_id}/whip",
        "Co-host WHIP (the guest publishes beside the host)"),
    *_media("guest_whep", "anyone the room admits", _WHEP_ERRORS, "guests/{user_id}/whep",
            "Co-host WHEP (a viewer's session of one guest's stream)"),
    Endpoint("GET", "/api/rooms/{room_id}/video", "Whether a publisher is live, in which codecs",
             "media", answer="`{\"publishing\", \"codecs\"?, \"whep\"?}`",
             errors=(NotFound,)),
    Endpoint("GET", "/api/rooms/{room_id}/thumbnail.jpg", "A recent picture of the room's "
             "video, 160 px on its long side (made at most every 5 s; 404 when this process "
             "has no picture of it)", "media", "ops", answer="JPEG", content_type="image/jpeg",
             errors=(Unauthorized, Forbidden, NotFound)),
    Endpoint("GET", "/hls/{room_id}/index.m3u8", "The room's live HLS playlist; with "
             "Low-Latency HLS, `_HLS_msn`/`_HLS_part` wait (at most three target durations) "
             "until the playlist holds that part, and `_HLS_skip=YES` answers a delta update",
             "hls", answer="the playlist", content_type="application/vnd.apple.mpegurl",
             query=(Integer("_HLS_msn", "blocking reload: wait for this media sequence number",
                            required=False),
                    Integer("_HLS_part", "blocking reload: and this part of it (needs "
                            "`_HLS_msn`)", required=False),
                    Choice("_HLS_skip", "YES: a delta update (`#EXT-X-SKIP`)", required=False,
                           choices=("YES", "v2"))),
             errors=(BadRequest, NotFound, HlsBusy, HlsNotYet), token=False),
    Endpoint("HEAD", "/hls/{room_id}/index.m3u8", "The playlist's headers", "hls",
             errors=(BadRequest, NotFound), token=False),
    Endpoint("GET", "/hls/{room_id}/{segment}", "One MPEG-TS segment or part (the part the "
             "playlist's preload hint names waits until it is written)", "hls",
             answer="the segment", content_type="video/mp2t",
             errors=(BadRequest, NotFound, HlsBusy, HlsNotYet), token=False),
    Endpoint("HEAD", "/hls/{room_id}/{segment}", "The segment's headers", "hls",
             errors=(BadRequest, NotFound), token=False),
    Endpoint("OPTIONS", "/hls/{room_id}/{segment}", "CORS preflight", "hls", status=204,
             token=False),
    Endpoint("GET", "/replays/{room_id}/index.m3u8", "An ended show's replay: a VOD playlist "
             "of every broadcast (discontinuities between them), products' chapters as "
             "`EXT-X-DATERANGE` with `X-PRODUCT-ID`", "replays",
             answer="the playlist", content_type="application/vnd.apple.mpegurl",
             errors=(NotFound,), token=False),
    Endpoint("HEAD", "/replays/{room_id}/index.m3u8", "The replay playlist's headers",
             "replays", errors=(NotFound,), token=False),
    Endpoint("GET", "/replays/{room_id}/{part}/{segment}", "One MPEG-TS segment of a "
             "replay's part", "replays", answer="the segment", content_type="video/mp2t",
             errors=(NotFound,), token=False),
    Endpoint("HEAD", "/replays/{room_id}/{part}/{segment}", "The segment's headers",
             "replays", errors=(NotFound,), token=False),
    Endpoint("OPTIONS", "/replays/{room_id}/index.m3u8", "CORS preflight", "replays",
             status=204, token=False),
    Endpoint("OPTIONS", "/replays/{room_id}/{part}/{segment}", "CORS preflight", "replays",
             status=204, token=False),
    Endpoint("GET", "/api/rooms/{room_id}/orders.csv", "A room's orders as CSV, oldest first",
             "orders", "the room's creator, ops", answer="CSV", content_type="text/csv",
             errors=(Unauthorized, Forbidden, NotFound)),
    Endpoint("GET", "/api/rooms/{room_id}/report.csv", "A show's report as CSV: the figures, "
             "the products, the minutes", "show_report", "the room's creator, ops", answer="CSV",
             content_type="text/csv", errors=(Unauthorized, Forbidden, NotFound, InvalidState)),
    Endpoint("POST", "/api/payments/webhook", "The payment gateway's signed notice "
             "(`X-Live-Signature`)", "orders", "the payment gateway",
             answer="`{\"order\"}`", token=False,
             errors=(InvalidSignature, Replayed, InvalidField, InvalidState, NotFound,
                     PaymentDeclined),
             body=(Text("id", "the gateway's event id", min_len=1, max_len=100, trim=False),
                   Choice("type", choices=("payment.succeeded", "payment.refunded")),
                   Text("order_id", max_len=200, trim=False),
                   Integer("amount", "cents: the order's amount"),
                   Text("reference", required=False, max_len=100, trim=False))),
    Endpoint("GET", "/api/openapi.json", "This document", "documents",
             answer="OpenAPI 3.1", token=False),
    Endpoint("GET", "/api/docs", "This document, readable", "documents", answer="the page",
             content_type="text/html", token=False),
)


def declared_body(method: str, path: str) -> tuple[Field, ...]:
    """An endpoint's JSON fields as declared here for the document, which its handler binds
    with ``commands.command.bind_fields``: the document and the checks are one list."""
    for endpoint in ENDPOINTS:
        if (endpoint.method, endpoint.path) == (method, path) and isinstance(endpoint.body,
                                                                             tuple):
            return endpoint.body
    raise LookupError(f"{method} {path} declares no JSON body")
