"""Demo data for the one-command start: a creator, a live room with an announcement and a few
messages, and tokens to try it with. Re-running reuses the room while it is still live."""

from __future__ import annotations

from typing import Any

from live_server import events
from live_server.auth import mint
from live_server.config import Settings
from live_server.domain.rooms import parse_create
from live_server.protocol import now_ms
from live_server.store.chat import ChatStore
from live_server.store.core import StoreCore, connect
from live_server.store.keys import Keys
from live_server.store.rooms import RoomStore

CREATOR, VIEWER, OPS = "demo_creator", "demo_viewer", "demo_ops"


async def seed(settings: Settings) -> dict[str, Any]:
    client = connect(settings.store.url, 4)
    try:
        core = StoreCore(client, Keys(settings.store.key_prefix))
        rooms = RoomStore(core, history_max=settings.history.max_events,
                          process_ttl_ms=settings.server.process_ttl_ms)
        chat = ChatStore(core, history_max=settings.history.max_events,
                         log_max=settings.ops.log_max_entries)
        marker = f"{settings.store.key_prefix}:demo_room"
        existing: bytes | None = await core.client.get(marker)
        room = await rooms.get(existing.decode()) if existing else None
        if room is None or room.state == "ended":
            room = await rooms.create(CREATOR, parse_create(
                {"title": "Autumn knitwear live sale", "notice": "New drops every 15 minutes"},
                now_ms()))
            await rooms.transition(room.id, "live", CREATOR, now_ms())
            await rooms.set_announcement(room.id, {
                "text": "Welcome! Follow for the 8pm flash sale.", "by": CREATOR, "ts": now_ms()})
            for text in ("Hello everyone, we are live!", "Ask me anything about sizes."):
                message = events.chat(user_id=CREATOR, name="Demo Creator", role="creator",
                                      level=0, fan_club=False, text=text, masked=False)
                await chat.send(room.id, CREATOR, message, now=now_ms(), rate_per_s=100,
                                burst=100, moderator=True, score=0)
            await core.client.set(marker, room.id)
        secret, ttl = settings.auth.secret, settings.auth.token_ttl_s
        return {
            "room_id": room.id,
            "tokens": {
                "creator": mint(secret, CREATOR, "creator", name="Demo Creator", ttl_s=ttl),
                "viewer": mint(secret, VIEWER, "viewer", name="Demo Viewer", ttl_s=ttl),
                "ops": mint(secret, OPS, "ops", name="Demo Ops", ttl_s=ttl),
            },
        }
    finally:
        await client.aclose()
