"""Undo from the moderation log: ops reverse a ban, a mute, a platform suspension or a product
take-down through the services that did it, so the reverse is checked and logged like any other
action, and the original entry shows who undid it and when.

An entry is undone once (``already_undone`` after that, two ops clicking at once included: the
claim is taken before the reverse runs and given back if it fails). An entry whose effect is
already gone (lifted by hand, expired, replaced by a newer one) is answered as a no-op that
says so, and marked so that the console stops offering it. Deleted messages are not restorable:
the deletion is in the room's sequenced history every viewer has replayed.
"""

from __future__ import annotations

from live_server.auth import Identity, require_ops
from live_server.errors import AlreadyUndone, InvalidState, NotFound
from live_server.protocol import Json, now_ms
from live_server.services.chat import ChatService
from live_server.services.moderation_log import UNDO, ModerationLog
from live_server.services.shelf import ShelfService
from live_server.services.suspensions import SuspensionService


class ModerationUndo:
    def __init__(self, log: ModerationLog, chat: ChatService, suspensions: SuspensionService,
                 shelf: ShelfService) -> None:
        self.log = log
        self.chat = chat
        self.suspensions = suspensions
        self.shelf = shelf

    async def undo(self, who: Identity, entry_id: str) -> Json:
        """``{"entry", "undone": true}`` once reversed; ``{"entry", "undone": false,
        "reason"}`` when there was nothing left to reverse."""
        uid = require_ops(who)
        entry = await self.log.entry(entry_id)
        if entry is None:
            raise NotFound("no such moderation log entry")
        if "undone" in entry:
            raise AlreadyUndone("this action was already undone", undone=entry["undone"])
        if entry.get("action") not in UNDO:
            raise InvalidState("this action cannot be undone", state=entry.get("action"))
        mark = await self.log.claim_undo(entry_id, uid)
        if mark is None:
            current = await self.log.entry(entry_id) or {}
            raise AlreadyUndone("this action was already undone",
                                undone=current.get("undone"))
        try:
            gone = await self._reverse(who, entry)
        except BaseException:
            await self.log.release_undo(entry_id)
            raise
        done = {**entry, "undone": mark, "undoable": False}
        if gone is not None:
            return {"entry": done, "undone": False, "reason": gone}
        return {"entry": done, "undone": True}

    async def _reverse(self, who: Identity, entry: Json) -> str | None:
        """Run the reverse; None when done, else why there was nothing to reverse."""
        action = entry["action"]
        room_id, target = str(entry.get("room_id") or ""), str(entry.get("target") or "")
        data = entry.get("data") or {}
        if action == "ban":
            banned = await self.chat.list_moderation(who, room_id, "bans")
            if not any(b.get("user_id") == target for b in banned):
                return "the user is no longer banned from this room"
            try:
                await self.chat.unban(who, room_id, target)
            except NotFound:
                return "the user is no longer banned from this room"
            return None
        if action == "mute":
            until = int(data.get("until") or 0)
            mutes = await self.chat.list_moderation(who, room_id, "mutes")
            if until <= now_ms() or not any(
                    m.get("user_id") == target and int(m.get("until", 0)) == until
                    for m in mutes):
                return "this mute has ended or was replaced"
            try:
                await self.chat.unmute(who, room_id, target)
            except NotFound:
                return "this mute has ended or was replaced"
            return None
        if action == "suspend":
            lifted = await self.suspensions.unsuspend(who, target, at=int(data.get("at") or 0),
                                                      reason="undone from the moderation log")
            return None if lifted is not None else "this suspension has ended or was replaced"
        try:  # take_down
            await self.shelf.restore(who, str(data.get("product_id") or ""))
        except InvalidState:
            return "the product is already back on sale"
        return None
