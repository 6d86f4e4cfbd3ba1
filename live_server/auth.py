"""Identity from JWTs (PyJWT, HS256) and the permission rules every action goes through.

PyJWT is used rather than hand-rolled HMAC so that expiry, ``iat`` and algorithm pinning follow
the RFC and its known pitfalls (``alg: none``, key confusion) are handled by a maintained library.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Literal

import jwt

from live_server.errors import Forbidden, TokenExpired, Unauthorized
from live_server.protocol import is_safe_id

Role = Literal["viewer", "creator", "ops"]
ROLES: tuple[Role, ...] = ("viewer", "creator", "ops")
_ALGORITHM = "HS256"


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    """Who is acting. ``user_id`` is None for a guest (no token): read-only."""

    user_id: str | None
    name: str
    role: Role | None
    exp: int | None = None

    @property
    def is_guest(self) -> bool:
        return self.user_id is None

    @property
    def is_ops(self) -> bool:
        return self.role == "ops"

    def public(self) -> dict[str, Any] | None:
        if self.user_id is None:
            return None
        return {"id": self.user_id, "name": self.name, "role": self.role}


GUEST = Identity(user_id=None, name="guest", role=None)


def mint(secret: str, user_id: str, role: Role, *, name: str | None = None,
         ttl_s: int = 86400, now: float | None = None) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    if not is_safe_id(user_id):
        raise ValueError("user id must be 1-64 characters of letters, digits, '_', '-', '.', '@'")
    issued = int(time.time() if now is None else now)
    claims = {"sub": user_id, "name": name or user_id, "role": role, "iat": issued,
              "exp": issued + ttl_s}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def verify(secret: str, token: str, *, leeway_s: int = 0) -> Identity:
    """Decode and check a token; raises ``token_expired`` or ``unauthorized``, never leaks why
    beyond that (the token itself is never put in an error or a log)."""
    if not token or len(token) > 4096:
        raise Unauthorized("missing or oversized token")
    try:
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM], leeway=leeway_s,
                            options={"require": ["sub", "role", "exp"]})
    except jwt.ExpiredSignatureError:
        raise TokenExpired("token has expired") from None
    except jwt.PyJWTError:
        raise Unauthorized("invalid token") from None
    sub, role, name = claims.get("sub"), claims.get("role"), claims.get("name")
    if not isinstance(sub, str) or not is_safe_id(sub) or role not in ROLES:
        raise Unauthorized("invalid token claims")
    if not isinstance(name, str) or not name.strip():
        name = sub
    return Identity(user_id=sub, name=name[:40], role=role, exp=int(claims["exp"]))


# Co-host (guest publishing) tokens -------------------------------------------------------------

#: the role claim of a guest's publishing token: not one of ROLES, so ``verify`` refuses it and
#: the token opens nothing but its own room's guest WHIP endpoint
GUEST_ROLE = "guest"


@dataclasses.dataclass(frozen=True, slots=True)
class CohostGrant:
    """What a guest's publishing token says: who, for which room, and which acceptance
    (``jti``; the room's guest record must still carry it, so removal revokes the token)."""

    user_id: str
    name: str
    room_id: str
    jti: str


def mint_cohost(secret: str, user_id: str, name: str, room_id: str, jti: str, *,
                ttl_s: int, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims = {"sub": user_id, "name": name, "role": GUEST_ROLE, "room": room_id, "jti": jti,
              "iat": issued, "exp": issued + ttl_s}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def verify_cohost(secret: str, token: str, room_id: str, *, leeway_s: int = 0) -> CohostGrant:
    """A guest's publishing token for ``room_id``; any other token (a viewer's or creator's,
    or a guest token of another room) is ``forbidden``, a bad or expired one as ``verify``."""
    if not token or len(token) > 4096:
        raise Unauthorized("missing or oversized token")
    try:
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM], leeway=leeway_s,
                            options={"require": ["sub", "role", "exp", "room", "jti"]})
    except jwt.ExpiredSignatureError:
        raise TokenExpired("token has expired") from None
    except jwt.MissingRequiredClaimError:
        raise Forbidden("a guest token for this room is needed to publish as a guest") from None
    except jwt.PyJWTError:
        raise Unauthorized("invalid token") from None
    sub, jti, name = claims.get("sub"), claims.get("jti"), claims.get("name")
    if claims.get("role") != GUEST_ROLE or claims.get("room") != room_id:
        raise Forbidden("a guest token for this room is needed to publish as a guest")
    if not isinstance(sub, str) or not is_safe_id(sub) or not isinstance(jti, str):
        raise Unauthorized("invalid token claims")
    return CohostGrant(sub, name[:40] if isinstance(name, str) and name.strip() else sub,
                       room_id, jti)


# Permission rules -----------------------------------------------------------------------------

def require_user(who: Identity) -> str:
    """Writes (chat, hearts, reports) need a logged-in user."""
    if who.user_id is None:
        raise Forbidden("log in to do this")
    return who.user_id


def require_creator(who: Identity) -> str:
    uid = require_user(who)
    if who.role not in ("creator", "ops"):
        raise Forbidden("only creators may do this")
    return uid


def require_seller(who: Identity, *, ops_may: bool = False) -> str:
    """A catalogue is a creator's: the role decides, not the id, so a viewer token that carries
    a creator's id is still a viewer. Ops read a product and take it down or put it back
    (``ops_may``) but never create or edit one."""
    uid = require_user(who)
    if who.role == "creator" or (ops_may and who.is_ops):
        return uid
    raise Forbidden("only creators have a catalogue" if not who.is_ops
                    else "ops take products down but do not edit catalogues")


def require_product_role(who: Identity, *, ops_may: bool = False) -> str:
    """:func:`require_seller` for a request about one product: no token there is ``401``."""
    if who.user_id is None:
        raise Unauthorized("a token is needed")
    return require_seller(who, ops_may=ops_may)


def require_room_creator(who: Identity, room_creator_id: str, what: str) -> str:
    """The room's own creator with a creator token, for what only the seller does in a room
    (its shelf, its coupons): ops are refused too (``403``), a missing token is ``401``."""
    if who.user_id is None:
        raise Unauthorized("a token is needed")
    if who.role != "creator" or who.user_id != room_creator_id:
        raise Forbidden(f"only the room's creator may {what}")
    return who.user_id


def require_ops(who: Identity) -> str:
    if who.user_id is None:
        raise Unauthorized("a token is needed")
    if not who.is_ops:
        raise Forbidden("ops only")
    return who.user_id


def is_moderator(who: Identity, room_creator_id: str) -> bool:
    return who.user_id is not None and (
        who.is_ops or (who.role == "creator" and who.user_id == room_creator_id)
    )


def require_moderator(who: Identity, room_creator_id: str) -> str:
    if who.user_id is None:
        raise Unauthorized("a token is needed")
    if not is_moderator(who, room_creator_id):
        raise Forbidden("only the room's creator or ops may do this")
    return who.user_id
