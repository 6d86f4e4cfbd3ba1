"""A room-broadcast server on python-socketio: the peer our server is compared with.

Why this peer: it is how many teams would build live-room chat in Python — Socket.IO rooms, one
emit per message, a Redis manager so several processes share rooms. It implements exactly the
semantics the comparison needs, done the idiomatic way and no slower than it must be:

- connect with auth `{"room", "token"}`: the JWT (HS256, same secret as ours) is verified, the
  socket enters the room and gets `welcome {"seq"}` (the room's current sequence number);
- `chat {"text"}` (with an ack): `INCR` of the room's sequence in Valkey, then one emit of
  `chat {"seq", "ts", "data": {"user", "text"}}` to the room; the ack answers `{"seq"}`;
- `heart {"count"}` (with an ack): `INCRBY` of the room total; the ack answers `{"accepted"}`;
- `GET /readyz` is 200 when Valkey answers.

Processes: `--workers N` starts N copies sharing the port (SO_REUSEPORT; websocket-only
transport, so no sticky sessions are needed) and the Redis manager carries emits between them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

import jwt
import redis.asyncio as aioredis
import socketio
from aiohttp import web

KEY_PREFIX = "peer:"


def build_app(redis_url: str, secret: str) -> web.Application:
    """The aiohttp application with the Socket.IO server attached."""
    manager = socketio.AsyncRedisManager(redis_url)
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        transports=["websocket"],
        cors_allowed_origins=[],
        always_connect=True,
        ping_interval=25,
        ping_timeout=20,
    )
    app = web.Application()
    sio.attach(app)
    store = aioredis.from_url(redis_url)

    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> bool:
        if not isinstance(auth, dict) or not isinstance(auth.get("room"), str):
            return False
        try:
            claims = jwt.decode(str(auth.get("token") or ""), secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return False
        room = auth["room"]
        user = {
            "id": str(claims.get("sub", "")),
            "name": str(claims.get("name", "")),
            "role": str(claims.get("role", "viewer")),
        }
        await sio.save_session(sid, {"room": room, "user": user})
        await sio.enter_room(sid, room)
        seq = int(await store.get(f"{KEY_PREFIX}{room}:seq") or 0)
        await sio.emit("welcome", {"seq": seq}, to=sid, ignore_queue=True)
        return True

    async def chat(sid: str, data: Any) -> dict[str, Any]:
        session = await sio.get_session(sid)
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.strip():
            return {"error": {"code": "message_empty", "message": "empty"}}
        room = session["room"]
        seq = int(await store.incr(f"{KEY_PREFIX}{room}:seq"))
        event = {
            "seq": seq,
            "ts": int(time.time() * 1000),
            "data": {"user": session["user"], "text": text[:500]},
        }
        await sio.emit("chat", event, room=room)
        return {"seq": seq}

    async def heart(sid: str, data: Any) -> dict[str, Any]:
        session = await sio.get_session(sid)
        count = data.get("count", 1) if isinstance(data, dict) else 1
        if not isinstance(count, int) or not 1 <= count <= 100:
            return {"error": {"code": "invalid_field", "message": "count"}}
        await store.incrby(f"{KEY_PREFIX}{session['room']}:hearts", count)
        return {"accepted": count}

    sio.on("connect", connect)
    sio.on("chat", chat)
    sio.on("heart", heart)

    async def readyz(request: web.Request) -> web.Response:
        try:
            await store.ping()
        except (OSError, aioredis.RedisError):
            return web.json_response({"error": {"code": "not_ready"}}, status=503)
        return web.json_response({"ok": True})

    async def close_store(app: web.Application) -> None:
        await store.aclose()

    app.router.add_get("/readyz", readyz)
    app.on_cleanup.append(close_store)
    return app


def _run_one(args: argparse.Namespace) -> None:
    app = build_app(args.redis_url, args.secret)
    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        reuse_port=True,
        backlog=4096,
        access_log=None,
        print=None,
        loop=loop,
    )


def _run_many(args: argparse.Namespace) -> None:
    """Start `--workers` single-process copies by pid and stop them when told to stop."""
    base = [
        sys.executable, "-m", "loadtest.peers", "--host", args.host, "--port", str(args.port),
        "--redis-url", args.redis_url, f"--secret={args.secret}", "--workers", "1",
    ]
    children = [subprocess.Popen(base) for _ in range(args.workers)]
    stop = {"now": False}

    def on_signal(signum: int, frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop["now"] and all(c.poll() is None for c in children):
        time.sleep(0.2)
    for c in children:
        if c.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(c.pid, signal.SIGTERM)
    for c in children:
        try:
            c.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(c.pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m loadtest.peers", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="bind address (loopback)")
    p.add_argument("--port", type=int, required=True, help="TCP port")
    p.add_argument("--redis-url", required=True, help="the peer's own Valkey")
    p.add_argument("--secret", required=True, help="HS256 secret the tokens are signed with")
    p.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    args = p.parse_args(argv)
    if args.workers > 1:
        _run_many(args)
    else:
        _run_one(args)
