"""Live auction rules without I/O: the fields of an auction, its increment table, the next
valid bid, proxy bidding and the end rule. ``auction_bid.lua`` applies the same arithmetic
atomically on the room's slot; this module is what the service checks first, what the pages'
numbers are tested against and what the load test recomputes from the event stream.

Proxy bidding (eBay / Whatnot rules): a bidder may give a maximum above the amount they bid;
the server then bids for them, one increment at a time, up to that maximum. With two maxima the
price becomes ``min(second-highest max + increment, highest max)``, never below the amount the
new bid named; on equal maxima the earlier bidder leads. A leader cannot outbid themselves but
may raise their maximum (which changes nothing anyone else sees).

The end rule: ``anti_snipe`` (a bid accepted within ``snipe_ms`` of the end moves the end to
``now + snipe_ms``) or ``sudden_death`` (the end never moves).

After the end the leader gets one order at the final price, to pay within the deadline. Unpaid,
the item is offered to the next bidder (the highest maximum among those not yet offered, the
earlier on a tie) at **their own last bid, which is their maximum** (the proxy bid up to it for
them), ``second_chances`` times at most; then the auction is cancelled."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from live_server.errors import InvalidField
from live_server.protocol import Json

MODES = ("anti_snipe", "sudden_death")
MAX_STEPS = 8  # rows of an increment table


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """Below ``below`` cents (``None``: any price), a bid beats the price by ``step``."""

    below: int | None
    step: int

    def to_json(self) -> Json:
        return {"below": self.below, "step": self.step}


def default_table(below: Sequence[int], steps: Sequence[int]) -> tuple[Step, ...]:
    """The configured table: ``steps`` has one more entry than ``below`` (the last: above)."""
    if len(steps) != len(below) + 1:
        raise ValueError("auctions.increment_steps needs one more entry than increment_below")
    return check_table([Step(b, s) for b, s in zip([*below, None], steps, strict=True)])


def check_table(rows: Sequence[Step]) -> tuple[Step, ...]:
    """Thresholds increasing, steps positive, the last row open-ended."""
    if not 1 <= len(rows) <= MAX_STEPS:
        raise InvalidField(f"'increments' must have 1 to {MAX_STEPS} rows", field="increments")
    last = 0
    for i, row in enumerate(rows):
        if row.step <= 0:
            raise InvalidField("every increment must be positive", field="increments")
        if i == len(rows) - 1:
            if row.below is not None:
                raise InvalidField("the last increment row has no 'below'", field="increments")
        elif row.below is None or row.below <= last:
            raise InvalidField("'below' must increase", field="increments")
        else:
            last = row.below
    return tuple(rows)


def parse_table(value: Any) -> tuple[Step, ...]:
    """An increment table from a request: ``[{"below": 10000, "step": 100}, ..., {"step":
    1000}]``."""
    if not isinstance(value, list):
        raise InvalidField("'increments' must be a list", field="increments")
    rows = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"below", "step"}:
            raise InvalidField("each increment is {below, step}", field="increments")
        below, step = item.get("below"), item.get("step")
        if (below is not None and not _int(below)) or not isinstance(step, int) or not _int(step):
            raise InvalidField("'below' and 'step' are integer cents", field="increments")
        rows.append(Step(below, step))
    return check_table(rows)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def increment(price: int, table: Sequence[Step]) -> int:
    """The step at ``price``: the first row whose ``below`` is above it."""
    for row in table:
        if row.below is None or price < row.below:
            return row.step
    return table[-1].step


def min_bid(start: int, price: int, bids: int, table: Sequence[Step]) -> int:
    """The lowest amount a new bid may name: the start for the first, then price + step."""
    return start if bids == 0 else price + increment(price, table)


@dataclasses.dataclass(frozen=True, slots=True)
class Standing:
    """The public price, who leads and the leader's (private) maximum."""

    price: int
    leader: str | None
    leader_max: int
    bids: int


def place(s: Standing, start: int, table: Sequence[Step], bidder: str, amount: int,
          max_amount: int) -> Standing | str:
    """The standing after a bid, or why it is refused (``too_low``, ``leading``); a leader
    raising their maximum keeps the price. ``max_amount`` is at least ``amount``."""
    top = max(amount, max_amount)
    if bidder == s.leader:
        if top > s.leader_max:
            return dataclasses.replace(s, leader_max=top)
        return "leading"
    if amount < min_bid(start, s.price, s.bids, table):
        return "too_low"
    if s.leader is None:
        return Standing(amount, bidder, top, s.bids + 1)
    if top > s.leader_max:
        price = max(amount, min(top, s.leader_max + increment(s.leader_max, table)))
        return Standing(price, bidder, top, s.bids + 1)
    # the leader's proxy answers: up to their maximum, one step above the challenger's
    return Standing(min(s.leader_max, top + increment(top, table)), s.leader, s.leader_max,
                    s.bids + 1)


def new_end(mode: str, end_at: int, now: int, snipe_ms: int) -> int:
    """The end after a bid accepted at ``now`` (before the end)."""
    if mode == "anti_snipe" and end_at - now < snipe_ms:
        return now + snipe_ms
    return end_at


def next_offer(bidders: dict[str, tuple[int, int]],
               offered: Sequence[str]) -> tuple[str, int] | None:
    """The next bidder to offer an unpaid item to, and their price: the highest maximum (the
    earlier first bid on a tie) among those not offered yet. ``bidders``: user → (max, at)."""
    rest = [(-mx, at, user) for user, (mx, at) in bidders.items() if user not in offered]
    if not rest:
        return None
    mx, _at, user = min(rest)
    return user, -mx


def parse_auction(body: Json, *, table: Sequence[Step], max_price: int, min_duration_ms: int,
                  max_duration_ms: int, snipe_ms: int, now: int) -> Json:
    """The creator's fields, checked: start price, increments, duration, end rule."""
    start = body["start_price"]
    if not 0 < start <= max_price:
        raise InvalidField(f"'start_price' must be between 1 and {max_price}",
                           field="start_price")
    rows = parse_table(body["increments"]) if body.get("increments") is not None else table
    duration = int(body["duration_ms"])
    if not min_duration_ms <= duration <= max_duration_ms:
        raise InvalidField(f"'duration_ms' must be between {min_duration_ms} and "
                           f"{max_duration_ms}", field="duration_ms")
    mode = body.get("mode") or "anti_snipe"
    if mode not in MODES:
        raise InvalidField("'mode' is anti_snipe or sudden_death", field="mode")
    snipe = int(body.get("snipe_ms") or snipe_ms)
    return {"start_price": start, "increments": [r.to_json() for r in rows],
            "duration_ms": duration, "mode": mode,
            "snipe_ms": snipe if mode == "anti_snipe" else 0,
            "start_at": now, "end_at": now + duration}


def report_figures(auctions: Sequence[Json]) -> tuple[int, int, int]:
    """A show's auctions for its report: held (every one that ran: not cancelled before its
    first bid), sold (the winner, or a next bidder, paid) and their revenue (cents paid)."""
    held = [a for a in auctions if a.get("reason") != "cancelled"]
    sold = [a for a in held if a.get("state") == "paid"]
    return len(held), len(sold), sum(int(a.get("offer_price") or 0) for a in sold)


def table_of(auction: Json) -> tuple[Step, ...]:
    return tuple(Step(r.get("below"), int(r["step"])) for r in auction["increments"])
