"""The creator's numbers: one show's report (its creator or ops; live while the room is, frozen
at its end) and a creator's shows. The same report as CSV is HTTP-only
(``GET /api/rooms/{room_id}/report.csv``, ``web/show_report.py``)."""

from __future__ import annotations

from live_server.commands.access import CREATOR, MODERATOR
from live_server.commands.command import Call, Command, Route
from live_server.commands.fields import Integer
from live_server.errors import InvalidState, NotFound
from live_server.protocol import Json


async def _report(call: Call) -> Json:
    return await call.services.show_reports.report(call.who, call.room_id)


async def _my_shows(call: Call) -> Json:
    a = call.args
    return await call.services.show_reports.my_shows(call.who, a["limit"], a["offset"])


COMMANDS = (
    Command("show_report", "A show's numbers: headline figures, products, per-minute series "
            "(live while the room is; frozen when it ends, refunds kept current).", _report,
            MODERATOR, errors=(NotFound, InvalidState),
            http=Route("GET", "/api/rooms/{room_id}/report"),
            reply="`{\"room_id\", \"title\", \"state\", \"started_at\", \"ended_at\", "
                  "\"currency\", \"live\", \"frozen\", \"headline\", \"products\", "
                  "\"series\"}`"),
    Command("my_shows", "The caller's shows (rooms that went live), newest first, with their "
            "headline figures.", _my_shows, CREATOR,
            (Integer("limit", "how many", required=False, default=20, lo=1, hi=100),
             Integer("offset", "how many newer shows to skip", required=False, default=0,
                     lo=0, hi=100_000)),
            http=Route("GET", "/api/me/shows"),
            reply="`{\"shows\", \"total\", \"currency\", \"next_offset\"}`"),
)
