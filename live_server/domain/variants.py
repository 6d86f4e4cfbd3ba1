"""Product variants (SKUs): the options a product comes in (size, colour), its variants with
their own stock, price adjustment and image, and how a request's variant is found. No I/O.

Every product has at least one variant: one created without ``variants`` gets the sole variant
``v0`` (no options), so stock, limits and orders always name a variant and a one-variant
product needs no special case anywhere. Stock is counted per variant under the creator's slot
(``store/stock.py``); the ``stock`` written here is what the owner set, the counters are the
truth once the product exists.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from live_server.domain.urls import check_image_url
from live_server.errors import InvalidField
from live_server.protocol import Json

SOLE = "v0"
MAX_OPTIONS, MAX_VALUES, MAX_VARIANTS = 3, 20, 50
NAME_MAX, VALUE_MAX, URL_MAX = 30, 30, 500
VARIANT_ID = re.compile(r"^v[0-9A-Za-z_-]{1,23}$")
VARIANT_FIELDS = ("id", "options", "stock", "price_delta", "image_url")


def new_variant_id() -> str:
    return "v_" + secrets.token_hex(5)


def sole_variant(stock: int) -> Json:
    return {"id": SOLE, "options": {}, "stock": stock, "price_delta": 0, "image_url": ""}


def stock_field(product_id: str, variant_id: str) -> str:
    """The name of a variant's counters in the catalogue's and the room's stock hashes."""
    return f"{product_id}:{variant_id}"


def is_variant_id(value: object) -> bool:
    return isinstance(value, str) and bool(VARIANT_ID.match(value))


def _name(value: Any, what: str, max_len: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= max_len:
        raise InvalidField(f"{what} must be 1-{max_len} characters")
    return value.strip()


def parse_options(value: Any) -> list[Json]:
    """``[{"name": "Size", "values": ["S", "M"]}]``: at most 3 options of 1-20 distinct
    values, names distinct."""
    if not isinstance(value, list) or len(value) > MAX_OPTIONS:
        raise InvalidField(f"'options' must be a list of at most {MAX_OPTIONS} options")
    out: list[Json] = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"name", "values"}:
            raise InvalidField("each of 'options' must be {\"name\", \"values\"}")
        name = _name(item["name"], "an option's name", NAME_MAX)
        values = item["values"]
        if not isinstance(values, list) or not 1 <= len(values) <= MAX_VALUES:
            raise InvalidField(f"option '{name}' must have 1-{MAX_VALUES} values")
        clean = [_name(v, f"a value of option '{name}'", VALUE_MAX) for v in values]
        if len(set(clean)) != len(clean):
            raise InvalidField(f"option '{name}' lists a value twice")
        out.append({"name": name, "values": clean})
    if len({o["name"] for o in out}) != len(out):
        raise InvalidField("'options' names an option twice")
    return out


def parse_variants(value: Any, options: list[Json], *, live_price: int, max_stock: int,
                   max_price: int, existing: list[Json] | None = None) -> list[Json]:
    """The variant list of a create (``existing`` None) or of a PATCH that replaces it. A
    variant that names an id of ``existing`` keeps it (and its stock unless given); one
    without an id is new. Each names one value of every option, no two alike."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_VARIANTS:
        raise InvalidField(f"'variants' must be a list of 1-{MAX_VARIANTS} variants")
    known = {v["id"]: v for v in existing or []}
    out: list[Json] = []
    for item in value:
        if not isinstance(item, dict):
            raise InvalidField("each of 'variants' must be an object")
        unknown = set(item) - set(VARIANT_FIELDS)
        if unknown:
            raise InvalidField(f"unknown variant field(s): {', '.join(sorted(unknown))}")
        vid = item.get("id")
        if vid is not None and vid not in known:
            raise InvalidField(f"'variants': no variant '{str(vid)[:30]}' to keep (leave "
                               "'id' out for a new variant)")
        prior = known.get(vid) if vid is not None else None
        out.append({
            "id": vid if vid is not None else new_variant_id(),
            "options": _variant_options(
                item.get("options", prior["options"] if prior is not None else {}), options),
            "stock": _int(item, "stock", 0, max_stock,
                          int(prior["stock"]) if prior is not None else 0),
            "price_delta": _int(item, "price_delta", -max_price, max_price,
                                int(prior["price_delta"]) if prior is not None else 0),
            "image_url": check_image_url(
                "image_url", _url(item, str(prior["image_url"]) if prior is not None else "")),
        })
    ids = [v["id"] for v in out]
    if len(set(ids)) != len(ids):
        raise InvalidField("'variants' lists a variant twice")
    combos = [tuple(sorted(v["options"].items())) for v in out]
    if len(set(combos)) != len(combos):
        raise InvalidField("two variants have the same options")
    if not options and len(out) > 1:
        raise InvalidField("several variants need 'options' to tell them apart")
    check_variant_prices(out, live_price)
    return out


def _variant_options(value: Any, options: list[Json]) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidField("a variant's 'options' must be an object")
    names = {o["name"]: o["values"] for o in options}
    if set(value) != set(names):
        raise InvalidField("a variant's 'options' must name one value of every option")
    for name, chosen in value.items():
        if chosen not in names[name]:
            raise InvalidField(f"'{str(chosen)[:30]}' is not a value of option '{name}'")
    return {name: str(value[name]) for name in names}


def _int(item: Json, name: str, lo: int, hi: int, default: int) -> int:
    value = item.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidField(f"a variant's '{name}' must be an integer between {lo} and {hi}")
    return value


def _url(item: Json, default: str) -> str:
    value = item.get("image_url", default)
    if not isinstance(value, str) or len(value) > URL_MAX:
        raise InvalidField(f"a variant's 'image_url' must be a string of at most {URL_MAX}")
    return value.strip()


def check_variant_prices(variants: list[Json], live_price: int) -> None:
    """No variant costs less than nothing."""
    for v in variants:
        if live_price + int(v["price_delta"]) < 0:
            raise InvalidField(f"variant '{v['id']}' would cost less than 0 "
                               "('price_delta' below minus the live price)")


def check_against_options(variants: list[Json], options: list[Json]) -> None:
    """Kept variants still fit new options (a PATCH of ``options`` alone)."""
    for v in variants:
        _variant_options(v["options"], options)
    if not options and len(variants) > 1:
        raise InvalidField("several variants need 'options' to tell them apart")


def find_variant(product: Json, variant_id: str | None) -> Json:
    """The variant a buyer chose; optional when the product has one. ``invalid_field``
    naming ``variant_id`` otherwise."""
    variants: list[Json] = product.get("variants") or [sole_variant(0)]
    if variant_id is None:
        if len(variants) == 1:
            return variants[0]
        raise InvalidField("'variant_id' is required: the product comes in several variants")
    for v in variants:
        if v["id"] == variant_id:
            return v
    raise InvalidField("'variant_id' is not a variant of this product")


def public_variants(variants: list[Json]) -> list[Json]:
    """Variants as a room's card carries them: no stock (the counters are the truth)."""
    return [{k: v[k] for k in ("id", "options", "price_delta", "image_url")} for v in variants]
