"""Show reminders: a logged-in user subscribes to a scheduled room's start, cancels, and lists
their own. Over the room socket the room is the socket's (the watch page of a scheduled show)."""

from __future__ import annotations

from live_server.commands.access import USER
from live_server.commands.command import Call, Command, Route
from live_server.errors import InvalidState, NotFound
from live_server.protocol import Json

REMINDER = "/api/rooms/{room_id}/reminder"
ANSWER = "`{\"room_id\", \"subscribed\", \"reminders\"}` (the room's subscriber count)"


async def _remind(call: Call) -> Json:
    return await call.services.reminders.remind(call.who, call.room_id)


async def _cancel(call: Call) -> Json:
    return await call.services.reminders.cancel(call.who, call.room_id)


async def _mine(call: Call) -> Json:
    return {"rooms": await call.services.reminders.mine(call.who)}


COMMANDS = (
    Command("remind_me", "Be reminded when this scheduled show goes live (a `show_starting` "
            "notice on any open socket); asking again changes nothing.", _remind, USER,
            errors=(NotFound, InvalidState), op="remind_me",
            http=Route("POST", REMINDER), reply=ANSWER),
    Command("remind_cancel", "No reminder for this show any more; not subscribed: no change.",
            _cancel, USER, errors=(NotFound,), op="remind_cancel",
            http=Route("DELETE", REMINDER), reply=ANSWER),
    Command("my_reminders", "The shows the caller asked to be reminded of, newest first "
            "(at most 200), each with its `reminders` count.", _mine, USER,
            http=Route("GET", "/api/me/reminders"),
            reply="`{\"rooms\": [room + reminders]}`"),
)
