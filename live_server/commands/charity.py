"""Charity shows: beneficiaries (ops), a room's terms (its creator), the public receipt and
its entries, the ops view."""

from __future__ import annotations

from live_server.commands.access import ANYONE, MODERATOR, OPS, ROOM_CREATOR
from live_server.commands.command import Call, Command, Route
from live_server.commands.fields import Choice, Integer, ListOf, Text
from live_server.domain.charity import BENEFICIARY_ID, SOURCES
from live_server.errors import CharityLocked, InvalidField, InvalidState, NotFound
from live_server.protocol import Json

CHARITY = "/api/rooms/{room_id}/charity"
RECEIPT = ("`{\"room_id\", \"title\", \"state\", \"charity\"}`, and for a charity show "
           "`\"beneficiary\", \"terms\": {\"beneficiary_id\", \"bp\", \"sources\", \"percent\", "
           "\"locked\"}, \"totals\": {source: {\"amount\", \"entries\"}}, "
           "\"reversed_orders\", \"entries\", \"total\", \"currency\", \"statement\", "
           "\"entries_url\"`")


async def _add_beneficiary(call: Call) -> Json:
    a = call.args
    return await call.services.charity.add_beneficiary(call.who, a["name"],
                                                       a["description"], a["url"])


async def _beneficiaries(call: Call) -> Json:
    return await call.services.charity.beneficiaries()


async def _set_terms(call: Call) -> Json:
    a = call.args
    return await call.services.charity.set_terms(call.who, call.room_id, a["beneficiary_id"],
                                                 a["bp"], a["sources"])


async def _clear_terms(call: Call) -> Json:
    return await call.services.charity.clear_terms(call.who, call.room_id)


async def _receipt(call: Call) -> Json:
    return await call.services.charity.receipt(call.room_id)


async def _entries(call: Call) -> Json:
    return await call.services.charity.entries(call.room_id)


async def _terms(call: Call) -> Json:
    return await call.services.charity.room_terms(call.who, call.room_id)


async def _ops(call: Call) -> Json:
    return await call.services.charity.ops_view(call.who)


COMMANDS = (
    Command("charity_beneficiary_add", "Register a charity beneficiary (a payee creators may "
            "choose; they cannot name their own).", _add_beneficiary, OPS,
            (Text("name", "1-80 characters", max_len=80, min_len=1),
             Text("description", "at most 280 characters", max_len=280, required=False,
                  default=""),
             Text("url", "an http(s) address, or empty", max_len=300, required=False,
                  default="")),
            (InvalidField,), http=Route("POST", "/api/charity/beneficiaries", status=201),
            reply="`{\"beneficiary\": {\"id\", \"name\", \"description\", \"url\", "
                  "\"created_at\"}}`"),
    Command("charity_beneficiaries", "The registered beneficiaries.", _beneficiaries, ANYONE,
            http=Route("GET", "/api/charity/beneficiaries"),
            reply="`{\"beneficiaries\": [...]}`"),
    Command("charity_set", "Make the room a charity show, or change its terms while nothing "
            "was earmarked: a beneficiary, a share in basis points, the proceeds it covers.",
            _set_terms, ROOM_CREATOR,
            (Text("beneficiary_id", "a registered beneficiary's id", max_len=14, trim=False,
                  pattern=BENEFICIARY_ID.pattern),
             Integer("bp", "the share of the proceeds, in basis points", lo=1, hi=10_000),
             ListOf("sources", "the proceeds covered: " + ", ".join(SOURCES),
                    item=Choice("source", choices=SOURCES), max_items=len(SOURCES))),
            (NotFound, InvalidField, InvalidState, CharityLocked),
            http=Route("PUT", CHARITY), reply=RECEIPT),
    Command("charity_clear", "No longer a charity show (only while nothing was earmarked).",
            _clear_terms, ROOM_CREATOR, errors=(NotFound, InvalidState, CharityLocked),
            http=Route("DELETE", CHARITY), reply=RECEIPT),
    Command("charity_receipt", "A show's public charity receipt: the beneficiary, the terms, "
            "the totals per source, the entries' count, the total, how to check it.",
            _receipt, ANYONE, errors=(NotFound,), http=Route("GET", CHARITY), reply=RECEIPT),
    Command("charity_entries", "Every earmark of a show, oldest first (ids, amounts, the "
            "source movement's amount, times; no buyer or sender).", _entries, ANYONE,
            errors=(NotFound,), http=Route("GET", CHARITY + "/entries"),
            reply="`{\"room_id\", \"entries\": [{\"id\", \"source\", \"ref\", \"amount\", "
                  "\"base\", \"ts\", \"ledger_id\"}], \"currency\"}`"),
    Command("charity_terms", "The studio's charity panel: the receipt and the beneficiaries "
            "to choose from.", _terms, MODERATOR, errors=(NotFound,),
            http=Route("GET", CHARITY + "/terms"), reply="the receipt and `beneficiaries`"),
    Command("charity_ops", "Ops: every beneficiary with what it was given, every charity "
            "show with its totals.", _ops, OPS, http=Route("GET", "/api/ops/charity"),
            reply="`{\"beneficiaries\", \"shows\", \"currency\"}`"),
)
