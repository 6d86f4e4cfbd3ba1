"""Gifts and wallet top-ups: the catalogue, sending gifts in a room, a room's gift figures,
and top-ups through the payment provider."""

from __future__ import annotations

from live_server.commands.access import ANYONE, MODERATOR, USER
from live_server.commands.command import Call, Command, Route
from live_server.commands.fields import Choice, Integer, SafeId, Text
from live_server.domain.gifts import TOPUP_ID
from live_server.errors import (
    BadRequest,
    InsufficientFunds,
    InvalidField,
    InvalidState,
    NotFound,
    PaymentDeclined,
)
from live_server.protocol import Json

TOPUP = "/api/me/topups/{topup_id}"
TOPUP_ID_FIELD = Text("topup_id", "`tu_<hex>`", max_len=23, trim=False,
                      pattern=TOPUP_ID.pattern)


async def _catalogue(call: Call) -> Json:
    return call.services.gifts.catalogue()


async def _send(call: Call) -> Json:
    a = call.args
    return await call.services.gifts.send(call.who, call.room_id, a["gift_id"], a["quantity"],
                                          a.get("idempotency_key", ""))


async def _room_gifts(call: Call) -> Json:
    return await call.services.gifts.room_figures(call.who, call.room_id)


async def _topup_start(call: Call) -> Json:
    return await call.services.topups.start(call.who, call.args["amount"])


async def _topup_pay(call: Call) -> Json:
    return await call.services.topups.pay(call.who, call.args["topup_id"],
                                          call.args["outcome"])


async def _topup(call: Call) -> Json:
    return await call.services.topups.get(call.who, call.args["topup_id"])


async def _topups(call: Call) -> Json:
    return await call.services.topups.mine(call.who, call.args["limit"])


COMMANDS = (
    Command("gift_catalogue", "The gifts with their prices, and the wallet's top-up packs.",
            _catalogue, ANYONE, op="gift_catalogue", http=Route("GET", "/api/gifts"),
            reply="`{\"gifts\": [{\"id\", \"name\", \"price\", \"icon\"}], \"currency\", "
                  "\"max_quantity\", \"combo_window_ms\", \"topup\": {\"packs\", \"min\", "
                  "\"max\", \"provider\"}}`"),
    Command("send_gift", "Send gifts in a live room, paid from the wallet: the creator's "
            "share to the creator, the rest to the platform; the room sees a `gift` event.",
            _send, USER,
            (Text("gift_id", "a catalogue gift's id", min_len=1, max_len=32, trim=False),
             Integer("quantity", "gifts of this kind", required=False, default=1, lo=1,
                     hi=lambda s: s.gifts.max_quantity),
             SafeId("idempotency_key", "one per send; a retry with the same key (on any "
                    "process) answers the first answer and charges nothing",
                    required=False)),
            (NotFound, InvalidField, InvalidState, InsufficientFunds), op="send_gift",
            http=Route("POST", "/api/rooms/{room_id}/gifts"),
            reply="`{\"send_id\", \"gift_id\", \"quantity\", \"amount\", \"combo\", "
                  "\"balance\", \"repeated\", \"currency\", \"shown\"}` (`repeated`: the key "
                  "was used before, this is its first answer; `shown`: false when the gift was "
                  "not on the room's stage, so the room did not hear it)"),
    Command("room_gifts", "A room's gifts so far: units, sends, spent, the creator's and the "
            "platform's shares, units per gift.", _room_gifts, MODERATOR, errors=(NotFound,),
            http=Route("GET", "/api/rooms/{room_id}/gifts"),
            reply="`{\"room_id\", \"gifts\", \"sends\", \"spent\", \"creator\", \"platform\", "
                  "\"by_gift\", \"currency\"}`"),
    Command("wallet_topup_start", "Start a wallet top-up with the payment provider (a pack, or "
            "a free amount within bounds).", _topup_start, USER,
            (Integer("amount", "cents: a pack or between gifts.topup_min_cents and "
                     "gifts.topup_max_cents", lo=1, hi=lambda s: max(
                         s.gifts.topup_max_cents, *s.gifts.topup_packs)),),
            (InvalidField,), http=Route("POST", "/api/me/topups", status=201),
            reply="`{\"topup\", \"currency\", \"confirm\"}` (`confirm`: `page` for the "
                  "development provider, `gateway` when the signed webhook confirms)"),
    Command("wallet_topup_pay", "Confirm a top-up with the development provider (the webhook "
            "provider confirms through the payment webhook).", _topup_pay, USER,
            (TOPUP_ID_FIELD, Choice("outcome", "what the development provider answers",
                                    choices=("confirm", "decline"))),
            (NotFound, BadRequest, InvalidState, PaymentDeclined),
            http=Route("POST", TOPUP + "/pay"), reply="`{\"topup\", \"balance\"}`"),
    Command("wallet_topup", "One of the caller's top-ups.", _topup, USER, (TOPUP_ID_FIELD,),
            (NotFound,), http=Route("GET", TOPUP), reply="the top-up"),
    Command("wallet_topups", "The caller's latest top-ups, newest first.", _topups, USER,
            (Integer("limit", required=False, default=20, lo=1, hi=50),),
            http=Route("GET", "/api/me/topups"), reply="`{\"topups\", \"currency\"}`"),
)
