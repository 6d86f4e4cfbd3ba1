"""The few HTTP calls of the public protocol the generator needs: make a live room, read it back.

Why so few: the generator measures the websocket path; HTTP is only used to set the stage
(create and start a room), to read the exact totals back (`counters.hearts`), and — with an ops
token — to learn how many connections each server process holds.
"""

from __future__ import annotations

from typing import Any

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=10)


class ApiError(RuntimeError):
    """An HTTP call answered with an error status."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status


async def call(
    method: str, url: str, token: str | None = None, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Any JSON call of the public protocol (also the stages: products, shelf, sales, wallets)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.request(method, url, json=body, headers=headers) as resp,
    ):
        text = await resp.text()
        if resp.status >= 400:
            raise ApiError(resp.status, text)
        data = await resp.json(content_type=None) if text else {}
        return data if isinstance(data, dict) else {"data": data}


async def create_live_room(base: str, creator_token: str, title: str) -> str:
    """POST /api/rooms then /start; returns the id of a live room that admits guests."""
    room = await call(
        "POST", f"{base}/api/rooms", creator_token, {"title": title, "allow_guests": True}
    )
    room_id = room.get("id") or (room.get("room") or {}).get("id")
    if not isinstance(room_id, str):
        raise ApiError(0, f"no room id in {room}")
    await call("POST", f"{base}/api/rooms/{room_id}/start", creator_token, {})
    return room_id


async def get_room(base: str, room_id: str) -> dict[str, Any]:
    """GET /api/rooms/{id}: the room with `counters` and `announcement`."""
    return await call("GET", f"{base}/api/rooms/{room_id}")


async def room_hearts(base: str, room_id: str) -> int | None:
    """The room's heart total as the server reports it (`counters.hearts`)."""
    room = await get_room(base, room_id)
    counters = room.get("counters") or (room.get("room") or {}).get("counters") or {}
    hearts = counters.get("hearts") if isinstance(counters, dict) else None
    return hearts if isinstance(hearts, int) else None


async def connections_by_pid(base: str, ops_token: str) -> dict[int, int]:
    """{pid: open connections} from GET /api/ops/rooms (`processes`); empty when unavailable."""
    try:
        data = await call("GET", f"{base}/api/ops/rooms", ops_token)
    except (ApiError, aiohttp.ClientError, TimeoutError):
        return {}
    out: dict[int, int] = {}
    for p in data.get("processes") or []:
        if isinstance(p, dict) and isinstance(p.get("pid"), int):
            conns = p.get("connections")
            out[p["pid"]] = conns if isinstance(conns, int) else 0
    return out
