"""Coded errors. The code strings are part of the protocol (docs/PROTOCOL.md): never rename one."""

from __future__ import annotations

from typing import Any


class LiveError(Exception):
    """A failure the client can act on: a stable ``code``, a message, an HTTP status, extras."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str = "", *, code: str | None = None, status: int | None = None,
                 **extra: Any) -> None:
        super().__init__(message or self.code)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.message = message or self.code.replace("_", " ")
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


class BadRequest(LiveError):
    code = "bad_request"


class InvalidJson(LiveError):
    code = "invalid_json"


class UnknownOp(LiveError):
    code = "unknown_op"


class MissingField(LiveError):
    code = "missing_field"


class InvalidField(LiveError):
    code = "invalid_field"


class PayloadTooLarge(LiveError):
    code = "payload_too_large"
    status = 413


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


class Banned(Forbidden):
    code = "banned"


class Muted(Forbidden):
    code = "muted"


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


class NotReady(LiveError):
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
    AUTH_TIMEOUT = 4000
    UNAUTHORIZED = 4001
    BANNED = 4003
    ROOM_NOT_FOUND = 4004
    SLOW_CONSUMER = 4008
    FLOOD = 4029
    GUESTS_NOT_ALLOWED = 4030


# Shelf, purchases, orders (docs/PROTOCOL.md, "Error codes") -----------------------------------

class Conflict(LiveError):
    """A purchase refused for a reason the buyer can read: ``code`` says which."""

    code = "conflict"
    status = 409


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


# Wallets and red packets ---------------------------------------------------------------------

class InsufficientFunds(Conflict):
    code = "insufficient_funds"
    status = 402


class GrabRefused(Conflict):
    """``code``: not_open, expired, none_left, already_grabbed or not_eligible."""
