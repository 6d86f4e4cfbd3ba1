"""The `reminders` scenario at tiny scale against a server the run starts itself: every
connected subscriber hears the start once, the subscriber count reads back, and the cost is
one publish and a few SMISMEMBER calls (never one per subscriber)."""

from __future__ import annotations

from pathlib import Path

from loadtest.runner import execute
from tests.loadtest.test_smoke import common_sane, opts


async def test_reminders_smoke(tmp_path: Path) -> None:
    rep = await execute(opts(tmp_path, "reminders", "--viewers", "30", "--subscribers", "300",
                             "--duration", "1"))
    common_sane(rep, 30)
    r = rep["figures"]["reminders"]
    assert r["subscribers"] == r["subscribers_read_back"] == 300
    assert r["viewers_connected"] == r["notified"] == 30
    assert r["duplicates"] == 0
    assert 0 <= r["notice_ms_p50"] <= r["notice_ms_p99"] <= r["notice_ms_max"] < 10_000
    assert r["publish_per_start"] >= 1
    # 30 connected users on one process: exactly one SMISMEMBER (one chunk of at most 1,000
    # of its users), never one per subscriber
    assert r["server_processes"] == 1
    assert r["valkey_commands"]["smismember"] == 1
    assert all(c["ok"] for c in rep["checks"]), rep["checks"]
