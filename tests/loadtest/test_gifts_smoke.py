"""The gifts scenario at tiny scale against a server the run starts itself: every send
answered, one charge per idempotency key although every gift is sent twice, the sums exact."""

from __future__ import annotations

from pathlib import Path

from loadtest.runner import execute
from tests.loadtest.test_smoke import opts


async def test_gifts_smoke(tmp_path: Path) -> None:
    rep = await execute(opts(tmp_path, "gifts", "--viewers", "25", "--bursts", "2",
                             "--per-burst", "3", "--retries", "1", "--duration", "1"))
    assert "error" not in rep, rep.get("error")
    f = rep["figures"]["gifts"]
    assert f["senders"] == 20 and f["keys"] == 20 * 6
    assert f["sends"] == 2 * f["keys"] == f["answered"]
    assert f["gifts_moved"] == f["keys"] and f["spent"] == f["keys"] * 10
    assert f["creator"] + f["platform"] == f["spent"] == f["keys"] * 10
    assert f["creator_gained"] == f["creator"]
    assert f["reply_ms_p99"] is not None and f["gifts_per_s"] > 0
    assert all(c["ok"] for c in rep["checks"]), rep["checks"]
