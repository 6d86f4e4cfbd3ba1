"""Lucky draws in Valkey: the draw and its entrants on the room's slot, its cash on the
creator's wallet bucket.

Room slot (``<prefix>:{<room>}:``): ``draw:<id>`` (hash: json, seed, state, n, end_at, cond,
kw, result), ``draw:<id>:ent`` (set: entrant ids), ``draw:<id>:nm`` (hash: entrant → name
JSON), ``draw:<id>:kw`` (set: who said the keyword), ``draws`` (zset: the room's draws by
creation) and ``drawkw`` (hash: open keyword draw → keyword). An entry is one O(1) script
there, and so is freezing the entrants, so a draw reads a set that can no longer change.

The creator's wallet bucket (``keys.wallet(creator)``: ``<prefix>:{wallets}:`` or
``<prefix>:{wallets:<k>}:``): ``draw:<id>`` (hash: creator, total, each, held, paid, refunded,
state held|settled), ``draw:<id>:paid`` (hash: winner → cents) and ``draw:all`` (zset: the
bucket's cash draws; the audit walks every bucket's). Funding and settling are each one script
there with their ledger entries. A winner whose wallet is on another bucket is paid by a
transfer (``store/transfers.py``) that the settling script itself writes pending (ledger
``draw:<id> → xfer:<id>~<winner>``, reason ``draw_prize``): the caller then credits it on the
winner's bucket (``xfer_credit.lua``), and the transfers' reconciler does if the caller died.

``<prefix>:draws:due`` (zset: ``<room>|<draw>`` → end_at) is the clock's schedule;
``<prefix>:draws:room`` (hash: draw id → room id) lets a draw be read by its id alone (the
verifier's link).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from live_server.domain.variants import stock_field
from live_server.errors import (
    Banned,
    CouponEnded,
    CouponGone,
    CouponStopped,
    DrawClosed,
    InsufficientFunds,
    InsufficientStock,
    Internal,
    InvalidState,
    LiveError,
    NotEligible,
    NotFound,
)
from live_server.events import RoomEvent
from live_server.protocol import Json, dumps
from live_server.store.core import StoreCore, text
from live_server.store.fans import club_key
from live_server.store.keys import WalletKeys, bucket_index
from live_server.store.stock import ALLOTMENT_CHECK_MS, Short, StockStore
from live_server.store.transfers import GRACE_MS


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One viewer's tap on Enter, checked for the conditions the script cannot see."""

    room_id: str
    draw_id: str
    user_id: str
    name: str
    eligible: bool  # followers, fan club, buyers: checked before (another slot's keys)
    now: int


@dataclasses.dataclass(frozen=True, slots=True)
class Settled:
    """A cash prize settled: ``paid`` to the winners (on the creator's bucket or into a
    transfer), ``refunded`` to the creator (both 0 when it was settled before), and the
    transfers to winners on other buckets still pending (id → record) for the caller to
    finish."""

    paid: int = 0
    refunded: int = 0
    transfers: list[tuple[str, Json]] = dataclasses.field(default_factory=list)


def prize_transfer_id(draw_id: str, winner: str) -> str:
    """The transfer of a draw's prize to a winner on another bucket: one id per draw and
    winner, so settling again can never pay it twice (a draw id has no ``~``)."""
    return f"{draw_id}~{winner}"


def prize_transfer_winner(draw_id: str, transfer_id: str) -> str | None:
    """The winner a prize transfer is for, or None when the id is not one of this draw's."""
    head = f"{draw_id}~"
    return transfer_id[len(head):] if transfer_id.startswith(head) else None


WHY = {"followers": "this draw is for the host's followers: follow to enter",
       "fan_club": "this draw is for fan-club members",
       "buyers": "this draw is for those who bought in this show",
       "keyword": "this draw is for those who sent its keyword in chat"}


class DrawStore:
    def __init__(self, core: StoreCore, *, history_max: int, recent_max: int) -> None:
        self.core = core
        self.keys = core.keys
        self.prefix = core.keys.prefix
        self.history_max = history_max
        self.recent_max = recent_max
        self.due_key = f"{self.prefix}:draws:due"
        self.stock = StockStore(core)
        self.rooms_key = f"{self.prefix}:draws:room"

    # key names -----------------------------------------------------------------------------

    def draw_key(self, room_id: str, draw_id: str) -> str:
        return f"{self.prefix}:{{{room_id}}}:draw:{draw_id}"

    def room_draws(self, room_id: str) -> str:
        return f"{self.prefix}:{{{room_id}}}:draws"

    def room_keyword_draws(self, room_id: str) -> str:
        return f"{self.prefix}:{{{room_id}}}:drawkw"

    def money_key(self, draw_id: str, creator: str) -> str:
        """hash: the draw's cash, on its creator's bucket."""
        return self.keys.wallet(creator).key(f"draw:{draw_id}")

    @staticmethod
    def all_cash_draws(w: WalletKeys) -> str:
        """zset: the cash draws of the creators on this bucket, by funding time."""
        return w.key("draw:all")

    # writes --------------------------------------------------------------------------------

    async def fund(self, creator: str, draw_id: str, total: int, each: int, now: int) -> int:
        """Move a cash prize from the creator's wallet into the draw (both on the creator's
        bucket); the balance left."""
        w = self.keys.wallet(creator)
        reply = await self.core.script(
            "draw_fund", [w.balances, w.ledger, w.recent(creator),
                          self.money_key(draw_id, creator), self.all_cash_draws(w)],
            [now, creator, draw_id, total, self.recent_max, each])
        status = text(reply[0])
        if status == "insufficient_funds":
            raise InsufficientFunds("the prize is more than your wallet holds",
                                    balance=int(reply[1]))
        if status != "ok":
            raise Internal(f"unexpected reply {status}")
        return int(reply[1])

    async def settle(self, draw_id: str, creator: str, winners: list[str], now: int,
                     ) -> Settled:
        """Pay a cash prize to the winners and the rest back to the creator, once, in one
        script on the creator's bucket: a winner on that bucket is credited there, one on
        another gets a pending transfer (the caller finishes ``Settled.transfers``). Settled
        before: (0, 0) and the prize transfers still pending, to finish again."""
        w, n = self.keys.wallet(creator), len(self.keys.buckets)
        money = self.money_key(draw_id, creator)
        homes = [bucket_index(u, n) for u in winners]
        here = [u for u, b in zip(winners, homes, strict=True) if b == w.index]
        pairs = [a for u, b in zip(winners, homes, strict=True) for a in (u, b)]
        reply = await self.core.script(
            "draw_pay", [w.balances, w.ledger, money, f"{money}:paid", w.recent(creator),
                         w.transfers_out, w.transfers_due, *[w.recent(u) for u in here]],
            [now, draw_id, self.recent_max, now + GRACE_MS, w.index, *pairs])
        status = text(reply[0])
        if status == "ok":
            rest = reply[3:]
            return Settled(int(reply[1]), int(reply[2]),
                           [(text(rest[i]), orjson.loads(rest[i + 1]))
                            for i in range(0, len(rest), 2)])
        if status != "done":
            return Settled()
        away = [prize_transfer_id(draw_id, u)
                for u, b in zip(winners, homes, strict=True) if b != w.index]
        if not away:
            return Settled()
        raw = await self.core.client.hmget(w.transfers_out, away)
        return Settled(transfers=[(t, orjson.loads(r)) for t, r in zip(away, raw, strict=True)
                                  if r is not None])

    async def create(self, draw: Json, seed_hex: str, ev: RoomEvent, now: int) -> int:
        """Store an open draw and append its event; the event's seq, or the refusal. A product
        prize's units missing from the room's allotment are drawn from the catalogue first."""
        room_id, draw_id = draw["room_id"], draw["id"]
        k, c = self.keys.room(room_id), self.keys.coupons(room_id)
        prize = draw["prize"]
        field = (stock_field(prize["product_id"], prize["variant_id"])
                 if prize["kind"] == "product" else "")
        for _ in range(3):
            reply = await self.core.script(
                "draw_create", [k.meta, self.draw_key(room_id, draw_id),
                                self.room_draws(room_id), self.room_keyword_draws(room_id),
                                c.coupons, k.seq, k.events, self.keys.allotment(room_id)],
                [now, draw_id, dumps(draw), seed_hex, draw["end_at"], draw["condition"],
                 draw.get("keyword") or "", prize.get("coupon_id") or "", draw["winners"],
                 k.channel, self.history_max, ev.body, field])
            status = text(reply[0])
            if status != "need":
                break
            try:
                await self.stock.draw(draw["creator_id"], room_id, prize["product_id"],
                                      prize["variant_id"], int(reply[1]), now)
            except Short as short:
                raise InsufficientStock("the catalogue has fewer units than winners",
                                        left=short.left) from None
        if status == "need":
            raise InvalidState("the units drawn for the prize were bought first", state="busy")
        if status != "ok":
            raise _refusal(status, reply)
        await self.core.client.hset(self.rooms_key, draw_id, room_id)
        await self.core.client.zadd(self.due_key, {f"{room_id}|{draw_id}": draw["end_at"]})
        return int(reply[1])

    async def room_of(self, draw_id: str) -> str | None:
        raw = await self.core.client.hget(self.rooms_key, draw_id)
        return raw.decode() if raw else None

    async def enter_many(self, entries: list[Entry], every_ms: int,
                         ) -> list[tuple[bool, int] | LiveError]:
        """Many entries in one pipeline (one round trip), each its own script: per entry,
        (added now, entrants) or the refusal; a second entry adds nothing."""
        async with self.core.client.pipeline(transaction=False) as pipe:
            for e in entries:
                base = self.draw_key(e.room_id, e.draw_id)
                k = self.keys.room(e.room_id)
                self.core.scripts.queue(
                    pipe, "draw_enter", [base, f"{base}:ent", f"{base}:nm", f"{base}:kw", k.bans],
                    [e.now, e.user_id, dumps(e.name), "1" if e.eligible else "0", k.channel,
                     every_ms, e.draw_id])
            replies = await self.core.scripts.execute(pipe)
        out: list[tuple[bool, int] | LiveError] = []
        for reply in replies:
            try:
                out.append(_entered(reply))
            except LiveError as exc:
                out.append(exc)
        return out


    async def close(self, room_id: str, draw_id: str, now: int) -> tuple[str, bytes, list[str]]:
        """Freeze the entrants once end_at has passed: ('drawing', seed, entrants),
        ('not_due' | 'drawn' | 'gone', b'', [])."""
        base = self.draw_key(room_id, draw_id)
        reply = await self.core.script(
            "draw_close", [base, f"{base}:ent", self.room_keyword_draws(room_id)],
            [now, draw_id])
        status = text(reply[0])
        if status != "drawing":
            return status, b"", []
        return status, bytes.fromhex(text(reply[1])), [text(u) for u in reply[2:]]

    async def record(self, draw: Json, result: Json, ev: RoomEvent, now: int, *,
                     claim_within_ms: int, order_stream_max: int) -> int:
        """Record the result once (coupon copies or zero-price orders to the winners); the
        event's seq, or 0 if another process recorded it first."""
        room_id, prize = draw["room_id"], draw["prize"]
        k, c, s = self.keys.room(room_id), self.keys.coupons(room_id), self.keys.shelf(room_id)
        field = (stock_field(prize["product_id"], prize["variant_id"])
                 if prize["kind"] == "product" else "")
        reply = await self.core.script(
            "draw_result", [self.draw_key(room_id, draw["id"]), c.coupons, c.claims, k.seq,
                            k.events, self.keys.allotment(room_id), s.orders, s.order_list,
                            s.order_stream, s.bought],
            [now, dumps(result), prize.get("coupon_id") or "", draw["winners"], k.channel,
             self.history_max, ev.body, field, claim_within_ms, order_stream_max,
             *result["winners"]])
        if text(reply[0]) != "ok":
            return 0
        orders = [orjson.loads(o) for o in reply[2:]]
        if field:  # the orders are indexed and expire like any reservation
            async with self.core.client.pipeline(transaction=False) as pipe:
                for order in orders:
                    pipe.zadd(self.keys.buyer_orders(order["buyer"]),
                              {order["id"]: order["created_at"]})
                    pipe.zadd(self.keys.orders_due, {order["id"]: order["expires_at"]})
                pipe.zadd(self.keys.allotment_rooms, {room_id: now + ALLOTMENT_CHECK_MS},
                          nx=True)
                await pipe.execute()
        return int(reply[1])

    async def product_card(self, room_id: str, product_id: str) -> Json | None:
        """The room's copy of a shelf product's card, if it is on the room's shelf."""
        s = self.keys.shelf(room_id)
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.lpos(s.shelf, product_id)
            pipe.hget(s.products, product_id)
            on_shelf, raw = await pipe.execute()
        return orjson.loads(raw) if on_shelf is not None and raw else None

    async def forget_due(self, room_id: str, draw_id: str) -> None:
        await self.core.client.zrem(self.due_key, f"{room_id}|{draw_id}")

    async def note_chat(self, room_id: str, user_id: str, normalised: str) -> None:
        """A chat message in the room: if it says an open keyword draw's keyword, its sender may
        enter that draw."""
        active = await self.core.client.hgetall(self.room_keyword_draws(room_id))
        matched = [d.decode() for d, word in active.items() if word.decode() == normalised]
        if matched:
            async with self.core.client.pipeline(transaction=False) as pipe:
                for draw_id in matched:
                    pipe.sadd(f"{self.draw_key(room_id, draw_id)}:kw", user_id)
                await pipe.execute()

    # reads ---------------------------------------------------------------------------------

    async def has_keyword_draws(self, room_id: str) -> bool:
        return bool(await self.core.client.hlen(self.room_keyword_draws(room_id)))

    async def draw(self, room_id: str, draw_id: str, user_id: str | None = None,
                   ) -> Json | None:
        """The draw's public view (never the seed before it is drawn), with ``entered`` for a
        user."""
        base = self.draw_key(room_id, draw_id)
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.hmget(base, "json", "state", "n", "result")
            pipe.sismember(f"{base}:ent", user_id or "")
            (raw, state, n, result), entered = await pipe.execute()
        if raw is None:
            return None
        view: Json = orjson.loads(raw)
        view.update(state=state.decode(), entrants=int(n or 0),
                    result=orjson.loads(result) if result else None)
        if user_id is not None:
            view["entered"] = bool(entered)
        return view

    async def room_draws_list(self, room_id: str, limit: int, user_id: str | None = None,
                              ) -> list[Json]:
        ids = await self.core.client.zrevrange(self.room_draws(room_id), 0, limit - 1)
        found = [await self.draw(room_id, d.decode(), user_id) for d in ids]
        return [d for d in found if d is not None]

    async def active(self, limit: int) -> list[Json]:
        """Draws whose result is still to come (the clock's schedule), ending soonest first."""
        members = await self.core.client.zrange(self.due_key, 0, limit - 1)
        found = []
        for member in members:
            room_id, _, draw_id = member.decode().partition("|")
            view = await self.draw(room_id, draw_id)
            if view is not None:
                found.append(view)
        return sorted(found, key=lambda d: d["end_at"])

    async def entrants(self, room_id: str, draw_id: str) -> list[str]:
        members = await self.core.client.smembers(f"{self.draw_key(room_id, draw_id)}:ent")
        return sorted(m.decode() for m in members)

    async def names(self, room_id: str, draw_id: str, users: list[str]) -> list[str]:
        if not users:
            return []
        raw = await self.core.client.hmget(f"{self.draw_key(room_id, draw_id)}:nm", users)
        return [orjson.loads(r) if r else u for u, r in zip(users, raw, strict=True)]

    async def coupon(self, room_id: str, coupon_id: str) -> Json | None:
        raw = await self.core.client.hget(self.keys.coupons(room_id).coupons, coupon_id)
        return orjson.loads(raw) if raw else None

    async def paid_order_in(self, room_id: str, user_id: str, since: int) -> bool:
        """Whether the user has a paid order of this room made since ``since`` (this show)."""
        ids = await self.core.client.zrevrangebyscore(self.keys.buyer_orders(user_id), "+inf",
                                                      since, start=0, num=50)
        if not ids:
            return False
        raws = await self.core.client.hmget(self.keys.shelf(room_id).orders, ids)
        return any(orjson.loads(r).get("state") in ("paid", "fulfilled")
                   for r in raws if r)

    async def in_fan_club(self, creator_id: str, user_id: str) -> bool:
        return bool(await self.core.client.hexists(club_key(self.keys, creator_id), user_id))

    # audit reads ---------------------------------------------------------------------------

    async def cash_draws(self) -> list[tuple[str, WalletKeys]]:
        """Every cash draw of every bucket, with its bucket (its creator's)."""
        out: list[tuple[str, WalletKeys]] = []
        for w in self.keys.buckets:
            ids = await self.core.client.zrange(self.all_cash_draws(w), 0, -1)
            out += [(m.decode(), w) for m in ids]
        return out

    async def cash_books(self, draw_id: str, w: WalletKeys,
                         ) -> tuple[dict[str, str], dict[str, int]]:
        """(money hash fields, payouts) for the audit, read on the draw's bucket ``w``."""
        base = w.key(f"draw:{draw_id}")
        async with self.core.client.pipeline(transaction=True) as pipe:
            pipe.hgetall(base)
            pipe.hgetall(f"{base}:paid")
            fields, paid = await pipe.execute()
        return ({a.decode(): b.decode() for a, b in fields.items()},
                {u.decode(): int(c) for u, c in paid.items()})


async def room_draw_figures(core: StoreCore, room_id: str) -> tuple[int, int, int, int, int]:
    """A show's draws for its report: (drawn, entrants summed, cash given in cents, coupon
    copies given, product units given)."""
    base = f"{core.keys.prefix}:{{{room_id}}}"
    ids = await core.client.zrange(f"{base}:draws", 0, -1)
    if not ids:
        return 0, 0, 0, 0, 0
    async with core.client.pipeline(transaction=False) as pipe:
        for draw_id in ids:
            pipe.hmget(f"{base}:draw:{draw_id.decode()}", "json", "result")
        found = await pipe.execute()
    drawn = entrants = cash = coupons = products = 0
    for raw, result in found:
        if not raw or not result:
            continue
        prize, outcome = orjson.loads(raw)["prize"], orjson.loads(result)
        drawn += 1
        entrants += int(outcome["entrant_count"])
        if prize["kind"] == "cash":
            cash += int(prize["amount"]) * len(outcome["winners"])
        elif prize["kind"] == "coupon":
            coupons += len(outcome["winners"])
        else:
            products += len(outcome["winners"])
    return drawn, entrants, cash, coupons, products


def _entered(reply: list[Any]) -> tuple[bool, int]:
    """An entry script's reply: (added now, entrants), or the refusal raised."""
    status = text(reply[0])
    if status == "ok":
        return bool(int(reply[1])), int(reply[2])
    if status == "not_eligible":
        cond, keyword = text(reply[1]), text(reply[2])
        extra: Json = {"condition": cond}
        if cond == "keyword":
            extra["keyword"] = keyword
        raise NotEligible(WHY.get(cond, "this draw is not for you") + (
            f": '{keyword}'" if cond == "keyword" else ""), **extra)
    raise _refusal(status, reply)


def _refusal(status: str, reply: list[Any]) -> LiveError:
    if status in ("not_found", "gone"):
        return NotFound("no such draw or room")
    if status == "invalid_state":
        return InvalidState(f"room is {text(reply[1])}", state=text(reply[1]))
    if status == "closed":
        return DrawClosed("the draw has closed its entries", end_at=int(reply[1]))
    if status == "banned":
        return Banned("you are banned from this room")
    if status == "no_coupon":
        return NotFound("no such coupon in this room")
    if status == "coupon_stopped":
        return CouponStopped("the coupon has been stopped")
    if status == "coupon_ended":
        return CouponEnded("the coupon has ended", end_at=int(reply[1]))
    if status == "coupon_gone":
        return CouponGone("the coupon has fewer copies left than winners", left=int(reply[1]))
    if status == "exists":
        return InvalidState("the draw exists already", state="open")
    return Internal(f"unexpected reply {status}")
