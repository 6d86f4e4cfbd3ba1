"""The command table: how a request's fields are bound (the same for the room socket and HTTP),
and that every op and route is declared once."""

from __future__ import annotations

from typing import Any

import pytest

from live_server import config
from live_server.auth import GUEST, Identity
from live_server.commands.fields import Integer, ListOf, ProductId, SafeId, Text
from live_server.commands.table import BY_NAME, COMMANDS, HTTP, WS_OPS
from live_server.errors import Forbidden, InvalidField, LiveError, MissingField

SETTINGS = config.load(env={})
VIEWER = Identity(user_id="bob", name="Bob", role="viewer")
ENVELOPE = frozenset({"op", "id"})


def bind(name: str, msg: dict[str, Any], who: Identity = VIEWER) -> dict[str, Any]:
    command = BY_NAME[name]
    command.allow(who)
    return command.bind(msg, SETTINGS, ENVELOPE)


def refusal(name: str, msg: dict[str, Any], who: Identity = VIEWER) -> tuple[str, str]:
    with pytest.raises(LiveError) as caught:
        bind(name, msg, who)
    return caught.value.code, caught.value.message


def test_unknown_fields_are_refused_naming_the_field() -> None:
    assert refusal("chat", {"op": "chat", "text": "hi", "colour": "red"}) == (
        "invalid_field", "unknown field 'colour'")
    # the envelope is not a field
    assert bind("chat", {"op": "chat", "id": 7, "text": "hi"}) == {"text": "hi"}


def test_absent_required_fields_are_missing_and_wrong_types_invalid() -> None:
    assert refusal("mute", {"user_id": "eve"}) == ("missing_field", "'duration_s' is required")
    assert refusal("mute", {"user_id": "eve", "duration_s": "60"})[0] == "invalid_field"
    assert refusal("mute", {"user_id": "eve", "duration_s": True})[0] == "invalid_field"
    assert refusal("mute", {"user_id": "e ve", "duration_s": 60})[0] == "invalid_field"
    assert refusal("heart", {"count": 0})[0] == "invalid_field"
    assert refusal("heart", {"count": SETTINGS.hearts.max_per_frame + 1})[0] == "invalid_field"


def test_defaults_and_null_integers() -> None:
    assert bind("heart", {}) == {"count": 1}
    assert bind("heart", {"count": None}) == {"count": 1}  # null counts as not sent
    assert bind("history", {}) == {"before": 0, "limit": 50}
    assert bind("buy", {"product_id": "p_abc", "idempotency_key": "k1"}) == {
        "product_id": "p_abc", "quantity": 1, "idempotency_key": "k1"}


def test_reasons_are_trimmed_on_every_moderation_op() -> None:
    for name, extra in (("delete", {"seq": 3}), ("mute", {"user_id": "eve", "duration_s": 5}),
                        ("ban", {"user_id": "eve"})):
        assert bind(name, {**extra, "reason": "  spam  "})["reason"] == "spam"
    assert bind("delete", {"seq": 3})["reason"] == ""
    assert refusal("delete", {"seq": 3, "reason": "x" * 201})[0] == "invalid_field"
    assert bind("delete", {"seq": 3, "reason": "x" * 200 + "   "})["reason"] == "x" * 200


def test_report_reason_must_have_text_after_trimming() -> None:
    assert refusal("report", {"seq": 1, "reason": "   "})[0] == "invalid_field"
    assert bind("report", {"seq": 1, "reason": " rude "})["reason"] == "rude"


def test_chat_text_is_not_trimmed_by_the_field() -> None:
    # the chat rules trim it themselves, so that "   " is message_empty, not invalid_field
    assert bind("chat", {"text": "   "}) == {"text": "   "}
    assert refusal("chat", {"text": "x" * (SETTINGS.chat.max_length * 4 + 1)})[0] == (
        "invalid_field")


def test_token_rules_come_before_the_fields() -> None:
    assert refusal("chat", {}, GUEST)[0] == "forbidden"
    assert refusal("create_room", {"title": "x"}, VIEWER)[0] == "forbidden"
    with pytest.raises(Forbidden):
        BY_NAME["heart"].allow(GUEST)


def test_nullable_fields() -> None:
    assert bind("pin", {"product_id": None}) == {"product_id": None}
    assert refusal("pin", {}) == ("missing_field", "'product_id' is required")
    assert refusal("pin", {"product_id": "nope"})[0] == "invalid_field"
    assert bind("announce", {"text": None}) == {"text": None}


def test_create_room_title_absent_is_missing_like_every_required_field() -> None:
    who = Identity(user_id="alice", name="Alice", role="creator")
    assert refusal("create_room", {}, who) == ("missing_field", "'title' is required")
    assert refusal("create_room", {"title": "  "}, who)[0] == "invalid_field"
    assert bind("create_room", {"title": " Show "}, who) == {
        "title": "Show", "allow_guests": True, "scheduled_at": None}


def test_patch_fields_have_no_defaults() -> None:
    who = Identity(user_id="alice", name="Alice", role="creator")
    assert bind("update_room", {"notice": "hi"}, who) == {"notice": "hi"}
    assert bind("update_product", {"product_id": "p_x", "stock": 3}, who) == {
        "product_id": "p_x", "stock": 3}


def test_url_text_is_converted_by_the_field_kind() -> None:
    limit = Integer("limit", lo=1, hi=10)
    assert limit.from_text("5") == 5
    with pytest.raises(InvalidField):
        limit.check(limit.from_text("abc"), SETTINGS)
    with pytest.raises(InvalidField):
        limit.check(limit.from_text("11"), SETTINGS)
    assert Text("t").from_text("x") == "x"


def test_lists_check_every_item() -> None:
    ids = ListOf("product_ids", item=ProductId("product_id"))
    assert ids.check(["p_a", "p_b"], SETTINGS) == ["p_a", "p_b"]
    with pytest.raises(InvalidField):
        ids.check(["p_a", 5], SETTINGS)
    with pytest.raises(InvalidField):
        ids.check("p_a", SETTINGS)
    with pytest.raises(MissingField):
        SafeId("user_id").read({}, SETTINGS)


def test_every_command_is_reachable_once() -> None:
    assert len(BY_NAME) == len(COMMANDS)
    assert {c.op for c in COMMANDS if c.op} == set(WS_OPS)
    assert all(c.op or c.http for c in COMMANDS)
    routes = [(c.http.method, c.http.path) for c in HTTP if c.http]
    assert len(routes) == len(set(routes))
    # the socket's ops, as docs/PROTOCOL.md lists them
    assert set(WS_OPS) == {
        "auth", "ping", "chat", "heart", "snapshot", "history", "report", "delete", "mute",
        "unmute", "ban", "unban", "slow_mode", "announce", "buy", "quote", "product", "shelf",
        "pin", "pin_coupon", "claim_coupon", "grab", "remind_me", "remind_cancel",
        "auction", "auction_bid", "draw_enter", "gift_catalogue", "send_gift",
        "cohost", "cohost_invite", "cohost_accept", "cohost_decline", "cohost_remove",
        "cohost_leave"}


def test_schemas_carry_the_deployments_bounds() -> None:
    quantity = next(f for f in BY_NAME["buy"].fields if f.name == "quantity")
    assert quantity.schema(SETTINGS) == {
        "type": "integer", "minimum": 1, "maximum": SETTINGS.shelf.max_quantity, "default": 1}
    text = next(f for f in BY_NAME["announce"].fields if f.name == "text")
    assert text.schema(SETTINGS)["type"] == ["string", "null"]
