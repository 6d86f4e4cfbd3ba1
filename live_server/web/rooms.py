"""HTTP handlers for rooms and moderation: parse, call the service, answer. No rules here."""

from __future__ import annotations

from aiohttp import web

from live_server.domain.chat import MAX_MUTE_S, MAX_SLOW_MODE_S
from live_server.errors import InvalidField
from live_server.protocol import get_int, get_str, user_id_field
from live_server.web.http import body, identity, int_query, json, services

routes = web.RouteTableDef()


def _room_id(request: web.Request) -> str:
    return request.match_info["room_id"]


@routes.post("/api/rooms")
async def create_room(request: web.Request) -> web.Response:
    room = await services(request).rooms.create(identity(request), await body(request))
    return json(await services(request).rooms.public(room.id), status=201)


@routes.get("/api/rooms")
async def list_rooms(request: web.Request) -> web.Response:
    state = request.query.get("state", "live")
    limit = int_query(request, "limit", 50, 1, 200)
    return json({"rooms": await services(request).rooms.listing(state, limit, identity(request))})


@routes.get("/api/rooms/{room_id}")
async def get_room(request: web.Request) -> web.Response:
    identity(request)  # a bad token is refused even where none is needed
    return json(await services(request).rooms.public(_room_id(request)))


@routes.patch("/api/rooms/{room_id}")
async def update_room(request: web.Request) -> web.Response:
    svc = services(request).rooms
    return json(await svc.update(identity(request), _room_id(request), await body(request)))


@routes.post("/api/rooms/{room_id}/start")
async def start_room(request: web.Request) -> web.Response:
    return json(await services(request).rooms.transition(identity(request), _room_id(request),
                                                         "live"))


@routes.post("/api/rooms/{room_id}/end")
async def end_room(request: web.Request) -> web.Response:
    return json(await services(request).rooms.transition(identity(request), _room_id(request),
                                                         "ended"))


@routes.get("/api/rooms/{room_id}/history")
async def history(request: web.Request) -> web.Response:
    s = services(request)
    before = int_query(request, "before", 0, 0, 2**53) or None
    limit = int_query(request, "limit", 50, 1, s.settings.history.page_limit)
    events = await s.rooms.history(identity(request), _room_id(request), before, limit)
    return json({"events": events})


@routes.get("/api/rooms/{room_id}/fans/top")
async def top_fans(request: web.Request) -> web.Response:
    identity(request)
    limit = int_query(request, "limit", 10, 1, 100)
    return json({"fans": await services(request).rooms.top_fans(_room_id(request), limit)})


# Moderation -------------------------------------------------------------------------------

@routes.put("/api/rooms/{room_id}/announcement")
async def announce(request: web.Request) -> web.Response:
    s = services(request)
    data = await body(request)
    text = get_str(data, "text", max_len=s.settings.chat.announcement_max, allow_none=True)
    await s.rooms.announce(identity(request), _room_id(request), text)
    return json({})


@routes.put("/api/rooms/{room_id}/slow-mode")
async def slow_mode(request: web.Request) -> web.Response:
    seconds = get_int(await body(request), "seconds", lo=0, hi=MAX_SLOW_MODE_S)
    await services(request).rooms.slow_mode(identity(request), _room_id(request), seconds)
    return json({})


@routes.put("/api/rooms/{room_id}/keywords")
async def set_keywords(request: web.Request) -> web.Response:
    data = await body(request)
    count = await services(request).chat.set_keywords(
        identity(request), _room_id(request), data.get("words"), data.get("action", "mask"))
    return json({"count": count})


@routes.get("/api/rooms/{room_id}/keywords")
async def get_keywords(request: web.Request) -> web.Response:
    return json(await services(request).chat.get_keywords(identity(request), _room_id(request)))


@routes.delete("/api/rooms/{room_id}/messages/{seq}")
async def delete_message(request: web.Request) -> web.Response:
    seq = int_query_path(request, "seq")
    data = await body(request)
    reason = get_str(data, "reason", max_len=200, required=False) or ""
    new_seq = await services(request).chat.delete(identity(request), _room_id(request), seq,
                                                  reason)
    return json({"seq": new_seq})


def int_query_path(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 16:
        raise InvalidField(f"'{name}' must be a positive integer")
    return int(raw)


@routes.get("/api/rooms/{room_id}/mutes")
async def list_mutes(request: web.Request) -> web.Response:
    items = await services(request).chat.list_moderation(identity(request), _room_id(request),
                                                         "mutes")
    return json({"mutes": items})


@routes.post("/api/rooms/{room_id}/mutes")
async def mute(request: web.Request) -> web.Response:
    data = await body(request)
    until = await services(request).chat.mute(
        identity(request), _room_id(request), user_id_field(data),
        get_int(data, "duration_s", lo=1, hi=MAX_MUTE_S),
        (get_str(data, "reason", max_len=200, required=False) or "").strip())
    return json({"until": until})


@routes.delete("/api/rooms/{room_id}/mutes/{user_id}")
async def unmute(request: web.Request) -> web.Response:
    await services(request).chat.unmute(identity(request), _room_id(request),
                                        request.match_info["user_id"])
    return json({})


@routes.get("/api/rooms/{room_id}/bans")
async def list_bans(request: web.Request) -> web.Response:
    items = await services(request).chat.list_moderation(identity(request), _room_id(request),
                                                         "bans")
    return json({"bans": items})


@routes.post("/api/rooms/{room_id}/bans")
async def ban(request: web.Request) -> web.Response:
    data = await body(request)
    await services(request).chat.ban(
        identity(request), _room_id(request), user_id_field(data),
        (get_str(data, "reason", max_len=200, required=False) or "").strip())
    return json({})


@routes.delete("/api/rooms/{room_id}/bans/{user_id}")
async def unban(request: web.Request) -> web.Response:
    await services(request).chat.unban(identity(request), _room_id(request),
                                       request.match_info["user_id"])
    return json({})


@routes.post("/api/rooms/{room_id}/reports")
async def report(request: web.Request) -> web.Response:
    s = services(request)
    data = await body(request)
    report_id = await s.chat.report(
        identity(request), _room_id(request), get_int(data, "seq", lo=1, hi=2**53),
        get_str(data, "reason", max_len=s.settings.chat.report_reason_max) or "")
    return json({"report_id": report_id}, status=201)
