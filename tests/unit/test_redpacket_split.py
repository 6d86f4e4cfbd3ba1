"""The red packet split: property tests for the double-mean rule and the equal split."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from live_server.domain.redpacket import equal_split, packet_fields, random_split
from live_server.errors import LiveError


@st.composite
def total_and_count(draw: st.DrawFn) -> tuple[int, int]:
    count = draw(st.integers(min_value=1, max_value=2000))
    total = draw(st.integers(min_value=count, max_value=count * 5000))
    return total, count


@settings(max_examples=300, deadline=None)
@given(total_and_count(), st.integers(min_value=0, max_value=2**32))
def test_random_split_sum_exact_each_at_least_one_and_double_mean(
        tc: tuple[int, int], seed: int) -> None:
    total, count = tc
    shares = random_split(total, count, random.Random(seed))
    assert len(shares) == count and sum(shares) == total
    assert all(s >= 1 for s in shares)
    left = total
    for n, share in zip(range(count, 0, -1), shares, strict=True):
        assert share * n <= 2 * left  # no share above twice the mean of what remained
        left -= share
    assert left == 0


@settings(max_examples=300, deadline=None)
@given(total_and_count())
def test_equal_split_remainder_goes_one_cent_each_to_the_first(tc: tuple[int, int]) -> None:
    total, count = tc
    shares = equal_split(total, count)
    assert sum(shares) == total and len(shares) == count
    base, extra = divmod(total, count)
    assert shares == [base + 1] * extra + [base] * (count - extra)


def test_one_cent_per_share_is_the_minimum() -> None:
    assert random_split(5, 5) == [1, 1, 1, 1, 1]
    with pytest.raises(LiveError):
        random_split(4, 5)
    with pytest.raises(LiveError):
        equal_split(10, 0)


@pytest.mark.parametrize("body", [
    {"total": 0, "shares": 1}, {"total": -5, "shares": 1}, {"total": 100, "shares": 0},
    {"total": 100, "shares": 10_001}, {"total": 9, "shares": 10}, {"total": 1.5, "shares": 1},
    {"total": 100, "shares": 2, "split": "weird"}, {"total": 100, "shares": 2,
                                                   "condition": "keyword"},
    {"total": 100, "shares": 2, "condition": "friends"}, {"shares": 2},
])
def test_bad_packet_fields_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(LiveError):
        packet_fields(body, max_total=10_000, max_shares=10_000, max_duration_ms=86_400_000,
                      max_open_delay_ms=600_000, now=0)


def test_packet_fields_times() -> None:
    f = packet_fields({"total": 100, "shares": 3, "countdown_s": 5, "duration_s": 60,
                       "condition": "keyword", "keyword": "  Hello   World "},
                      max_total=10_000, max_shares=100, max_duration_ms=86_400_000,
                      max_open_delay_ms=600_000, now=1000)
    assert f["open_at"] == 6000 and f["expires_at"] == 66000 and f["keyword"] == "hello world"
