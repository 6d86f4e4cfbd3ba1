"""Coupon rules: what a new coupon looks like and its validation. No I/O.

A coupon belongs to one room: its creator makes it, viewers claim copies of it, a purchase in
that room uses a claimed copy. Only the shape is checked here; the discount arithmetic exists
once, in ``buy.lua`` (``quote`` runs the same script read-only), so that a quote and the order
can never disagree. Which products are on the shelf is the create script's check: the shelf
can change between a read here and the write.

Money is integer cents; time integer ms; a percentage in basis points (1/100 %).
"""

from __future__ import annotations

import secrets
from typing import Any

from live_server.domain.rooms import MAX_TIME_MS
from live_server.domain.shelf import is_product_id
from live_server.errors import InvalidField
from live_server.protocol import Json, get_int, get_str

KINDS = ("amount", "percent")
STATES = ("active", "stopped")
TITLE_MAX = 40
PERCENT_BP_MAX = 9000       # 90 % off at most: a coupon never gives the product away
PRODUCTS_MAX = 50           # product_ids listed; [] = the whole shelf
QUOTA_MAX = 1_000_000       # copies in all
PER_USER_MAX = 100          # copies one user may claim
WINDOW_MAX_MS = 30 * 86_400_000  # a coupon is valid for at most 30 days, starting within 30
ROOM_MAX = 200              # coupons a room may hold (the list is read whole)
FIELDS = ("title", "kind", "amount_off", "percent_bp", "max_off", "min_spend", "product_ids",
          "quota", "per_user", "start_at", "end_at")


def new_coupon_id() -> str:
    return "c_" + secrets.token_hex(6)


def is_coupon_id(value: str) -> bool:
    return (3 <= len(value) <= 40 and value.startswith("c_") and value.isascii()
            and all(c.isalnum() or c in "_-" for c in value))


def parse_coupon(body: Json, *, room_id: str, max_price: int, now: int) -> Json:
    """A new coupon for ``room_id`` from a request body, every field bounded; ``max_price`` is
    the deployment's highest price (``shelf.max_price_cents``). The fields of the other kind
    must be absent (a percentage with an ``amount_off`` is a mistake, not a choice)."""
    unknown = set(body) - set(FIELDS)
    if unknown:
        raise InvalidField(f"unknown field(s): {', '.join(sorted(unknown))}")
    title = (get_str(body, "title") or "").strip()
    if not 1 <= len(title) <= TITLE_MAX:
        raise InvalidField(f"'title' must be 1-{TITLE_MAX} characters")
    kind = get_str(body, "kind")
    if kind not in KINDS:
        raise InvalidField(f"'kind' must be {' or '.join(KINDS)}")
    amount_off = percent_bp = max_off = 0
    if kind == "amount":
        _absent(body, ("percent_bp", "max_off"), kind)
        amount_off = get_int(body, "amount_off", lo=1, hi=max_price)
    else:
        _absent(body, ("amount_off",), kind)
        percent_bp = get_int(body, "percent_bp", lo=1, hi=PERCENT_BP_MAX)
        max_off = get_int(body, "max_off", lo=1, hi=max_price)
    min_spend = get_int(body, "min_spend", lo=0, hi=max_price, default=0)
    if kind == "amount" and min_spend <= amount_off:
        raise InvalidField("'min_spend' must be more than 'amount_off' (an order is never free)")
    start_at = get_int(body, "start_at", lo=0, hi=MAX_TIME_MS, default=now)
    end_at = get_int(body, "end_at", lo=0, hi=MAX_TIME_MS)
    check_window(start_at, end_at, now)
    return {
        "id": new_coupon_id(), "room_id": room_id, "title": title, "kind": kind,
        "amount_off": amount_off, "percent_bp": percent_bp, "max_off": max_off,
        "min_spend": min_spend, "product_ids": product_ids(body.get("product_ids", [])),
        "quota": get_int(body, "quota", lo=1, hi=QUOTA_MAX),
        "per_user": get_int(body, "per_user", lo=1, hi=PER_USER_MAX, default=1),
        "start_at": start_at, "end_at": end_at, "created_at": now,
        "claimed": 0, "used": 0, "state": "active",
    }


def _absent(body: Json, names: tuple[str, ...], kind: str) -> None:
    for name in names:
        if body.get(name) is not None:
            raise InvalidField(f"'{name}' is not a field of a coupon of kind {kind}")


def product_ids(value: Any) -> list[str]:
    """The products a coupon is valid for: distinct product ids, at most ``PRODUCTS_MAX``."""
    if not isinstance(value, list) or len(value) > PRODUCTS_MAX:
        raise InvalidField(f"'product_ids' must be a list of at most {PRODUCTS_MAX} product ids")
    if not all(isinstance(v, str) and is_product_id(v) for v in value):
        raise InvalidField("'product_ids' must hold product ids")
    if len(set(value)) != len(value):
        raise InvalidField("'product_ids' lists a product twice")
    return list(value)


def check_window(start_at: int, end_at: int, now: int) -> None:
    """Valid from ``start_at`` (at most 30 days ahead) until before ``end_at`` (in the future,
    after the start, at most 30 days after it)."""
    if end_at <= start_at:
        raise InvalidField("'end_at' must be after 'start_at'")
    if end_at <= now:
        raise InvalidField("'end_at' is in the past")
    if end_at - start_at > WINDOW_MAX_MS:
        raise InvalidField("a coupon is valid for at most 30 days")
    if start_at - now > WINDOW_MAX_MS:
        raise InvalidField("'start_at' is more than 30 days ahead")
