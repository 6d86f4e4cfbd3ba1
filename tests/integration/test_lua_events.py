"""The room events built inside Lua scripts (``store/lua/_lib.lua``), run on a real Valkey:
each builder's JSON decodes to the shape docs/PROTOCOL.md documents, and JSON handed to a
builder as text (cards, sales, orders, names) comes out unchanged, empty arrays included."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from live_server.store.scripts import LUA_DIR

SALE = {"id": "s_1", "product_id": "p_1", "state": "open", "price": 1990, "start_at": 5,
        "end_at": 9, "currency": "CNY"}
CARD = {"id": "p_1", "title": "Scarf", "images": [], "status": "on_sale", "note": None}
ORDER = {"id": "o.r_1.ab", "buyer": "bob", "state": "paid", "amount": 3980}
AUCTION = {"id": "a_1", "state": "open", "price": 0, "increments": [], "leader": None}
GIFT = {"gift_id": "rose", "name": "Rose", "icon": "rose.png", "price": 100}

# Lua expression calling one builder → (type, data, extra envelope fields)
CASES: list[tuple[str, str, Any, dict[str, Any]]] = [
    ("ev_stock('7', 'p_1', 3, 'v_2')", "stock",
     {"product_id": "p_1", "variant_id": "v_2", "sale_id": None, "left": 3}, {}),
    ("ev_stock('7', 'p_1', 0, 'v_2', 's_1')", "stock",
     {"product_id": "p_1", "variant_id": "v_2", "sale_id": "s_1", "left": 0}, {}),
    ("ev_bought('7', 'p_1', '\"Bob\"', 2)", "bought",
     {"product_id": "p_1", "name": "Bob", "quantity": 2}, {}),
    ("ev_shelf_updated('7', {ARGV[1], 'null'}, '\"alice\"')", "shelf_updated",
     {"products": [CARD, None], "by": "alice"}, {}),
    ("ev_shelf_updated('7', {}, '\"alice\"')", "shelf_updated",
     {"products": [], "by": "alice"}, {}),
    ("ev_product_pinned('7', ARGV[1], '\"alice\"')", "product_pinned",
     {"product": CARD, "by": "alice"}, {}),
    ("ev_product_pinned('7', 'null', '\"alice\"')", "product_pinned",
     {"product": None, "by": "alice"}, {}),
    ("ev_product_updated('7', ARGV[1])", "product_updated", {"product": CARD}, {}),
    ("ev_sale_countdown('7', ARGV[2], '5', '7')", "sale_countdown",
     {"sale": SALE, "left": 5, "server_time": 7}, {}),
    ("ev_sale_started('7', ARGV[2], 5, '7')", "sale_started",
     {"sale": SALE, "left": 5, "server_time": 7}, {}),
    ("ev_sale_started('7', ARGV[2], 5)", "sale_started", {"sale": SALE, "left": 5}, {}),
    ("ev_sale_started('7', ARGV[2], 5, nil, true)", "sale_started",
     {"sale": SALE, "left": 5, "reopened": True}, {}),
    ("ev_sale_ended('7', ARGV[2], 0, 'sold_out')", "sale_ended",
     {"sale": SALE, "left": 0, "reason": "sold_out"}, {}),
    ("ev_order('7', ARGV[3], 'bob')", "order", ORDER, {"to": "bob"}),
    ("ev_product_taken_down('7', 'alice', 'p_1', '\"Serum\"', '\"fake\"')",
     "product_taken_down",
     {"product_id": "p_1", "title": "Serum", "reason": "fake", "by": "ops"}, {"to": "alice"}),
    ("ev_red_packet_grabbed('7', 'rp_1', '\"Bob\"', 60, 2)", "red_packet_grabbed",
     {"packet_id": "rp_1", "name": "Bob", "amount": 60, "left": 2}, {}),
    ("ev_counters('7', 1, 2, 3, 4, 5)", "counters",
     {"online": 1, "hearts": 2, "unique": 3, "peak": 4, "chat": 5}, {}),
    ("ev_auction_started('7', ARGV[4], '7')", "auction_started",
     {"auction": AUCTION, "server_time": 7}, {}),
    ("ev_auction_bid('7', 'a_1', 1500, 'bob', '\"Bob\"', 3, 9000, 7, true, 1600)", "auction_bid",
     {"auction_id": "a_1", "price": 1500, "leader_id": "bob", "leader_name": "Bob", "bids": 3,
      "end_at": 9000, "now": 7, "extended": True, "next_min": 1600}, {}),
    ("ev_auction_bid('7', 'a_1', 1000, 'bob', '\"Bob\"', 1, 9000, 7, false, 1100)", "auction_bid",
     {"auction_id": "a_1", "price": 1000, "leader_id": "bob", "leader_name": "Bob", "bids": 1,
      "end_at": 9000, "now": 7, "extended": False, "next_min": 1100}, {}),
    ("ev_auction_ended('7', ARGV[4], '7', 'sold')", "auction_ended",
     {"auction": AUCTION, "server_time": 7, "result": "sold"}, {}),
    ("ev_auction_updated('7', ARGV[4], '7')", "auction_updated",
     {"auction": AUCTION, "server_time": 7}, {}),
    ("ev_gift('7', 'bob', '\"Bob\"', ARGV[5], 'rose', 3, 7)", "gift",
     {"from": "bob", "name": "Bob", "gift": GIFT, "gift_id": "rose", "quantity": 3, "combo": 7},
     {}),
]


@pytest.mark.parametrize(("call", "kind", "data", "extra"), CASES,
                         ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)])
async def test_lua_builder_output_is_the_documented_event(
        valkey_url: str, call: str, kind: str, data: Any, extra: dict[str, Any]) -> None:
    source = (LUA_DIR / "_lib.lua").read_text() + f"\nlocal kind, body = {call}\n" \
        "return {kind, body}\n"
    async with aioredis.Redis.from_url(valkey_url) as valkey:
        got_kind, body = await valkey.eval(  # type: ignore[misc]
            source, 0, orjson.dumps(CARD), orjson.dumps(SALE), orjson.dumps(ORDER),
            orjson.dumps(AUCTION), orjson.dumps(GIFT))
    assert got_kind.decode() == kind
    assert orjson.loads(body) == {"type": kind, **extra, "ts": 7, "data": data}
