"""A new coupon's validation (domain/coupons.py): every field bounded, the fields of the other
kind refused, the window checked against the clock; each refusal names what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from live_server.domain.coupons import (
    PER_USER_MAX,
    PERCENT_BP_MAX,
    PRODUCTS_MAX,
    QUOTA_MAX,
    WINDOW_MAX_MS,
    is_coupon_id,
    parse_coupon,
)
from live_server.errors import InvalidField, MissingField

NOW = 1_800_000_000_000
MAX_PRICE = 100_000_000
DAY = 86_400_000


def amount(**fields: Any) -> dict[str, Any]:
    return {"title": "5 off 50", "kind": "amount", "amount_off": 500, "min_spend": 5000,
            "quota": 100, "end_at": NOW + DAY, **fields}


def percent(**fields: Any) -> dict[str, Any]:
    return {"title": "10% off", "kind": "percent", "percent_bp": 1000, "max_off": 2000,
            "quota": 100, "end_at": NOW + DAY, **fields}


def parse(body: dict[str, Any]) -> dict[str, Any]:
    return parse_coupon(body, room_id="r_1", max_price=MAX_PRICE, now=NOW)


def test_an_amount_coupon_with_its_defaults() -> None:
    c = parse(amount(title="  5 off 50 "))
    assert is_coupon_id(c["id"])
    assert {k: v for k, v in c.items() if k != "id"} == {
        "room_id": "r_1", "title": "5 off 50", "kind": "amount", "amount_off": 500,
        "percent_bp": 0, "max_off": 0, "min_spend": 5000, "product_ids": [], "quota": 100,
        "per_user": 1, "start_at": NOW, "end_at": NOW + DAY, "created_at": NOW, "claimed": 0,
        "used": 0, "state": "active"}


def test_a_percent_coupon_for_some_products() -> None:
    c = parse(percent(product_ids=["p_a", "p_b"], per_user=3, start_at=NOW + 1000, min_spend=0))
    assert (c["kind"], c["percent_bp"], c["max_off"], c["amount_off"]) == ("percent", 1000,
                                                                          2000, 0)
    assert c["product_ids"] == ["p_a", "p_b"] and c["per_user"] == 3
    assert c["start_at"] == NOW + 1000


@pytest.mark.parametrize(("body", "names"), [
    (amount(title=""), "'title'"),
    (amount(title="x" * 41), "'title'"),
    (amount(kind="free"), "'kind'"),
    (amount(amount_off=0), "'amount_off'"),
    (amount(amount_off=MAX_PRICE + 1), "'amount_off'"),
    (amount(amount_off=-5), "'amount_off'"),
    (amount(amount_off="500"), "'amount_off'"),
    (amount(amount_off=True), "'amount_off'"),
    (amount(min_spend=500), "'min_spend'"),      # an amount off needs a larger minimum
    (amount(min_spend=499), "'min_spend'"),
    (amount(min_spend=-1), "'min_spend'"),
    (amount(percent_bp=1000), "'percent_bp'"),   # the other kind's fields
    (amount(max_off=100), "'max_off'"),
    (percent(amount_off=100), "'amount_off'"),
    (percent(percent_bp=0), "'percent_bp'"),
    (percent(percent_bp=PERCENT_BP_MAX + 1), "'percent_bp'"),
    (percent(max_off=0), "'max_off'"),
    (percent(max_off=MAX_PRICE + 1), "'max_off'"),
    (amount(quota=0), "'quota'"),
    (amount(quota=QUOTA_MAX + 1), "'quota'"),
    (amount(per_user=0), "'per_user'"),
    (amount(per_user=PER_USER_MAX + 1), "'per_user'"),
    (amount(product_ids="p_a"), "'product_ids'"),
    (amount(product_ids=["p_a", "p_a"]), "'product_ids'"),
    (amount(product_ids=["nope"]), "'product_ids'"),
    (amount(product_ids=[f"p_{i}" for i in range(PRODUCTS_MAX + 1)]), "'product_ids'"),
    (amount(end_at=NOW), "'end_at'"),                        # in the past
    (amount(start_at=NOW + 10, end_at=NOW + 10), "'end_at'"),  # not after the start
    (amount(end_at=NOW + WINDOW_MAX_MS + 1), "30 days"),
    (amount(start_at=NOW + WINDOW_MAX_MS + 1, end_at=NOW + WINDOW_MAX_MS + 2), "'start_at'"),
    (amount(end_at=10**16), "'end_at'"),                     # seconds/ms mix-ups
    (amount(colour="red"), "colour"),
])
def test_bad_fields_are_refused_by_name(body: dict[str, Any], names: str) -> None:
    with pytest.raises(InvalidField) as err:
        parse(body)
    assert names in err.value.message


@pytest.mark.parametrize("missing", ["title", "kind", "quota", "end_at"])
def test_required_fields(missing: str) -> None:
    body = amount()
    del body[missing]
    with pytest.raises((MissingField, InvalidField)) as err:
        parse(body)
    assert f"'{missing}'" in err.value.message


def test_each_kind_needs_its_own_fields() -> None:
    body = amount()
    del body["amount_off"]
    with pytest.raises(MissingField, match="amount_off"):
        parse(body)
    body = percent()
    del body["max_off"]
    with pytest.raises(MissingField, match="max_off"):
        parse(body)


def test_the_longest_window_is_accepted() -> None:
    c = parse(amount(start_at=NOW + WINDOW_MAX_MS, end_at=NOW + 2 * WINDOW_MAX_MS))
    assert c["end_at"] - c["start_at"] == WINDOW_MAX_MS


def test_coupon_ids() -> None:
    assert is_coupon_id("c_0123abcd")
    for bad in ("", "c_", "p_123", "c_" + "a" * 39, "c_a b", "c_é"):
        assert not is_coupon_id(bad)
