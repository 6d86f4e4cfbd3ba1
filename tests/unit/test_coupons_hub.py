"""The hub keeps only the newest copies-left event (`coupon`) per coupon and sends it with the
next tick, over a real socket (a socket pair), parsed by an independent websocket frame parser;
a coupon's events never hide another coupon's, nor a product's stock."""

from __future__ import annotations

import asyncio

import orjson

from tests.unit.test_hub_latest import _frames, joined_hub


def event(kind: str, data: dict[str, object]) -> bytes:
    # as coupon_claim.lua / buy.lua publish them (ev_coupon, ev_stock in _lib.lua)
    return orjson.dumps({"type": kind, "ts": 1, "data": data})


async def test_coupon_events_coalesce_to_the_latest_per_coupon_per_tick() -> None:
    hub, transport, theirs = await joined_hub()
    for left in range(50, 0, -1):
        hub.deliver("r1", event("coupon", {"coupon_id": "c_a", "left": left}))
    hub.deliver("r1", event("coupon", {"coupon_id": "c_b", "left": 9}))
    hub.deliver("r1", event("stock", {"product_id": "p_a", "left": 4}))
    hub.tick()
    hub.tick()  # nothing new: nothing sent
    hub.deliver("r1", event("coupon", {"coupon_id": "c_b", "left": 8}))
    hub.tick()
    await asyncio.sleep(0.05)
    theirs.setblocking(False)
    frames = _frames(theirs.recv(1 << 20))
    assert [[(e["type"], e["data"]) for e in f["events"]] for f in frames] == [  # type: ignore[index]
        [("coupon", {"coupon_id": "c_a", "left": 1}), ("coupon", {"coupon_id": "c_b", "left": 9}),
         ("stock", {"product_id": "p_a", "left": 4})],
        [("coupon", {"coupon_id": "c_b", "left": 8})]]
    transport.close()
    theirs.close()
