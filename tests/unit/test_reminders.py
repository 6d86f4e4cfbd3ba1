"""Show reminder rules without I/O: only a scheduled show can be subscribed to, the start
message every process hears carries the notice unchanged, the notice's shape, lists cut into
chunks, and the count in the show report."""

from __future__ import annotations

import orjson
import pytest

from live_server import events
from live_server.domain.reminders import StartMessage, check_can_subscribe, chunks
from live_server.domain.show_report import HEADLINE_ORDER, ShowFacts, build, to_csv
from live_server.domain.webhooks import EVENT_TYPES, check_events
from live_server.errors import InvalidState


def test_only_a_scheduled_show_can_be_subscribed_to() -> None:
    check_can_subscribe("scheduled")
    for state in ("live", "ended"):
        with pytest.raises(InvalidState) as err:
            check_can_subscribe(state)
        assert err.value.extra == {"state": state}


def test_the_notice_is_the_documented_event() -> None:
    ev = events.show_starting("r_1", "Tea tasting", "alice", 7)
    assert ev.kind == "show_starting"
    assert orjson.loads(ev.body) == {"type": "show_starting", "ts": 7, "data": {
        "room_id": "r_1", "title": "Tea tasting", "creator_id": "alice", "started_at": 7}}


def test_the_start_message_carries_the_notice_as_it_is() -> None:
    notice = events.show_starting("r_1", 'A "quoted" title', "alice", 7).body
    message = StartMessage("r_1", notice)
    again = StartMessage.decode(message.encode())
    assert again.room_id == "r_1"
    assert orjson.loads(again.notice) == orjson.loads(notice)
    for bad in (b"[]", b'{"room_id": 5, "notice": {}}', b'{"room_id": "r"}', b"nope"):
        with pytest.raises(ValueError):
            StartMessage.decode(bad)


def test_chunks_cover_every_item_once_in_order() -> None:
    items = [f"u{i}" for i in range(2_345)]
    parts = list(chunks(items, 1000))
    assert [len(p) for p in parts] == [1000, 1000, 345]
    assert [x for p in parts for x in p] == items
    assert list(chunks([], 1000)) == []
    with pytest.raises(ValueError):
        list(chunks(items, 0))


def test_the_webhook_event_can_be_subscribed_to() -> None:
    assert "show.starting" in EVENT_TYPES
    assert check_events(["show.starting"]) == ["show.starting"]


def test_the_show_report_counts_who_was_reminded() -> None:
    facts = ShowFacts(room_id="r_1", title="Show", creator_id="alice", state="ended",
                      started_at=60_000, ended_at=120_000, currency="CNY", reminded=42)
    report = build(facts, 200_000)
    assert report["headline"]["reminded"] == 42
    assert "reminded" in HEADLINE_ORDER
    assert "reminded,42" in to_csv(report)
    assert build(ShowFacts(room_id="r_2", title="Show", creator_id="alice", state="ended",
                           started_at=0, ended_at=1, currency="CNY"), 5)["headline"][
        "reminded"] == 0
