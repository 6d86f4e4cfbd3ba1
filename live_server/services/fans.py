"""Fans of a creator: follows, the fan club, intimacy points and the badge shown on chat.

Intimacy is earned from what a user does around a creator's rooms (chat, hearts, minutes
watched, grabs, purchases, joining the club), each source capped per day. The hooks
``note_chat``, ``note_hearts``, ``note_watch`` and ``note_paid`` are how the chat service, the
node and the order service tell this service what happened; they never fail the caller's work
(the callers run them through ``AfterCommit``, as the club join runs its own points).
"""

from __future__ import annotations

from live_server.auth import Identity, require_user
from live_server.config import Settings
from live_server.domain.rooms import Room
from live_server.errors import InvalidField
from live_server.protocol import Json, now_ms
from live_server.services.after_commit import AfterCommit
from live_server.services.transfers import Transfers
from live_server.store.fans import FanStore
from live_server.store.rooms import RoomStore
from live_server.store.transfers import Received


def utc_day(now: int | None = None, starts_at_utc_hour: int = 0) -> int:
    """Days since the epoch, each starting at ``starts_at_utc_hour`` UTC: the unit of the
    intimacy caps. ``now`` in ms (default: the clock)."""
    return ((now_ms() if now is None else now) - starts_at_utc_hour * 3_600_000) // 86_400_000


class FanService:
    def __init__(self, settings: Settings, rooms: RoomStore, store: FanStore,
                 after: AfterCommit | None = None,
                 transfers: Transfers | None = None) -> None:
        self.settings = settings
        self.after = after or AfterCommit()
        self.cfg = settings.fans
        self.rooms = rooms
        self.store = store
        self._creators: dict[str, str] = {}  # room id → its creator (hearts)
        # (creator, user, source, day) that reached the day's cap here: no call until tomorrow
        self._capped: set[tuple[str, str, str, int]] = set()
        if transfers is not None:
            transfers.register("club", self._finish_join)

    def day(self, now: int | None = None) -> int:
        """The intimacy day of ``now`` (ms; default: the clock), per fans.day_starts_at_utc_hour."""
        return utc_day(now, self.cfg.day_starts_at_utc_hour)

    async def fans(self, who: Identity, creator_id: str, now: int | None = None) -> Json:
        followers, members, follows, member, total, today, top = await self.store.fans_card(
            creator_id, who.user_id, self.day(now), self.cfg.top)
        return {"creator_id": creator_id, "followers": followers, "fan_club_members": members,
                "following": follows, "fan_club_member": member,
                "fan_club_fee": self.settings.money.fan_club_fee_cents,
                "currency": self.settings.shelf.currency,
                "intimacy": total, "intimacy_today": today,
                "level": self.cfg.level(total),
                "intimacy_daily_cap": self.cfg.daily_cap,
                "top": [{"user": u, "intimacy": p} for u, p in top]}

    async def earn(self, creator_id: str, user_id: str, source: str, count: int = 1,
                   now: int | None = None) -> int:
        """Intimacy points toward a creator (never toward oneself) for ``count`` events of
        ``source`` (see INTIMACY_SOURCES), capped per (user, source) per day; the points added."""
        per, cap = self.cfg.source(source)
        points = per * count
        if points <= 0 or cap <= 0 or user_id == creator_id:
            return 0
        day = self.day(now)
        capped = (creator_id, user_id, source, day)
        if capped in self._capped:
            return 0
        added, _total = await self.store.add_intimacy(creator_id, user_id, points, cap, day,
                                                      source)
        if added < points:  # the cap is reached for today: later events earn nothing
            self._note_capped(capped)
        return added

    def _note_capped(self, capped: tuple[str, str, str, int]) -> None:
        """(creator, user, source, day) reached its cap: remembered by this process (bounded;
        forgetting only costs a call that adds nothing)."""
        if len(self._capped) > 100_000:
            self._capped.clear()
        self._capped.add(capped)

    async def follows(self, user_id: str, creator_id: str) -> bool:
        return await self.store.follows(user_id, creator_id)

    async def follow(self, who: Identity, creator_id: str, on: bool) -> Json:
        uid = require_user(who)
        if uid == creator_id:
            raise InvalidField("you cannot follow yourself")
        await self.store.follow(uid, creator_id, on, now_ms())
        return await self.fans(who, creator_id)

    async def join_club(self, who: Identity, creator_id: str) -> Json:
        """Pay the fee and join (one script, or a transfer when the member's wallet is on
        another bucket than the creator's); the points for joining come after, as after-commit
        work: the fee is paid, so a failure there must not answer an error, whose retry would
        be ``already_member``."""
        uid = require_user(who)
        if uid == creator_id:
            raise InvalidField("you cannot join your own fan club")
        balance = await self.store.join_club(uid, creator_id,
                                             self.settings.money.fan_club_fee_cents, now_ms())
        await self.after.run("club_intimacy", self.earn(creator_id, uid, "fan_club"))
        return {**await self.fans(who, creator_id), "balance": balance}

    async def _finish_join(self, transfer_id: str, record: Json, now: int) -> Received:
        """The reconciler's way to finish a join whose process died after the member paid on
        their bucket: the join on the creator's bucket (once, however often it runs); a
        member already is refused for good, and the fee goes back. The call that made the
        join gives its points (the dead caller never did)."""
        received = await self.store.receive_join(transfer_id, record, now)
        if received.moved and received.ok:
            await self.after.run("club_intimacy", self.earn(record["creator"], record["payer"],
                                                            "fan_club"))
        return received

    async def badge(self, creator_id: str, user_id: str) -> tuple[int, bool]:
        """(level, fan-club member) of a user toward a creator: shown next to chat messages."""
        points, member = await self.store.badge(creator_id, user_id)
        return self.cfg.level(points), member

    # What happened elsewhere -------------------------------------------------------------

    async def note_chat(self, room: Room, user_id: str, text: str) -> None:
        """A chat message was sent: intimacy toward the room's creator."""
        await self.earn(room.creator_id, user_id, "chat")

    async def note_hearts(self, by_room: dict[str, dict[str, int]],
                          now: int | None = None) -> None:
        """One tick's hearts (room → user → count): intimacy toward each room's creator, all in
        one pipelined round."""
        await self._earn_many("heart", by_room, now)

    async def note_gifts(self, by_room: dict[str, dict[str, int]],
                         now: int | None = None) -> None:
        """A batch of gift sends (room → sender → gifts): intimacy toward each room's creator,
        in one pipelined round."""
        await self._earn_many("gift", by_room, now)

    async def note_watch(self, by_room: dict[str, list[str]], now: int | None = None) -> None:
        """A minute watched (room → logged-in users connected): intimacy toward each room's
        creator, in one pipelined round."""
        await self._earn_many("watch", {room_id: dict.fromkeys(users, 1)
                                        for room_id, users in by_room.items()}, now)

    async def _earn_many(self, source: str, by_room: dict[str, dict[str, int]],
                         now: int | None) -> None:
        """``earn`` for many users of one source at once (room → user → count), in one
        pipelined round: the batched sources come from every viewer of the process."""
        per, cap = self.cfg.source(source)
        if per <= 0 or cap <= 0:
            return
        day = self.day(now)
        items = []
        for room_id, users in by_room.items():
            creator_id = await self._creator_of(room_id)
            if creator_id is None:
                continue
            # a viewer at today's cap earns nothing more: not asked again (in a busy room most
            # hearts come from viewers who reached it, and each call costs the creator's slot)
            items += [(creator_id, uid, per * count) for uid, count in users.items()
                      if uid != creator_id and count > 0
                      and (creator_id, uid, source, day) not in self._capped]
        if items:
            added = await self.store.add_intimacy_many(items, cap, day, source)
            for (creator_id, uid, points), got in zip(items, added, strict=True):
                if got < points:
                    self._note_capped((creator_id, uid, source, day))

    async def note_paid(self, order: Json) -> None:
        """An order was paid: intimacy toward the room's creator for the buyer."""
        room = await self.rooms.get(str(order["room_id"]))
        if room is not None:
            await self.earn(room.creator_id, str(order["buyer"]), "buy")

    async def _creator_of(self, room_id: str) -> str | None:
        """A room's creator (fixed for its life), cached."""
        creator_id = self._creators.get(room_id)
        if creator_id is None:
            room = await self.rooms.get(room_id)
            if room is None:
                return None
            if len(self._creators) >= 10_000:
                self._creators.clear()
            creator_id = self._creators[room_id] = room.creator_id
        return creator_id
