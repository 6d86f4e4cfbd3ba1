"""The auction rules without I/O: increment tables, the minimum bid, proxy maxima, the end
rule, the next bidder after an unpaid win, the creator's fields."""

from __future__ import annotations

import pytest

from live_server.config import load
from live_server.domain.auctions import (
    Standing,
    Step,
    default_table,
    increment,
    min_bid,
    new_end,
    next_offer,
    parse_auction,
    parse_table,
    place,
    report_figures,
)
from live_server.errors import InvalidField

TABLE = (Step(10_000, 100), Step(50_000, 500), Step(None, 1000))
NONE = Standing(0, None, 0, 0)


def test_the_configured_table_is_the_documented_default() -> None:
    cfg = load(env={}).auctions
    assert default_table(cfg.increment_below, cfg.increment_steps) == TABLE
    with pytest.raises(ValueError):
        default_table((100,), (1,))


def test_increments_by_price() -> None:
    assert [increment(p, TABLE) for p in (0, 9_999, 10_000, 49_999, 50_000, 10**9)] == [
        100, 100, 500, 500, 1000, 1000]
    assert min_bid(1000, 0, 0, TABLE) == 1000  # the first bid: the start
    assert min_bid(1000, 9_950, 3, TABLE) == 10_050
    assert min_bid(1000, 10_000, 3, TABLE) == 10_500


def test_bad_tables_are_refused() -> None:
    for bad in ([], [{"step": 0}], [{"below": 100, "step": 1}],
                [{"below": 100, "step": 1}, {"below": 50, "step": 1}, {"step": 2}],
                [{"step": 1}, {"step": 2}], [{"step": True}], [{"step": 1, "x": 2}],
                "nope", [{"below": 1.5, "step": 1}, {"step": 1}]):
        with pytest.raises(InvalidField):
            parse_table(bad)
    assert parse_table([{"below": 100, "step": 5}, {"step": 10}]) == (Step(100, 5),
                                                                       Step(None, 10))


def test_proxy_bidding_follows_the_second_highest_max() -> None:
    s = place(NONE, 1000, TABLE, "vic", 1000, 5000)
    assert s == Standing(1000, "vic", 5000, 1)
    # a challenger under vic's max: vic's proxy answers one step above, within vic's max
    s2 = place(s, 1000, TABLE, "bob", 1100, 2000)
    assert s2 == Standing(2100, "vic", 5000, 2)
    # a challenger over it: leads at vic's max plus one step, never above their own max
    s3 = place(s2, 1000, TABLE, "bob", 2200, 9000)
    assert s3 == Standing(5100, "bob", 9000, 3)
    s4 = place(s2, 1000, TABLE, "ann", 2200, 5050)
    assert s4 == Standing(5050, "ann", 5050, 3)
    # a tie goes to the earlier maximum, at that maximum
    assert place(s2, 1000, TABLE, "ann", 2200, 5000) == Standing(5000, "vic", 5000, 3)
    # too low, and the leader outbidding themselves
    assert place(s2, 1000, TABLE, "ann", 2150, 9000) == "too_low"
    assert place(s2, 1000, TABLE, "vic", 3000, 3000) == "leading"
    assert place(s2, 1000, TABLE, "vic", 3000, 7000) == Standing(2100, "vic", 7000, 2)


def test_every_accepted_bid_raises_the_price() -> None:
    s = NONE
    prices = []
    for i, (amount, top) in enumerate([(1000, 1000), (1100, 3000), (1200, 1200),
                                       (3100, 3100), (3200, 20_000), (12_000, 12_000)]):
        amount = max(amount, min_bid(1000, s.price, s.bids, TABLE))
        out = place(s, 1000, TABLE, f"u{i}", amount, top)
        assert isinstance(out, Standing)
        if s.bids:
            assert out.price > s.price
        s = out
        prices.append(s.price)
    assert prices == sorted(set(prices))


def test_the_end_rule() -> None:
    assert new_end("anti_snipe", 10_000, 5_000, 10_000) == 15_000
    assert new_end("anti_snipe", 30_000, 5_000, 10_000) == 30_000
    assert new_end("sudden_death", 10_000, 9_999, 10_000) == 10_000


def test_the_next_bidder_is_the_highest_max_not_offered_yet() -> None:
    bidders = {"vic": (5000, 10), "bob": (3000, 20), "ann": (3000, 15)}
    assert next_offer(bidders, ["vic"]) == ("ann", 3000)  # earlier on a tie
    assert next_offer(bidders, ["vic", "ann"]) == ("bob", 3000)
    assert next_offer(bidders, list(bidders)) is None


def _fields(body: dict[str, object]) -> dict[str, object]:
    return parse_auction(body, table=TABLE, max_price=10**8, min_duration_ms=10_000,
                         max_duration_ms=3_600_000, snipe_ms=10_000, now=1_000)


def test_the_creators_fields() -> None:
    made = _fields({"start_price": 500, "duration_ms": 60_000})
    assert made["mode"] == "anti_snipe" and made["snipe_ms"] == 10_000
    assert made["end_at"] == 61_000 and made["increments"][-1] == {"below": None, "step": 1000}
    sudden = _fields({"start_price": 500, "duration_ms": 60_000, "mode": "sudden_death"})
    assert sudden["snipe_ms"] == 0
    for bad in ({"start_price": 0, "duration_ms": 60_000},
                {"start_price": 500, "duration_ms": 5_000},
                {"start_price": 500, "duration_ms": 60_000, "mode": "x"}):
        with pytest.raises(InvalidField):
            _fields(bad)


def test_the_show_report_counts_auctions_that_ran_and_what_the_paid_ones_brought() -> None:
    auctions = [{"state": "paid", "offer_price": 1200, "reason": ""},
                {"state": "cancelled", "reason": "unpaid", "offer_price": 900},
                {"state": "cancelled", "reason": "cancelled"},
                {"state": "unsold", "reason": "no_bids"},
                {"state": "open", "reason": ""}]
    assert report_figures(auctions) == (4, 1, 1200)
    assert report_figures([]) == (0, 0, 0)
