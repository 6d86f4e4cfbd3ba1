"""Lucky draws (福袋): the creator opens one, viewers present in the room enter with one tap,
and at ``end_at`` the ``DrawClock`` draws it once, verifiably.

At creation the seed is drawn and only its commitment published; a cash prize leaves the
creator's wallet at once, a coupon prize's copies are reserved. At ``end_at`` (from any process,
as often as it likes) the entrants are frozen, the winners computed by ``domain/draws.py`` and
the result recorded once with the seed revealed; then the cash is paid out and the rest
returned, once. Each step is idempotent, so a process that dies between them leaves the next
pass to finish the job.

A draw's cash is on its creator's wallet bucket; a winner on another bucket is paid by a
transfer the settling script writes pending, finished here right after it (a plain credit,
``services/transfers.py``) or, if this process died, by the next pass or the transfers'
reconciler.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

from live_server import events
from live_server.auth import Identity, require_ops, require_room_creator, require_user
from live_server.config import Settings
from live_server.domain.draws import (
    commitment,
    entrants_hash,
    new_draw_id,
    new_seed,
    pick_winners,
)
from live_server.domain.redpacket import normalise_keyword
from live_server.domain.rooms import Room
from live_server.domain.variants import find_variant
from live_server.errors import AddressRequired, Forbidden, InvalidField, InvalidState, NotFound
from live_server.protocol import Json, is_safe_id, now_ms
from live_server.services.fans import FanService
from live_server.services.periodic import LEASE_MS, PARK_AFTER, ClockStats, Periodic
from live_server.services.pipelined import Pipelined
from live_server.services.transfers import Transfers
from live_server.store.draws import DrawStore, Entry, Settled, prize_transfer_winner
from live_server.store.orders import OrderStore
from live_server.store.rooms import RoomStore

log = logging.getLogger(__name__)

KEYWORD_ROOMS_TTL_S = 10.0  # a missed draw event costs a keyword at most this long
DRAW_EVENTS = frozenset({"draw", "draw_result"})
OPS_LIST_MAX = 200  # draws on the ops console at once
ENTRY_BATCH_MAX = 500  # entries sent to Valkey in one pipeline
CLAIM_LEASE_MS = 60_000  # a prize claim holds its order this long at most (no charge is made)
FINISH_AT_ONCE = 50  # prize transfers to other buckets finished concurrently


def _draw_id(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("d_") or not is_safe_id(value):
        raise NotFound("no such draw")
    return value


class DrawService:
    def __init__(self, settings: Settings, rooms: RoomStore, store: DrawStore,
                 fans: FanService, orders: OrderStore, transfers: Transfers) -> None:
        self.cfg = settings.draws
        self.transfers = transfers  # prizes to winners on another wallet bucket
        self.currency = settings.shelf.currency
        self.order_stream_max = settings.shelf.order_stream_max
        self.orders = orders  # a product prize's zero-price order, claimed by its winner
        self.rooms = rooms
        self.store = store
        self.fans = fans
        # draw id → (creator id, condition, show start): fixed at creation, read per entry
        self._static: dict[str, tuple[str, str, int]] = {}
        self._keyword_rooms: dict[str, tuple[bool, float]] = {}
        self.last_draw_ms = 0.0  # how long the last draw computed here took (load test)
        # a process's entries go to Valkey in pipelines: the taps that arrive while one is out
        # go in the next, so a rush costs a few round trips (each entry its own script)
        self.entries: Pipelined[Entry, tuple[bool, int]] = Pipelined(
            lambda batch: store.enter_many(batch, self.cfg.entrants_event_ms),
            batch_max=ENTRY_BATCH_MAX)

    async def create(self, who: Identity, room_id: str, args: Json) -> Json:
        room = await self.rooms.require(room_id)
        uid = require_room_creator(who, room.creator_id, "open draws in it")
        if room.state == "ended":
            raise InvalidState("the room has ended", state=room.state)
        now = now_ms()
        wanted, kind = int(args["winners"]), str(args["prize_kind"])
        prize: Json = {"kind": kind}
        if kind == "cash":
            each = int(args.get("amount") or 0)
            if each < 1:
                raise InvalidField("'amount' (cents per winner) is required for a cash prize")
            if each * wanted > self.cfg.max_cash_cents:
                raise InvalidField(f"'amount' x 'winners' must be at most "
                                   f"{self.cfg.max_cash_cents} cents")
            prize["amount"] = each
        elif kind == "coupon":
            coupon_id = str(args.get("coupon_id") or "")
            coupon = await self.store.coupon(room_id, coupon_id) if coupon_id else None
            if coupon is None:
                raise NotFound("no such coupon in this room")
            prize.update(coupon_id=coupon_id, coupon_title=coupon["title"])
        else:
            prize.update(await self._product_prize(room_id, args))
        condition = str(args["condition"])
        keyword = normalise_keyword(str(args.get("keyword") or ""))
        if condition == "keyword" and not keyword:
            raise InvalidField("'keyword' is required for the keyword condition")
        seed, draw_id = new_seed(), new_draw_id()
        draw: Json = {
            "id": draw_id, "room_id": room_id, "creator_id": uid, "creator_name": who.name,
            "title": args.get("title") or "Lucky draw", "prize": prize, "winners": wanted,
            "condition": condition, "created_at": now, "end_at": now + args["duration_s"] * 1000,
            "commitment": commitment(seed), "show_since": room.started_at or now}
        if condition == "keyword":
            draw["keyword"] = keyword
        balance = None
        if kind == "cash":
            balance = await self.store.fund(uid, draw_id, prize["amount"] * wanted, prize["amount"],
                                            now)
        view = {**draw, "state": "open", "entrants": 0, "result": None}
        try:
            seq = await self.store.create(draw, seed.hex(), events.draw(view, now), now)
        except Exception:
            if kind == "cash":  # the room refused it: the prize goes straight back
                await self._finish(await self.store.settle(draw_id, uid, [], now), now)
            raise
        self._keep_static(draw)
        return {"draw": view, "seq": seq, "balance": balance}

    async def _product_prize(self, room_id: str, args: Json) -> Json:
        """A product prize's fixed fields: a variant of a product on the room's shelf."""
        product_id = str(args.get("product_id") or "")
        card = await self.store.product_card(room_id, product_id) if product_id else None
        if card is None:
            raise NotFound("no such product on this room's shelf")
        if card.get("status", "on_sale") != "on_sale":
            raise InvalidState("the product is taken down", state="taken_down")
        variant = find_variant(card, args.get("variant_id"))
        return {"product_id": product_id, "variant_id": variant["id"],
                "variant": variant.get("options") or {}, "title": card["title"],
                "currency": card.get("currency") or self.currency}

    async def claim(self, who: Identity, draw_id: object) -> Json:
        """A product prize's winner claims it: their saved address goes onto the zero-price
        order, which is then paid (nothing to charge). After the deadline the order has
        expired and its unit has gone back."""
        uid = require_user(who)
        did = _draw_id(draw_id)
        found = await self.store.draw(await self._room_of(did), did)
        if found is None:
            raise NotFound("no such draw")
        result = found["result"]
        if found["prize"]["kind"] != "product" or result is None or uid not in result["winners"]:
            raise NotFound("you have no prize to claim in this draw")
        order_id = f"o.{found['room_id']}.{did}-{result['winners'].index(uid) + 1}"
        address = await self.orders.addresses.get(uid)
        if address is None:
            raise AddressRequired("a shipping address is needed: save one first")
        claim, now = secrets.token_hex(12), now_ms()
        order, done = await self.orders.transition(order_id, "claim", actor=uid, now=now,
                                                   claim=claim, lease_ms=CLAIM_LEASE_MS,
                                                   address=address)
        if done:
            order, done = await self.orders.transition(
                order_id, "pay", actor=uid, now=now, reference=f"draw:{did}", claim=claim,
                lease_ms=CLAIM_LEASE_MS, address=address)
        if not done:
            raise InvalidState("the prize was not claimed in time", state="expired")
        return {"draw_id": did, "order": order}

    async def enter(self, who: Identity, room_id: str, draw_id: object) -> Json:
        """One tap: enter the draw (idempotent: ``already`` says a second tap changed
        nothing)."""
        uid = require_user(who)
        did = _draw_id(draw_id)
        creator, condition, since = await self._fixed(room_id, did)
        if uid == creator:
            raise Forbidden("the host cannot enter their own draw")
        eligible = False
        if condition == "followers":
            eligible = await self.fans.follows(uid, creator)
        elif condition == "fan_club":
            eligible = await self.store.in_fan_club(creator, uid)
        elif condition == "buyers":
            eligible = await self.store.paid_order_in(room_id, uid, since)
        added, count = await self.entries.call(
            Entry(room_id, did, uid, who.name or uid, eligible, now_ms()))
        return {"draw_id": did, "entered": True, "already": not added, "entrants": count}

    async def _room_of(self, draw_id: str) -> str:
        room_id = await self.store.room_of(draw_id)
        if room_id is None:
            raise NotFound("no such draw")
        return room_id

    async def view(self, who: Identity, draw_id: object) -> Json:
        did = _draw_id(draw_id)
        found = await self.store.draw(await self._room_of(did), did, who.user_id)
        if found is None:
            raise NotFound("no such draw")
        if who.user_id is not None and found["result"] is not None:
            found["won"] = who.user_id in found["result"]["winners"]
        return found

    async def room_draws(self, who: Identity, room_id: str) -> Json:
        await self.rooms.require(room_id)
        draws = await self.store.room_draws_list(room_id, self.cfg.room_list_max, who.user_id)
        return {"draws": draws, "server_time": now_ms()}

    async def active(self, who: Identity) -> Json:
        """Ops: every draw still to be drawn, ending soonest first."""
        require_ops(who)
        return {"draws": await self.store.active(OPS_LIST_MAX), "server_time": now_ms()}

    async def entrants(self, draw_id: object) -> Json:
        """The frozen entrant list (user ids only), once drawn: anyone can recompute."""
        did = _draw_id(draw_id)
        room_id = await self._room_of(did)
        found = await self.store.draw(room_id, did)
        if found is None:
            raise NotFound("no such draw")
        if found["state"] != "drawn":
            raise InvalidState("the entrant list is published once the draw is drawn",
                               state=found["state"])
        ids = await self.store.entrants(room_id, did)
        return {"draw_id": did, "entrants": ids, "entrants_hash": entrants_hash(ids)}

    # the clock ------------------------------------------------------------------------------

    async def tick(self, member: str, now: int) -> str:
        """Do what is due for one draw: freeze, draw, record, pay (each step once)."""
        room_id, _, did = member.partition("|")
        status, seed, entrants = await self.store.close(room_id, did, now)
        if status == "not_due":
            return status
        if status in ("gone", "drawn"):
            found = await self.store.draw(room_id, did) if status == "drawn" else None
            if found is not None and found["result"] is not None:
                await self._pay(found, found["result"]["winners"], now)
            await self.store.forget_due(room_id, did)
            return status
        found = await self.store.draw(room_id, did)
        assert found is not None
        started = time.perf_counter()
        winners = pick_winners(seed, entrants, found["winners"])
        result: Json = {
            "seed": seed.hex(), "commitment": found["commitment"],
            "entrants_hash": entrants_hash(entrants), "entrant_count": len(entrants),
            "winners": winners, "winner_names": await self.store.names(room_id, did, winners),
            "drawn_at": now}
        self.last_draw_ms = (time.perf_counter() - started) * 1000
        await self.store.record(found, result, events.draw_result(did, result, now), now,
                                claim_within_ms=self.cfg.claim_within_ms,
                                order_stream_max=self.order_stream_max)
        await self._pay(found, winners, now)
        await self.store.forget_due(room_id, did)
        log.info("draw %s drawn: %d entrants, %d winners, %.1f ms", did, len(entrants),
                 len(winners), self.last_draw_ms)
        return "drawn"

    async def _pay(self, draw: Json, winners: list[str], now: int) -> None:
        if draw["prize"]["kind"] == "cash":
            await self._finish(await self.store.settle(draw["id"], draw["creator_id"], winners,
                                                       now), now)

    async def _finish(self, settled: Settled, now: int) -> None:
        """Credit the prizes that went into transfers to winners on other buckets (each
        once, however often this runs)."""
        todo = settled.transfers
        for start in range(0, len(todo), FINISH_AT_ONCE):
            await asyncio.gather(*(self.transfers.finish(tid, record, now)
                                   for tid, record in todo[start:start + FINISH_AT_ONCE]))

    # keyword draws and the fixed fields --------------------------------------------------------

    async def note_chat(self, room: Room, user_id: str, text: str) -> None:
        """A chat message was sent: if it says an open keyword draw's keyword, its sender may
        enter that draw."""
        known = self._keyword_rooms.get(room.id)
        clock = time.monotonic()
        if known is None or clock - known[1] >= KEYWORD_ROOMS_TTL_S:
            known = (await self.store.has_keyword_draws(room.id), clock)
            if len(self._keyword_rooms) > 10_000:
                self._keyword_rooms.clear()
            self._keyword_rooms[room.id] = known
        if known[0]:
            await self.store.note_chat(room.id, user_id, normalise_keyword(text))

    def note_room_event(self, room_id: str, ev: Json) -> None:
        """A draw event may open or close a keyword draw; a new draw's fixed fields are kept,
        so the rush of entries that follows reads nothing first."""
        if ev.get("type") in DRAW_EVENTS:
            self._keyword_rooms.pop(room_id, None)
        if ev.get("type") == "draw":
            draw = (ev.get("data") or {}).get("draw")
            if isinstance(draw, dict):
                self._keep_static(draw)

    async def _fixed(self, room_id: str, draw_id: str) -> tuple[str, str, int]:
        fixed = self._static.get(draw_id)
        if fixed is None:
            found = await self.store.draw(room_id, draw_id)
            if found is None:
                raise NotFound("no such draw in this room")
            fixed = self._keep_static(found)
        return fixed

    def _keep_static(self, draw: Json) -> tuple[str, str, int]:
        fixed = (str(draw["creator_id"]), str(draw["condition"]), int(draw["show_since"]))
        if len(self._static) >= 10_000:
            self._static.clear()
        self._static[str(draw["id"])] = fixed
        return fixed


class DrawClock(Periodic):
    """Per process: every ``draws.scheduler_interval_ms``, draw the draws whose ``end_at`` has
    passed. Every process may do it at once: each claims its draws with a lease, and each step
    is a script that acts only if it is still to be done."""

    name = "draw-clock"

    def __init__(self, service: DrawService, interval_ms: int, *,
                 stats: ClockStats | None = None, lease_ms: int = LEASE_MS,
                 park_after: int = PARK_AFTER) -> None:
        self.service = service
        super().__init__(interval_ms, stats=stats, lease_ms=lease_ms, park_after=park_after)
        self.due = self.schedule(service.store.core, service.store.due_key)

    async def run_once(self, now: int) -> int:
        async def step(member: str) -> None:
            await self.service.tick(member, now)

        return await self.work(self.due, now, step)


class DrawAudit:
    """The cash draws' books checked against the ledger (``live-server audit``, every
    bucket's ledger): what each draw holds, paid and returned is recomputed from its ledger
    entries alone. A prize to a winner on another bucket is paid when it leaves the draw
    (``draw:<id> → xfer:<id>~<winner>``); its credit on the winner's bucket
    (``xfer:<id>~<winner> → user:<winner>``, same reason) is the transfer's second step,
    checked to go to that winner (that it happens once is the transfers' check)."""

    def __init__(self, store: DrawStore) -> None:
        self.store = store
        self.held: dict[str, int] = {}
        self.funded: dict[str, int] = {}
        self.prizes: dict[str, dict[str, int]] = {}
        self.refunds: dict[str, int] = {}
        self.problems: list[str] = []

    def note(self, entry: dict[str, str]) -> None:
        amount = int(entry["amount"])
        for side, sign in (("from", -1), ("to", 1)):
            kind, _, name = entry[side].partition(":")
            if kind == "draw":
                self.held[name] = self.held.get(name, 0) + sign * amount
        ref, reason = entry["ref"], entry["reason"]
        if reason == "draw_fund":
            self.funded[ref] = self.funded.get(ref, 0) + amount
        elif reason == "draw_prize":
            source, _, paid_from = entry["from"].partition(":")
            kind, _, name = entry["to"].partition(":")
            if source == "xfer":  # a transfer's credit: the prize was counted as it left
                if kind != "user" or prize_transfer_winner(ref, paid_from) != name:
                    self.problems.append(f"draw {ref}: transfer {paid_from} credited to "
                                         f"{entry['to']}, not its winner")
                return
            user = name if kind == "user" else prize_transfer_winner(ref, name)
            if user is None:
                self.problems.append(f"draw {ref}: a prize to {entry['to']}")
                return
            per = self.prizes.setdefault(ref, {})
            if user in per:
                self.problems.append(f"draw {ref}: {user} paid twice")
            per[user] = amount
        elif reason == "draw_refund":
            self.refunds[ref] = self.refunds.get(ref, 0) + amount

    async def finish(self) -> list[str]:
        problems = list(self.problems)
        found = await self.store.cash_draws()
        stored = [did for did, _ in found]
        for did, bucket in found:
            fields, paid = await self.store.cash_books(did, bucket)
            if not fields:
                problems.append(f"draw {did}: missing")
                continue
            total, held = int(fields["total"]), int(fields["held"])
            refunded = int(fields["refunded"])
            if self.funded.get(did, 0) != total:
                problems.append(f"draw {did}: funded {self.funded.get(did, 0)} in the ledger, "
                                f"the draw says {total}")
            if self.held.get(did, 0) != held:
                problems.append(f"draw {did}: ledger holds {self.held.get(did, 0)}, the draw "
                                f"says {held}")
            if paid != self.prizes.get(did, {}):
                problems.append(f"draw {did}: payouts differ from the ledger's prizes")
            if refunded != self.refunds.get(did, 0):
                problems.append(f"draw {did}: refunded {refunded}, the ledger says "
                                f"{self.refunds.get(did, 0)}")
            if sum(paid.values()) + held + refunded != total:
                problems.append(f"draw {did}: paid {sum(paid.values())} + held {held} + "
                                f"refunded {refunded} != total {total}")
        for did in set(self.held) - set(stored):
            problems.append(f"draw {did}: in the ledger but not stored")
        return problems
