"""Latency statistics that merge across processes.

Why a log-bucket histogram rather than lists of samples: every generator process records
thousands of latencies per second and ships them to the coordinator once a second. A sparse
histogram with buckets 1 % apart is a few hundred integers whatever the sample count, merges by
adding, and gives percentiles within 1 % — far below the 100 ms tick the server batches on.
The exact nearest-rank `percentile` is kept for small sample sets and to test the histogram.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

#: Relative width of one bucket: a value is reported at most this far from the truth.
GROWTH = 1.01
_LOG_GROWTH = math.log(GROWTH)
#: Values below this (in the histogram's unit, milliseconds here) share bucket 0.
FLOOR = 0.01


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values; NaN when empty."""
    if not sorted_values:
        return math.nan
    if q <= 0:
        return float(sorted_values[0])
    rank = math.ceil(q / 100.0 * len(sorted_values))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def bucket_value(index: int) -> float:
    """A representative value of bucket `index` (its geometric middle)."""
    if index <= 0:
        return FLOOR
    return float(FLOOR * GROWTH ** (index - 0.5))


class Histogram:
    """Sparse log-bucket histogram of non-negative values, with exact count, sum, min and max."""

    __slots__ = ("buckets", "count", "max", "min", "total")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value: float) -> None:
        if value < 0:
            value = 0.0
        b = 0 if value <= FLOOR else 1 + int(math.log(value / FLOOR) / _LOG_GROWTH)
        buckets = self.buckets
        buckets[b] = buckets.get(b, 0) + 1
        self.count += 1
        self.total += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    def extend(self, values: Iterable[float]) -> None:
        for v in values:
            self.add(v)

    def merge(self, other: Histogram) -> None:
        for b, n in other.buckets.items():
            self.buckets[b] = self.buckets.get(b, 0) + n
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile, clamped to the exact min and max; NaN when empty."""
        if self.count == 0:
            return math.nan
        if q >= 100:
            return self.max
        if q <= 0:
            return self.min
        rank = max(1, math.ceil(q / 100.0 * self.count))
        seen = 0
        for b in sorted(self.buckets):
            seen += self.buckets[b]
            if seen >= rank:
                return min(max(bucket_value(b), self.min), self.max)
        return self.max

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    def summary(self) -> dict[str, float | int | None]:
        """count, mean, p50, p90, p99, p999, min, max — None where there is no sample."""

        def val(x: float) -> float | None:
            return None if math.isnan(x) or math.isinf(x) else round(x, 3)

        return {
            "count": self.count,
            "mean": val(self.mean),
            "p50": val(self.percentile(50)),
            "p90": val(self.percentile(90)),
            "p99": val(self.percentile(99)),
            "p999": val(self.percentile(99.9)),
            "min": val(self.min),
            "max": val(self.max),
        }

    def to_wire(self) -> dict[str, object]:
        """A plain picklable/JSON-able form."""
        return {
            "b": dict(self.buckets),
            "n": self.count,
            "s": self.total,
            "lo": self.min if self.count else None,
            "hi": self.max if self.count else None,
        }

    @classmethod
    def from_wire(cls, wire: Mapping[str, object]) -> Histogram:
        h = cls()
        raw = wire.get("b")
        if isinstance(raw, dict):
            h.buckets = {int(k): int(v) for k, v in raw.items()}
        n = wire.get("n")
        s = wire.get("s")
        lo = wire.get("lo")
        hi = wire.get("hi")
        h.count = int(n) if isinstance(n, int) else 0
        h.total = float(s) if isinstance(s, int | float) else 0.0
        h.min = float(lo) if isinstance(lo, int | float) else math.inf
        h.max = float(hi) if isinstance(hi, int | float) else -math.inf
        return h
