"""Wallets, red packets and fans: the wallet and its development top-up, launching, listing,
reading and grabbing red packets, following a creator and joining their fan club."""

from __future__ import annotations

from live_server.commands.access import ANYONE, ROOM_CREATOR, USER
from live_server.commands.command import Call, Command, Route
from live_server.commands.fields import Choice, Integer, SafeId, Text
from live_server.domain.redpacket import CONDITIONS, KEYWORD_MAX, SPLITS
from live_server.errors import (
    AlreadyGrabbed,
    AlreadyMember,
    Expired,
    InsufficientFunds,
    InvalidField,
    InvalidState,
    NoneLeft,
    NotEligible,
    NotFound,
    NotOpen,
)
from live_server.protocol import Json

PACKET = "/api/red-packets/{packet_id}"
PACKET_ID = Text("packet_id", "a red packet id", max_len=40, trim=False)
CREATOR_ID = SafeId("creator_id", "the creator's user id")
CREATOR = "/api/creators/{creator_id}"
FANS_CARD = "the fans card"


async def _wallet(call: Call) -> Json:
    return await call.services.wallets.wallet(call.who)


async def _topup(call: Call) -> Json:
    return await call.services.wallets.topup(call.who, call.args["amount"])


async def _launch(call: Call) -> Json:
    return await call.services.red_packets.launch(call.who, call.room_id, call.args)


async def _room_packets(call: Call) -> Json:
    return {"packets": await call.services.red_packets.room_packets(call.room_id)}


async def _packet(call: Call) -> Json:
    return await call.services.red_packets.view(call.who, call.args["packet_id"])


async def _grab(call: Call) -> Json:
    # on the room socket the packet must be the room's; over HTTP any packet
    return await call.services.red_packets.grab(call.who, call.args["packet_id"],
                                                call.room_id or None)


async def _fans(call: Call) -> Json:
    return await call.services.fans.fans(call.who, call.args["creator_id"])


async def _follow(call: Call) -> Json:
    return await call.services.fans.follow(call.who, call.args["creator_id"], True)


async def _unfollow(call: Call) -> Json:
    return await call.services.fans.follow(call.who, call.args["creator_id"], False)


async def _join_club(call: Call) -> Json:
    return await call.services.fans.join_club(call.who, call.args["creator_id"])


COMMANDS = (
    Command("wallet", "The caller's balance and latest ledger entries.", _wallet, USER,
            http=Route("GET", "/api/me/wallet"),
            reply="`{\"user\", \"balance\", \"currency\", \"entries\", \"dev_topup\"}`"),
    Command("topup", "Development top-up (only when money.dev_topup is on; never in "
            "production).", _topup, USER,
            (Integer("amount", "cents", lo=1, hi=lambda s: s.money.max_topup_cents),),
            http=Route("POST", "/api/dev/wallet/topup"), reply="`{\"user\", \"balance\"}`"),
    Command("launch_red_packet", "Launch a red packet in the creator's room, paid from their "
            "wallet.", _launch, ROOM_CREATOR,
            (Integer("total", "cents", lo=1, hi=lambda s: s.money.max_packet_cents),
             Integer("shares", "at most total", lo=1, hi=lambda s: s.money.max_shares),
             Choice("split", required=False, default="random", choices=SPLITS),
             Integer("countdown_s", "seconds before it opens", required=False, default=0,
                     lo=0, hi=lambda s: s.money.max_countdown_ms // 1000),
             Integer("duration_s", "seconds it can be grabbed once open (default: a day, "
                     "or the longest allowed)", required=False, lo=1,
                     hi=lambda s: s.money.max_duration_ms // 1000),
             Choice("condition", "who may grab", required=False, default="anyone",
                    choices=CONDITIONS),
             Text("keyword", "the keyword condition's phrase", required=False,
                  max_len=KEYWORD_MAX),
             SafeId("idempotency_key", "one per launch; a retry with the same key answers the "
                    "packet it launched, debited once", required=False)),
            (NotFound, InvalidState, InsufficientFunds),
            http=Route("POST", "/api/rooms/{room_id}/red-packets", created="created"),
            reply="`{\"packet\", \"balance\", \"seq\", \"created\"}` (`seq` null and "
                  "`created` false for a repeated key)"),
    Command("room_red_packets", "The room's latest red packets, newest first.", _room_packets,
            ANYONE, errors=(NotFound,), http=Route("GET", "/api/rooms/{room_id}/red-packets"),
            reply="`{\"packets\": [...]}`"),
    Command("red_packet", "One red packet with its record (and `mine` with a token).",
            _packet, ANYONE, (PACKET_ID,), (NotFound,), http=Route("GET", PACKET),
            reply="the packet"),
    Command("grab", "Grab a share of a red packet (on the socket: one of this room's).", _grab,
            USER, (PACKET_ID,),
            (NotFound, NotOpen, Expired, NotEligible, AlreadyGrabbed, NoneLeft), op="grab",
            http=Route("POST", PACKET + "/grab"),
            reply="`{\"packet_id\", \"amount\", \"shares_left\"}`"),
    Command("fans", "A creator's fans card (this user's part with a token).", _fans, ANYONE,
            (CREATOR_ID,), http=Route("GET", CREATOR + "/fans"), reply=FANS_CARD),
    Command("follow", "Follow a creator (idempotent).", _follow, USER, (CREATOR_ID,),
            (InvalidField,), http=Route("POST", CREATOR + "/follow"), reply=FANS_CARD),
    Command("unfollow", "Stop following a creator (idempotent).", _unfollow, USER,
            (CREATOR_ID,), (InvalidField,), http=Route("DELETE", CREATOR + "/follow"),
            reply=FANS_CARD),
    Command("join_fan_club", "Join a creator's fan club: the fee moves from the member's "
            "wallet to the creator's.", _join_club, USER, (CREATOR_ID,),
            (InvalidField, InsufficientFunds, AlreadyMember),
            http=Route("POST", CREATOR + "/fan-club"), reply=FANS_CARD + " + `\"balance\"`"),
)
