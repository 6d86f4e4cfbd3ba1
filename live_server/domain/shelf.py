"""Shelf rules: what a product and a flash sale look like, their validation, the sale window,
commission arithmetic and how many units a buyer may still take. No I/O.

Money is integer cents; time is integer ms since the epoch; rates are basis points (1/100 %).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from typing import Any

from live_server.domain.rooms import MAX_TIME_MS
from live_server.domain.urls import check_image_url
from live_server.domain.variants import (
    check_against_options,
    check_variant_prices,
    find_variant,
    parse_options,
    parse_variants,
    public_variants,
    sole_variant,
)
from live_server.errors import InvalidField
from live_server.protocol import Json, get_int, get_str

STATUSES = ("on_sale", "taken_down")
SALE_STATES = ("scheduled", "open", "closed")
TITLE_MAX, DESCRIPTION_MAX, URL_MAX = 100, 2000, 500
MAX_BP = 10000
CURRENCY = re.compile(r"^[A-Z]{3}$")
EDITABLE = ("title", "description", "image_url", "list_price", "live_price", "currency",
            "stock", "per_buyer_limit", "commission_bp", "options", "variants")


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """The configured bounds every number is checked against (``[shelf]`` settings)."""

    max_price: int
    max_stock: int
    max_per_buyer: int
    max_sale_ms: int
    currency: str = "CNY"  # the deployment's one currency: totals never add up two currencies


def new_product_id() -> str:
    return "p_" + secrets.token_urlsafe(9)


def new_sale_id() -> str:
    return "s_" + secrets.token_hex(6)


def is_product_id(value: str) -> bool:
    return (3 <= len(value) <= 40 and value.startswith("p_") and value.isascii()
            and all(c.isalnum() or c in "_-" for c in value))


def product_id_field(msg: Json, name: str = "product_id") -> str:
    value = get_str(msg, name, max_len=40)
    if value is None or not is_product_id(value):
        raise InvalidField(f"'{name}' must be a product id")
    return value


def _text(body: Json, name: str, max_len: int, *, required: bool) -> str | None:
    value = get_str(body, name, max_len=max_len, required=required)
    return value.strip() if value is not None else None


def _url(body: Json) -> str:
    return check_image_url("image_url", _text(body, "image_url", URL_MAX, required=False) or "")


def _fields(body: Json, limits: Limits, *, creating: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if creating or "title" in body:
        title = _text(body, "title", TITLE_MAX, required=True)
        if not title:
            raise InvalidField(f"'title' must be 1-{TITLE_MAX} characters")
        out["title"] = title
    if creating or "description" in body:
        out["description"] = _text(body, "description", DESCRIPTION_MAX, required=False) or ""
    if creating or "image_url" in body:
        out["image_url"] = _url(body)
    for name, hi, default in (
        ("list_price", limits.max_price, None), ("live_price", limits.max_price, None),
        ("stock", limits.max_stock, None), ("per_buyer_limit", limits.max_per_buyer, 1),
        ("commission_bp", MAX_BP, 0),
    ):
        if name == "stock" and creating and "variants" in body:
            if "stock" in body:
                raise InvalidField("give 'stock' per variant in 'variants', not both")
            continue
        if creating or name in body:
            lo = 1 if name in ("per_buyer_limit",) else 0
            out[name] = get_int(body, name, lo=lo, hi=hi,
                                default=default if creating else None)
    if creating or "currency" in body:
        currency = get_str(body, "currency", max_len=3, required=False) or limits.currency
        if not CURRENCY.match(currency):
            raise InvalidField("'currency' must be a three-letter upper-case code")
        if currency != limits.currency:
            raise InvalidField(f"this server sells in {limits.currency} only")
        out["currency"] = currency
    return out


def parse_product(body: Json, limits: Limits, *, creator_id: str, now: int) -> Json:
    """A new catalogue product from a request body."""
    unknown = set(body) - set(EDITABLE)
    if unknown:
        raise InvalidField(f"unknown field(s): {', '.join(sorted(unknown))}")
    fields = _fields(body, limits, creating=True)
    check_prices(fields["list_price"], fields["live_price"])
    options = parse_options(body.get("options", []))
    if "variants" in body:
        variants = parse_variants(body["variants"], options, live_price=fields["live_price"],
                                  max_stock=limits.max_stock, max_price=limits.max_price)
    elif options:
        raise InvalidField("'options' need 'variants' (one per combination sold)")
    else:
        variants = [sole_variant(fields["stock"])]
    fields["stock"] = sum(int(v["stock"]) for v in variants)
    return {"id": new_product_id(), "creator_id": creator_id, **fields, "options": options,
            "variants": variants, "status": "on_sale", "created_at": now, "updated_at": now}


def variants_of(product: Json) -> list[Json]:
    """A product's variants (a product stored before variants existed has the sole one)."""
    found: list[Json] = product.get("variants") or [sole_variant(int(product.get("stock", 0)))]
    return found


def apply_update(product: Json, body: Json, limits: Limits,
                 now: int) -> tuple[Json, dict[str, int], list[str]]:
    """The product with a PATCH applied (at least one known field); the variants whose stock
    the PATCH sets (id → units available); the variants it removes. ``stock`` sets the
    available units of a one-variant product; ``variants`` replaces the list, keeping the
    ids it names."""
    unknown = set(body) - set(EDITABLE)
    if unknown:
        raise InvalidField(f"unknown field(s): {', '.join(sorted(unknown))}")
    fields = _fields(body, limits, creating=False)
    if not fields and "options" not in body and "variants" not in body:
        raise InvalidField("nothing to update")
    out = {**product, **fields, "updated_at": now}
    check_prices(int(out["list_price"]), int(out["live_price"]))
    old = variants_of(product)
    options = (parse_options(body["options"]) if "options" in body
               else list(product.get("options") or []))
    stock_set: dict[str, int] = {}
    if "variants" in body:
        if "stock" in body:
            raise InvalidField("give 'stock' per variant in 'variants', not both")
        variants = parse_variants(body["variants"], options, live_price=int(out["live_price"]),
                                  max_stock=limits.max_stock, max_price=limits.max_price,
                                  existing=old)
        for item, variant in zip(body["variants"], variants, strict=True):
            if "stock" in item or "id" not in item:
                stock_set[variant["id"]] = int(variant["stock"])
    else:
        variants = [dict(v) for v in old]
        check_against_options(variants, options)
        check_variant_prices(variants, int(out["live_price"]))
        if "stock" in body:
            if len(variants) != 1:
                raise InvalidField("'stock' sets a one-variant product's units; give each "
                                   "variant's 'stock' in 'variants'")
            variants[0]["stock"] = stock_set[variants[0]["id"]] = int(fields["stock"])
    kept = {v["id"] for v in variants}
    removed = [v["id"] for v in old if v["id"] not in kept]
    out.update(options=options, variants=variants,
               stock=sum(int(v["stock"]) for v in variants))
    return out, stock_set, removed


def check_prices(list_price: int, live_price: int) -> None:
    if live_price > list_price:
        raise InvalidField("'live_price' must not be above 'list_price'")


def parse_sale(body: Json, limits: Limits, *, product: Json, now: int) -> Json:
    """A flash sale of one variant of a product on the shelf (``variant_id``, optional when
    it has one): price, stock (drawn from the catalogue when the sale is created), start and
    end (ms)."""
    unknown = set(body) - {"product_id", "variant_id", "price", "stock", "start_at", "end_at"}
    if unknown:
        raise InvalidField(f"unknown field(s): {', '.join(sorted(unknown))}")
    price = get_int(body, "price", lo=0, hi=limits.max_price)
    stock = get_int(body, "stock", lo=1, hi=limits.max_stock)
    start_at = get_int(body, "start_at", lo=0, hi=MAX_TIME_MS, default=now)
    end_at = get_int(body, "end_at", lo=0, hi=MAX_TIME_MS)
    check_window(start_at, end_at, now, limits.max_sale_ms)
    if price > int(product["list_price"]):
        raise InvalidField("'price' must not be above the product's list price")
    variant = find_variant(product, get_str(body, "variant_id", max_len=24, required=False))
    return {"id": new_sale_id(), "product_id": product["id"], "variant_id": variant["id"],
            "variant": variant["options"], "price": price, "stock": stock,
            "start_at": start_at, "end_at": end_at, "currency": product["currency"],
            "state": "scheduled", "reason": "", "created_at": now}


def check_window(start_at: int, end_at: int, now: int, max_ms: int) -> None:
    if end_at <= start_at:
        raise InvalidField("'end_at' must be after 'start_at'")
    if end_at <= now:
        raise InvalidField("'end_at' is in the past")
    if end_at - start_at > max_ms:
        raise InvalidField(f"a sale lasts at most {max_ms} ms")


def window_state(start_at: int, end_at: int, now: int) -> str:
    """Where ``now`` falls in the half-open window [start_at, end_at):
    ``not_started``, ``open`` or ``ended``. buy.lua applies the same rule."""
    if now < start_at:
        return "not_started"
    if now >= end_at:
        return "ended"
    return "open"


def commission(amount: int, rate_bp: int) -> int:
    """The creator's commission on ``amount`` cents at ``rate_bp`` basis points, rounded down to
    a whole cent (the fraction stays with the platform). order_transition.lua computes the same
    as ``(x - x % 10000) / 10000`` with ``x = amount * rate_bp``."""
    if amount < 0 or not 0 <= rate_bp <= MAX_BP:
        raise ValueError("amount must be >= 0 and rate 0..10000 bp")
    return amount * rate_bp // MAX_BP


def may_buy(limit: int, bought: int, left: int) -> int:
    """How many more units a buyer may take: under their limit and the stock left, never < 0."""
    return max(0, min(limit - bought, left))


def public_product(product: Json) -> Json:
    """The product as viewers see it: the commission rate is the creator's business, and the
    stock lives in counters (the views add what is left)."""
    out = {k: v for k, v in product.items() if k not in ("commission_bp", "takedown", "stock")}
    out["options"] = list(product.get("options") or [])
    out["variants"] = public_variants(variants_of(product))
    return out


def unit_price(live_price: int, price_delta: int) -> int:
    """A variant's price at the live price: never below 0. buy.lua applies the same rule."""
    return max(0, live_price + price_delta)
