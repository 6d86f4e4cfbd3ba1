"""Coupon use cases: the room's creator creates, stops and pins coupons; viewers list and claim
them and read their own. Each checks the role first; every write is one script on the room's
slot. Using a claimed copy is part of buying (``buy.lua``), not of this service.

A stopped coupon takes no new claims, and is unpinned; the copies already claimed stay usable
until its ``end_at`` (a buyer who claimed it keeps what they were given).
"""

from __future__ import annotations

from live_server.auth import Identity, require_room_creator, require_user
from live_server.config import Settings
from live_server.domain.coupons import ROOM_MAX, is_coupon_id, parse_coupon
from live_server.domain.rooms import Room
from live_server.errors import GuestsNotAllowed, NotFound
from live_server.protocol import Json, now_ms
from live_server.services.webhooks import WebhookEmitter
from live_server.store.coupons import CouponStore
from live_server.store.rooms import RoomStore


def _coupon_id(value: str) -> str:
    if not is_coupon_id(value):
        raise NotFound("no such coupon in this room")
    return value


class CouponService:
    def __init__(self, settings: Settings, rooms: RoomStore, store: CouponStore,
                 webhooks: WebhookEmitter | None = None) -> None:
        self.settings = settings
        self.rooms = rooms
        self.store = store
        self.webhooks = webhooks

    async def _creator_of(self, who: Identity, room_id: str) -> tuple[Room, str]:
        """The room, if ``who`` is its creator with a creator token (ops: 403, a coupon is the
        seller's offer; a guest: 401)."""
        room = await self.rooms.require(room_id)
        return room, require_room_creator(who, room.creator_id, "manage its coupons")

    async def create(self, who: Identity, room_id: str, body: Json) -> Json:
        await self._creator_of(who, room_id)
        coupon = parse_coupon(body, room_id=room_id,
                              max_price=self.settings.shelf.max_price_cents, now=now_ms())
        return await self.store.create(room_id, coupon, room_max=ROOM_MAX)

    async def stop(self, who: Identity, room_id: str, coupon_id: str) -> Json:
        _room, uid = await self._creator_of(who, room_id)
        coupon, _seq = await self.store.stop(room_id, _coupon_id(coupon_id), uid, now_ms())
        return coupon

    async def pin(self, who: Identity, room_id: str, coupon_id: str | None) -> Json:
        _room, uid = await self._creator_of(who, room_id)
        cid = _coupon_id(coupon_id) if coupon_id is not None else None
        seq, card = await self.store.pin(room_id, cid, uid, now_ms())
        return {"seq": seq, "coupon": card}

    async def room_coupons(self, who: Identity, room_id: str) -> Json:
        """Anyone who may see the room: the coupons still to claim or use, with ``left``; the
        room's creator (or ops): every coupon with its claimed and used counts."""
        room = await self.rooms.require(room_id)
        if who.is_guest and not room.allow_guests:
            raise GuestsNotAllowed("log in to see this room")
        full = who.is_ops or (who.role == "creator" and who.user_id == room.creator_id)
        cards = await self.store.cards(room_id, "full" if full else "public", now_ms())
        return {"coupons": cards, "server_time": now_ms()}

    async def claim(self, who: Identity, room_id: str, coupon_id: str) -> Json:
        """One copy for a logged-in user; one script (the room, the ban, the window, the cap
        and the quota are its checks), so concurrent claims never pass the quota."""
        uid = require_user(who)
        card, claimed, used, creator_id = await self.store.claim(
            room_id, _coupon_id(coupon_id), uid, now_ms())
        if self.webhooks is not None:  # after the commit: never fails the claim
            await self.webhooks.emit("coupon.claimed", room_id, creator_id, {
                "coupon_id": card["id"], "user_id": uid, "claimed": claimed,
                "left": card["left"]})
        return {"coupon": card, "mine": {"claimed": claimed, "used": used}}

    async def mine(self, who: Identity, room_id: str) -> Json:
        uid = require_user(who)
        await self.rooms.require(room_id)
        return {"coupons": await self.store.mine(room_id, uid, now_ms()),
                "server_time": now_ms()}
