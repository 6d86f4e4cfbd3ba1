"""The alerts' rules without I/O: running totals turned into a recent window, and each kind
of alert with its severity; the ``[alerts]`` settings and their environment overrides."""

from __future__ import annotations

import pytest

from live_server import config
from live_server.domain.alerts import RecentCounts, Thresholds, evaluate, family

NOW = 1_700_000_000_000
T = Thresholds(window_ms=60_000, slow_consumers=1, server_errors_per_min=5,
               client_errors_per_min=100, valkey_rtt_ms=50, stale_heartbeat_ms=5000,
               critical_factor=5)


def proc(name: str = "p1", seen_ago: int = 100, **figures: object) -> dict[str, object]:
    return {"id": name, "seen_at": NOW - seen_ago, **figures}


def test_recent_counts_keep_only_the_window() -> None:
    recent = RecentCounts(60_000)
    assert recent.add(NOW, {"errors": 10}) == {"errors": 0}
    assert recent.add(NOW + 30_000, {"errors": 14}) == {"errors": 4}
    # a minute on, the first sample left the window: counted from the 30 s one
    assert recent.add(NOW + 90_000, {"errors": 20}) == {"errors": 6}


def test_code_families() -> None:
    assert family(500) == "server" and family(503) == "server"
    assert family(404) == "client" and family(409) == "client"


def test_all_clear() -> None:
    quiet = proc(valkey_rtt_ms=0.4, recent={"slow_consumers": 0,
                                             "errors": {"server": 1, "client": 20}})
    assert evaluate([quiet, proc("p2")], NOW, T) == []


def test_each_kind_and_its_severity() -> None:
    busy = proc("p1", valkey_rtt_ms=260.0,
                recent={"slow_consumers": 2, "errors": {"server": 30, "client": 90}})
    silent = proc("p2", seen_ago=7000, valkey_rtt_ms=900.0)
    found = [a.public() for a in evaluate([busy, silent], NOW, T)]
    assert found == [
        {"kind": "error_rate", "severity": "critical", "subject": "p1 server", "value": 30.0,
         "threshold": 5, "since": NOW - 100},
        {"kind": "stale_process", "severity": "critical", "subject": "p2", "value": 7000,
         "threshold": 5000, "since": NOW - 7000},  # its old figures raise nothing else
        {"kind": "valkey_latency", "severity": "critical", "subject": "p1", "value": 260.0,
         "threshold": 50, "since": NOW - 100},
        {"kind": "slow_consumers", "severity": "warning", "subject": "p1", "value": 2.0,
         "threshold": 1, "since": NOW - 100},
    ]


def test_alert_settings_have_defaults_and_env_overrides() -> None:
    assert config.load(env={}).alerts.valkey_rtt_ms == 50
    loaded = config.load(env={"LIVE_ALERTS_SERVER_ERRORS_PER_MIN": "12"})
    assert loaded.alerts.server_errors_per_min == 12
    with pytest.raises(config.ConfigError):
        config.load(env={"LIVE_ALERTS_WINDOW_MS": "0"})
