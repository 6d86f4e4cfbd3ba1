"""The ops console's alerts, from the figures each process puts in its heartbeat. No I/O.

A process reports running totals (slow consumers cut, errors answered by family) and its Valkey
round trip; :class:`RecentCounts` turns the totals into "how many in the last window" in the
process itself, so the heartbeat carries figures that need no history to read. :func:`evaluate`
compares every process's figures with the thresholds of ``[alerts]``.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Literal

Severity = Literal["warning", "critical"]


@dataclasses.dataclass(frozen=True, slots=True)
class Thresholds:
    window_ms: int
    slow_consumers: int
    server_errors_per_min: int
    client_errors_per_min: int
    valkey_rtt_ms: int
    stale_heartbeat_ms: int
    critical_factor: int


@dataclasses.dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # slow_consumers | error_rate | valkey_latency | stale_process
    severity: Severity
    subject: str  # the process (and, for error rates, the code family)
    value: float
    threshold: float
    since: int  # ms

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.subject}"

    def public(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def family(status: int) -> str:
    """An error code's family: ``server`` (5xx, our fault or the store's) or ``client``."""
    return "server" if status >= 500 else "client"


class RecentCounts:
    """Running totals sampled at each heartbeat; :meth:`over` is the growth within the last
    ``window_ms`` (from the oldest sample still inside it)."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._samples: collections.deque[tuple[int, dict[str, float]]] = collections.deque()

    def add(self, now: int, totals: Mapping[str, float]) -> dict[str, float]:
        self._samples.append((now, dict(totals)))
        while len(self._samples) > 1 and self._samples[1][0] <= now - self.window_ms:
            self._samples.popleft()
        first = self._samples[0][1]
        return {name: value - first.get(name, 0.0) for name, value in totals.items()}


def _severity(value: float, threshold: float, factor: int) -> Severity:
    return "critical" if value >= threshold * factor else "warning"


def evaluate(processes: Iterable[Mapping[str, Any]], now: int, t: Thresholds) -> list[Alert]:
    """Every alert the processes' heartbeats raise now (``since`` is when the figure was seen:
    the caller keeps the first time each alert was seen)."""
    out: list[Alert] = []
    minutes = t.window_ms / 60000
    for proc in processes:
        name = str(proc.get("id", "?"))
        seen = int(proc.get("seen_at", 0))
        age = now - seen
        if age >= t.stale_heartbeat_ms:
            out.append(Alert("stale_process", "critical", name, age, t.stale_heartbeat_ms, seen))
            continue  # its other figures are as old as its heartbeat
        recent = proc.get("recent") or {}
        slow = float(recent.get("slow_consumers", 0))
        if slow >= t.slow_consumers:
            out.append(Alert("slow_consumers", _severity(slow, t.slow_consumers,
                                                          t.critical_factor),
                             name, slow, t.slow_consumers, seen))
        errors = recent.get("errors") or {}
        for fam, limit in (("server", t.server_errors_per_min),
                           ("client", t.client_errors_per_min)):
            rate = round(float(errors.get(fam, 0)) / minutes, 2)
            if rate >= limit:
                out.append(Alert("error_rate", _severity(rate, limit, t.critical_factor),
                                 f"{name} {fam}", rate, limit, seen))
        rtt = proc.get("valkey_rtt_ms")
        if rtt is not None and float(rtt) >= t.valkey_rtt_ms:
            out.append(Alert("valkey_latency", _severity(float(rtt), t.valkey_rtt_ms,
                                                          t.critical_factor),
                             name, float(rtt), t.valkey_rtt_ms, seen))
    order = {"critical": 0, "warning": 1}
    return sorted(out, key=lambda a: (order[a.severity], a.kind, a.subject))
