"""Percentile math: the exact nearest-rank function and the mergeable histogram."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from loadtest.aggregate import delta_hist, merge_tallies
from loadtest.stats import GROWTH, Histogram, percentile


def test_nearest_rank() -> None:
    xs = [15.0, 20.0, 35.0, 40.0, 50.0]
    assert percentile(xs, 5) == 15
    assert percentile(xs, 30) == 20
    assert percentile(xs, 40) == 20
    assert percentile(xs, 50) == 35
    assert percentile(xs, 100) == 50
    assert math.isnan(percentile([], 50))


@given(st.lists(st.floats(min_value=0.02, max_value=1e6), min_size=1, max_size=400),
       st.sampled_from([1.0, 50.0, 90.0, 99.0, 99.9]))
def test_histogram_within_one_bucket_of_exact(values: list[float], q: float) -> None:
    h = Histogram()
    h.extend(values)
    exact = percentile(sorted(values), q)
    got = h.percentile(q)
    assert exact / GROWTH**1.01 <= got <= exact * GROWTH**1.01
    assert h.percentile(100) == max(values)
    assert h.count == len(values)


def test_merge_and_wire_roundtrip() -> None:
    a, b = Histogram(), Histogram()
    a.extend([1.0, 2.0, 3.0])
    b.extend([100.0, 200.0])
    a.merge(Histogram.from_wire(b.to_wire()))
    assert a.count == 5
    assert a.max == 200.0
    assert a.min == 1.0
    s = a.summary()
    assert s["count"] == 5
    assert s["max"] == 200.0


def test_merge_tallies_and_window() -> None:
    h1, h2 = Histogram(), Histogram()
    h1.extend([10.0] * 10)
    h2.extend([10.0] * 10 + [500.0] * 5)
    merged = merge_tallies([
        {"frames": 3, "closes": {4008: 1}, "chat_ms": h1.to_wire(), "counters_min_gap_ms": 90.0},
        {"frames": 4, "closes": {4008: 2, 1000: 1}, "chat_ms": h1.to_wire(),
         "counters_min_gap_ms": None},
    ])
    assert merged["frames"] == 7
    assert merged["closes"] == {4008: 3, 1000: 1}
    assert merged["counters_min_gap_ms"] == 90.0
    assert Histogram.from_wire(merged["chat_ms"]).count == 20
    win = delta_hist(h2.to_wire(), h1.to_wire())
    assert win.count == 5
    assert abs(win.percentile(50) - 500) / 500 < 0.02
