"""Every Python-built room event decodes to the shape docs/PROTOCOL.md documents, in the
protocol's envelope, with its type beside the bytes."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from live_server import events
from live_server.events import RoomEvent
from live_server.protocol import GUARANTEED_EVENTS, now_ms
from live_server.store.scripts import LUA_DIR

PACKET = {"id": "rp_1", "room_id": "r_1", "open_at": 5, "expires_at": 9, "total": 100}
LUCKIEST = {"user": "bob", "name": "Bob", "amount": 60}

# (built event, its type, its data) for every builder
CASES: list[tuple[RoomEvent, str, dict[str, Any]]] = [
    (events.chat(user_id="bob", name="Bob", role="viewer", level=3, fan_club=True, text="hi",
                 masked=False, ts=7),
     "chat", {"user": {"id": "bob", "name": "Bob", "role": "viewer", "level": 3,
                       "fan_club": True}, "text": "hi", "masked": False}),
    (events.chat_deleted(12, "alice", ts=7), "chat_deleted", {"target_seq": 12, "by": "alice"}),
    (events.user_muted("bob", 99, "alice", ts=7),
     "user_muted", {"user_id": "bob", "until": 99, "by": "alice"}),
    (events.user_unmuted("bob", "alice", ts=7), "user_unmuted", {"user_id": "bob", "by": "alice"}),
    (events.user_banned("bob", "alice", ts=7),
     "user_banned", {"user_id": "bob", "by": "alice"}),
    (events.user_unbanned("bob", "alice", ts=7),
     "user_unbanned", {"user_id": "bob", "by": "alice"}),
    (events.keywords_updated(4, "block", ts=7),
     "keywords_updated", {"count": 4, "action": "block"}),
    (events.room_state("live", 7, "alice"),
     "room_state", {"state": "live", "started_at": 7, "by": "alice"}),
    (events.room_state("ended", 7, "alice"),
     "room_state", {"state": "ended", "ended_at": 7, "by": "alice"}),
    (events.room_updated({"title": "New", "allow_guests": False}, ts=7),
     "room_updated", {"title": "New", "allow_guests": False}),
    (events.announcement({"text": "8pm sale", "by": "alice", "ts": 6}, ts=7),
     "announcement", {"text": "8pm sale", "by": "alice", "ts": 6}),
    (events.announcement(None, ts=7), "announcement", {"text": None}),
    (events.slow_mode(10, "alice", ts=7), "slow_mode", {"seconds": 10, "by": "alice"}),
    (events.joins(3, ["Bob", "Carol"], 7), "joins", {"count": 3, "names": ["Bob", "Carol"]}),
    (events.video_started({"video": "H264", "audio": "opus"}, "alice", ts=7),
     "video_started", {"codecs": {"video": "H264", "audio": "opus"}, "by": "alice"}),
    (events.video_stopped("disconnected", ts=7), "video_stopped", {"reason": "disconnected"}),
    (events.cohost_started("r1", "bob", "Bob", {"video": "VP8"}, ts=7), "cohost_started",
     {"guest_id": "bob", "name": "Bob", "codecs": {"video": "VP8"},
      "whep": "/api/rooms/r1/guests/bob/whep"}),
    (events.cohost_ended("bob", "removed", ts=7), "cohost_ended",
     {"guest_id": "bob", "reason": "removed"}),
    (events.red_packet(PACKET, 7), "red_packet", {"packet": PACKET, "server_time": 7}),
    (events.red_packet_opened("rp_1", 9, 7),
     "red_packet_opened", {"packet_id": "rp_1", "expires_at": 9}),
    (events.red_packet_finished("rp_1", "all_grabbed", LUCKIEST, 0, 0, 7),
     "red_packet_finished", {"packet_id": "rp_1", "reason": "all_grabbed",
                             "luckiest": LUCKIEST, "refunded": 0, "shares_left": 0}),
    (events.red_packet_finished("rp_1", "expired", None, 40, 2, 7),
     "red_packet_finished", {"packet_id": "rp_1", "reason": "expired", "luckiest": None,
                             "refunded": 40, "shares_left": 2}),
    (events.draw({"id": "d_1", "commitment": "ab", "end_at": 9}, 7), "draw",
     {"draw": {"id": "d_1", "commitment": "ab", "end_at": 9}, "server_time": 7}),
    (events.draw_result("d_1", {"seed": "cd", "winners": ["bob"]}, 7), "draw_result",
     {"draw_id": "d_1", "result": {"seed": "cd", "winners": ["bob"]}}),
]


@pytest.mark.parametrize(("ev", "kind", "data"), CASES, ids=[c[1] for c in CASES])
def test_builder_output_is_the_documented_event(ev: RoomEvent, kind: str,
                                                data: dict[str, Any]) -> None:
    assert ev.kind == kind
    assert orjson.loads(ev.body) == {"type": kind, "ts": 7, "data": data}


def test_kind_matches_the_json_type_for_every_builder() -> None:
    for ev, _kind, _data in CASES:
        assert orjson.loads(ev.body)["type"] == ev.kind


def test_timestamp_defaults_to_now() -> None:
    before = now_ms()
    ts = orjson.loads(events.slow_mode(0, "alice").body)["ts"]
    assert before <= ts <= now_ms()


def test_no_seq_in_built_events() -> None:
    """``seq`` is given by the store (``append_event``), never by the builder."""
    assert all("seq" not in orjson.loads(ev.body) for ev, _k, _d in CASES)


def test_every_guaranteed_type_built_in_python_has_a_builder() -> None:
    built = {kind for _ev, kind, _data in CASES}
    # the rest are built by the Lua scripts (store/lua/_lib.lua, tests/integration/test_lua_events)
    lua_built = {"shelf_updated", "product_pinned", "product_updated", "sale_countdown",
                 "sale_started", "sale_ended", "coupon_pinned",
                 "auction_started", "auction_bid", "auction_ended", "auction_updated"}
    assert GUARANTEED_EVENTS == (built & GUARANTEED_EVENTS) | lua_built
    assert lua_built <= lua_builder_types()


# A Lua string literal or comment (comments are dropped before the scan below; long strings
# [[...]] are not used by the scripts).
_LUA_TOKEN = re.compile(r"""'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|--[^\n]*""")
# What building an event looks like: the envelope, JSON text with a "type" key, or a Lua table
# with a type field handed to cjson.
_INLINE_EVENT = re.compile(
    r"""event_json\(|"type"\s*:|\btype\s*=[^=]|\[\s*['"]type['"]\s*\]\s*=[^=]""")


def lua_builder_types() -> set[str]:
    """The event types _lib.lua has an ``ev_*`` builder for."""
    return set(re.findall(r"event_json\('(\w+)'", (LUA_DIR / "_lib.lua").read_text()))


def _code(source: str) -> str:
    return _LUA_TOKEN.sub(lambda m: "" if m.group().startswith("--") else m.group(), source)


def test_lua_scripts_build_events_only_through_lib_builders() -> None:
    """A script that writes an event's JSON itself gives that type a second shape to drift."""
    inline = {
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted(LUA_DIR.glob("*.lua")) if path.name != "_lib.lua"
        for n, line in enumerate(_code(path.read_text()).splitlines(), 1)
        if _INLINE_EVENT.search(line)
    }
    assert not inline


def test_the_inline_event_scan_sees_each_way_of_building_one() -> None:
    built = ["""local e = '{"type":"gift","ts":' .. now .. '}'""",
             "append_event(k, e, c, m, event_json('gift', now, data))",
             "local e = cjson.encode({type = 'gift', ts = now})",
             "local e = cjson.encode({['type'] = 'gift'})"]
    not_built = ["-- the `gift` event: {\"type\": \"gift\"}",
                 "redis.call('XADD', k, '*', 'type', 'reserved', 'order', o)",
                 "if e.type == 'gift' then end",
                 "publish_event(c, ev_gift(now, uid, name, gift, gid, q, combo))"]
    assert all(_INLINE_EVENT.search(_code(line)) for line in built)
    assert not any(_INLINE_EVENT.search(_code(line)) for line in not_built)
