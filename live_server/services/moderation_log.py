"""The moderation log: who did what to whom, when and why; read by ops."""

from __future__ import annotations

from typing import Any

from live_server.protocol import Json, now_ms
from live_server.store.chat import ChatStore


class ModerationLog:
    def __init__(self, store: ChatStore) -> None:
        self.store = store

    async def record(self, room_id: str, by: str, action: str, target: str | None, reason: str,
                     data: dict[str, Any] | None = None) -> None:
        await self.store.log_action({
            "ts": now_ms(), "room_id": room_id, "by": by, "action": action, "target": target,
            "reason": reason, "data": data or {},
        })

    async def actions(self, limit: int, room_id: str | None) -> list[Json]:
        return await self.store.actions(limit, room_id)
