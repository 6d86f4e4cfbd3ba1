"""Coded errors. The code strings are part of the protocol (docs/PROTOCOL.md): never rename one."""

from __future__ import annotations

from typing import Any


class LiveError(Exception):
    """A failure the client can act on: a stable ``code``, a message, an HTTP status, extras.

    Every code is a subclass in this module (docs/PROTOCOL.md's table is checked against
    :func:`codes`), so a handler raises a class and never spells a code out. A class whose
    ``family`` is true only groups codes (``except Conflict``) and is never raised itself."""

    status = 400
    code = "bad_request"
    family = True

    def __init__(self, message: str = "", **extra: Any) -> None:
        if "code" in extra or "status" in extra:  # a code is a class here, never an argument
            raise TypeError("raise the errors.py class that has this code and status")
        super().__init__(message or self.code)
        self.message = message or self.code.replace("_", " ")
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


class BadRequest(LiveError):
    code = "bad_request"


class WrongMethod(BadRequest):
    """A method the path does not take (the JSON API's 405; WHIP/WHEP say
    ``method_not_allowed``)."""

    status = 405


class InvalidJson(LiveError):
    code = "invalid_json"


class UnknownOp(LiveError):
    code = "unknown_op"


class MissingField(LiveError):
    code = "missing_field"


class InvalidField(LiveError):
    code = "invalid_field"


class UrlNotAllowed(InvalidField):
    """A webhook URL that points at this machine or a private network (refused unless
    ``webhooks.allow_private``): deliveries must not reach inside the deployment."""

    code = "url_not_allowed"


class PayloadTooLarge(LiveError):
    code = "payload_too_large"
    status = 413


class RequestTimeout(LiveError):
    """The body did not arrive within ``http.body_timeout_ms``: the connection is closed after
    the answer, since the rest of the body may still be on its way."""

    code = "request_timeout"
    status = 408


class Unauthorized(LiveError):
    code = "unauthorized"
    status = 401


class TokenExpired(Unauthorized):
    code = "token_expired"


class Forbidden(LiveError):
    code = "forbidden"
    status = 403


class GuestsNotAllowed(Forbidden):
    code = "guests_not_allowed"


class GuestsMustLogIn(GuestsNotAllowed):
    """WHEP in a room without guests: 401, the answer that asks for credentials."""

    status = 401


class Banned(Forbidden):
    code = "banned"


class Muted(Forbidden):
    code = "muted"


class Suspended(Forbidden):
    """Suspended from the whole platform by ops: the user may read and watch public pages but
    not act; ``until`` says when it ends (ms, 0 = until lifted)."""

    code = "suspended"


class NotFound(LiveError):
    code = "not_found"
    status = 404


class InvalidState(LiveError):
    code = "invalid_state"
    status = 409


class RateLimited(LiveError):
    code = "rate_limited"
    status = 429


class SlowMode(RateLimited):
    code = "slow_mode"


class TooManyConnections(LiveError):
    """A client behind a trusted proxy already has ``http.max_connections_per_ip`` open: the
    proxy's connection gets this answer and is closed (a direct client's is closed unanswered,
    before anything is read)."""

    code = "too_many_connections"
    status = 429


class NotReady(LiveError):
    """The store cannot be reached right now; answered with ``Retry-After``."""

    code = "not_ready"
    status = 503


class Internal(LiveError):
    code = "internal"
    status = 500


class CloseCode:
    """Websocket close codes (docs/PROTOCOL.md, "Websocket close codes")."""

    NORMAL = 1000
    BINARY = 1003
    TOO_LARGE = 1009
    INTERNAL = 1011
    RESTART = 1012
    TRY_AGAIN_LATER = 1013  # the store cannot be reached now (RFC 6455 "Try Again Later")
    AUTH_TIMEOUT = 4000
    UNAUTHORIZED = 4001
    BANNED = 4003
    ROOM_NOT_FOUND = 4004
    SLOW_CONSUMER = 4008
    RESYNC = 4010  # the room's stream went back (the store lost writes): reconnect, resync
    FLOOD = 4029
    GUESTS_NOT_ALLOWED = 4030


# Shelf, purchases, orders (docs/PROTOCOL.md, "Error codes") -----------------------------------

class Conflict(LiveError):
    """A request refused for a reason the client can read: the subclass's ``code`` says
    which."""

    status = 409
    family = True


class AlreadyUndone(Conflict):
    """A moderation log entry that was undone already: an undo happens once."""

    code = "already_undone"


class SaleNotStarted(Conflict):
    code = "not_started"


class SaleEnded(Conflict):
    code = "sale_ended"


class SoldOut(Conflict):
    code = "sold_out"


class InsufficientStock(Conflict):
    code = "insufficient_stock"


class LimitReached(Conflict):
    code = "limit_reached"


class TakenDown(Conflict):
    code = "taken_down"


class PaymentDeclined(LiveError):
    code = "payment_declined"
    status = 402


class InvalidSignature(Unauthorized):
    code = "invalid_signature"


class Replayed(Conflict):
    code = "replayed"


class PriceChanged(Conflict):
    """The amount to pay is not the ``expected_amount`` the buyer saw: ``amount`` is the
    current one; nothing was reserved."""

    code = "price_changed"


class CouponUnusable(Conflict):
    """The coupon named for a purchase cannot be used on it: ``reason`` says why
    (``not_claimed``, ``stopped``, ``not_started``, ``ended``, ``other_products``,
    ``min_spend``); nothing was reserved."""

    code = "coupon_unusable"


class AddressRequired(Conflict):
    """Paying needs a shipping address: neither the order nor the buyer has one."""

    code = "address_required"


# Wallets and red packets ---------------------------------------------------------------------

class InsufficientFunds(Conflict):
    code = "insufficient_funds"
    status = 402


class GrabRefused(Conflict):
    """A grab refused: the subclass's ``code`` says why."""

    family = True


class NotOpen(GrabRefused):
    code = "not_open"


class Expired(GrabRefused):
    code = "expired"


class NoneLeft(GrabRefused):
    code = "none_left"


class AlreadyGrabbed(GrabRefused):
    code = "already_grabbed"


class NotEligible(GrabRefused):
    code = "not_eligible"


# the grab script's refusals, by the status it answers
GRAB_REFUSALS: dict[str, type[GrabRefused]] = {
    cls.code: cls for cls in (NotOpen, Expired, NoneLeft, AlreadyGrabbed, NotEligible)}


class AlreadyMember(Conflict):
    code = "already_member"


class DrawClosed(Conflict):
    """A lucky draw past its ``end_at``: entries are frozen (``end_at`` says when)."""

    code = "draw_closed"


# Coupons -------------------------------------------------------------------------------------

class CouponRefused(Conflict):
    """A coupon claim refused: the subclass's ``code`` says why; nothing was claimed."""

    family = True


class CouponNotStarted(CouponRefused):
    code = "coupon_not_started"


class CouponEnded(CouponRefused):
    code = "coupon_ended"


class CouponGone(CouponRefused):
    """Every copy of the coupon (its ``quota``) has been claimed."""

    code = "coupon_gone"


class CouponLimit(CouponRefused):
    """The caller already holds as many copies as the coupon's ``per_user`` allows."""

    code = "coupon_limit"


class CouponStopped(CouponRefused):
    """The room's creator stopped the coupon: no new claims (copies claimed stay usable)."""

    code = "coupon_stopped"


# Live auctions -------------------------------------------------------------------------------

class BidTooLow(Conflict):
    """A bid below the start (first bid) or the price plus the increment: ``min`` is the
    lowest amount that would be accepted now."""

    code = "bid_too_low"


class AuctionClosed(Conflict):
    """The auction has ended (by the server's clock), was cancelled, or the room ended."""

    code = "auction_closed"


class AuctionExists(Conflict):
    """The room already has an open auction: one at a time (``auction_id`` names it)."""

    code = "auction_exists"


class AlreadyLeading(Conflict):
    """The bidder leads already: only a higher ``max_amount`` (a proxy maximum) is taken."""

    code = "already_leading"


class AuctionHasBids(Conflict):
    """An auction can be cancelled only before its first bid."""

    code = "auction_has_bids"


# Charity shows ------------------------------------------------------------------------------

class CharityLocked(Conflict):
    """The room's charity terms cannot change: proceeds were earmarked under them already
    (they stay until the show ends)."""

    code = "charity_locked"


# Chat text (docs/PROTOCOL.md, "Chat rules") ---------------------------------------------------

class MessageEmpty(LiveError):
    code = "message_empty"


class MessageTooLong(LiveError):
    code = "message_too_long"


class KeywordBlocked(LiveError):
    code = "keyword_blocked"


# Live video: WHIP, WHEP (docs/PROTOCOL.md, "Live video") --------------------------------------

class BadSdp(BadRequest):
    """The body is not an SDP offer we can parse (400)."""

    code = "bad_sdp"


class UnsupportedMediaType(LiveError):
    code = "unsupported_media_type"
    status = 415


class OfferNotAcceptable(LiveError):
    """A well-formed offer we cannot take: too many tracks, no codec we forward, not the
    publisher's codec (422 Unprocessable Content)."""

    code = "offer_not_acceptable"
    status = 422


class MethodNotAllowed(LiveError):
    """WHIP/WHEP ``PATCH``: ``allow`` (an extra) lists the methods the path takes."""

    code = "method_not_allowed"
    status = 405


class PreconditionFailed(LiveError):
    """A session ``PATCH`` whose ``If-Match`` is not the session's current ETag (412, RFC 9725
    4.3.1): the client's view of the ICE session is stale."""

    code = "precondition_failed"
    status = 412


class PreconditionRequired(LiveError):
    """A session ``PATCH`` without ``If-Match`` (428, RFC 6585): trickle needs the ETag."""

    code = "precondition_required"
    status = 428


class IceRestartUnsupported(LiveError):
    """An ICE restart ``PATCH`` (new ufrag/pwd): aiortc cannot restart ICE on a running
    connection; RFC 9725 4.3 asks for 422 when only trickle is supported. The session goes on."""

    code = "ice_restart_unsupported"
    status = 422


class MediaRedirect(LiveError):
    """The room's media lives in another process: HTTP 307 to ``location``."""

    code = "media_elsewhere"
    status = 307

    def __init__(self, location: str) -> None:
        super().__init__("the room's media is served by another process")
        self.location = location


class RetryLater(LiveError):
    """Refused for now: ``retry_after_s`` goes in ``Retry-After`` and ``error.retry_after``."""

    family = True
    why = ""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(self.why, retry_after=retry_after_s)
        self.retry_after_s = retry_after_s


class NoPublisher(RetryLater):
    """Nobody publishes in this room yet (WHEP 409 with Retry-After)."""

    code = "no_publisher"
    status = 409
    why = "nobody is publishing in this room"


class MediaFull(RetryLater):
    code = "media_full"
    status = 503
    why = "this room has as many WebRTC viewers as it takes; try HLS"


class HlsBusy(RetryLater):
    """This process holds ``hls.max_blocking`` blocking HLS requests already (503)."""

    code = "hls_busy"
    status = 503
    why = "too many blocking HLS requests are waiting here; ask again"


class HlsNotYet(RetryLater):
    """A blocking HLS request whose part did not appear within three target durations (503,
    as RFC 8216bis asks)."""

    code = "hls_not_yet"
    status = 503
    why = "the requested HLS part did not appear in time"


class MediaDisabled(LiveError):
    code = "media_disabled"
    status = 404


class CohostFull(Conflict):
    """The room already has as many guests co-hosting as it takes (``cohost.max_guests``)."""

    code = "cohost_full"


def codes() -> dict[str, int]:
    """Every code a client may meet → its HTTP status (the first class that says it)."""
    found: dict[str, int] = {}
    todo: list[type[LiveError]] = [LiveError]
    while todo:
        cls = todo.pop(0)
        if cls.__module__ == __name__ and not vars(cls).get("family", False):
            found.setdefault(cls.code, cls.status)
        todo.extend(cls.__subclasses__())
    return found
