"""Platform suspensions without I/O: the durations ops choose, the per-process view every
command consults, and which commands a suspension stops (the one check in
``commands/access.py``)."""

from __future__ import annotations

import pytest

from live_server.auth import GUEST, Identity
from live_server.commands.access import check_standing
from live_server.commands.table import BY_NAME
from live_server.domain.suspensions import HOUR_MS, SuspensionView, new_suspension
from live_server.errors import InvalidField, Suspended

BOB = Identity(user_id="bob", name="Bob", role="viewer")
NOW = 1_700_000_000_000


class View:
    """The service's ``until`` over a domain view at a fixed time."""

    def __init__(self, view: SuspensionView, now: int = NOW) -> None:
        self.view = view
        self.now = now

    def until(self, user_id: str | None) -> int | None:
        return self.view.until(user_id, self.now)


def suspended(user: str = "bob", duration: str = "1h", by: str = "olga") -> SuspensionView:
    view = SuspensionView()
    view.put(new_suspension(user, "spam", by, duration, NOW))
    return view


@pytest.mark.parametrize(("duration", "length"), [("1h", HOUR_MS), ("24h", 24 * HOUR_MS),
                                                  ("7d", 7 * 24 * HOUR_MS), ("permanent", 0)])
def test_durations_end_when_ops_said(duration: str, length: int) -> None:
    record = new_suspension("bob", "  spam  ", "olga", duration, NOW)
    assert record.reason == "spam" and record.at == NOW
    assert record.until == (NOW + length if length else 0)
    assert record.active(NOW + 10 * 365 * 24 * HOUR_MS) is (length == 0)


@pytest.mark.parametrize(("user", "reason", "duration"), [
    ("bob", "", "1h"), ("bob", "x" * 201, "1h"), ("bob", "spam", "2h"), ("olga", "spam", "1h")])
def test_a_bad_suspension_is_refused(user: str, reason: str, duration: str) -> None:
    with pytest.raises(InvalidField):
        new_suspension(user, reason, "olga", duration, NOW)


def test_the_view_says_until_when_and_forgets_what_ended() -> None:
    view = suspended()
    assert view.until("bob", NOW + 1) == NOW + HOUR_MS
    assert view.until("bob", NOW + HOUR_MS) is None  # ended on its own
    assert view.until("carol", NOW) is None and view.until(None, NOW) is None
    view.drop("bob")
    assert view.until("bob", NOW) is None
    view.replace_all([new_suspension("carol", "bots", "olga", "permanent", NOW)])
    assert view.until("carol", NOW + 10**12) == 0


@pytest.mark.parametrize("name", ["chat", "heart", "buy", "quote", "grab", "claim_coupon",
                                  "report", "mute", "ban"])
def test_a_suspended_user_may_not_act(name: str) -> None:
    command = BY_NAME[name]
    command.allow(BOB, View(SuspensionView()))  # not suspended: allowed
    with pytest.raises(Suspended) as caught:
        command.allow(BOB, View(suspended()))
    assert caught.value.to_dict()["until"] == NOW + HOUR_MS
    assert caught.value.status == 403


@pytest.mark.parametrize("name", ["snapshot", "history", "shelf", "product", "ping",
                                  "my_orders", "wallet"])
def test_a_suspended_user_still_reads(name: str) -> None:
    BY_NAME[name].allow(BOB, View(suspended()))


def test_ops_commands_and_guests_are_not_checked() -> None:
    olga = Identity(user_id="olga", name="Olga", role="ops")
    BY_NAME["ops_unsuspend"].allow(olga, View(suspended("olga", by="oscar")))
    check_standing(GUEST, View(suspended()))
    check_standing(BOB, None)
