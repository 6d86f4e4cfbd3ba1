"""The lucky-draw scenario at tiny scale against a server the run starts itself: every entry
answered (the second a no-op), each viewer counted once, the draw made, and a small seeded
draw verified by `python -m live_server verify-draw`."""

from __future__ import annotations

from pathlib import Path

from loadtest.runner import execute
from tests.loadtest.test_smoke import common_sane, opts


async def test_lucky_draw_smoke(tmp_path: Path) -> None:
    rep = await execute(opts(tmp_path, "lucky-draw", "--viewers", "30", "--winners", "5",
                             "--seeded", "2000", "--window", "4"))
    common_sane(rep, 30)
    f = rep["figures"]["lucky_draw"]
    talkers = f["entrants"]  # every viewer but the tracers enters
    assert talkers >= 20 and f["entries_answered"] == 2 * talkers and f["refusals"] == {}
    assert f["entrant_count"] == talkers and f["winners"] == 5
    assert f["entry_reply_ms_p99"] is not None and f["end_to_result_ms"] is not None
    assert f["seeded_entrants"] == 2000
    assert all(c["ok"] for c in rep["checks"]), rep["checks"]
