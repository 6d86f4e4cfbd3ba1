"""The caller's shipping address: read it, replace it (a logged-in user; guests have none)."""

from __future__ import annotations

from live_server.commands.access import USER
from live_server.commands.command import Call, Command, Route
from live_server.commands.fields import ABSENT, Text
from live_server.domain.address import RULES
from live_server.errors import InvalidField
from live_server.protocol import Json

ME = "/api/me/address"


async def _get(call: Call) -> Json:
    return await call.services.addresses.get(call.who)


async def _put(call: Call) -> Json:
    return await call.services.addresses.put(call.who, call.args)


COMMANDS = (
    Command("get_address", "The caller's saved shipping address (null when none).", _get,
            USER, http=Route("GET", ME), reply="`{\"address\": {...} | null}`"),
    Command("put_address", "Save the caller's shipping address (replaces it whole).", _put,
            USER,
            tuple(Text(r.name, r.says, required=r.required,
                       default=ABSENT if r.required else "", min_len=r.min_len,
                       max_len=r.max_len, pattern=r.pattern) for r in RULES),
            (InvalidField,), http=Route("PUT", ME), reply="`{\"address\": {...}}`"),
)
