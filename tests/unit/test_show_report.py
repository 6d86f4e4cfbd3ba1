"""The show report's arithmetic (domain/show_report.py): ACU from per-minute samples, average
watch time, GPM, conversion, per-minute series, the product table, refunds after the end, the
CSV, and the edge cases a creator meets first (no viewers, no orders, a show of no length)."""

from __future__ import annotations

import csv
import io

from live_server.domain.show_report import (
    MINUTE_MS,
    Packet,
    Payment,
    ShowFacts,
    acu,
    audience,
    avg_watch_ms,
    build,
    conversion_bp,
    covered_ms,
    gpm,
    minutes,
    online_per_minute,
    per_minute,
    summary,
    to_csv,
    with_refunds,
)

T0 = 1_700_000_040_000  # a minute boundary


def facts(**kw: object) -> ShowFacts:
    base: dict[str, object] = {"room_id": "r_1", "title": "Tea time", "creator_id": "alice",
                               "state": "ended", "started_at": T0,
                               "ended_at": T0 + 3 * MINUTE_MS, "currency": "CNY"}
    return ShowFacts(**{**base, **kw})  # type: ignore[arg-type]


def test_minutes_cover_the_show_and_partial_minutes_weigh_by_the_part_covered() -> None:
    assert list(minutes(T0, T0 + MINUTE_MS)) == [T0 // MINUTE_MS]
    assert len(minutes(T0 + 30_000, T0 + 90_000)) == 2
    assert len(minutes(T0, T0)) == 1  # a show of no length still has its first minute
    assert covered_ms(T0 // MINUTE_MS, T0 + 15_000, T0 + 45_000) == 30_000
    assert covered_ms(T0 // MINUTE_MS + 1, T0 + 15_000, T0 + 45_000) == 0


def test_acu_is_the_time_weighted_mean_of_the_minutes() -> None:
    m = T0 // MINUTE_MS
    samples = {m: (30, 3), m + 1: (40, 2)}  # 10 then 20 online; the third minute had nobody
    span = minutes(T0, T0 + 3 * MINUTE_MS)
    online = online_per_minute(samples, span)
    assert online == [10.0, 20.0, 0.0]
    assert acu(online, span, T0, T0 + 3 * MINUTE_MS) == 10.0
    # half of the first minute and all of the second: (10 × 30 s + 20 × 60 s) / 90 s
    half = minutes(T0 + 30_000, T0 + 2 * MINUTE_MS)
    assert acu(online_per_minute(samples, half), half, T0 + 30_000,
               T0 + 2 * MINUTE_MS) == (10 * 30 + 20 * 60) / 90
    assert acu([5.0], minutes(T0, T0), T0, T0) == 0.0


def test_watch_time_gpm_and_conversion_and_their_empty_cases() -> None:
    assert avg_watch_ms(10.0, 3 * MINUTE_MS, 15) == 2 * MINUTE_MS
    assert avg_watch_ms(10.0, 3 * MINUTE_MS, 0) == 0
    assert avg_watch_ms(0.0, 0, 5) == 0
    assert gpm(123_456, 789) == 123_456 * 1000 // 789 == 156_471
    assert gpm(5000, 0) == 0
    assert conversion_bp(3, 40) == 750
    assert conversion_bp(1, 3) == 3333  # rounded down
    assert conversion_bp(0, 0) == 0
    # a buyer who bought over HTTP without opening the room still saw the show
    assert audience(2, 5) == 5 and audience(9, 5) == 9


def test_per_minute_adds_up_and_clamps_to_the_show() -> None:
    span = minutes(T0, T0 + 3 * MINUTE_MS)
    values = [(T0 + 1, 100), (T0 + 59_999, 50), (T0 + MINUTE_MS, 7),
              (T0 - 5, 1), (T0 + 10 * MINUTE_MS, 2)]
    assert per_minute(values, span) == [151, 7, 2]


def test_a_show_with_no_viewers_and_no_orders_is_all_zeros() -> None:
    report = build(facts(), T0 + 10 * MINUTE_MS)
    h = report["headline"]
    assert h["duration_ms"] == 3 * MINUTE_MS
    for key in ("pcu", "acu", "unique_viewers", "avg_watch_ms", "orders", "buyers", "gmv",
                "gpm", "conversion_bp", "refunds", "refunded", "card_views", "red_packets_spent"):
        assert h[key] == 0, key
    assert report["products"] == []
    assert report["series"]["online"] == [0.0, 0.0, 0.0]
    assert report["series"]["gmv"] == report["series"]["chat"] == [0, 0, 0]
    assert report["live"] is False and report["frozen"] is False


def test_a_reservation_placed_during_the_show_and_paid_after_its_end_is_the_shows_sale() -> None:
    end = T0 + 3 * MINUTE_MS
    during = Payment("o1", "p_a", "vic", 1, 1000, T0 + 10_000, placed_at=T0 + 5_000)
    late = Payment("o2", "p_a", "wen", 2, 3000, end + 4 * MINUTE_MS, placed_at=end - 1)
    report = build(facts(unique=10, payments=(during, late)), end)
    h = report["headline"]
    assert (h["orders"], h["buyers"], h["units"], h["gmv"]) == (2, 2, 3, 4000)
    # the series has the show's minutes only: a late payment counts in its last minute
    assert report["series"]["gmv"] == [1000, 0, 3000]


def test_the_report_of_a_show_adds_up() -> None:
    m = T0 // MINUTE_MS
    pay = [Payment("o1", "p_a", "vic", 2, 1800, T0 + 10_000, "c_1", 200),
           Payment("o2", "p_b", "vic", 1, 500, T0 + 70_000),
           Payment("o3", "p_a", "wen", 1, 1000, T0 + 130_000),
           # placed after the end (another show's, say): not this show's
           Payment("o4", "p_a", "xia", 1, 1000, T0 + 3 * MINUTE_MS + 9,
                   placed_at=T0 + 3 * MINUTE_MS + 1)]
    report = build(facts(
        peak=18, unique=40, hearts=99, chat=17, online={m: (20, 2), m + 1: (30, 2)},
        chat_minutes={m: 10, m + 2: 7}, new_followers=3, fan_club_joins=1,
        card_views={"p_a": 9, "p_c": 4}, card_viewers={"p_a": 5, "p_c": 2},
        card_viewers_total=6, orders_placed=6, payments=tuple(pay), refunds=(500,),
        packets=(Packet(total=1000, left=0, refunded=200), Packet(total=300, left=100,
                                                                  refunded=0)),
        titles={"p_a": "Tea", "p_c": "Cup"}), T0 + 9 * MINUTE_MS)
    h = report["headline"]
    assert (h["orders"], h["buyers"], h["units"], h["gmv"]) == (3, 2, 4, 3300)
    assert (h["refunds"], h["refunded"]) == (1, 500)
    assert h["gpm"] == 3300 * 1000 // 40 == 82_500
    assert h["conversion_bp"] == 2 * 10_000 // 40 == 500
    assert h["acu"] == round((10 + 15 + 0) / 3, 1)
    assert h["avg_watch_ms"] == int(25 / 3 * 3 * MINUTE_MS / 40)
    assert h["pcu"] == 18 and h["unique_viewers"] == 40
    assert (h["hearts"], h["chat_messages"]) == (99, 17)
    assert (h["card_views"], h["card_viewers"], h["orders_placed"]) == (13, 6, 6)
    assert (h["new_followers"], h["fan_club_joins"]) == (3, 1)
    assert (h["coupons_used"], h["discount"]) == (1, 200)
    assert (h["red_packets"], h["red_packets_launched"], h["red_packets_spent"]) == (2, 1300, 1000)
    assert report["series"]["gmv"] == [1800, 500, 1000]
    assert report["series"]["chat"] == [10, 0, 7]
    assert report["series"]["online"] == [10.0, 15.0, 0.0]
    assert report["products"] == [
        {"product_id": "p_a", "title": "Tea", "views": 9, "viewers": 5, "orders": 2,
         "units": 3, "gmv": 2800},
        {"product_id": "p_b", "title": "", "views": 0, "viewers": 0, "orders": 1, "units": 1,
         "gmv": 500},
        {"product_id": "p_c", "title": "Cup", "views": 4, "viewers": 2, "orders": 0,
         "units": 0, "gmv": 0},
    ]
    # refunds after the end follow; nothing else moves
    later = with_refunds(report, [500, 1000])
    assert (later["headline"]["refunds"], later["headline"]["refunded"]) == (2, 1500)
    assert later["headline"]["gmv"] == 3300 and report["headline"]["refunds"] == 1
    assert set(summary(report)) == {"room_id", "title", "state", "started_at", "ended_at",
                                    "currency", "live", "frozen", "headline"}


def test_a_live_show_ends_now_and_the_peak_is_never_below_a_minute() -> None:
    m = T0 // MINUTE_MS
    report = build(facts(state="live", ended_at=None, online={m: (9, 1)}), T0 + 90_000)
    assert report["live"] is True
    assert report["headline"]["duration_ms"] == 90_000
    assert len(report["series"]["online"]) == 2
    assert report["headline"]["pcu"] == 9  # a peak from before the stats knew it


def test_the_csv_has_the_same_numbers_and_defuses_formulas() -> None:
    pay = (Payment("o1", "p_a", "vic", 2, 1800, T0 + 10_000),)
    report = build(facts(payments=pay, unique=4, titles={"p_a": "=HYPERLINK(1)"},
                         card_views={"p_a": 3}), T0 + 10 * MINUTE_MS)
    text = to_csv(report)
    parts = text.split("\r\n\r\n")
    assert len(parts) == 3
    figures = dict(csv.reader(io.StringIO(parts[0])))
    assert figures["gmv"] == "1800" and figures["buyers"] == "1" and figures["gpm"] == "450000"
    assert figures["title"] == "Tea time"
    products = list(csv.DictReader(io.StringIO(parts[1])))
    assert products == [{"product_id": "p_a", "title": "'=HYPERLINK(1)", "views": "3",
                         "viewers": "0", "orders": "1", "units": "2", "gmv": "1800"}]
    rows = list(csv.DictReader(io.StringIO(parts[2])))
    assert [r["gmv"] for r in rows] == ["1800", "0", "0"]
    assert rows[0]["minute"].endswith("Z")
