"""The auction scenario at tiny scale against a server the run starts itself: every bid
answered, accepted bids strictly increasing with one event each, every end moved exactly as the
anti-snipe rule says, one end, one winner and one order at the final price."""

from __future__ import annotations

from pathlib import Path

from loadtest.runner import execute
from loadtest.scenarios.auction import end_rule_errors
from tests.loadtest.test_smoke import opts


def test_the_end_rule_replay() -> None:
    bids = [{"now": 1000, "end_at": 5000, "extended": False},
            {"now": 3500, "end_at": 5500, "extended": True},
            {"now": 4000, "end_at": 6000, "extended": True}]
    assert end_rule_errors(5000, 2000, bids) == []
    assert end_rule_errors(5000, 2000, [{**bids[1], "end_at": 5000, "extended": False}])


async def test_auction_smoke(tmp_path: Path) -> None:
    rep = await execute(opts(tmp_path, "auction", "--viewers", "40", "--window", "2",
                             "--lead", "3", "--snipe", "2", "--duration", "1"))
    assert "error" not in rep, rep.get("error")
    f = rep["figures"]["auction"]
    assert f["bidders"] == 35 and f["bids_sent"] == 35
    assert f["accepted"] >= 1 and f["events"] == f["accepted"]
    assert f["orders"] == 1 and f["final_price"] is not None
    assert f["reply_ms_p99"] is not None and f["bids_answered_per_s"] > 0
    assert all(c["ok"] for c in rep["checks"]), rep["checks"]
