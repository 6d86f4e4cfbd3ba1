"""Room commands: create, read, list, update, start and end a room; its history and top fans;
the announcement and slow mode."""

from __future__ import annotations

from live_server.commands.access import ANYONE, CREATOR, MODERATOR
from live_server.commands.command import Call, Command, Route
from live_server.commands.fields import ABSENT, Boolean, Choice, Integer, Text
from live_server.domain.chat import MAX_SLOW_MODE_S
from live_server.domain.rooms import COVER_MAX, MAX_TIME_MS, NOTICE_MAX, TITLE_MAX
from live_server.errors import Forbidden, GuestsNotAllowed, InvalidState, NotFound
from live_server.protocol import MAX_SEQ, Json

ROOM = "/api/rooms/{room_id}"


def _room_fields(creating: bool) -> tuple[Text | Boolean | Integer, ...]:
    """A new room's fields (``title`` required) or a PATCH's (any of them, at least one)."""
    fields: tuple[Text | Boolean | Integer, ...] = (
        Text("title", "1-100 characters", required=creating, min_len=1, max_len=TITLE_MAX),
        Text("cover", "cover image: an http(s) URL or a path", required=False,
             max_len=COVER_MAX),
        Text("notice", "the room's notice", required=False, max_len=NOTICE_MAX),
        Boolean("allow_guests", "whether guests may watch", required=False,
                default=True if creating else ABSENT),
    )
    if creating:
        fields += (Integer("scheduled_at", "when the show should start (ms)", required=False,
                           nullable=True, default=None, lo=0, hi=MAX_TIME_MS),)
    return fields


async def _create(call: Call) -> Json:
    room = await call.services.rooms.create(call.who, call.args)
    return await call.services.rooms.public(room.id)


async def _list(call: Call) -> Json:
    a = call.args
    return {"rooms": await call.services.rooms.listing(a["state"], a["limit"], call.who)}


async def _get(call: Call) -> Json:
    return await call.services.rooms.public(call.room_id)


async def _update(call: Call) -> Json:
    return await call.services.rooms.update(call.who, call.room_id, call.args)


async def _start(call: Call) -> Json:
    return await call.services.rooms.transition(call.who, call.room_id, "live")


async def _end(call: Call) -> Json:
    return await call.services.rooms.transition(call.who, call.room_id, "ended")


async def _history(call: Call) -> Json:
    a = call.args
    return {"events": await call.services.rooms.history(call.who, call.room_id,
                                                        a["before"] or None, a["limit"])}


async def _top_fans(call: Call) -> Json:
    return {"fans": await call.services.rooms.top_fans(call.room_id, call.args["limit"])}


async def _announce(call: Call) -> Json:
    await call.services.rooms.announce(call.who, call.room_id, call.args["text"])
    return {}


async def _slow_mode(call: Call) -> Json:
    await call.services.rooms.slow_mode(call.who, call.room_id, call.args["seconds"])
    return {}


FULL_ROOM = "the full room (room + `counters` + `announcement`)"

COMMANDS = (
    Command("create_room", "Create a room (state `scheduled`).", _create, CREATOR,
            _room_fields(creating=True), http=Route("POST", "/api/rooms", 201),
            reply=FULL_ROOM),
    Command("list_rooms", "Rooms: `live` (public), `scheduled` (public: upcoming shows with "
            "their time, soonest first), `mine` (creator, ops), `all` (ops).", _list,
            ANYONE, (Choice("state", "which rooms", required=False, default="live",
                            choices=("live", "scheduled", "mine", "all")),
                     Integer("limit", required=False, default=50, lo=1, hi=200)),
            errors=(Forbidden,), http=Route("GET", "/api/rooms"),
            reply="`{\"rooms\": [room + counters]}`"),
    Command("get_room", "One room.", _get, errors=(NotFound,), http=Route("GET", ROOM),
            reply=FULL_ROOM),
    Command("update_room", "Change a room's title, cover, notice or guest rule.", _update,
            MODERATOR, _room_fields(creating=False), (NotFound,),
            http=Route("PATCH", ROOM), reply=FULL_ROOM),
    Command("start_room", "Go live.", _start, MODERATOR, errors=(NotFound, InvalidState),
            http=Route("POST", ROOM + "/start"), reply=FULL_ROOM),
    Command("end_room", "End the show (or cancel a scheduled one).", _end, MODERATOR,
            errors=(NotFound, InvalidState), http=Route("POST", ROOM + "/end"),
            reply=FULL_ROOM),
    Command("history", "Chat before a seq, oldest first, deleted messages left out.", _history,
            ANYONE, (Integer("before", "a seq; 0 or absent: the newest", required=False,
                             default=0, lo=0, hi=MAX_SEQ),
                     Integer("limit", required=False, default=50, lo=1,
                             hi=lambda s: s.history.page_limit)),
            (NotFound, GuestsNotAllowed), op="history",
            http=Route("GET", ROOM + "/history"), reply="`{\"events\": [chat events]}`"),
    Command("top_fans", "The users with the most intimacy toward the room's creator.",
            _top_fans, ANYONE, (Integer("limit", required=False, default=10, lo=1, hi=100),),
            (NotFound,), http=Route("GET", ROOM + "/fans/top"),
            reply="`{\"fans\": [{\"user_id\", \"name\", \"score\"}]}`"),
    Command("announce", "Set the announcement; empty or null clears it.", _announce, MODERATOR,
            (Text("text", "the announcement, or null", nullable=True,
                  max_len=lambda s: s.chat.announcement_max),),
            (NotFound,), op="announce", http=Route("PUT", ROOM + "/announcement"),
            reply="`{}`"),
    Command("slow_mode", "Slow mode: one message per user per interval; 0 turns it off.",
            _slow_mode, MODERATOR,
            (Integer("seconds", "the interval", lo=0, hi=MAX_SLOW_MODE_S),),
            (NotFound,), op="slow_mode", http=Route("PUT", ROOM + "/slow-mode"), reply="`{}`"),
)
