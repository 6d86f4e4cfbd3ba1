"""Upcoming shows on the landing page: GET /api/rooms?state=scheduled lists, for anyone, the
scheduled rooms that have a start time, soonest first; drafts without a time, shows long past
their time, live and ended rooms are not upcoming."""

from __future__ import annotations

import time

from tests.conftest import LiveApp

HOUR_MS = 3_600_000


async def _room(live: LiveApp, title: str, scheduled_at: int | None) -> str:
    status, room = await live.call("POST", "/api/rooms", "alice", "creator",
                                   json={"title": title, "scheduled_at": scheduled_at})
    assert status == 201, room
    return str(room["id"])


async def test_scheduled_rooms_are_listed_soonest_first_for_guests(live: LiveApp) -> None:
    now = int(time.time() * 1000)
    later = await _room(live, "Tomorrow's show", now + 24 * HOUR_MS)
    soon = await _room(live, "Tonight's show", now + 2 * HOUR_MS)
    late = await _room(live, "Starting a little late", now - 10 * 60_000)
    draft = await _room(live, "A draft with no time", None)
    abandoned = await _room(live, "Never started", now - 5 * HOUR_MS)
    live_now = await live.live_room(title="On air")

    status, data = await live.call("GET", "/api/rooms?state=scheduled")
    assert status == 200, data
    ids = [r["id"] for r in data["rooms"]]
    assert ids == [late, soon, later]
    assert {draft, abandoned, live_now}.isdisjoint(ids)
    first = data["rooms"][1]
    assert first["title"] == "Tonight's show"
    assert first["state"] == "scheduled"
    assert first["scheduled_at"] == now + 2 * HOUR_MS

    status, data = await live.call("GET", "/api/rooms?state=scheduled&limit=1")
    assert status == 200
    assert [r["id"] for r in data["rooms"]] == [late]

    # once it goes live it leaves the upcoming list for the live one
    status, _ = await live.call("POST", f"/api/rooms/{soon}/start", "alice", "creator")
    assert status == 200
    _, data = await live.call("GET", "/api/rooms?state=scheduled")
    assert [r["id"] for r in data["rooms"]] == [late, later]
    _, data = await live.call("GET", "/api/rooms?state=live")
    assert soon in [r["id"] for r in data["rooms"]]
