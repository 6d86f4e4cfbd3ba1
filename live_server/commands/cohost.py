"""Co-hosting (连麦): the creator invites a user to publish beside them, the user accepts (and
gets a guest publishing token for this room) or declines, the creator removes a guest, a guest
leaves, anyone reads who is on air. The guest's WHIP and viewers' WHEP of a guest are beside the
table (``/api/rooms/{room_id}/guests/{user_id}/whip|whep``, ``web/media.py``)."""

from __future__ import annotations

from live_server.commands.access import ANYONE, MODERATOR, ROOM_CREATOR, USER
from live_server.commands.command import Call, Command, Route
from live_server.commands.fields import SafeId
from live_server.errors import CohostFull, InvalidField, InvalidState, NotFound
from live_server.protocol import Json

COHOST = "/api/rooms/{room_id}/cohost"
GUEST_ID = SafeId("user_id", "the guest (any user but the room's creator)")
GUEST = ("`{\"user_id\", \"name\", \"since\", \"publishing\", \"whep\"}` (`whep`: the "
         "guest's stream for viewers)")


async def _invite(call: Call) -> Json:
    return await call.services.cohost.invite(call.who, call.room_id, call.args["user_id"])


async def _accept(call: Call) -> Json:
    return await call.services.cohost.accept(call.who, call.room_id)


async def _decline(call: Call) -> Json:
    return await call.services.cohost.decline(call.who, call.room_id)


async def _remove(call: Call) -> Json:
    return await call.services.cohost.remove(call.who, call.room_id, call.args["user_id"])


async def _leave(call: Call) -> Json:
    return await call.services.cohost.leave(call.who, call.room_id)


async def _view(call: Call) -> Json:
    return await call.services.cohost.view(call.room_id)


COMMANDS = (
    Command("cohost_invite", "Invite a user to co-host (publish beside the host): they hear "
            "`cohost_invited` on their sockets in this room and answer within "
            "`cohost.invite_ttl_ms`.", _invite, ROOM_CREATOR, (GUEST_ID,),
            errors=(NotFound, InvalidState, InvalidField), op="cohost_invite",
            http=Route("POST", COHOST + "/invite"),
            reply="`{\"room_id\", \"guest_id\", \"expires_at\"}`"),
    Command("cohost_accept", "Accept the caller's invitation: a guest publishing token for this "
            "room only (role `guest`; it opens nothing else) and the WHIP URL to publish to. "
            "Refused when the room has `cohost.max_guests` guests already.", _accept, USER,
            errors=(NotFound, InvalidState, CohostFull), op="cohost_accept",
            http=Route("POST", COHOST + "/accept"),
            reply="`{\"room_id\", \"token\", \"whip\", \"expires_at\", \"guest\": " + GUEST + "}`"),
    Command("cohost_decline", "Decline the caller's invitation (none: no change).", _decline,
            USER, errors=(NotFound,), op="cohost_decline",
            http=Route("POST", COHOST + "/decline"),
            reply="`{\"room_id\", \"declined\": bool}`"),
    Command("cohost_remove", "Take a guest off air at once: their token is refused from now on, "
            "their WHIP session and viewers' sessions of their stream close, the room hears "
            "`cohost_ended` (reason `removed`).", _remove, MODERATOR, (GUEST_ID,),
            errors=(NotFound,), op="cohost_remove",
            http=Route("DELETE", COHOST + "/guests/{user_id}"),
            reply="`{\"room_id\", \"guest_id\", \"ended\": \"removed\"}`"),
    Command("cohost_leave", "The caller stops co-hosting (as `cohost_remove`, reason `left`).",
            _leave, USER, errors=(NotFound,), op="cohost_leave",
            http=Route("POST", COHOST + "/leave"),
            reply="`{\"room_id\", \"guest_id\", \"ended\": \"left\"}`"),
    Command("cohost", "Who co-hosts the room now, and whether each guest's stream is on air.",
            _view, ANYONE, errors=(NotFound,), op="cohost", http=Route("GET", COHOST),
            reply="`{\"room_id\", \"max_guests\", \"guests\": [" + GUEST + "]}`"),
)
