"""The charity earmark rule and the terms' checks: rounding down per movement, never more
than the proceeds, the bounds of the share, the sources a room's terms may cover."""

from __future__ import annotations

import pytest

from live_server.domain.charity import (
    SOURCES,
    Terms,
    check_beneficiary,
    check_terms,
    earmark,
    entry_ref,
    parse_ref,
    percent_text,
)
from live_server.errors import InvalidField


def test_earmark_rounds_down_per_movement_and_never_exceeds_the_proceeds() -> None:
    assert earmark(999, 1250) == 124  # 124.875
    assert earmark(210, 1250) == 26  # 26.25
    assert earmark(700, 1250) == 87  # 87.5
    assert earmark(1, 9999) == 0  # a cent that cannot be split stays with the creator
    assert earmark(0, 5000) == 0
    assert earmark(12_345, 10_000) == 12_345
    for amount in range(0, 400, 7):
        for bp in (1, 333, 5000, 9999, 10_000):
            cut = earmark(amount, bp)
            assert 0 <= cut <= amount and cut * 10_000 <= amount * bp < (cut + 1) * 10_000


def test_earmark_refuses_out_of_range_input() -> None:
    for amount, bp in ((-1, 100), (100, 0), (100, 10_001), (True, 100), (100, True)):
        with pytest.raises(ValueError):
            earmark(amount, bp)  # type: ignore[arg-type]


def test_terms_bounds_and_sources() -> None:
    t = check_terms("b_0123456789ab", 1500, ["red_packets", "orders", "orders"])
    assert t.sources == ("orders", "red_packets")  # canonical order, each once
    assert t.cut("orders", 1000) == 150 and t.cut("gifts", 1000) == 0
    assert Terms.from_json(t.to_json()) == t
    assert set(SOURCES) == {"orders", "gifts", "red_packets"}
    for ben, bp, sources in (("x", 100, ["gifts"]), ("b_0123456789ab", 0, ["gifts"]),
                             ("b_0123456789ab", 10_001, ["gifts"]),
                             ("b_0123456789ab", 100, []),
                             ("b_0123456789ab", 100, ["tips"])):
        with pytest.raises(InvalidField):
            check_terms(ben, bp, sources)


def test_beneficiary_fields_and_the_reference_and_the_percentage() -> None:
    assert check_beneficiary("  Water  ", "", "https://w.example") == (
        "Water", "", "https://w.example")
    for name, url in (("", ""), ("x" * 81, ""), ("ok", "javascript:alert(1)"),
                      ("ok", "ftp://x")):
        with pytest.raises(InvalidField):
            check_beneficiary(name, "", url)
    assert parse_ref(entry_ref("r1", "gifts", "g1")) == ("r1", "gifts", "g1")
    assert [percent_text(bp) for bp in (1000, 1250, 1, 10_000, 505)] == [
        "10%", "12.5%", "0.01%", "100%", "5.05%"]
