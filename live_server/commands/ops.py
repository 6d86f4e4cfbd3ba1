"""The ops console: live rooms with their figures, chat reports and handling them, the
moderation log. Ops only, checked from the token before the query or body is read."""

from __future__ import annotations

from live_server.commands.access import OPS
from live_server.commands.command import Call, Command, Route
from live_server.commands.fields import Choice, Integer, SafeId, Text
from live_server.errors import InvalidState, NotFound
from live_server.protocol import Json
from live_server.services.ops import REPORT_OUTCOMES, REPORT_STATES


def _limit(default: int) -> Integer:
    return Integer("limit", "how many, newest first", required=False, default=default, lo=1,
                   hi=1000)


async def _rooms(call: Call) -> Json:
    return await call.services.ops.live_rooms(call.who, call.args["limit"])


async def _reports(call: Call) -> Json:
    a = call.args
    return {"reports": await call.services.ops.reports(call.who, a["limit"], a["state"])}


async def _handle_report(call: Call) -> Json:
    a = call.args
    return await call.services.ops.handle_report(call.who, a["report_id"], a["outcome"],
                                                 a["note"])


async def _moderation(call: Call) -> Json:
    a = call.args
    return {"actions": await call.services.ops.moderation(call.who, a["limit"],
                                                          a.get("room") or None)}


COMMANDS = (
    Command("ops_rooms", "Live rooms, busiest first: counters, processes, chat per minute, "
            "GMV and paid orders, video.",
            _rooms, OPS, http=Route("GET", "/api/ops/rooms"), fields=(_limit(200),),
            reply="`{\"rooms\", \"processes\"}`"),
    Command("ops_reports", "Chat reports, newest first, each with its state and room title.",
            _reports, OPS, http=Route("GET", "/api/ops/reports"),
            fields=(_limit(100),
                    Choice("state", "only the open or the handled ones", required=False,
                           default="all", choices=REPORT_STATES)),
            reply="`{\"reports\": [{\"id\", \"state\", \"room_title\", ...}]}`"),
    Command("ops_handle_report", "Mark a report resolved or dismissed (recorded in the "
            "moderation log); the first decision stands.", _handle_report, OPS,
            (SafeId("report_id", "the report"),
             Choice("outcome", "resolved: acted on; dismissed: nothing wrong",
                    choices=REPORT_OUTCOMES),
             Text("note", "kept with the report and in the moderation log", required=False,
                  default="", max_len=200)),
            (NotFound, InvalidState),
            http=Route("POST", "/api/ops/reports/{report_id}/resolve"),
            reply="the report with its `state`, `handled_by`, `handled_at`, `note`"),
    Command("ops_moderation", "The moderation log, newest first.", _moderation, OPS,
            http=Route("GET", "/api/ops/moderation"),
            fields=(_limit(100), Text("room", "only this room", required=False, max_len=64)),
            reply="`{\"actions\"}`"),
)
