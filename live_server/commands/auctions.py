"""Live auctions: the creator opens one (a shelf variant, start price, increments, duration,
end rule) and cancels it before the first bid; viewers read the room's auction and bid over the
room socket or HTTP; ops list the auctions running now."""

from __future__ import annotations

from live_server.commands.access import ANYONE, MODERATOR, OPS, ROOM_CREATOR, USER
from live_server.commands.command import Call, Command, Route
from live_server.commands.fields import Choice, Integer, ProductId, SafeId, Text
from live_server.commands.shelf import VARIANT_ID_FIELD, JsonList
from live_server.domain.auctions import MAX_STEPS, MODES
from live_server.errors import (
    AlreadyLeading,
    AuctionClosed,
    AuctionExists,
    AuctionHasBids,
    BidTooLow,
    GuestsNotAllowed,
    InvalidField,
    InvalidState,
    NotFound,
    SoldOut,
    TakenDown,
)
from live_server.protocol import Json

ROOM = "/api/rooms/{room_id}"
AUCTION_ID = Text("auction_id", "an auction id (`a_...`)", max_len=40, trim=False,
                  pattern="a_[0-9a-f]{1,36}")
HOUR_MS = 3_600_000


def _cents(name: str, doc: str, required: bool = True) -> Integer:
    return Integer(name, doc, required=required, lo=1, hi=lambda s: s.shelf.max_price_cents)


async def _create(call: Call) -> Json:
    return await call.services.auctions.create(call.who, call.room_id, call.args)


async def _cancel(call: Call) -> Json:
    return await call.services.auctions.cancel(call.who, call.room_id, call.args["auction_id"])


async def _view(call: Call) -> Json:
    return await call.services.auctions.view(call.who, call.room_id)


async def _bid(call: Call) -> Json:
    return await call.services.auctions.bid(call.who, call.room_id, call.args)


async def _room(call: Call) -> Json:
    return {"auctions": await call.services.auctions.of_room(call.who, call.room_id)}


async def _live(call: Call) -> Json:
    return {"auctions": await call.services.auctions.live(call.who)}


INCREMENTS = JsonList(
    "increments", "the increment table, lowest prices first: below `below` cents a bid beats "
    "the price by `step`; the last row has no `below` (absent: the configured default)",
    required=False, max_items=MAX_STEPS, items={
        "type": "object", "additionalProperties": False, "required": ["step"],
        "properties": {"below": {"type": "integer", "minimum": 1},
                       "step": {"type": "integer", "minimum": 1}}})

COMMANDS = (
    Command("auction_create", "Open a live auction of one variant of a shelf product (one "
            "unit, held from the room's stock). One open auction per room.", _create,
            ROOM_CREATOR,
            (ProductId("product_id", "a shelf product"), VARIANT_ID_FIELD,
             _cents("start_price", "cents: the first bid's minimum"), INCREMENTS,
             Integer("duration_ms", "how long it runs before any extension", lo=1,
                     hi=lambda s: s.auctions.max_duration_ms),
             Choice("mode", "`anti_snipe`: a bid in the last `snipe_ms` moves the end to now "
                    "+ `snipe_ms`; `sudden_death`: the end never moves", required=False,
                    default="anti_snipe", choices=MODES),
             Integer("snipe_ms", "the anti-snipe window (absent: `auctions.snipe_ms`)",
                     required=False, lo=1000, hi=HOUR_MS)),
            (NotFound, InvalidField, InvalidState, TakenDown, SoldOut, AuctionExists),
            http=Route("POST", ROOM + "/auctions", 201),
            reply="the auction (`auction_started` goes to the room)"),
    Command("auction_cancel", "Cancel the room's open auction before its first bid.", _cancel,
            ROOM_CREATOR, (AUCTION_ID,), (NotFound, AuctionClosed, AuctionHasBids),
            http=Route("DELETE", ROOM + "/auctions/{auction_id}"),
            reply="the auction, `state: cancelled`"),
    Command("auction", "The room's latest auction (null: none), the next valid amount, the "
            "server time and the caller's own standing.", _view, ANYONE,
            errors=(NotFound, GuestsNotAllowed), op="auction",
            http=Route("GET", ROOM + "/auction"),
            reply="`{\"auction\", \"next_min\", \"server_time\", \"you\"}`"),
    Command("auction_bid", "Bid on the room's open auction: `amount` at least `next_min`; "
            "`max_amount` lets the server bid for you up to it (proxy). A leader may only "
            "raise their maximum. The same idempotency key answers the same reply.", _bid,
            USER,
            (AUCTION_ID, _cents("amount", "cents"),
             _cents("max_amount", "cents: your proxy maximum, at least `amount`",
                    required=False),
             SafeId("idempotency_key", "one per bid; retry with the same")),
            (NotFound, InvalidField, AuctionClosed, BidTooLow, AlreadyLeading),
            op="auction_bid", http=Route("POST", ROOM + "/auctions/{auction_id}/bids"),
            reply="`{\"auction_id\", \"price\", \"leading\", \"your_max\", \"end_at\", "
                  "\"next_min\", \"bids\", \"raised\", \"seq\"}`"),
    Command("auction_list", "Every auction of the room, oldest first (its creator, ops).",
            _room, MODERATOR, errors=(NotFound,), http=Route("GET", ROOM + "/auctions"),
            reply="`{\"auctions\": [...]}`"),
    Command("ops_auctions", "Auctions running or awaiting settlement, ending soonest first.",
            _live, OPS, http=Route("GET", "/api/ops/auctions"),
            reply="`{\"auctions\": [...]}`"),
)
