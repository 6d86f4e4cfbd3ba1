"""A room's coupons: the creator creates, lists, stops and pins them; viewers list and claim
them and read the copies they hold. (Using a copy is a field of ``buy`` and ``quote``.)"""

from __future__ import annotations

from live_server.commands.access import ANYONE, ROOM_CREATOR, USER
from live_server.commands.command import Call, Command, Route
from live_server.commands.fields import Choice, Integer, ListOf, ProductId, Text
from live_server.domain.coupons import (
    KINDS,
    PER_USER_MAX,
    PERCENT_BP_MAX,
    PRODUCTS_MAX,
    QUOTA_MAX,
    TITLE_MAX,
)
from live_server.domain.rooms import MAX_TIME_MS
from live_server.errors import (
    Banned,
    CouponEnded,
    CouponGone,
    CouponLimit,
    CouponNotStarted,
    CouponStopped,
    GuestsNotAllowed,
    InvalidState,
    NotFound,
)
from live_server.protocol import Json

ROOM = "/api/rooms/{room_id}"
COUPON_ID = Text("coupon_id", "a coupon id (`c_...`)", max_len=40, trim=False)


def _cents(name: str, doc: str, lo: int = 1, required: bool = False) -> Integer:
    return Integer(name, doc, required=required, lo=lo, hi=lambda s: s.shelf.max_price_cents)


async def _create(call: Call) -> Json:
    return await call.services.coupons.create(call.who, call.room_id, call.args)


async def _list(call: Call) -> Json:
    return await call.services.coupons.room_coupons(call.who, call.room_id)


async def _stop(call: Call) -> Json:
    return await call.services.coupons.stop(call.who, call.room_id, call.args["coupon_id"])


async def _pin(call: Call) -> Json:
    return await call.services.coupons.pin(call.who, call.room_id, call.args["coupon_id"])


async def _claim(call: Call) -> Json:
    return await call.services.coupons.claim(call.who, call.room_id, call.args["coupon_id"])


async def _mine(call: Call) -> Json:
    return await call.services.coupons.mine(call.who, call.room_id)


COMMANDS = (
    Command("create_coupon", "A coupon of the room: amount or percentage off, minimum spend, "
            "products, quota, per-user cap, window.", _create, ROOM_CREATOR,
            (Text("title", min_len=1, max_len=TITLE_MAX),
             Choice("kind", "`amount` off or `percent` off (capped by `max_off`)",
                    choices=KINDS),
             _cents("amount_off", "cents off (kind amount)"),
             Integer("percent_bp", "basis points off (kind percent)", required=False, lo=1,
                     hi=PERCENT_BP_MAX),
             _cents("max_off", "cents: the most a percentage takes off (kind percent)"),
             _cents("min_spend", "cents the subtotal must reach; kind amount: more than "
                    "`amount_off`", lo=0),
             ListOf("product_ids", "the products it is valid for; empty: the whole shelf",
                    required=False, item=ProductId("product_id"), max_items=PRODUCTS_MAX),
             Integer("quota", "copies in all", lo=1, hi=QUOTA_MAX),
             Integer("per_user", "copies one user may claim", required=False, default=1,
                     lo=1, hi=PER_USER_MAX),
             Integer("start_at", "ms; absent: now; at most 30 days ahead", required=False,
                     lo=0, hi=MAX_TIME_MS),
             Integer("end_at", "ms, after start_at (at most 30 days) and in the future", lo=0,
                     hi=MAX_TIME_MS)),
            (NotFound, InvalidState), http=Route("POST", ROOM + "/coupons", 201),
            reply="the coupon with its counts and `left`"),
    Command("room_coupons", "The room's coupons still to claim or use, with `left`; its "
            "creator (or ops) gets every coupon with `claimed` and `used`.", _list, ANYONE,
            errors=(NotFound, GuestsNotAllowed), http=Route("GET", ROOM + "/coupons"),
            reply="`{\"coupons\": [...], \"server_time\"}`"),
    Command("stop_coupon", "Stop a coupon: no new claims (claimed copies stay usable until "
            "`end_at`); a pinned coupon is unpinned.", _stop, ROOM_CREATOR, (COUPON_ID,),
            (NotFound,), http=Route("POST", ROOM + "/coupons/{coupon_id}/stop"),
            reply="the coupon, `state: stopped`"),
    Command("pin_coupon", "Pin a coupon in the room (the claim banner), or null to clear.",
            _pin, ROOM_CREATOR,
            (Text("coupon_id", "an active coupon of the room, or null to clear", max_len=40,
                  trim=False, nullable=True),),
            (NotFound, InvalidState, CouponStopped, CouponEnded), op="pin_coupon",
            http=Route("PUT", ROOM + "/coupon_pin"),
            reply="`{\"seq\", \"coupon\"}`: the `coupon_pinned` event's seq and card"),
    Command("claim_coupon", "Claim one copy of a coupon of this room.", _claim, USER,
            (COUPON_ID,),
            (NotFound, InvalidState, Banned, CouponStopped, CouponNotStarted, CouponEnded,
             CouponLimit, CouponGone),
            op="claim_coupon", http=Route("POST", ROOM + "/coupons/{coupon_id}/claim"),
            reply="`{\"coupon\", \"mine\": {\"claimed\", \"used\"}}`"),
    Command("my_coupons", "The coupons the caller claimed in this room, with the copies "
            "claimed and used.", _mine, USER, errors=(NotFound,),
            http=Route("GET", ROOM + "/my_coupons"),
            reply="`{\"coupons\": [card + `mine`], \"server_time\"}`"),
)
