"""Variant rules without I/O: the sole variant, options and variants checked, a PATCH keeping
ids and saying which stock it sets, a buyer's variant found or refused naming variant_id."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from live_server.domain.shelf import (
    Limits,
    apply_update,
    parse_product,
    public_product,
    unit_price,
)
from live_server.domain.variants import find_variant
from live_server.errors import InvalidField

LIMITS = Limits(max_price=10**8, max_stock=10**6, max_per_buyer=1000, max_sale_ms=86_400_000)
BASE = {"title": "Shirt", "list_price": 3000, "live_price": 2000}
OPTIONS = [{"name": "Size", "values": ["S", "M"]}, {"name": "Colour", "values": ["Red"]}]


def shirt() -> dict[str, object]:
    return parse_product({**BASE, "options": OPTIONS, "variants": [
        {"options": {"Size": "S", "Colour": "Red"}, "stock": 2, "price_delta": -100},
        {"options": {"Size": "M", "Colour": "Red"}, "stock": 5}]}, LIMITS, creator_id="a",
        now=1)


def test_a_product_without_variants_has_the_sole_one() -> None:
    p = parse_product({**BASE, "stock": 7}, LIMITS, creator_id="a", now=1)
    assert p["variants"] == [{"id": "v0", "options": {}, "stock": 7, "price_delta": 0,
                              "image_url": ""}]
    assert p["options"] == [] and p["stock"] == 7
    assert find_variant(p, None)["id"] == "v0"
    card = public_product(p)
    assert "stock" not in card and "stock" not in card["variants"][0]


def test_variants_are_checked_against_the_options() -> None:
    p = shirt()
    assert p["stock"] == 7 and len({v["id"] for v in p["variants"]}) == 2
    bad_variants = (
        [{"options": {"Size": "XL", "Colour": "Red"}}],          # not a value
        [{"options": {"Size": "S"}}],                             # an option missing
        [{"options": {"Size": "S", "Colour": "Red"}}] * 2,        # twice the same
        [{"options": {"Size": "S", "Colour": "Red"}, "price_delta": -2001}],  # below 0
        [{"options": {"Size": "S", "Colour": "Red"}, "stock": -1}],
        [{"options": {"Size": "S", "Colour": "Red"}, "weight": 3}],
        [{"id": "v_unknown", "options": {"Size": "S", "Colour": "Red"}}],
        [],
    )
    for variants in bad_variants:
        with pytest.raises(InvalidField):
            parse_product({**BASE, "options": OPTIONS, "variants": variants}, LIMITS,
                          creator_id="a", now=1)
    for options in ([{"name": "Size", "values": []}], [{"name": "", "values": ["S"]}],
                    [{"name": "A", "values": ["x"]}] * 2,
                    [{"name": f"O{i}", "values": ["x"]} for i in range(4)]):
        with pytest.raises(InvalidField):
            parse_product({**BASE, "options": options, "variants": [{"options": {}}]},
                          LIMITS, creator_id="a", now=1)
    with pytest.raises(InvalidField):  # stock with variants: one or the other
        parse_product({**BASE, "stock": 3, "options": OPTIONS, "variants": [
            {"options": {"Size": "S", "Colour": "Red"}}]}, LIMITS, creator_id="a", now=1)


def test_a_patch_keeps_ids_and_says_which_stock_it_sets() -> None:
    p = shirt()
    s, m = p["variants"]  # type: ignore[misc]
    updated, stock_set, removed = apply_update(
        p, {"options": [{"name": "Size", "values": ["S", "M", "L"]}, OPTIONS[1]],
            "variants": [{"id": m["id"]}, {"options": {"Size": "L", "Colour": "Red"},
                                            "stock": 4, "price_delta": 500}]}, LIMITS, 2)
    kept, new = updated["variants"]
    assert kept == m and new["id"] not in (s["id"], m["id"])
    assert stock_set == {new["id"]: 4} and removed == [s["id"]]
    assert updated["stock"] == 9
    # stock alone sets a one-variant product's units, and only those
    one = parse_product({**BASE, "stock": 3}, LIMITS, creator_id="a", now=1)
    assert apply_update(one, {"stock": 8}, LIMITS, 2)[1:] == ({"v0": 8}, [])
    assert apply_update(one, {"title": "New"}, LIMITS, 2)[1:] == ({}, [])
    with pytest.raises(InvalidField):  # several variants: stock per variant
        apply_update(p, {"stock": 8}, LIMITS, 2)
    with pytest.raises(InvalidField):  # a live price that makes a variant cost less than 0
        apply_update(p, {"live_price": 50}, LIMITS, 2)


def test_a_buyers_variant_is_found_or_refused_naming_variant_id() -> None:
    p = shirt()
    with pytest.raises(InvalidField, match="variant_id"):
        find_variant(p, None)
    with pytest.raises(InvalidField, match="variant_id"):
        find_variant(p, "v0")
    assert find_variant(p, p["variants"][1]["id"])["options"] == {  # type: ignore[index]
        "Size": "M", "Colour": "Red"}


@given(st.integers(0, 10**8), st.integers(-(10**8), 10**8))
def test_a_variants_price_is_never_below_zero(live: int, delta: int) -> None:
    price = unit_price(live, delta)
    assert price >= 0 and (price == live + delta or live + delta < 0)
