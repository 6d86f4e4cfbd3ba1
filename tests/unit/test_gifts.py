"""The gift rules without I/O: the catalogue setting, the split, the combo, top-up amounts,
and the [gifts] settings' checks."""

from __future__ import annotations

import pytest

from live_server import config
from live_server.domain.gifts import (
    check_topup_amount,
    combo,
    is_topup_id,
    parse_catalogue,
    split,
)
from live_server.errors import InvalidField


def test_default_catalogue_reads() -> None:
    gifts = parse_catalogue(config.load(env={}).gifts.catalogue)
    assert list(gifts)[:2] == ["rose", "heart"]
    assert gifts["rose"].price == 10 and gifts["rocket"].price == 5000


@pytest.mark.parametrize("entry", ["rose|Rose|10", "Rose|Rose|10|rose", "rose|Rose|0|rose",
                                   "rose|Rose|-1|rose", "rose||10|rose", "rose|Rose|1.5|rose",
                                   "rose|Rose|10|<b>"])
def test_bad_catalogue_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_catalogue((entry,))


def test_repeated_or_empty_catalogue_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_catalogue(("rose|Rose|10|rose", "rose|Rose|20|rose"))
    with pytest.raises(ValueError):
        parse_catalogue(())


@pytest.mark.parametrize("total", [1, 3, 10, 99, 100, 12345, 5000 * 99])
@pytest.mark.parametrize("bp", [0, 1, 3333, 7000, 9999, 10_000])
def test_split_always_sums_and_rounds_the_creator_down(total: int, bp: int) -> None:
    creator, platform = split(total, bp)
    assert creator + platform == total and creator >= 0 and platform >= 0
    assert creator == total * bp // 10_000


def test_combo_grows_within_the_window_only() -> None:
    assert combo(0, 0, 1000, 3, 3000) == 3
    assert combo(3, 1000, 3500, 2, 3000) == 5
    assert combo(5, 1000, 4001, 1, 3000) == 1
    assert combo(5, 5000, 4000, 1, 3000) == 1  # a clock that went back starts again


def test_topup_amounts() -> None:
    assert check_topup_amount(600, (600,), 1000, 2000) == 600
    assert check_topup_amount(1500, (600,), 1000, 2000) == 1500
    for bad in (999, 2001, 0):
        with pytest.raises(InvalidField):
            check_topup_amount(bad, (600,), 1000, 2000)
    assert is_topup_id("tu_" + "0a" * 10) and not is_topup_id("o.room.abc")


@pytest.mark.parametrize("changes", [{"creator_share_bp": 10_001}, {"creator_share_bp": -1},
                                     {"max_quantity": 0}, {"topup_max_cents": 50},
                                     {"topup_packs": [1]}, {"platform_account": ""}])
def test_bad_gift_settings_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(config.ConfigError):
        config.load(env={}, overrides={"gifts": changes})
