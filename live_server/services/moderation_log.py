"""The moderation log: who did what to whom, when and why; read by ops, who may undo some of it.

Each entry is addressed by its id in the log's stream. An entry whose action has a reverse
(``UNDO``) is ``undoable`` until someone undoes it; then it carries ``undone`` (by, at)."""

from __future__ import annotations

from typing import Any

from live_server.protocol import Json, now_ms
from live_server.store.moderation_log import ModerationLogStore

# action → the action that reverses it (what services/moderation_undo.py runs)
UNDO = {"ban": "unban", "mute": "unmute", "suspend": "unsuspend", "take_down": "restore"}


def with_undo(entry: Json) -> Json:
    return {**entry, "undoable": entry.get("action") in UNDO and "undone" not in entry}


class ModerationLog:
    def __init__(self, store: ModerationLogStore) -> None:
        self.store = store

    async def record(self, room_id: str, by: str, action: str, target: str | None, reason: str,
                     data: dict[str, Any] | None = None) -> str:
        """Append an entry; its id (what an undo names)."""
        return await self.store.append({
            "ts": now_ms(), "room_id": room_id, "by": by, "action": action, "target": target,
            "reason": reason, "data": data or {},
        })

    async def actions(self, limit: int, room_id: str | None) -> list[Json]:
        return [with_undo(e) for e in await self.store.newest(limit, room_id)]

    async def entry(self, entry_id: str) -> Json | None:
        found = await self.store.entry(entry_id)
        return with_undo(found) if found is not None else None

    async def claim_undo(self, entry_id: str, by: str) -> Json | None:
        """Mark the entry undone by ``by`` now; None if it already was."""
        mark = {"by": by, "at": now_ms()}
        return mark if await self.store.mark_undone(entry_id, mark) else None

    async def release_undo(self, entry_id: str) -> None:
        await self.store.unmark(entry_id)
