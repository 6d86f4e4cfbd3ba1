"""A show's replay: its state, playlist and product chapters (anyone, once the room ended; its
creator and ops at any time), ops deleting it, and a creator's replays. The files themselves
are served beside the table (``/replays/...``, ``web/replays.py``)."""

from __future__ import annotations

from live_server.commands.access import ANYONE, CREATOR, OPS
from live_server.commands.command import Call, Command, Route
from live_server.commands.fields import Integer, Text
from live_server.errors import InvalidState, NotFound
from live_server.protocol import Json

REPLAY = "/api/rooms/{room_id}/replay"
VIEW = ("`{\"room_id\", \"title\", \"room_state\", \"state\": recording|ready|deleted|none, "
        "\"duration_ms\", \"playlist_url\", \"chapters\": [{\"t_ms\", \"product_id\", \"title\", "
        "\"image_url\", \"live_price\", \"currency\"}]}`")


async def _view(call: Call) -> Json:
    return await call.services.replays.view(call.who, call.room_id)


async def _delete(call: Call) -> Json:
    return await call.services.replays.delete(call.who, call.room_id, call.args["reason"])


async def _mine(call: Call) -> Json:
    a = call.args
    return await call.services.replays.mine(call.who, a["limit"], a["offset"])


COMMANDS = (
    Command("replay", "A show's replay: its state, length, VOD playlist and the products' "
            "chapters (offsets in the replay). Anyone once the room ended; before that its "
            "creator and ops see the chapters, others only the state.", _view, ANYONE,
            errors=(NotFound,), http=Route("GET", REPLAY), reply=VIEW),
    Command("replay_delete", "Delete a show's replay (its files at once; logged in the "
            "moderation log). Not while it is recording.", _delete, OPS,
            (Text("reason", "why (for the moderation log)", required=False, default="",
                  max_len=200),),
            errors=(NotFound, InvalidState), http=Route("DELETE", REPLAY),
            reply="`{\"room_id\", \"state\": \"deleted\"}`"),
    Command("my_replays", "The caller's shows that have a replay, newest first.", _mine,
            CREATOR,
            (Integer("limit", "how many", required=False, default=20, lo=1, hi=100),
             Integer("offset", "how many newer replays to skip", required=False, default=0,
                     lo=0, hi=100_000)),
            http=Route("GET", "/api/me/replays"),
            reply="`{\"replays\": [replay...], \"total\", \"next_offset\"}`"),
)
