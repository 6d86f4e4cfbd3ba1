"""Live auctions in Valkey: one script per step on the room's slot (create, bid, the clock's
settle/offer, cancel), the schedule every process works, and the reads.

Keys, all under the room's hash tag except the two schedules:
``{room}:auc`` (hash: auction id → the auction's public JSON), ``{room}:auc:cur`` (string: the
room's latest auction), ``{room}:auc:<id>:who`` (hash: bidder → ``{max, at, name, last,
offered}``: the maxima stay here, never in an event), ``{room}:auc:<id>:idem`` (hash:
``<user>:<key>`` → the bid's reply), ``{room}:auc:<id>:bids`` (list: every accepted bid, in
order); ``<prefix>:auctions:due`` (zset: ``room|auction`` → its next clock step) and
``<prefix>:auctions:live`` (zset: ``room|auction`` → end, the auctions not settled yet)."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from live_server.errors import (
    AlreadyLeading,
    AuctionClosed,
    AuctionExists,
    AuctionHasBids,
    BidTooLow,
    Internal,
    InvalidState,
    NotFound,
    SoldOut,
)
from live_server.protocol import Json, dumps
from live_server.store.core import StoreCore, text
from live_server.store.shelf import buy_refusal
from live_server.store.stock import ALLOTMENT_CHECK_MS, Short, StockStore


def auctions_key(prefix: str, room_id: str) -> str:
    """hash: auction id → the auction's public JSON, for one room."""
    return f"{prefix}:{{{room_id}}}:auc"


@dataclasses.dataclass(frozen=True, slots=True)
class AuctionKeys:
    auctions: str
    current: str
    bidders: str
    idem: str
    bids: str


@dataclasses.dataclass(frozen=True, slots=True)
class Settled:
    """What a clock step did: the auction after it (None: nothing to do), a new order, the
    next time to look (None: finished)."""

    auction: Json | None
    order: Json | None
    due: int | None


class AuctionStore:
    def __init__(self, core: StoreCore, *, history_max: int, order_stream_max: int) -> None:
        self.core = core
        self.keys = core.keys
        self.history_max = history_max
        self.order_stream_max = order_stream_max
        self.stock = StockStore(core)
        self.due_key = f"{core.keys.prefix}:auctions:due"
        self.live_key = f"{core.keys.prefix}:auctions:live"
        self.all_key = f"{core.keys.prefix}:auctions:all"

    def akeys(self, room_id: str, auction_id: str = "") -> AuctionKeys:
        base = auctions_key(self.keys.prefix, room_id)
        return AuctionKeys(auctions=base, current=f"{base}:cur", bidders=f"{base}:{auction_id}:who",
                           idem=f"{base}:{auction_id}:idem", bids=f"{base}:{auction_id}:bids")

    # Writes -----------------------------------------------------------------------------

    async def create(self, room_id: str, auction_id: str, product_id: str, variant_id: str,
                     fields: Json, now: int, *, attempts: int = 3) -> Json:
        """Open the auction with one unit from the room's allotment, drawing one from the
        catalogue when the allotment has none (``sold_out`` when the catalogue has none)."""
        k, s, a = self.keys.room(room_id), self.keys.shelf(room_id), self.akeys(room_id)
        for _ in range(attempts):
            reply = await self.core.script(
                "auction_create",
                [k.meta, s.shelf, s.products, self.keys.allotment(room_id), a.auctions,
                 a.current, k.seq, k.events],
                [k.channel, self.history_max, now, auction_id, product_id, variant_id,
                 dumps(fields), room_id])
            status = text(reply[0])
            if status == "ok":
                auction: Json = orjson.loads(reply[1])
                member = f"{room_id}|{auction_id}"
                async with self.core.client.pipeline(transaction=False) as pipe:
                    pipe.zadd(self.due_key, {member: auction["end_at"]})
                    pipe.zadd(self.live_key, {member: auction["end_at"]})
                    pipe.zadd(self.all_key, {member: now})
                    await pipe.execute()
                return auction
            if status != "need":
                raise _refusal(status, reply)
            await self._draw_one(room_id, text(reply[1]), product_id, text(reply[2]), now)
        raise InvalidState("the unit drawn for the auction was bought first", state="busy")

    async def _draw_one(self, room_id: str, creator: str, product_id: str, variant_id: str,
                        now: int) -> None:
        try:
            await self.stock.draw(creator, room_id, product_id, variant_id, 1, now)
        except Short:
            raise SoldOut("no unit of this variant is left to auction") from None

    async def bid(self, room_id: str, auction_id: str, bidder: str, name: str, amount: int,
                  max_amount: int | None, idempotency_key: str, now: int) -> tuple[Json, bool]:
        """(the reply, True) for a bid taken now, (the first reply, False) for a repeated key."""
        k, a = self.keys.room(room_id), self.akeys(room_id, auction_id)
        reply = await self.core.script(
            "auction_bid", [k.meta, a.auctions, a.bidders, a.idem, a.bids, k.seq, k.events],
            [k.channel, self.history_max, now, auction_id, bidder, dumps(name), amount,
             "" if max_amount is None else max_amount, idempotency_key])
        status = text(reply[0])
        if status in ("ok", "dup"):
            # an extension needs no reschedule: the clock's step at the old end answers
            # not_due with the new one
            answer: Json = orjson.loads(reply[1])
            return answer, status == "ok"
        if status == "not_found":
            raise NotFound("no such auction in this room")
        if status == "closed":
            raise AuctionClosed("the auction has ended", end_at=int(reply[1]))
        if status == "too_low":
            raise BidTooLow("the bid is below the minimum", min=int(reply[1]))
        if status == "leading":
            raise AlreadyLeading("you lead already: raise your max_amount instead",
                                 price=int(reply[1]))
        raise Internal(f"unexpected reply {status}")

    async def step(self, room_id: str, auction_id: str, now: int, *, action: str = "tick",
                   pay_within_ms: int, second_chances: int, actor: str = "system") -> Settled:
        """One clock step (or ``cancel``), drawing a unit for a next bidder when the room has
        none; reschedules or unschedules the auction."""
        k, s, a = self.keys.room(room_id), self.keys.shelf(room_id), self.akeys(room_id,
                                                                                auction_id)
        member = f"{room_id}|{auction_id}"
        for _ in range(3):
            reply = await self.core.script(
                "auction_tick",
                [k.meta, a.auctions, a.bidders, self.keys.allotment(room_id), s.products,
                 s.orders, s.order_list, s.order_stream, s.bought, k.seq, k.events],
                [k.channel, self.history_max, now, auction_id, action, pay_within_ms,
                 self.order_stream_max, second_chances, actor])
            status = text(reply[0])
            if status == "need":
                try:
                    await self.stock.draw(text(reply[1]), room_id, text(reply[2]),
                                          text(reply[3]), 1, now)
                except Short:
                    action = "no_stock"
                continue
            break
        if status == "not_found":
            await self.core.client.zrem(self.due_key, member)
            raise NotFound("no such auction in this room")
        if status == "has_bids":
            raise AuctionHasBids("the auction has bids: it runs to its end")
        if status == "closed":
            raise AuctionClosed("the auction is not open")
        if status == "not_due":
            await self.core.client.zadd(self.due_key, {member: int(reply[1])})
            return Settled(None, None, int(reply[1]))
        if status == "idle":
            await self._finished(member)
            return Settled(orjson.loads(reply[1]), None, None)
        if status != "done":
            raise Internal(f"unexpected reply {status}")
        auction: Json = orjson.loads(reply[1])
        order: Json | None = orjson.loads(reply[2]) if text(reply[2]) else None
        if order is not None:
            due = int(order["expires_at"]) + 1000
            async with self.core.client.pipeline(transaction=False) as pipe:
                pipe.zadd(self.keys.buyer_orders(order["buyer"]),
                          {order["id"]: order["created_at"]})
                pipe.zadd(self.keys.orders_due, {order["id"]: order["expires_at"]})
                pipe.zadd(self.due_key, {member: due})
                pipe.zrem(self.live_key, member)
                await pipe.execute()
            return Settled(auction, order, due)
        if auction["state"] in ("unsold", "cancelled"):
            # the unit went back to the allotment: an ended room gives it back to the catalogue
            await self.core.client.zadd(self.keys.allotment_rooms,
                                        {room_id: now + ALLOTMENT_CHECK_MS}, nx=True)
        await self._finished(member)
        return Settled(auction, None, None)

    async def wake(self, room_id: str, auction_id: str, now: int) -> None:
        """Make the auction's clock step due now (it is still scheduled: not finished)."""
        await self.core.client.zadd(self.due_key, {f"{room_id}|{auction_id}": now}, xx=True)

    async def _finished(self, member: str) -> None:
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.zrem(self.due_key, member)
            pipe.zrem(self.live_key, member)
            await pipe.execute()

    # Reads ------------------------------------------------------------------------------

    async def get(self, room_id: str, auction_id: str) -> Json | None:
        raw = await self.core.client.hget(self.akeys(room_id).auctions, auction_id)
        return orjson.loads(raw) if raw else None

    async def current(self, room_id: str) -> Json | None:
        """The room's latest auction (open, or settled: its result)."""
        a = self.akeys(room_id)
        current = await self.core.client.get(a.current)
        return await self.get(room_id, current.decode()) if current else None

    async def of_room(self, room_id: str) -> list[Json]:
        """Every auction the room held, oldest first."""
        raw = await self.core.client.hvals(self.akeys(room_id).auctions)
        return sorted((orjson.loads(r) for r in raw), key=lambda a: int(a["start_at"]))

    async def bidder(self, room_id: str, auction_id: str, user_id: str) -> Json | None:
        raw = await self.core.client.hget(self.akeys(room_id, auction_id).bidders, user_id)
        return orjson.loads(raw) if raw else None

    async def bids(self, room_id: str, auction_id: str) -> list[Json]:
        """Every accepted bid in order: ``{price, leader, by, amount, at, end_at}``."""
        raw = await self.core.client.lrange(self.akeys(room_id, auction_id).bids, 0, -1)
        return [orjson.loads(r) for r in raw]

    async def books(self, member: str) -> tuple[Json | None, list[Json], list[Json], list[Json]]:
        """What the audit reads of one ``room|auction``: the auction, every accepted bid, the
        order of each offer (in order; a missing one is ``{}``) and the room's commission
        ledger entries for them."""
        room_id, auction_id = member.split("|", 1)
        auction = await self.get(room_id, auction_id)
        if auction is None:
            return None, [], [], []
        ids = [f"o.{room_id}.{auction_id}-{n}" for n in range(1, int(auction["offers"]) + 1)]
        s = self.keys.shelf(room_id)
        raws = await self.core.client.hmget(s.orders, ids) if ids else []
        orders = [orjson.loads(r) if r else {} for r in raws]
        credits = [{k.decode(): v.decode() for k, v in fields.items()}
                   for _id, fields in await self.core.client.xrange(s.ledger)]
        mine = [c for c in credits if c.get("order") in ids]
        return auction, await self.bids(room_id, auction_id), orders, mine

    async def all_members(self) -> list[str]:
        """Every auction ever opened, as ``room|auction``, oldest first."""
        return [m.decode() for m in await self.core.client.zrange(self.all_key, 0, -1)]

    async def live(self, limit: int = 200) -> list[Json]:
        """Auctions not settled yet, ending soonest first (the ops console)."""
        members = await self.core.client.zrange(self.live_key, 0, limit - 1)
        out = []
        for m in members:
            room_id, auction_id = m.decode().split("|", 1)
            auction = await self.get(room_id, auction_id)
            if auction is not None:
                out.append(auction)
        return out


def _refusal(status: str, reply: list[Any]) -> Exception:
    """A refused create: the room and product refusals as a purchase's (``buy_refusal``)."""
    if status == "not_found":
        return NotFound("no such room")
    if status == "not_on_shelf":
        return NotFound("the product is not on this room's shelf")
    if status == "exists":
        return AuctionExists("the room has an open auction", auction_id=text(reply[1]))
    return buy_refusal(status, reply)
