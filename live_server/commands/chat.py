"""Moderation and reports: delete a message, mute, ban, the keyword list, report a message.
(Sending chat is a socket op: ``commands/socket.py``.)"""

from __future__ import annotations

from live_server.commands.access import MODERATOR, USER
from live_server.commands.command import Call, Command, Route
from live_server.commands.fields import Choice, Integer, ListOf, SafeId, Text
from live_server.domain.chat import MAX_KEYWORD_LEN, MAX_MUTE_S
from live_server.errors import InvalidField, NotFound
from live_server.protocol import MAX_SEQ, Json

ROOM = "/api/rooms/{room_id}"
REASON = Text("reason", "why: kept in the moderation log", required=False, default="",
              max_len=200)
USER_ID = SafeId("user_id", "the user acted on")


async def _delete(call: Call) -> Json:
    a = call.args
    return {"seq": await call.services.chat.delete(call.who, call.room_id, a["seq"],
                                                   a["reason"])}


async def _mute(call: Call) -> Json:
    a = call.args
    until = await call.services.chat.mute(call.who, call.room_id, a["user_id"],
                                          a["duration_s"], a["reason"])
    return {"until": until}


async def _unmute(call: Call) -> Json:
    await call.services.chat.unmute(call.who, call.room_id, call.args["user_id"])
    return {}


async def _ban(call: Call) -> Json:
    a = call.args
    await call.services.chat.ban(call.who, call.room_id, a["user_id"], a["reason"])
    return {}


async def _unban(call: Call) -> Json:
    await call.services.chat.unban(call.who, call.room_id, call.args["user_id"])
    return {}


async def _mutes(call: Call) -> Json:
    return {"mutes": await call.services.chat.list_moderation(call.who, call.room_id, "mutes")}


async def _bans(call: Call) -> Json:
    return {"bans": await call.services.chat.list_moderation(call.who, call.room_id, "bans")}


async def _set_keywords(call: Call) -> Json:
    a = call.args
    count = await call.services.chat.set_keywords(call.who, call.room_id, a["words"],
                                                  a["action"])
    return {"count": count}


async def _get_keywords(call: Call) -> Json:
    return await call.services.chat.get_keywords(call.who, call.room_id)


async def _report(call: Call) -> Json:
    a = call.args
    return {"report_id": await call.services.chat.report(call.who, call.room_id, a["seq"],
                                                         a["reason"])}


COMMANDS = (
    Command("delete", "Delete a chat message (`chat_deleted`).", _delete, MODERATOR,
            (Integer("seq", "the message's seq", lo=1, hi=MAX_SEQ), REASON), (NotFound,),
            op="delete", http=Route("DELETE", ROOM + "/messages/{seq}"),
            reply="`{\"seq\"}` of the `chat_deleted` event"),
    Command("mute", "Mute a user in the room for a while.", _mute, MODERATOR,
            (USER_ID, Integer("duration_s", "how long", lo=1, hi=MAX_MUTE_S), REASON),
            (NotFound,), op="mute", http=Route("POST", ROOM + "/mutes"),
            reply="`{\"until\"}`"),
    Command("unmute", "Lift a mute.", _unmute, MODERATOR, (USER_ID,), (NotFound,), op="unmute",
            http=Route("DELETE", ROOM + "/mutes/{user_id}"), reply="`{}`"),
    Command("ban", "Ban a user from the room: their sockets there close (4003).", _ban,
            MODERATOR, (USER_ID, REASON), (NotFound, InvalidField), op="ban",
            http=Route("POST", ROOM + "/bans"), reply="`{}`"),
    Command("unban", "Lift a ban.", _unban, MODERATOR, (USER_ID,), (NotFound,), op="unban",
            http=Route("DELETE", ROOM + "/bans/{user_id}"), reply="`{}`"),
    Command("list_mutes", "Active mutes.", _mutes, MODERATOR, errors=(NotFound,),
            http=Route("GET", ROOM + "/mutes"),
            reply="`{\"mutes\": [{\"user_id\", \"until\", \"by\", \"reason\"}]}`"),
    Command("list_bans", "Bans.", _bans, MODERATOR, errors=(NotFound,),
            http=Route("GET", ROOM + "/bans"),
            reply="`{\"bans\": [{\"user_id\", \"by\", \"reason\", \"ts\"}]}`"),
    Command("set_keywords", "Replace the room's keyword list (lower-cased, duplicates and "
            "empty words dropped).", _set_keywords, MODERATOR,
            (ListOf("words", "the words", item=Text("words", max_len=MAX_KEYWORD_LEN)),
             Choice("action", "mask the words or block the message", required=False,
                    default="mask", choices=("mask", "block"))),
            (NotFound,), http=Route("PUT", ROOM + "/keywords"), reply="`{\"count\"}`"),
    Command("get_keywords", "The room's keyword list.", _get_keywords, MODERATOR,
            errors=(NotFound,), http=Route("GET", ROOM + "/keywords"),
            reply="`{\"words\", \"action\"}`"),
    Command("report", "Report a chat message to ops.", _report, USER,
            (Integer("seq", "a chat message still in the history", lo=1, hi=MAX_SEQ),
             Text("reason", "why", min_len=1, max_len=lambda s: s.chat.report_reason_max)),
            (NotFound,), op="report", http=Route("POST", ROOM + "/reports", 201),
            reply="`{\"report_id\"}`"),
)
