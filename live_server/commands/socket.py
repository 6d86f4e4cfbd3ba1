"""Ops only the room socket takes: ``ping``, a late ``auth``, ``snapshot``, ``heart`` and
``chat`` (they need the session or the hub; there is no HTTP form)."""

from __future__ import annotations

from live_server.commands.access import USER
from live_server.commands.command import Call, Command
from live_server.commands.fields import Integer, Text
from live_server.config import Settings
from live_server.errors import (
    Banned,
    Internal,
    InvalidField,
    InvalidState,
    KeywordBlocked,
    MessageEmpty,
    MessageTooLong,
    Muted,
    NotFound,
    RateLimited,
    SlowMode,
)
from live_server.protocol import MAX_SEQ, Json, dumps, now_ms

# The first frame's fields. ``web.gateway`` binds a first frame with them (the one binding rule:
# an unknown field is ``invalid_field``), the token apart from the stream position because a
# refusal of each closes with its own code.
AUTH_TOKEN = Text("token", "a JWT, or null for a guest", required=False, nullable=True,
                  max_len=4096)
AUTH_POSITION = (
    Integer("since", "the last seq seen (recovery); replaces the query's since and epoch",
            required=False, lo=0, hi=MAX_SEQ),
    Text("epoch", "the epoch of the welcome in which that seq was seen (with since)",
         required=False, nullable=True, trim=False, max_len=32, pattern=r"[A-Za-z0-9_-]{0,32}"),
)


async def _ping(call: Call) -> bytes:
    return dumps({"type": "pong", "id": call.req_id, "server_time": now_ms()})


async def _auth(call: Call) -> Json:
    raise InvalidField("already authenticated: 'auth' is only valid as the first frame")


async def _snapshot(call: Call) -> Json:
    if call.session is None:
        raise Internal("this op needs a room socket")
    snap, seq = await call.session.snapshot()
    return {**snap, "seq": seq}


async def _heart(call: Call) -> Json:
    svc, count = call.services, call.args["count"]
    assert call.who.user_id is not None  # USER access
    svc.hub.add_hearts(call.room_id, call.who.user_id, call.who.name, count,
                       count * svc.settings.hearts.score_per_heart)
    return {"accepted": count}


async def _chat(call: Call) -> Json:
    if call.session is None:
        raise Internal("this op needs a room socket")
    return await call.services.chat.send(call.who, call.session.room, call.args["text"])


def _chat_max(settings: Settings) -> int:
    return settings.chat.max_length * 4


COMMANDS = (
    Command("ping", "Keep-alive with the server's clock.", _ping, op="ping",
            reply="a `pong` frame: `{\"type\": \"pong\", \"id\", \"server_time\"}`"),
    Command("auth", "Credentials: the first frame only (see the room websocket); later an "
            "error.", _auth, op="auth", errors=(InvalidField,),
            reply="first frame: the `welcome`; any later `auth` is `invalid_field`",
            fields=(AUTH_TOKEN, *AUTH_POSITION)),
    Command("snapshot", "The room as of now, to resynchronise.", _snapshot, op="snapshot",
            errors=(NotFound,), reply="the snapshot plus `seq`"),
    Command("heart", "Hearts: add to the room total and the sender's fan score.", _heart,
            USER, op="heart", reply="`{\"accepted\"}`",
            fields=(Integer("count", "hearts in this frame", required=False, default=1, lo=1,
                            hi=lambda s: s.hearts.max_per_frame),)),
    Command("chat", "Send a chat message (see the chat rules).", _chat, USER, op="chat",
            errors=(MessageEmpty, MessageTooLong, KeywordBlocked, InvalidState, Banned, Muted,
                    SlowMode, RateLimited),
            reply="`{\"seq\", \"masked\"}`",
            fields=(Text("text", "the message: control characters are removed and it is "
                         "trimmed, then at most chat.max_length characters", trim=False,
                         max_len=_chat_max),)),
)
