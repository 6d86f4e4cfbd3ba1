"""HTTP handlers for wallets and red packets. Thin: parse, call the service, answer."""

from __future__ import annotations

from aiohttp import web

from live_server.protocol import get_int, user_id_field
from live_server.web.http import body, identity, json, services

routes = web.RouteTableDef()


@routes.get("/api/me/wallet")
async def wallet(request: web.Request) -> web.Response:
    return json(await services(request).wallets.wallet(identity(request)))


@routes.post("/api/dev/wallet/topup")
async def topup(request: web.Request) -> web.Response:
    s = services(request)
    data = await body(request)
    amount = get_int(data, "amount", lo=1, hi=s.settings.money.max_topup_cents)
    return json(await s.wallets.topup(identity(request), amount))


@routes.post("/api/rooms/{room_id}/red-packets")
async def launch(request: web.Request) -> web.Response:
    svc = services(request).red_packets
    result = await svc.launch(identity(request), request.match_info["room_id"],
                              await body(request))
    return json(result, status=201)


@routes.get("/api/rooms/{room_id}/red-packets")
async def room_packets(request: web.Request) -> web.Response:
    identity(request)
    found = await services(request).red_packets.room_packets(request.match_info["room_id"])
    return json({"packets": found})


@routes.get("/api/red-packets/{packet_id}")
async def packet(request: web.Request) -> web.Response:
    return json(await services(request).red_packets.view(identity(request),
                                                         request.match_info["packet_id"]))


@routes.post("/api/red-packets/{packet_id}/grab")
async def grab(request: web.Request) -> web.Response:
    return json(await services(request).red_packets.grab(identity(request),
                                                         request.match_info["packet_id"]))


def _creator(request: web.Request) -> str:
    return user_id_field({"creator_id": request.match_info["creator_id"]}, "creator_id")


@routes.get("/api/creators/{creator_id}/fans")
async def fans(request: web.Request) -> web.Response:
    return json(await services(request).fans.fans(identity(request), _creator(request)))


@routes.post("/api/creators/{creator_id}/follow")
async def follow(request: web.Request) -> web.Response:
    return json(await services(request).fans.follow(identity(request), _creator(request), True))


@routes.delete("/api/creators/{creator_id}/follow")
async def unfollow(request: web.Request) -> web.Response:
    return json(await services(request).fans.follow(identity(request), _creator(request),
                                                    False))


@routes.post("/api/creators/{creator_id}/fan-club")
async def join_club(request: web.Request) -> web.Response:
    return json(await services(request).fans.join_club(identity(request), _creator(request)))
