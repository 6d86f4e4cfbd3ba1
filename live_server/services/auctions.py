"""Live auction use cases: the creator opens and (before the first bid) cancels an auction of a
shelf variant, viewers bid (one script per bid), everyone reads the room's auction; the
:class:`AuctionClock` ends auctions, writes the winner's order once and, when it goes unpaid,
offers the item to the next bidder (``domain/auctions.py`` has the rules)."""

from __future__ import annotations

import itertools
import secrets

from live_server.auth import Identity, require_ops, require_room_creator, require_user
from live_server.config import Settings
from live_server.domain.auctions import default_table, min_bid, parse_auction, table_of
from live_server.errors import GuestsNotAllowed, InvalidField, NotFound
from live_server.protocol import Json, is_safe_id, now_ms
from live_server.services.periodic import LEASE_MS, PARK_AFTER, ClockStats, Periodic
from live_server.store.auctions import AuctionStore
from live_server.store.rooms import RoomStore


def new_auction_id() -> str:
    return f"a_{secrets.token_hex(8)}"


class AuctionService:
    def __init__(self, settings: Settings, rooms: RoomStore, store: AuctionStore) -> None:
        self.settings = settings
        self.rooms = rooms
        self.store = store
        cfg = settings.auctions
        self.table = default_table(cfg.increment_below, cfg.increment_steps)

    async def create(self, who: Identity, room_id: str, body: Json) -> Json:
        room = await self.rooms.require(room_id)
        require_room_creator(who, room.creator_id, "auction in it")
        cfg, now = self.settings.auctions, now_ms()
        fields = parse_auction(body, table=self.table,
                               max_price=self.settings.shelf.max_price_cents,
                               min_duration_ms=cfg.min_duration_ms,
                               max_duration_ms=cfg.max_duration_ms, snipe_ms=cfg.snipe_ms,
                               now=now)
        return await self.store.create(room_id, new_auction_id(), str(body["product_id"]),
                                       str(body.get("variant_id") or ""), fields, now)

    async def cancel(self, who: Identity, room_id: str, auction_id: str) -> Json:
        room = await self.rooms.require(room_id)
        require_room_creator(who, room.creator_id, "cancel its auction")
        assert who.user_id is not None
        cfg = self.settings.auctions
        done = await self.store.step(room_id, auction_id, now_ms(), action="cancel",
                                     pay_within_ms=cfg.pay_within_ms,
                                     second_chances=cfg.second_chances, actor=who.user_id)
        assert done.auction is not None
        return done.auction

    async def bid(self, who: Identity, room_id: str, args: Json) -> Json:
        """One bid: ``amount`` (at least the minimum), optionally ``max_amount`` (a proxy
        maximum), ``idempotency_key`` (a retry answers the first reply)."""
        uid = require_user(who)
        key = str(args["idempotency_key"])
        if not is_safe_id(key):
            raise InvalidField("'idempotency_key' must be 1-64 characters of letters, digits, "
                               "'_', '-', '.', '@'", field="idempotency_key")
        amount, top = int(args["amount"]), args.get("max_amount")
        if top is not None and int(top) < amount:
            raise InvalidField("'max_amount' must be at least 'amount'", field="max_amount")
        answer, _created = await self.store.bid(room_id, str(args["auction_id"]), uid, who.name,
                                                amount, None if top is None else int(top), key,
                                                now_ms())
        return answer

    async def view(self, who: Identity, room_id: str) -> Json:
        """The room's latest auction as this viewer sees it: the next valid amount, the server
        time (the countdown follows ``end_at`` against it), and their own standing."""
        room = await self.rooms.require(room_id)
        if who.is_guest and not room.allow_guests:
            raise GuestsNotAllowed("log in to see this room")
        auction = await self.store.current(room_id)
        out: Json = {"auction": auction, "server_time": now_ms(), "you": None}
        if auction is None:
            return out
        out["next_min"] = min_bid(int(auction["start_price"]), int(auction["price"]),
                                  int(auction["bids"]), table_of(auction))
        if who.user_id is not None:
            mine = await self.store.bidder(room_id, auction["id"], who.user_id)
            if mine is not None:
                out["you"] = {"max": mine["max"], "leading": auction["leader"] == who.user_id}
        return out

    async def of_room(self, who: Identity, room_id: str) -> list[Json]:
        """Every auction of the room (its creator or ops: the studio and the report)."""
        room = await self.rooms.require(room_id)
        if not who.is_ops:
            require_room_creator(who, room.creator_id, "read its auctions")
        return await self.store.of_room(room_id)

    async def live(self, who: Identity) -> list[Json]:
        require_ops(who)
        return await self.store.live()

    async def bids(self, room_id: str, auction_id: str) -> list[Json]:
        if await self.store.get(room_id, auction_id) is None:
            raise NotFound("no such auction in this room")
        return await self.store.bids(room_id, auction_id)

    async def note_paid(self, order: Json) -> None:
        """A paid order: if it is an auction's, its clock step is due now (the auction
        becomes ``paid`` at once instead of at the order's deadline)."""
        auction_id = order.get("auction_id")
        if auction_id:
            await self.store.wake(str(order["room_id"]), str(auction_id), now_ms())

    async def tick(self, member: str, now: int) -> None:
        """One clock step of ``room|auction``."""
        room_id, auction_id = member.split("|", 1)
        cfg = self.settings.auctions
        await self.store.step(room_id, auction_id, now, pay_within_ms=cfg.pay_within_ms,
                              second_chances=cfg.second_chances)


class AuctionAudit:
    """The audit's check of every auction against its books (``live-server audit``): the
    accepted bids rise strictly and end at the auction's price, each offer's order exists for
    the right buyer at the right amount (the winner at the price, a next bidder at their
    maximum), at most one of them is still live or paid (the item is sold once), a paid
    auction's order is paid and credited in the room's ledger at its amount, and an auction
    that sold nothing holds no order. It reads no wallet entry (auction orders are paid
    through the payment provider, like purchases)."""

    def __init__(self, store: AuctionStore) -> None:
        self.store = store

    def note(self, entry: dict[str, str]) -> None:
        """Auction money is not in the wallet ledger: nothing to note."""

    async def finish(self) -> list[str]:
        out: list[str] = []
        for member in await self.store.all_members():
            auction, bids, orders, credits = await self.store.books(member)
            if auction is None:
                out.append(f"auction {member}: missing")
                continue
            out += auction_mismatches(auction, bids, orders, credits)
        return out


def auction_mismatches(auction: Json, bids: list[Json], orders: list[Json],
                       credits: list[Json]) -> list[str]:
    """What disagrees in one auction's books (see :class:`AuctionAudit`)."""
    aid, out = auction["id"], []
    prices = [int(b["price"]) for b in bids]
    if any(a >= b for a, b in itertools.pairwise(prices)):
        out.append(f"auction {aid}: accepted bids do not rise strictly")
    if (prices and prices[-1] != int(auction["price"])) or len(prices) != int(auction["bids"]):
        out.append(f"auction {aid}: {len(prices)} bids ending at {prices[-1:]}, the auction "
                   f"says {auction['bids']} at {auction['price']}")
    # a late payment (paid_late, to be refunded) and a refund do not hold the unit
    live = [o for o in orders if o.get("state") in ("reserved", "paying", "paid", "fulfilled")]
    if len(live) > 1:
        out.append(f"auction {aid}: {len(live)} live or paid orders")
    for n, order in enumerate(orders, 1):
        if not order:
            out.append(f"auction {aid}: offer {n}'s order is missing")
        elif order.get("auction_id") != aid or int(order["quantity"]) != 1:
            out.append(f"auction {aid}: order {order['id']} is not this auction's one unit")
        elif n == 1 and (order["buyer"] != auction["leader"]
                         or int(order["amount"]) != int(auction["price"])):
            out.append(f"auction {aid}: the winner's order is {order['buyer']} at "
                       f"{order['amount']}, the auction says {auction['leader']} at "
                       f"{auction['price']}")
    if auction["state"] in ("unsold",) or auction.get("reason") == "cancelled":
        if orders:
            out.append(f"auction {aid}: {auction['state']} but holds {len(orders)} orders")
    if auction["state"] in ("awaiting", "paid"):
        last = orders[-1] if orders else {}
        if (not last or last.get("buyer") != auction.get("buyer")
                or int(last.get("amount", -1)) != int(auction.get("offer_price") or -1)):
            out.append(f"auction {aid}: its current order does not match its offer")
        if auction["state"] == "paid":
            paid = sum(int(c["amount"]) for c in credits
                       if c.get("kind") == "credit" and c.get("order") == last.get("id"))
            if last.get("state") not in ("paid", "fulfilled", "refunded") or \
                    paid != int(auction.get("offer_price") or 0):
                out.append(f"auction {aid}: paid, but its order is {last.get('state')} with "
                           f"{paid} credited in the room's ledger")
    return out


class AuctionClock(Periodic):
    """Per process: every ``auctions.scheduler_interval_ms``, the due auctions' clock steps
    (end, the winner's order, the next bidder's offer). Every process may do it at once: each
    claims its auctions with a lease (``Periodic.work``), and each step is a script that acts
    only if it is still to be done (the shelf's scheduler pattern), so an order is written
    once whichever process ends the auction."""

    name = "auction-clock"

    def __init__(self, service: AuctionService, interval_ms: int, *,
                 stats: ClockStats | None = None, lease_ms: int = LEASE_MS,
                 park_after: int = PARK_AFTER) -> None:
        self.service = service
        super().__init__(interval_ms, stats=stats, lease_ms=lease_ms, park_after=park_after)
        self.due = self.schedule(service.store.core, service.store.due_key)

    async def run_once(self, now: int) -> int:
        async def step(member: str) -> None:
            try:
                await self.service.tick(member, now)
            except NotFound:  # the auction is gone: step() unscheduled it
                pass

        return await self.work(self.due, now, step)
