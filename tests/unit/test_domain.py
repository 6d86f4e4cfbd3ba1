from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from live_server.domain import chat, rooms
from live_server.errors import InvalidField, InvalidState


def test_transitions() -> None:
    rooms.check_transition("scheduled", "live")
    rooms.check_transition("live", "ended")
    rooms.check_transition("scheduled", "ended")
    for current, target in (("live", "live"), ("ended", "live"), ("ended", "ended"),
                            ("live", "scheduled")):
        with pytest.raises(InvalidState):
            rooms.check_transition(current, target)


def test_normalise_text() -> None:
    assert chat.normalise_text("  hi\x00 there\x07 ", 20) == "hi there"
    with pytest.raises(chat.MessageEmpty):
        chat.normalise_text(" \t\x01 ", 20)
    with pytest.raises(chat.MessageTooLong):
        chat.normalise_text("x" * 21, 20)
    assert chat.normalise_text("你好世界", 4) == "你好世界"  # characters, not bytes


_letters = st.text(alphabet="abcXYZ 你好!", max_size=80)


@given(_letters, st.sets(st.text(alphabet="abcXYZ你好", min_size=1, max_size=4), max_size=5))
def test_mask_hides_every_keyword_and_keeps_length(text: str, words: set[str]) -> None:
    kw = chat.keyword_set(words)
    result = chat.apply_keywords(text, kw, "mask")
    assert len(result.text) == len(text)
    assert result.masked == any(w in text.lower() for w in kw)
    for w in kw:
        assert w not in result.text.lower()


def test_block_and_mask() -> None:
    kw = chat.keyword_set(["scam"])
    assert chat.apply_keywords("a SCAM here", kw, "mask").text == "a **** here"
    with pytest.raises(chat.KeywordBlocked):
        chat.apply_keywords("a Scam here", kw, "block")
    assert chat.apply_keywords("clean", kw, "block").masked is False


def test_parse_keywords_and_room_fields() -> None:
    assert chat.parse_keywords([" A ", "a", "", "b"], 10) == ["a", "b"]
    with pytest.raises(InvalidField):
        chat.parse_keywords("a,b", 10)
    with pytest.raises(InvalidField):
        chat.parse_keywords(["a", "b", "c"], 2)
    with pytest.raises(InvalidField):
        rooms.parse_update({})
    with pytest.raises(InvalidField):
        rooms.parse_update({"state": "live"})
    assert rooms.parse_update({"title": " New "}) == {"title": "New"}
    with pytest.raises(InvalidField):
        rooms.parse_create({"title": "x", "scheduled_at": 10**16}, 0)
