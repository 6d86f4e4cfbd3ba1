"""Alerts for the ops console: each process adds its recent figures to its heartbeat
(:class:`ProcessFigures`), and :class:`AlertsService` reads every heartbeat and says what is
wrong (``domain/alerts.py``), so no process has to ask the others anything."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable

from live_server.auth import Identity, require_ops
from live_server.config import AlertsSettings
from live_server.domain.alerts import RecentCounts, Thresholds, evaluate, family
from live_server.errors import codes
from live_server.metrics import Metrics
from live_server.protocol import Json, now_ms
from live_server.store.presence import PresenceStore


def _totals(metrics: Metrics) -> dict[str, float]:
    """This process's running totals: slow consumers cut, errors answered per family."""
    status = codes()
    out = {"slow_consumers": 0.0, "server": 0.0, "client": 0.0}
    for metric in (*metrics.slow_consumers.collect(), *metrics.errors.collect()):
        for sample in metric.samples:
            if not sample.name.endswith("_total"):
                continue
            code = sample.labels.get("code")
            if code is None:
                out["slow_consumers"] += sample.value
            else:
                out[family(status.get(code, 500))] += sample.value
    return out


class ProcessFigures:
    """What this process adds to its heartbeat: ``valkey_rtt_ms`` (one PING, timed) and
    ``recent`` (slow consumers and errors by family in the last ``window_ms``)."""

    def __init__(self, metrics: Metrics, ping: Callable[[], Awaitable[object]],
                 window_ms: int) -> None:
        self.metrics = metrics
        self.ping = ping
        self.recent = RecentCounts(window_ms)

    async def __call__(self) -> Json:
        start = time.perf_counter()
        try:
            await self.ping()
            rtt: float | None = round((time.perf_counter() - start) * 1000, 2)
        except Exception:  # the heartbeat write will fail and say so; report no figure
            rtt = None
        grown = self.recent.add(now_ms(), _totals(self.metrics))
        return {"valkey_rtt_ms": rtt,
                "recent": {"window_ms": self.recent.window_ms,
                           "slow_consumers": int(grown["slow_consumers"]),
                           "errors": {"server": int(grown["server"]),
                                      "client": int(grown["client"])}}}


class AlertsService:
    def __init__(self, settings: AlertsSettings, presence: PresenceStore) -> None:
        self.thresholds = Thresholds(**dataclasses.asdict(settings))  # the same fields
        self.presence = presence
        self._since: dict[str, int] = {}  # alert → first seen by this process (ms)

    async def current(self, who: Identity) -> Json:
        """``{"alerts": [...], "checked_at"}``: the critical ones first. ``since`` is when
        this process first saw the alert (or, for a silent process, its last heartbeat)."""
        require_ops(who)
        now = now_ms()
        found = evaluate(await self.presence.processes(now, include_stale=True), now,
                         self.thresholds)
        since = {a.key: self._since.get(a.key, now if a.kind != "stale_process" else a.since)
                 for a in found}
        self._since = since
        return {"alerts": [{**a.public(), "since": since[a.key]} for a in found],
                "checked_at": now}
