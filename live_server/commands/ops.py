"""The ops console's listings: live rooms with their figures, chat reports, the moderation log.
Ops only, checked from the token before the query is read."""

from __future__ import annotations

from live_server.commands.access import OPS
from live_server.commands.command import Call, Command, Route
from live_server.commands.fields import Integer, Text
from live_server.protocol import Json


def _limit(default: int) -> Integer:
    return Integer("limit", "how many, newest first", required=False, default=default, lo=1,
                   hi=1000)


async def _rooms(call: Call) -> Json:
    return await call.services.ops.live_rooms(call.who, call.args["limit"])


async def _reports(call: Call) -> Json:
    return {"reports": await call.services.ops.reports(call.who, call.args["limit"])}


async def _moderation(call: Call) -> Json:
    a = call.args
    return {"actions": await call.services.ops.moderation(call.who, a["limit"],
                                                          a.get("room") or None)}


COMMANDS = (
    Command("ops_rooms", "Live rooms with counters, processes, chat per minute and video.",
            _rooms, OPS, http=Route("GET", "/api/ops/rooms"), fields=(_limit(200),),
            reply="`{\"rooms\", \"processes\"}`"),
    Command("ops_reports", "Chat reports, newest first.", _reports, OPS,
            http=Route("GET", "/api/ops/reports"), fields=(_limit(100),),
            reply="`{\"reports\"}`"),
    Command("ops_moderation", "The moderation log, newest first.", _moderation, OPS,
            http=Route("GET", "/api/ops/moderation"),
            fields=(_limit(100), Text("room", "only this room", required=False, max_len=64)),
            reply="`{\"actions\"}`"),
)
