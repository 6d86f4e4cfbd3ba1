"""The coupon builders in ``store/lua/_lib.lua``, run on a real Valkey: ``coupon_json`` gives
each view the documented fields (an empty ``product_ids`` stays a list, times stay whole
numbers, text is kept as it was), and ``ev_coupon_pinned`` / ``ev_coupon`` are the documented
events."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from live_server.store.scripts import LUA_DIR

COUPON = {"id": "c_1", "room_id": "r_1", "title": "满50减5 \"quoted\" / <b>", "kind": "amount",
          "amount_off": 500, "percent_bp": 0, "max_off": 0, "min_spend": 5000,
          "product_ids": [], "quota": 100, "per_user": 2, "start_at": 1_800_000_000_000,
          "end_at": 1_800_086_400_000, "created_at": 1_799_999_999_999, "claimed": 7,
          "used": 3, "state": "active"}
PUBLIC = {k: v for k, v in COUPON.items() if k != "used"}


async def run(valkey_url: str, call: str, *args: Any) -> Any:
    source = (LUA_DIR / "_lib.lua").read_text() + f"\nreturn {{{call}}}\n"
    async with aioredis.Redis.from_url(valkey_url) as valkey:
        return await valkey.eval(source, 0, *args)  # type: ignore[misc]


@pytest.mark.parametrize(("view", "expected"), [
    ("store", COUPON),
    ("full", {**COUPON, "left": 93}),
    ("public", {**PUBLIC, "left": 93}),
])
async def test_coupon_json_views(valkey_url: str, view: str, expected: dict[str, Any]) -> None:
    for coupon, want in ((COUPON, expected),
                         ({**COUPON, "product_ids": ["p_a", "p_b"]},
                          {**expected, "product_ids": ["p_a", "p_b"]})):
        (body,) = await run(valkey_url, f"coupon_json(cjson.decode(ARGV[1]), '{view}')",
                            orjson.dumps(coupon))
        assert orjson.loads(body) == want
        assert b'"product_ids":[' in body


async def test_left_never_goes_below_zero(valkey_url: str) -> None:
    (body,) = await run(valkey_url, "coupon_json(cjson.decode(ARGV[1]), 'full')",
                        orjson.dumps({**COUPON, "claimed": 120}))
    assert orjson.loads(body)["left"] == 0


async def test_coupon_events(valkey_url: str) -> None:
    kind, body = await run(valkey_url, "ev_coupon_pinned('7', ARGV[1], '\"alice\"')",
                           orjson.dumps(PUBLIC))
    assert kind == b"coupon_pinned"
    assert orjson.loads(body) == {"type": "coupon_pinned", "ts": 7,
                                  "data": {"coupon": PUBLIC, "by": "alice"}}
    kind, body = await run(valkey_url, "ev_coupon_pinned('7', 'null', '\"alice\"')")
    assert orjson.loads(body)["data"] == {"coupon": None, "by": "alice"}
    kind, body = await run(valkey_url, "ev_coupon('7', 'c_1', 41)")
    assert kind == b"coupon"
    assert orjson.loads(body) == {"type": "coupon", "ts": 7,
                                  "data": {"coupon_id": "c_1", "left": 41}}
