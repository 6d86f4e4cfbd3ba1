"""A test viewer: a real websocket client that records every frame it receives."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
from yarl import URL

WAIT_S = 15.0  # hang guard only; tests never assert on elapsed time


FRESH, KEEP_ALIVE = "fresh", "keep-alive"
WS_PATHS = (FRESH, KEEP_ALIVE)


async def open_ws(http: aiohttp.ClientSession, url: str,
                  **kw: Any) -> aiohttp.ClientWebSocketResponse:
    """aiohttp's ``ws_connect`` over the path the test runs on (``Viewer.path``), for tests that
    need the bare websocket (frames by hand, no auto-pong). On ``keep-alive`` an HTTP request
    goes first, so a used connection waits in ``http``'s pool and the upgrade goes out on it."""
    if Viewer.path == KEEP_ALIVE:
        target = URL(url)
        plain = target.with_scheme("https" if target.scheme == "wss" else "http")
        async with http.get(plain.with_path("/healthz").with_query(None)) as resp:
            await resp.read()
    ws: aiohttp.ClientWebSocketResponse = await http.ws_connect(url, **kw)
    return ws


class Viewer:
    """``path`` says how its websocket reaches the server: on a ``fresh`` connection (the front
    door reads the upgrade) or on a ``keep-alive`` connection that first carried an HTTP request
    (aiohttp reads the upgrade). The integration suite runs its websocket tests over both."""

    path = FRESH

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, session: aiohttp.ClientSession | None
                 = None) -> None:
        self.ws = ws
        self._session = session
        self.frames: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.replies: dict[Any, dict[str, Any]] = {}
        self.welcome: dict[str, Any] | None = None
        self.close_code: int | None = None
        self._changed = asyncio.Condition()
        self._next_id = 0
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, base: str, room_id: str, token: str | None = None,
                      since: int | None = None, guest: bool = False, epoch: str | None = None,
                      session: aiohttp.ClientSession | None = None, **kw: Any) -> Viewer:
        own = session is None
        http = session or aiohttp.ClientSession()
        params: dict[str, str] = {}
        if token:
            params["token"] = token
        if guest:
            params["guest"] = "1"
        if since is not None:
            params["since"] = str(since)
        if epoch is not None:
            params["epoch"] = epoch
        url = base.replace("http", "ws", 1) + f"/ws/rooms/{room_id}"
        try:
            ws = await open_ws(http, url, params=params, **kw)
        except BaseException:
            if own:
                await http.close()
            raise
        viewer = cls(ws, http if own else None)
        return viewer

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                frame = orjson.loads(msg.data)
                async with self._changed:
                    self.frames.append(frame)
                    kind = frame.get("type")
                    if kind == "welcome":
                        self.welcome = frame
                    elif kind == "events":
                        self.events.extend(frame["events"])
                    elif kind in ("reply", "error", "pong"):
                        self.replies[frame.get("id")] = frame
                    self._changed.notify_all()
        finally:
            self.close_code = self.ws.close_code
            async with self._changed:
                self._changed.notify_all()

    @property
    def closed(self) -> bool:
        return self._task.done()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = WAIT_S) -> Any:
        async def check() -> Any:
            async with self._changed:
                while True:
                    value = predicate()
                    if value:
                        return value
                    if self._task.done():
                        value = predicate()
                        if value:
                            return value
                        raise AssertionError(f"connection closed ({self.close_code}) first")
                    await self._changed.wait()
        return await asyncio.wait_for(check(), timeout)

    async def wait_welcome(self) -> dict[str, Any]:
        welcome: dict[str, Any] = await self.wait_for(lambda: self.welcome)
        return welcome

    async def wait_closed(self, timeout: float = WAIT_S) -> int | None:
        await asyncio.wait_for(asyncio.shield(self._task), timeout)
        return self.close_code

    async def request(self, op: str, **fields: Any) -> dict[str, Any]:
        self._next_id += 1
        req_id = f"r{self._next_id}"
        await self.ws.send_str(orjson.dumps({"op": op, "id": req_id, **fields}).decode())
        frame: dict[str, Any] = await self.wait_for(lambda: self.replies.get(req_id))
        return frame

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]

    def seqs(self) -> list[int]:
        return [e["seq"] for e in self.events if "seq" in e]

    def chat_texts(self) -> list[str]:
        return [e["data"]["text"] for e in self.of_type("chat")]

    def last_counters(self) -> dict[str, Any] | None:
        found = self.of_type("counters")
        return found[-1]["data"] if found else None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        with contextlib.suppress(Exception):
            await self._task
        if self._session is not None:
            await self._session.close()
