"""The creator's numbers for one show (one room, from going live to its end): the arithmetic
and the CSV, from facts the store read. No I/O.

Definitions (docs/PROTOCOL.md repeats them for clients):

- **duration**: ``ended_at`` (or now, while live) − ``started_at``.
- **PCU**: the room's peak of concurrent viewers (``peak``, raised by every presence report).
- **online per minute**: the mean of the presence samples taken in that minute (every
  process's per-tick report is one sample of the room's total); a minute without a sample had
  nobody connected, so 0.
- **ACU**: the time-weighted mean of the per-minute online over the show (a first and last
  minute that the show only partly covers weigh by the part covered).
- **average watch time**: ACU × duration / unique viewers (viewer-minutes shared among the
  people who came), in ms.
- **GMV**: the amounts paid (after discounts) of the show's orders paid by its end: the room
  ledger's credits, so a later refund does not lower it; ``refunded`` says what went back.
- **audience**: the unique viewers, but never fewer than the buyers (a buyer who bought over
  HTTP without opening the room still saw the show); it divides GPM and conversion.
- **GPM**: GMV × 1000 / audience, cents, rounded down. **conversion**: buyers × 10000 /
  audience, basis points, rounded down.
- **red packets spent**: what viewers grabbed (launched − refunded − still in open packets):
  equal to launched − refunded once every packet has finished.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import time
from collections.abc import Iterable, Mapping

from live_server.protocol import Json

MINUTE_MS = 60_000


@dataclasses.dataclass(frozen=True, slots=True)
class Payment:
    """One paid order (a ledger credit) joined with its order record."""

    order_id: str
    product_id: str
    buyer: str
    quantity: int
    amount: int
    paid_at: int
    coupon_id: str = ""
    discount: int = 0
    placed_at: int = 0  # when the order was reserved: a show's sale is one placed during it


@dataclasses.dataclass(frozen=True, slots=True)
class Packet:
    """One red packet of the room: launched total, still in it, refunded to the creator."""

    total: int
    left: int
    refunded: int


@dataclasses.dataclass(frozen=True, slots=True)
class ShowFacts:
    """Everything one report is built from, as the store read it."""

    room_id: str
    title: str
    creator_id: str
    state: str
    started_at: int
    ended_at: int | None
    currency: str
    peak: int = 0
    unique: int = 0
    hearts: int = 0
    chat: int = 0
    online: Mapping[int, tuple[int, int]] = dataclasses.field(default_factory=dict)
    chat_minutes: Mapping[int, int] = dataclasses.field(default_factory=dict)
    new_followers: int = 0
    fan_club_joins: int = 0
    card_views: Mapping[str, int] = dataclasses.field(default_factory=dict)
    card_viewers: Mapping[str, int] = dataclasses.field(default_factory=dict)
    card_viewers_total: int = 0
    orders_placed: int = 0
    payments: tuple[Payment, ...] = ()
    refunds: tuple[int, ...] = ()  # the amount of each refund of a paid order
    packets: tuple[Packet, ...] = ()
    titles: Mapping[str, str] = dataclasses.field(default_factory=dict)
    reminded: int = 0  # subscribers to its reminder when it went live (show reminders)
    gifts: int = 0  # virtual gifts sent in the show (units)
    gift_income: int = 0  # the creator's share of them (cents)
    auctions: int = 0  # live auctions held (domain/auctions.py report_figures)
    auctions_sold: int = 0  # ... of them sold and paid
    auction_revenue: int = 0  # ... what their buyers paid (cents)
    draws: int = 0  # lucky draws drawn (store/draws.py room_draw_figures)
    draw_entrants: int = 0  # ... their entrants, summed
    draw_cash: int = 0  # ... cash given to their winners (cents)
    draw_coupons: int = 0  # ... coupon copies given to their winners
    draw_products: int = 0  # ... product units given to their winners (zero-price orders)
    charity: int = 0  # earmarked for the charity show's beneficiary (cents, domain/charity.py)


def minutes(start: int, end: int) -> range:
    """The minutes (ms // 60 000) a show from ``start`` to ``end`` (exclusive) touches; at
    least the first."""
    first = start // MINUTE_MS
    return range(first, max(first, (end - 1) // MINUTE_MS) + 1)


def covered_ms(minute: int, start: int, end: int) -> int:
    """How much of ``minute`` lies within [start, end)."""
    lo, hi = minute * MINUTE_MS, (minute + 1) * MINUTE_MS
    return max(0, min(hi, end) - max(lo, start))


def online_per_minute(samples: Mapping[int, tuple[int, int]], span: range) -> list[float]:
    """The mean online of each minute of ``span`` from (sum, count) samples, 0 without one."""
    out = []
    for minute in span:
        total, count = samples.get(minute, (0, 0))
        out.append(total / count if count > 0 else 0.0)
    return out


def acu(online: list[float], span: range, start: int, end: int) -> float:
    """Average concurrent viewers: each minute's online weighted by the time the show covers
    of it; 0 for a show of no length."""
    duration = end - start
    if duration <= 0:
        return 0.0
    weighted = sum(value * covered_ms(minute, start, end)
                   for value, minute in zip(online, span, strict=True))
    return weighted / duration


def avg_watch_ms(acu_value: float, duration_ms: int, unique: int) -> int:
    """Viewer-time (ACU × duration) shared among the unique viewers; 0 without viewers."""
    if unique <= 0 or duration_ms <= 0:
        return 0
    return int(acu_value * duration_ms / unique)


def audience(unique: int, buyers: int) -> int:
    """Who saw the show, for the ratios: the unique viewers, never fewer than the buyers."""
    return max(unique, buyers)


def gpm(gmv: int, views: int) -> int:
    """GMV per 1,000 views, in cents (rounded down); 0 without views."""
    return gmv * 1000 // views if views > 0 else 0


def conversion_bp(buyers: int, views: int) -> int:
    """Buyers per view in basis points (rounded down); 0 without views."""
    return buyers * 10_000 // views if views > 0 else 0


def per_minute(values: Iterable[tuple[int, int]], span: range) -> list[int]:
    """(time ms, amount) pairs added up per minute of ``span``; a time before the span counts
    in its first minute, after it in its last."""
    out = [0] * len(span)
    for at, amount in values:
        index = min(max(at // MINUTE_MS - span.start, 0), len(span) - 1)
        out[index] += amount
    return out


def build(facts: ShowFacts, now: int) -> Json:
    """The report: ``headline`` figures, ``products`` (best sellers first) and per-minute
    ``series``. While live the show ends ``now``."""
    end = facts.ended_at if facts.ended_at is not None else now
    end = max(end, facts.started_at)
    duration = end - facts.started_at
    span = minutes(facts.started_at, end)
    online = online_per_minute(facts.online, span)
    concurrent = acu(online, span, facts.started_at, end)
    # what the show sold: orders placed during it, paid then or in their reservation's time
    # after the end (the report is stored only once none can still be paid)
    paid = [p for p in facts.payments if p.placed_at <= end]
    gmv = sum(p.amount for p in paid)
    buyers = len({p.buyer for p in paid})
    seen = audience(facts.unique, buyers)
    launched = sum(p.total for p in facts.packets)
    headline: Json = {
        "duration_ms": duration,
        "pcu": max(facts.peak, int(max(online, default=0.0) + 0.5)),
        "acu": round(concurrent, 1),
        "unique_viewers": facts.unique,
        "avg_watch_ms": avg_watch_ms(concurrent, duration, facts.unique),
        "new_followers": facts.new_followers,
        "fan_club_joins": facts.fan_club_joins,
        "hearts": facts.hearts,
        "chat_messages": facts.chat,
        "card_views": sum(facts.card_views.values()),
        "card_viewers": facts.card_viewers_total,
        "orders_placed": facts.orders_placed,
        "orders": len(paid),
        "buyers": buyers,
        "units": sum(p.quantity for p in paid),
        "gmv": gmv,
        "refunds": len(facts.refunds),
        "refunded": sum(facts.refunds),
        "gpm": gpm(gmv, seen),
        "conversion_bp": conversion_bp(buyers, seen),
        "coupons_used": sum(1 for p in paid if p.coupon_id),
        "discount": sum(p.discount for p in paid),
        "red_packets": len(facts.packets),
        "red_packets_launched": launched,
        "red_packets_spent": sum(max(0, p.total - p.left - p.refunded) for p in facts.packets),
        "reminded": facts.reminded,
        "gifts": facts.gifts,
        "gift_income": facts.gift_income,
        "auctions": facts.auctions,
        "auctions_sold": facts.auctions_sold,
        "auction_revenue": facts.auction_revenue,
        "draws": facts.draws,
        "draw_entrants": facts.draw_entrants,
        "draw_cash": facts.draw_cash,
        "draw_coupons": facts.draw_coupons,
        "draw_products": facts.draw_products,
        "charity": facts.charity,
    }
    return {
        "room_id": facts.room_id, "title": facts.title, "creator_id": facts.creator_id,
        "state": facts.state, "started_at": facts.started_at, "ended_at": facts.ended_at,
        "currency": facts.currency, "live": facts.ended_at is None, "frozen": False,
        "generated_at": now, "headline": headline,
        "products": product_rows(facts, paid),
        "series": {
            "start": span.start * MINUTE_MS, "step_ms": MINUTE_MS,
            "online": [round(v, 1) for v in online],
            "gmv": per_minute(((p.paid_at, p.amount) for p in paid), span),
            "chat": [facts.chat_minutes.get(m, 0) for m in span],
        },
    }


def product_rows(facts: ShowFacts, paid: list[Payment]) -> list[Json]:
    """One row per product viewed or sold: views, unique viewers of its card, paid orders,
    units, GMV; best sellers first, then the most viewed."""
    rows: dict[str, Json] = {}

    def row(pid: str) -> Json:
        if pid not in rows:
            rows[pid] = {"product_id": pid, "title": facts.titles.get(pid, ""),
                         "views": facts.card_views.get(pid, 0),
                         "viewers": facts.card_viewers.get(pid, 0),
                         "orders": 0, "units": 0, "gmv": 0}
        return rows[pid]

    for pid in (*facts.titles, *facts.card_views):
        row(pid)
    for p in paid:
        r = row(p.product_id)
        r["orders"] += 1
        r["units"] += p.quantity
        r["gmv"] += p.amount
    return sorted(rows.values(), key=lambda r: (-r["gmv"], -r["units"], -r["views"],
                                                r["product_id"]))


def with_refunds(report: Json, refunds: Iterable[int]) -> Json:
    """A frozen report with the refunds as they stand now: refunds after the end are the one
    figure a frozen report follows (what the show sold stays as it was at the end)."""
    amounts = list(refunds)
    headline = {**report["headline"], "refunds": len(amounts), "refunded": sum(amounts)}
    return {**report, "headline": headline}


def summary(report: Json) -> Json:
    """A show in a list: who, when, and the headline figures (no table, no series)."""
    return {k: report[k] for k in ("room_id", "title", "state", "started_at", "ended_at",
                                   "currency", "live", "frozen", "headline")}


HEADLINE_ORDER = (
    "duration_ms", "pcu", "acu", "unique_viewers", "avg_watch_ms", "new_followers",
    "fan_club_joins", "hearts", "chat_messages", "card_views", "card_viewers", "orders_placed",
    "orders", "buyers", "units", "gmv", "refunds", "refunded", "gpm", "conversion_bp",
    "coupons_used", "discount", "red_packets", "red_packets_launched", "red_packets_spent",
    "reminded", "gifts", "gift_income", "auctions", "auctions_sold", "auction_revenue",
    "draws", "draw_entrants", "draw_cash", "draw_coupons", "draw_products",
    "charity",
)
PRODUCT_COLUMNS = ("product_id", "title", "views", "viewers", "orders", "units", "gmv")


def csv_cell(value: object) -> str:
    """Plain text; a cell that a spreadsheet would run as a formula gets a leading quote."""
    cell = "" if value is None else str(value)
    return "'" + cell if cell[:1] in ("=", "+", "-", "@") else cell


def iso_minute(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def to_csv(report: Json) -> str:
    """Three tables one after the other, a blank line between: the figures (``figure,value``;
    money in cents, times in ms), the products, the minutes (UTC)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(("figure", "value"))
    for key in ("room_id", "title", "state", "started_at", "ended_at", "currency"):
        w.writerow((key, csv_cell(report[key])))
    for key in HEADLINE_ORDER:
        w.writerow((key, report["headline"][key]))
    w.writerow(())
    w.writerow(PRODUCT_COLUMNS)
    for r in report["products"]:
        w.writerow([csv_cell(r[c]) for c in PRODUCT_COLUMNS])
    w.writerow(())
    w.writerow(("minute", "online", "gmv", "chat"))
    series = report["series"]
    for i, (online, gmv, chat) in enumerate(zip(series["online"], series["gmv"], series["chat"],
                                                strict=True)):
        w.writerow((iso_minute(series["start"] + i * series["step_ms"]), online, gmv, chat))
    return out.getvalue()
