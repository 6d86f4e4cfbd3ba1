"""The ops console: live rooms with their figures, chat reports and handling them, the
moderation log. Ops only, checked from the token before the query or body is read."""

from __future__ import annotations

from live_server.commands.access import OPS
from live_server.commands.command import Call, Command, Route
from live_server.commands.fields import Choice, Integer, SafeId, Text
from live_server.domain.suspensions import DURATIONS, REASON_MAX
from live_server.errors import AlreadyUndone, InvalidField, InvalidState, NotFound
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


async def _suspend(call: Call) -> Json:
    a = call.args
    return await call.services.suspensions.suspend(call.who, a["user_id"], a["reason"],
                                                   a["duration"])


async def _unsuspend(call: Call) -> Json:
    a = call.args
    return await call.services.suspensions.lift(call.who, a["user_id"], a["reason"])


async def _suspensions(call: Call) -> Json:
    return {"suspensions": await call.services.suspensions.active(call.who)}


async def _undo(call: Call) -> Json:
    return await call.services.moderation_undo.undo(call.who, call.args["entry_id"])


async def _alerts(call: Call) -> Json:
    return await call.services.alerts.current(call.who)


COMMANDS = (
    Command("ops_rooms", "Live rooms, busiest first: counters, processes, chat per minute, "
            "GMV and paid orders, open reports, video, and the last 30 minutes' load "
            "(`series`: online, chat per minute, GMV every `interval_ms`).",
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
    Command("ops_undo", "Undo a moderation log entry (ban, mute, platform suspension, "
            "product take-down) through the service that reverses it, logged in turn; once "
            "only. An entry whose effect is already gone answers `undone: false` with why.",
            _undo, OPS, (SafeId("entry_id", "the log entry's `id`"),),
            (NotFound, InvalidState, AlreadyUndone),
            http=Route("POST", "/api/ops/moderation/{entry_id}/undo"),
            reply="`{\"entry\", \"undone\": true|false, \"reason\"?}`"),
    Command("ops_suspend", "Suspend a user from the whole platform: no room socket, chat, "
            "hearts, grabs, coupons or buying (`suspended`) until it ends or is lifted; their "
            "open sockets close everywhere (4003).", _suspend, OPS,
            (SafeId("user_id", "who"),
             Text("reason", "why (kept with the suspension and in the moderation log)",
                  max_len=REASON_MAX, min_len=1),
             Choice("duration", "how long; permanent: until lifted", choices=tuple(DURATIONS))),
            (InvalidField,), http=Route("POST", "/api/ops/suspensions", status=201),
            reply="the suspension `{\"user_id\", \"reason\", \"by\", \"at\", \"until\"}` "
                  "(`until` 0: until lifted)"),
    Command("ops_unsuspend", "Lift a user's platform suspension (logged).", _unsuspend, OPS,
            (SafeId("user_id", "who"),
             Text("reason", "why, for the moderation log", required=False, default="",
                  max_len=REASON_MAX)),
            (NotFound,), http=Route("DELETE", "/api/ops/suspensions/{user_id}"),
            reply="the lifted suspension"),
    Command("ops_suspensions", "The platform suspensions in force, newest first.",
            _suspensions, OPS, http=Route("GET", "/api/ops/suspensions"),
            reply="`{\"suspensions\"}`"),
    Command("ops_alerts", "What needs ops' attention now, from every process's heartbeat: slow "
            "consumers, error rates, Valkey latency, silent processes.", _alerts, OPS,
            http=Route("GET", "/api/ops/alerts"),
            reply="`{\"alerts\": [{\"kind\", \"severity\", \"subject\", \"value\", "
                  "\"threshold\", \"since\"}], \"checked_at\"}`"),
)
