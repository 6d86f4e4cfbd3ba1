"""Message shapes and their validation. Pure: used by the gateway, the services and the tests.

Field readers raise the protocol's coded errors so that every handler reports bad input the same
way: ``missing_field`` when absent, ``invalid_field`` when the type or range is wrong.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from live_server.errors import InvalidField, InvalidJson, LiveError, MissingField

Json = dict[str, Any]
MAX_SEQ = 2**53  # the largest sequence number (and integer field) a JSON client can hold exactly

# Event types that must never be dropped and flush the room's batch at once.
GUARANTEED_EVENTS = frozenset({
    "chat_deleted", "room_state", "room_updated", "announcement", "slow_mode", "user_muted",
    "user_unmuted", "user_banned", "user_unbanned", "keywords_updated",
    # the shelf
    "shelf_updated", "product_pinned", "product_updated", "sale_countdown", "sale_started",
    "sale_ended",
    # red packets
    "red_packet", "red_packet_opened", "red_packet_finished",
    # coupons
    "coupon_pinned",
    # lucky draws
    "draw", "draw_result",
    # live auctions
    "auction_started", "auction_bid", "auction_ended", "auction_updated",
    # live video (WHIP publisher connected / gone)
    "video_started", "video_stopped",
    # co-hosting (a guest's stream on air / gone)
    "cohost_started", "cohost_ended",
})

# Unsequenced events of which only the latest per room and subject matters (type → the data
# fields naming the subject): the hub keeps the newest one and sends it with the next tick (at
# most one per tick per product variant's stock (a sale's units and ordinary units apart), per
# coupon's copies left).
LATEST_EVENTS: dict[str, tuple[str, ...]] = {"stock": ("product_id", "variant_id", "sale_id"),
                                             "coupon": ("coupon_id",),
                                             # a draw's entrant count: the newest per draw
                                             "draw_entrants": ("draw_id",),
                                             # a burst of gifts: the newest combo per sender
                                             # and gift each tick
                                             "gift": ("from", "gift_id")}

def now_ms() -> int:
    return time.time_ns() // 1_000_000


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def loads_object(data: str | bytes) -> Json:
    """Decode one JSON object; anything else (array, number, broken text) is ``invalid_json``."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise InvalidJson("not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidJson("expected a JSON object")
    return value


def get_str(msg: Json, name: str, *, max_len: int | None = None, required: bool = True,
            allow_none: bool = False) -> str | None:
    if name not in msg:
        if required:
            raise MissingField(f"'{name}' is required")
        return None
    value = msg[name]
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise InvalidField(f"'{name}' must be a string")
    if max_len is not None and len(value) > max_len:
        raise InvalidField(f"'{name}' is longer than {max_len} characters")
    return value


def need_str(msg: Json, name: str, *, max_len: int | None = None) -> str:
    value = get_str(msg, name, max_len=max_len)
    assert value is not None
    return value


def get_int(msg: Json, name: str, *, lo: int, hi: int, default: int | None = None) -> int:
    if name not in msg or msg[name] is None:
        if default is None:
            raise MissingField(f"'{name}' is required")
        return default
    value = msg[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidField(f"'{name}' must be an integer")
    if not lo <= value <= hi:
        raise InvalidField(f"'{name}' must be between {lo} and {hi}")
    return value


def get_bool(msg: Json, name: str, default: bool) -> bool:
    value = msg.get(name, default)
    if not isinstance(value, bool):
        raise InvalidField(f"'{name}' must be true or false")
    return value


def user_id_field(msg: Json, name: str = "user_id") -> str:
    value = need_str(msg, name, max_len=64)
    if not value or not is_safe_id(value):
        raise InvalidField(f"'{name}' must be 1-64 characters of letters, digits, '_', '-', '.'")
    return value


def is_safe_id(value: str) -> bool:
    return (0 < len(value) <= 64 and value.isascii()
            and all(c.isalnum() or c in "_-.@" for c in value))


# Frames built by the server ------------------------------------------------------------------

def reply_frame(req_id: Any, data: Json) -> bytes:
    return orjson.dumps({"type": "reply", "id": req_id, "data": data})


def error_frame(req_id: Any, err: LiveError) -> bytes:
    return orjson.dumps({"type": "error", "id": req_id, "error": err.to_dict()})
