"""Shelf and order rules as properties: commission rounding, purchase limits, sale windows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from live_server.domain.orders import (
    ACTIONS,
    STATES,
    check_action,
    effective_state,
    may_still_pay,
    order_room,
)
from live_server.domain.shelf import (
    Limits,
    check_window,
    commission,
    may_buy,
    parse_product,
    window_state,
)
from live_server.errors import InvalidField, InvalidState

AMOUNTS = st.integers(min_value=0, max_value=10**8 * 99)
RATES = st.integers(min_value=0, max_value=10000)


@given(AMOUNTS, RATES)
def test_commission_is_rounded_down_to_a_whole_cent(amount: int, rate: int) -> None:
    c = commission(amount, rate)
    assert 0 <= c <= amount
    assert c * 10000 <= amount * rate < (c + 1) * 10000  # floor, and never more than owed


@given(AMOUNTS, RATES)
def test_commission_matches_the_lua_formula(amount: int, rate: int) -> None:
    x = float(amount * rate)  # Lua numbers are doubles; exact below 2^53
    assert amount * rate < 2**53
    assert int((x - x % 10000) / 10000) == commission(amount, rate)


@given(AMOUNTS, AMOUNTS, RATES)
def test_refund_reverses_exactly_what_was_credited(a: int, b: int, rate: int) -> None:
    credited = commission(a, rate) + commission(b, rate)
    assert credited - commission(a, rate) == commission(b, rate)


@given(st.integers(1, 1000), st.integers(0, 1000), st.integers(0, 10**6))
def test_may_buy_never_passes_limit_or_stock(limit: int, bought: int, left: int) -> None:
    n = may_buy(limit, bought, left)
    assert 0 <= n <= left
    assert bought + n <= max(limit, bought)
    if bought < limit and left > 0:
        assert n >= 1


@given(st.integers(0, 10**13), st.integers(1, 10**9), st.integers(0, 10**13))
def test_window_is_half_open(start: int, length: int, now: int) -> None:
    end = start + length
    state = window_state(start, end, now)
    assert (state == "open") == (start <= now < end)
    assert window_state(start, end, start) == "open"
    assert window_state(start, end, end) == "ended"
    assert window_state(start, end, start - 1) == "not_started"


@given(st.integers(0, 10**13), st.integers(-10**6, 10**6))
def test_end_before_or_at_start_is_refused(start: int, delta: int) -> None:
    if delta <= 0:
        with pytest.raises(InvalidField):
            check_window(start, start + delta, 0, 10**12)
    else:
        check_window(start, start + delta, 0, 10**12)


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_order_transitions(action: str) -> None:
    for src, dst in ACTIONS[action].items():
        assert check_action(src, action) == dst
    for other in STATES:
        if other not in ACTIONS[action]:
            with pytest.raises(InvalidState):
                check_action(other, action)


def test_only_a_payment_leaves_an_ended_reservation_and_a_lapsed_claim_is_reserved() -> None:
    assert {a for a, moves in ACTIONS.items() if "expired" in moves} == {"pay"}
    assert check_action("cancelled", "pay") == check_action("expired", "pay") == "paid_late"
    assert check_action("paid_late", "refund") == "refunded"
    claim = {"state": "paying", "pay_until": 1000}
    assert effective_state(claim, 999) == "paying" and effective_state(claim, 1000) == "reserved"
    assert effective_state({"state": "paid"}, 10**13) == "paid"


def test_order_ids_name_their_room() -> None:
    assert order_room("o.r_abc-_9.0f0f") == "r_abc-_9"
    assert order_room("o..x") is None and order_room("x.r.y") is None
    assert order_room("o.r") is None


@given(st.integers(), st.integers())
def test_product_prices_are_bounded(list_price: int, live_price: int) -> None:
    limits = Limits(max_price=10**8, max_stock=10**6, max_per_buyer=1000, max_sale_ms=10**9)
    body = {"title": "x", "list_price": list_price, "live_price": live_price, "stock": 1}
    ok = 0 <= live_price <= list_price <= 10**8
    if ok:
        assert parse_product(body, limits, creator_id="a", now=0)["live_price"] == live_price
    else:
        with pytest.raises(InvalidField):
            parse_product(body, limits, creator_id="a", now=0)


def test_which_orders_of_a_show_may_still_be_paid() -> None:
    end, now = 1_000, 5_000

    def order(state: str, **kw: int) -> dict[str, object]:
        return {"state": state, "created_at": 900, "expires_at": 6_000, **kw}

    assert may_still_pay(order("reserved"), end, now)
    assert may_still_pay(order("paying", pay_until=7_000), end, now)
    assert not may_still_pay(order("reserved", expires_at=5_000), end, now)  # expired
    # a claim whose lease ran out is reserved again: payable while the reservation runs
    assert may_still_pay(order("paying", pay_until=4_000), end, now)
    assert not may_still_pay(order("paying", pay_until=4_000, expires_at=4_500), end, now)
    assert not may_still_pay(order("reserved", created_at=1_001), end, now)  # after the end
    for state in ("paid", "cancelled", "expired", "refunded", "paid_late", "fulfilled"):
        assert not may_still_pay(order(state), end, now), state
