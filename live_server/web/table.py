"""The command table over HTTP: one aiohttp handler per command route
(``live_server/commands``).

A request is bound like a websocket frame: the path parameters (except ``room_id``, the room
the command acts in), then the query for GET (and HEAD) or the JSON body for any other method,
are the command's fields; a field sent twice (path and body) or a query parameter a POST does
not take is ``invalid_field``. The token is checked first, everywhere (a bad one is never a guest).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from live_server.commands.command import Call, Command
from live_server.commands.table import HTTP
from live_server.errors import InvalidField
from live_server.protocol import Json
from live_server.web.http import body, identity, json, services

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def request_fields(command: Command, request: web.Request) -> Json:
    """The request's fields as one JSON object: URL text converted by each field's kind."""
    by_name = {f.name: f for f in command.fields}
    msg: Json = {}
    for name, raw in request.match_info.items():
        if name != "room_id":
            field = by_name.get(name)
            msg[name] = field.from_text(raw) if field is not None else raw
    if request.method in ("GET", "HEAD"):  # aiohttp answers HEAD with the GET handler
        for name, raw in request.query.items():
            field = by_name.get(name)
            if name in msg:
                raise InvalidField(f"'{name}' is given twice")
            msg[name] = field.from_text(raw) if field is not None else raw
        return msg
    for name in request.query:
        raise InvalidField(f"unknown query parameter '{name[:40]}' (fields go in the body)")
    data = await body(request)
    for name in data:
        if name in msg:
            raise InvalidField(f"'{name}' is in the path: leave it out of the body")
    return {**msg, **data}


def handler_for(command: Command) -> Handler:
    route = command.http
    assert route is not None

    async def handle(request: web.Request) -> web.StreamResponse:
        svc = services(request)
        who = identity(request)
        command.allow(who, svc.suspensions)  # before the body is even read
        args = command.bind(await request_fields(command, request), svc.settings)
        answer = await command.run(Call(svc, who, request.match_info.get("room_id", ""), args))
        assert isinstance(answer, dict)  # HTTP commands answer JSON objects
        return json(answer, status=route.status_of(answer))

    handle.__name__ = command.name
    return handle


def table_routes(commands: Iterable[Command]) -> web.RouteTableDef:
    routes = web.RouteTableDef()
    for command in commands:
        assert command.http is not None
        routes.route(command.http.method, command.http.path)(handler_for(command))
    return routes


routes = table_routes(HTTP)
