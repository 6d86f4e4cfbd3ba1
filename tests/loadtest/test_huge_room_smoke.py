"""The huge-room scenario at tiny scale against a server the run starts itself (a threshold of
a few viewers): chat per viewer stays within the sampling budget and the creator's closing
messages reach every viewer; with --no-sample every message reaches every viewer."""

from __future__ import annotations

from pathlib import Path

from loadtest.runner import execute
from tests.loadtest.test_smoke import opts


async def test_huge_room_smoke(tmp_path: Path) -> None:
    rep = await execute(opts(tmp_path, "huge-room", "--viewers", "30", "--chatters", "10",
                             "--rate", "40", "--above", "5", "--per-second", "5",
                             "--duration", "2", "--drain", "3"))
    assert "error" not in rep, rep.get("error")
    f = rep["figures"]["huge_room"]
    assert f["sampled"] and f["viewers_in_room"] == 30 and f["chat_accepted"] >= 60
    assert f["closing_creator_deliveries"] == f["closing_expected"] == 3 * 30
    assert f["delivered"] < f["chat_accepted"] * 30  # sampled: fewer than everything
    assert all(c["ok"] for c in rep["checks"]), rep["checks"]


async def test_huge_room_smoke_without_sampling(tmp_path: Path) -> None:
    rep = await execute(opts(tmp_path, "huge-room", "--viewers", "30", "--chatters", "10",
                             "--rate", "20", "--no-sample", "--duration", "2", "--drain", "5"))
    assert "error" not in rep, rep.get("error")
    f = rep["figures"]["huge_room"]
    assert not f["sampled"]
    assert f["delivered"] == (f["chat_accepted"] + f["creator_messages"]) * 30
    assert all(c["ok"] for c in rep["checks"]), rep["checks"]
