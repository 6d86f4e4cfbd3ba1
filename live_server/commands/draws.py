"""Lucky draws: the creator opens one; viewers present in the room enter over its socket; anyone
reads a draw, a room's draws and, once drawn, the entrant list that lets them check it."""

from __future__ import annotations

from live_server.commands.access import ANYONE, OPS, ROOM_CREATOR, USER
from live_server.commands.command import Call, Command, Route
from live_server.commands.fields import Choice, Integer, ProductId, Text
from live_server.domain.draws import CONDITIONS, KEYWORD_MAX, PRIZE_KINDS, TITLE_MAX
from live_server.errors import (
    AddressRequired,
    Banned,
    CouponEnded,
    CouponGone,
    CouponStopped,
    DrawClosed,
    Forbidden,
    InsufficientFunds,
    InsufficientStock,
    InvalidField,
    InvalidState,
    NotEligible,
    NotFound,
)
from live_server.protocol import Json

ROOM = "/api/rooms/{room_id}"
DRAW = "/api/draws/{draw_id}"
DRAW_ID = Text("draw_id", "a draw id (`d_...`)", max_len=40, trim=False)
DRAW_VIEW = ("the draw: `id`, `title`, `prize` (`kind` cash with `amount` per winner, "
             "coupon with `coupon_id`, or product with `product_id` and `variant_id`), "
             "`winners`, `condition`, `end_at`, `commitment` "
             "(sha256 of the secret seed), `state` (open, drawing, drawn), `entrants`, "
             "`result` (once drawn: `seed`, `entrants_hash`, `entrant_count`, `winners`, "
             "`winner_names`), with a token `entered` and `won`")


async def _create(call: Call) -> Json:
    return await call.services.draws.create(call.who, call.room_id, call.args)


async def _enter(call: Call) -> Json:
    return await call.services.draws.enter(call.who, call.room_id, call.args["draw_id"])


async def _list(call: Call) -> Json:
    return await call.services.draws.room_draws(call.who, call.room_id)


async def _view(call: Call) -> Json:
    return await call.services.draws.view(call.who, call.args["draw_id"])


async def _claim(call: Call) -> Json:
    return await call.services.draws.claim(call.who, call.args["draw_id"])


async def _active(call: Call) -> Json:
    return await call.services.draws.active(call.who)


async def _entrants(call: Call) -> Json:
    return await call.services.draws.entrants(call.args["draw_id"])


COMMANDS = (
    Command("create_draw", "Open a lucky draw in the creator's live room: one prize kind (cash "
            "per winner from the creator's wallet, a coupon of the room, or one unit of a shelf "
            "product at no charge) for N winners, "
            "entries open now and close after `duration_s`; only the seed's commitment is "
            "published until the draw.", _create, ROOM_CREATOR,
            (Text("title", "what the pages show", required=False, max_len=TITLE_MAX),
             Choice("prize_kind", "`cash`, `coupon` or `product`", choices=PRIZE_KINDS),
             Integer("amount", "cents each winner receives (cash)", required=False, lo=1,
                     hi=lambda s: s.draws.max_cash_cents),
             Text("coupon_id", "the room's coupon each winner receives (coupon)",
                  required=False, max_len=40, trim=False),
             ProductId("product_id", "a product on the room's shelf: each winner receives one "
                       "unit at no charge, taken from stock now (product)", required=False),
             Text("variant_id", "its variant (needed when it has several)", required=False,
                  max_len=40, trim=False),
             Integer("winners", "how many win", lo=1, hi=lambda s: s.draws.max_winners),
             Integer("duration_s", "seconds entries stay open",
                     lo=lambda s: max(1, s.draws.min_duration_ms // 1000),
                     hi=lambda s: s.draws.max_duration_ms // 1000),
             Choice("condition", "who may enter (always: present in the room)",
                    required=False, default="anyone", choices=CONDITIONS),
             Text("keyword", "the keyword condition's phrase, said in chat", required=False,
                  max_len=KEYWORD_MAX)),
            (NotFound, InvalidState, InvalidField, InsufficientFunds, CouponStopped,
             CouponEnded, CouponGone, InsufficientStock),
            http=Route("POST", ROOM + "/draws", 201),
            reply="`{\"draw\", \"seq\", \"balance\"}` (`balance`: the wallet after a cash "
                  "prize, else null)"),
    Command("draw_enter", "Enter a draw of this room with one tap (on the room socket: being "
            "connected is being present). Idempotent: a second entry changes nothing and "
            "answers `already: true`.", _enter, USER, (DRAW_ID,),
            (NotFound, DrawClosed, NotEligible, Banned, Forbidden),
            op="draw_enter",
            reply="`{\"draw_id\", \"entered\": true, \"already\", \"entrants\"}`"),
    Command("room_draws", "The room's latest draws, newest first.", _list, ANYONE,
            errors=(NotFound,), http=Route("GET", ROOM + "/draws"),
            reply="`{\"draws\": [...], \"server_time\"}`"),
    Command("draw", "One draw.", _view, ANYONE, (DRAW_ID,), (NotFound,),
            http=Route("GET", DRAW), reply=DRAW_VIEW),
    Command("draw_entrants", "A drawn draw's frozen entrant list (user ids, sorted) and its "
            "hash: with the revealed seed anyone can recompute the winners "
            "(`python -m live_server verify-draw`).", _entrants, ANYONE, (DRAW_ID,),
            (NotFound, InvalidState), http=Route("GET", DRAW + "/entrants"),
            reply="`{\"draw_id\", \"entrants\": [...], \"entrants_hash\"}`"),
    Command("claim_draw_prize", "A product prize's winner claims it before its deadline: their "
            "saved shipping address goes onto the prize's zero-price order, which is then paid "
            "(nothing is charged). Unclaimed, the order expires and the unit goes back.",
            _claim, USER, (DRAW_ID,), (NotFound, AddressRequired, InvalidState),
            http=Route("POST", DRAW + "/claim"), reply="`{\"draw_id\", \"order\"}`"),
    Command("ops_draws", "Every draw still to be drawn, on the whole platform, ending soonest "
            "first.", _active, OPS, http=Route("GET", "/api/ops/draws"),
            reply="`{\"draws\": [...], \"server_time\"}`"),
)
