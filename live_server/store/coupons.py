"""A room's coupons in Valkey: create, claim, stop, pin, and the lists.

Every key is under the room's hash tag (``{room}:coupons``, ``:cclaim``, ``:cuse``, ``:cpin``),
so a claim checks the quota and the user's cap and counts the copy in one script on one slot,
and the buy script can use a copy the same way. The coupon's cards are built in Lua
(``coupon_json`` in ``_lib.lua``) for every view, so lists, the pinned card and the events agree.
"""

from __future__ import annotations

from typing import Any

import orjson

from live_server.errors import (
    Banned,
    CouponEnded,
    CouponGone,
    CouponLimit,
    CouponNotStarted,
    CouponStopped,
    Internal,
    InvalidField,
    InvalidState,
    LiveError,
    NotFound,
)
from live_server.protocol import Json, dumps
from live_server.store.core import StoreCore, text


def _json(raw: bytes | str) -> Json:
    value: Json = orjson.loads(raw)
    return value


class CouponStore:
    def __init__(self, core: StoreCore, *, history_max: int) -> None:
        self.core = core
        self.keys = core.keys
        self.history_max = history_max

    async def create(self, room_id: str, coupon: Json, *, room_max: int) -> Json:
        """Store a new coupon; its products must be on the shelf now. Returns it (full view)."""
        k = self.keys.room(room_id)
        reply = await self.core.script(
            "coupon_create", [k.meta, self.keys.shelf(room_id).shelf,
                              self.keys.coupons(room_id).coupons],
            [dumps(coupon), room_max])
        return _json(_checked(reply)[1])

    async def claim(self, room_id: str, coupon_id: str, user_id: str, now: int,
                    ) -> tuple[Json, int, int, str]:
        """(the coupon's public card, copies the user claimed, copies they used, the room's
        creator), or the refusal; a refused claim changes nothing."""
        k, c = self.keys.room(room_id), self.keys.coupons(room_id)
        reply = _checked(await self.core.script(
            "coupon_claim", [k.meta, k.bans, c.coupons, c.claims, c.uses],
            [k.channel, now, coupon_id, user_id]))
        return _json(reply[1]), int(reply[2]), int(reply[3]), text(reply[4])

    async def pin(self, room_id: str, coupon_id: str | None, by: str, now: int,
                  ) -> tuple[int, Json | None]:
        """Pin a coupon (or clear the pin with None): (seq of ``coupon_pinned``, its card)."""
        k, c = self.keys.room(room_id), self.keys.coupons(room_id)
        reply = _checked(await self.core.script(
            "coupon_pin", [k.meta, c.coupons, c.pinned, k.seq, k.events],
            [k.channel, self.history_max, now, dumps(by), coupon_id or ""]))
        card: Json | None = orjson.loads(reply[2])
        return int(reply[1]), card

    async def stop(self, room_id: str, coupon_id: str, by: str, now: int) -> tuple[Json, int]:
        """Stop new claims: (the coupon, full view; seq of the unpin it caused, or 0)."""
        k, c = self.keys.room(room_id), self.keys.coupons(room_id)
        reply = _checked(await self.core.script(
            "coupon_stop", [k.meta, c.coupons, c.pinned, k.seq, k.events],
            [k.channel, self.history_max, now, dumps(by), coupon_id]))
        return _json(reply[1]), int(reply[2])

    async def cards(self, room_id: str, view: str, now: int) -> list[Json]:
        """Every coupon of the room as ``full`` cards (the creator's view), or the ``public``
        cards of those still claimable or usable, oldest first."""
        reply = await self._list(room_id, view, "", now)
        return _oldest_first([_json(raw) for raw in reply])

    async def mine(self, room_id: str, user_id: str, now: int) -> list[Json]:
        """The coupons ``user_id`` claimed in the room, each card with ``mine``: the copies
        claimed and used."""
        reply = await self._list(room_id, "mine", user_id, now)
        return _oldest_first([
            {**_json(reply[i]), "mine": {"claimed": int(reply[i + 1]),
                                         "used": int(reply[i + 2])}}
            for i in range(0, len(reply), 3)])

    async def _list(self, room_id: str, view: str, user_id: str, now: int) -> list[Any]:
        c = self.keys.coupons(room_id)
        reply: list[Any] = await self.core.script(
            "coupon_list", [c.coupons, c.claims, c.uses], [view, user_id, now])
        return reply


def _oldest_first(cards: list[Json]) -> list[Json]:
    return sorted(cards, key=lambda card: (card["created_at"], card["id"]))


def _checked(reply: list[Any]) -> list[Any]:
    """The script's reply if it is ``ok``; else the coded error it means."""
    status = text(reply[0])
    if status == "ok":
        return reply
    raise refusal(status, reply)


def refusal(status: str, reply: list[Any]) -> LiveError:
    if status == "not_found":
        return NotFound("no such room")
    if status == "invalid_state":
        return InvalidState(f"room is {text(reply[1])}", state=text(reply[1]))
    if status == "no_coupon":
        return NotFound("no such coupon in this room")
    if status == "banned":
        return Banned("you are banned from this room")
    if status == "coupon_stopped":
        return CouponStopped("the coupon has been stopped")
    if status == "coupon_not_started":
        return CouponNotStarted("the coupon cannot be claimed yet", start_at=int(reply[1]))
    if status == "coupon_ended":
        return CouponEnded("the coupon has ended", end_at=int(reply[1]))
    if status == "coupon_limit":
        return CouponLimit("you hold as many copies as the coupon allows",
                           claimed=int(reply[1]))
    if status == "coupon_gone":
        return CouponGone("every copy of the coupon has been claimed")
    if status == "full":
        return InvalidField("the room holds as many coupons as it may")
    if status == "not_on_shelf":
        return InvalidField(f"'product_ids': {text(reply[1])} is not on this room's shelf")
    return Internal(f"unexpected reply {status}")
