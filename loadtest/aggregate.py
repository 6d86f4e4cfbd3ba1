"""Adding up the figures of several generator processes.

Why a separate module: the processes report plain dicts (cumulative counters, histograms in wire
form) so that they cross a pipe cheaply; summing them — counters added, dicts merged key by key,
histograms merged, extremes kept — is the same for live progress, marks and the final result.
"""

from __future__ import annotations

from typing import Any

from loadtest.stats import GROWTH, Histogram, bucket_value

_HISTS = ("connect_ms", "chat_ms", "reply_ms")
_MAX = ("counters_max_per_frame", "last_hearts", "last_join_t")
_MIN = ("counters_min_gap_ms", "first_attempt_t")
_SKIP = ("t",)


def merge_tallies(tallies: list[dict[str, Any]]) -> dict[str, Any]:
    """One tally that stands for all of `tallies`."""
    out: dict[str, Any] = {}
    hists: dict[str, Histogram] = {}
    for t in tallies:
        for key, value in t.items():
            if key in _SKIP:
                continue
            if key in _HISTS:
                hists.setdefault(key, Histogram()).merge(Histogram.from_wire(value))
            elif key in _MAX:
                if value is not None:
                    cur = out.get(key)
                    out[key] = value if cur is None else max(cur, value)
                else:
                    out.setdefault(key, None)
            elif key in _MIN:
                if value is not None:
                    cur = out.get(key)
                    out[key] = value if cur is None else min(cur, value)
                else:
                    out.setdefault(key, None)
            elif isinstance(value, dict):
                d = out.setdefault(key, {})
                for k, v in value.items():
                    d[k] = d.get(k, 0) + v
            elif isinstance(value, bool):
                out[key] = value
            elif isinstance(value, int | float):
                out[key] = out.get(key, 0) + value
    for key, h in hists.items():
        out[key] = h.to_wire()
    return out


def delta_hist(cur: Any, prev: Any) -> Histogram:
    """The samples added between two cumulative histograms (wire form)."""
    h = Histogram()
    if not isinstance(cur, dict):
        return h
    a = Histogram.from_wire(cur)
    b = Histogram.from_wire(prev) if isinstance(prev, dict) else Histogram()
    for k, n in a.buckets.items():
        d = n - b.buckets.get(k, 0)
        if d > 0:
            h.buckets[k] = d
            h.count += d
    if h.count:
        # Extremes of the window are not known exactly; bound them by the cumulative ones.
        h.min = max(a.min, bucket_value(min(h.buckets)) / GROWTH)
        h.max = min(a.max, bucket_value(max(h.buckets)) * GROWTH)
        h.total = a.total - b.total
    return h


def sub(cur: dict[str, Any], prev: dict[str, Any], key: str) -> float:
    """cur[key] - prev[key] for a numeric counter (0 when absent)."""
    a = cur.get(key, 0) or 0
    b = prev.get(key, 0) or 0
    return float(a) - float(b)
