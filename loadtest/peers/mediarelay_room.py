"""WHIP/WHEP for live rooms on aiortc's own `MediaRelay`: the peer the WebRTC benchmark compares.

Why this peer: it is how aiortc's examples (and most Python WebRTC servers built from them)
fan one stream out: the publisher's track goes through `aiortc.contrib.media.MediaRelay`,
which decodes each received frame once, and every viewer's `RTCRtpSender` encodes the decoded
picture again for that viewer. It speaks the same endpoints as ours, so the benchmark drives
both with the same publisher and viewer code:

- `POST /api/rooms/{room}/whip` (`application/sdp`, `Authorization: Bearer` a creator JWT,
  HS256 with the same secret) → `201`, the answer, `Location`; a second publisher replaces the
  first;
- `POST /api/rooms/{room}/whep` (guests allowed) → `201` with a `sendonly` answer whose codec
  is the one the viewer offers (the benchmark's viewers offer only the publisher's codec);
  `409` + `Retry-After` while nobody publishes;
- `DELETE` on a `Location` → `204`; `GET /readyz` → `200`.

Each viewer gets `relay.subscribe(track, buffered=False)`: an encoder slower than the frame
rate skips frames instead of queueing them without bound. No ICE servers are configured (aiortc
would use a public STUN server otherwise); bound to a loopback `--host` (the default), its ICE
host candidates are on 127.0.0.1 only, as ours are in the benchmark (`media.ice_addresses`).
It serves any number of rooms, each independent.

Run: `python -m loadtest.peers.mediarelay_room --port P --secret S` (the benchmark starts it
itself with `webrtc --peer` or `compare webrtc`, and stops it by pid).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

from loadtest.media_hooks import addresses_for, gather_on

log = logging.getLogger("mediarelay_room")
SDP = "application/sdp"


@dataclass
class Room:
    """One room: its publisher's connection and video track, and its viewers."""

    relay: Any = field(default_factory=MediaRelay)
    publisher: Any = None
    publisher_id: str | None = None
    video: Any = None
    viewers: dict[str, Any] = field(default_factory=dict)


class RelayServer:
    """The rooms of this process and the WHIP/WHEP handlers."""

    def __init__(self, secret: str | None, host: str = "127.0.0.1") -> None:
        self.secret = secret
        self.ice_addresses = addresses_for(host)  # loopback stays on loopback
        self.rooms: dict[str, Room] = {}

    def _claims(self, request: web.Request) -> dict[str, Any] | None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None
        if self.secret is None:
            return {"role": "creator"}
        try:
            claims = jwt.decode(auth[7:], self.secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return None
        return claims if isinstance(claims, dict) else None

    @staticmethod
    async def _offer(request: web.Request) -> str:
        if request.content_type != SDP:
            raise web.HTTPUnsupportedMediaType(text="the body must be application/sdp")
        text = await request.text()
        if not text.strip():
            raise web.HTTPBadRequest(text="empty offer")
        return text

    @staticmethod
    def _pc() -> Any:
        return RTCPeerConnection(configuration=RTCConfiguration(iceServers=[]))

    async def _answer(self, pc: Any) -> str:
        with gather_on(self.ice_addresses):
            await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    def _created(self, request: web.Request, kind: str, sid: str, answer: str) -> web.Response:
        room_id = request.match_info["room"]
        resp = web.Response(status=201, text=answer, content_type=SDP)
        resp.headers["Location"] = f"{request.url.origin()}/api/rooms/{room_id}/{kind}/{sid}"
        resp.headers["ETag"] = f'"{sid}"'
        return resp

    async def whip(self, request: web.Request) -> web.StreamResponse:
        claims = self._claims(request)
        if claims is None or claims.get("role") not in ("creator", "ops"):
            raise web.HTTPUnauthorized(text="a creator token is needed")
        offer = await self._offer(request)
        room = self.rooms.setdefault(request.match_info["room"], Room())
        await self._end_publisher(room)
        room.relay = MediaRelay()
        pc = self._pc()

        def on_track(track: Any) -> None:
            if track.kind == "video":
                room.video = track

        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and room.publisher is pc:
                await self._end_publisher(room)

        pc.on("track", on_track)
        pc.on("connectionstatechange", on_state)

        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        answer = await self._answer(pc)
        sid = secrets.token_urlsafe(18)
        room.publisher, room.publisher_id = pc, sid
        return self._created(request, "whip", sid, answer)

    async def whep(self, request: web.Request) -> web.StreamResponse:
        offer = await self._offer(request)
        room = self.rooms.get(request.match_info["room"])
        if room is None or room.video is None:
            raise web.HTTPConflict(text="nobody is publishing", headers={"Retry-After": "1"})
        pc = self._pc()
        sid = secrets.token_urlsafe(18)
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        # Decoded once by the relay, encoded again by this viewer's sender.
        pc.addTrack(room.relay.subscribe(room.video, buffered=False))
        answer = await self._answer(pc)
        room.viewers[sid] = pc

        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                room.viewers.pop(sid, None)
                await pc.close()

        pc.on("connectionstatechange", on_state)

        return self._created(request, "whep", sid, answer)

    async def delete(self, request: web.Request) -> web.StreamResponse:
        room = self.rooms.get(request.match_info["room"])
        sid = request.match_info["sid"]
        if room is None:
            raise web.HTTPNotFound()
        if request.match_info["kind"] == "whip" and room.publisher_id == sid:
            await self._end_publisher(room)
        elif request.match_info["kind"] == "whep" and sid in room.viewers:
            await room.viewers.pop(sid).close()
        else:
            raise web.HTTPNotFound()
        return web.Response(status=204)

    async def _end_publisher(self, room: Room) -> None:
        """The publisher left: its viewers end with it (as ours do)."""
        pc, room.publisher, room.publisher_id, room.video = room.publisher, None, None, None
        viewers, room.viewers = list(room.viewers.values()), {}
        for v in [*viewers, pc]:
            if v is not None:
                with contextlib.suppress(Exception):
                    await v.close()

    async def close_all(self, app: web.Application) -> None:
        for room in list(self.rooms.values()):
            await self._end_publisher(room)


async def readyz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def build_app(secret: str | None, host: str = "127.0.0.1") -> web.Application:
    server = RelayServer(secret, host)
    app = web.Application()
    app.router.add_get("/readyz", readyz)
    app.router.add_post("/api/rooms/{room}/whip", server.whip)
    app.router.add_post("/api/rooms/{room}/whep", server.whep)
    app.router.add_delete("/api/rooms/{room}/{kind:whip|whep}/{sid}", server.delete)
    app.on_shutdown.append(server.close_all)
    return app


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m loadtest.peers.mediarelay_room",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="bind address (loopback)")
    p.add_argument("--port", type=int, required=True, help="TCP port")
    p.add_argument("--secret", help="HS256 secret of the creator tokens (none: any bearer)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    web.run_app(build_app(args.secret, args.host), host=args.host, port=args.port, access_log=None,
                print=None, loop=loop, shutdown_timeout=5)


if __name__ == "__main__":
    main()
