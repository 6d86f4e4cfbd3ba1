"""A show's report in Valkey: the product-card views it counts, every read its figures are
built from, and the report frozen at the room's end.

What the report needs and nothing else keeps is recorded where it happens, under the room's
hash tag (``ReportKeys``): the per-minute online samples (``tick.lua``), card views (here). The
rest is read from where it already lives: the room's stats and unique viewers, the chat per
minute (``cpm``, kept two days by ``chat_send.lua``), the room's ledger (one credit per paid
order, one reversal per refund) and orders, the creator's follow times and fan club, the room's
red packets.
"""

from __future__ import annotations

from typing import Any

import orjson

from live_server.domain.auctions import report_figures
from live_server.domain.orders import may_still_pay
from live_server.domain.rooms import Room
from live_server.domain.show_report import Packet, Payment, ShowFacts, minutes
from live_server.protocol import Json
from live_server.store.auctions import auctions_key
from live_server.store.charity import CharityStore
from live_server.store.core import StoreCore
from live_server.store.draws import room_draw_figures
from live_server.store.fans import club_key
from live_server.store.gifts import room_gift_figures
from live_server.store.red_packets import room_packets_key


class ReportStore:
    def __init__(self, core: StoreCore) -> None:
        self.core = core
        self.keys = core.keys

    async def note_card_view(self, room_id: str, product_id: str, user_id: str | None) -> None:
        """One product card answered: its view count, and who saw it (logged-in users; a guest
        has no lasting id) for the unique card viewers. One round trip, not a transaction."""
        r = self.keys.report(room_id)
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.hincrby(r.card_views, product_id, 1)
            if user_id is not None:
                pipe.pfadd(r.card_viewers_of(product_id), user_id)
                pipe.pfadd(r.card_viewers, user_id)
            await pipe.execute()

    async def facts(self, room: Room, end: int, currency: str) -> ShowFacts:
        """Everything the report of ``room`` (started) is built from, up to ``end`` (ms), in
        two pipelined round trips plus one for the red packets."""
        assert room.started_at is not None
        start = room.started_at
        k, s, r = self.keys.room(room.id), self.keys.shelf(room.id), self.keys.report(room.id)
        span = minutes(start, end)
        # Not a transaction: the keys live on three slots (the room's, the creator's, the
        # money's), each command on its node. PFCOUNT and MGET go through execute_command:
        # redis-py's cluster pipeline refuses its pfcount()/mget() helpers for fear of several
        # slots, and here each names keys of the room's slot only.
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.hmget(k.stats, "hearts", "peak", "chat")
            pipe.execute_command("PFCOUNT", k.unique)
            pipe.hgetall(r.minutes)
            pipe.execute_command("MGET", *[k.chat_minute(m) for m in span])
            pipe.hgetall(r.card_views)
            pipe.execute_command("PFCOUNT", r.card_viewers)
            pipe.zcard(s.order_list)
            pipe.xrange(s.ledger)
            pipe.hgetall(s.products)
            pipe.zcount(self.keys.follow_times(room.creator_id), start, end)
            pipe.hgetall(club_key(self.keys, room.creator_id))
            pipe.zrange(room_packets_key(self.keys, room.id, room.creator_id), 0, -1)
            (stats, unique, samples, chat_minutes, views, viewers, placed, ledger, products,
             followers, club, packet_ids) = await pipe.execute()
        credits, refunds = _ledger(ledger)
        pids = [p.decode() for p in views]
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.hmget(s.orders, [oid for oid, _amount, _at in credits] or ["-"])
            for pid in pids:
                pipe.execute_command("PFCOUNT", r.card_viewers_of(pid))  # one key each
            for packet_id in packet_ids:
                pipe.hmget(self.keys.packet(packet_id.decode()), "json", "left_amt", "refunded")
            found = await pipe.execute()
        orders, unique_views, packets = found[0], found[1:1 + len(pids)], found[1 + len(pids):]
        reminded = await self.core.client.get(self.keys.reminded(room.id))
        gifts, gift_income = await self.core.client.hmget(
            room_gift_figures(self.keys, room.id, room.creator_id), "gifts", "creator")
        auctions = report_figures([orjson.loads(a) for a in await self.core.client.hvals(
            auctions_key(self.keys.prefix, room.id))])
        draws = await room_draw_figures(self.core, room.id)
        charity = await CharityStore(self.core).totals(room.id, room.creator_id)
        hearts, peak, chat = (int(v or 0) for v in stats)
        titles = _titles(products)
        return ShowFacts(
            room_id=room.id, title=room.title, creator_id=room.creator_id, state=room.state,
            started_at=start, ended_at=room.ended_at, currency=currency,
            peak=peak, unique=int(unique), hearts=hearts, chat=chat,
            online=_samples(samples),
            chat_minutes={m: int(v) for m, v in zip(span, chat_minutes, strict=True) if v},
            new_followers=int(followers),
            fan_club_joins=sum(1 for at in club.values() if start <= int(at) <= end),
            card_views={pid: int(views[pid.encode()]) for pid in pids},
            card_viewers=dict(zip(pids, (int(n) for n in unique_views), strict=True)),
            card_viewers_total=int(viewers), orders_placed=int(placed),
            payments=tuple(_payments(credits, orders, titles)),
            refunds=tuple(refunds),
            packets=tuple(_packet(raw) for raw in packets if raw[0]),
            titles=titles,
            reminded=int(reminded or 0),
            gifts=int(gifts or 0), gift_income=int(gift_income or 0),
            auctions=auctions[0], auctions_sold=auctions[1], auction_revenue=auctions[2],
            draws=draws[0], draw_entrants=draws[1], draw_cash=draws[2], draw_coupons=draws[3],
            draw_products=draws[4],
            charity=charity["orders"] + charity["gifts"] + charity["red_packets"],
        )

    async def refunds(self, room_id: str) -> list[int]:
        """The amount of every refund of a paid order in the room, as the ledger has them."""
        return _ledger(await self.core.client.xrange(self.keys.shelf(room_id).ledger))[1]

    async def open_orders(self, room_id: str, end: int, now: int) -> int:
        """Orders placed by ``end`` that may still be paid (a reservation not yet expired, a
        payment in flight): while there are any, the show's sales are not final."""
        raw = await self.core.client.hvals(self.keys.shelf(room_id).orders)
        return sum(1 for value in raw if may_still_pay(orjson.loads(value), end, now))

    async def frozen(self, room_id: str) -> Json | None:
        raw = await self.core.client.get(self.keys.report(room_id).report)
        return orjson.loads(raw) if raw else None

    async def frozen_many(self, room_ids: list[str]) -> list[Json | None]:
        if not room_ids:
            return []
        async with self.core.client.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                pipe.get(self.keys.report(room_id).report)
            raws = await pipe.execute()
        return [orjson.loads(raw) if raw else None for raw in raws]

    async def freeze(self, room_id: str, report: Json) -> Json:
        """Store the room's report once: the first freeze wins (a second process ending the
        same room, or a read that froze it first, gets the stored one back)."""
        key = self.keys.report(room_id).report
        async with self.core.client.pipeline(transaction=True) as pipe:
            pipe.set(key, orjson.dumps(report), nx=True)
            pipe.get(key)
            _, raw = await pipe.execute()
        stored: Json = orjson.loads(raw)
        return stored


def _ledger(entries: list[Any]) -> tuple[list[tuple[str, int, int]], list[int]]:
    """The room ledger as (order id, amount, at) per credit and the amount of each reversal."""
    credits, refunds = [], []
    for _id, fields in entries:
        kind, amount = fields.get(b"kind"), int(fields.get(b"amount", b"0"))
        if kind == b"credit":
            credits.append((fields[b"order"].decode(), amount, int(fields[b"ts"])))
        elif kind == b"reversal":
            refunds.append(-amount)
    return credits, refunds


def _payments(credits: list[tuple[str, int, int]], orders: list[bytes | None],
              titles: dict[str, str]) -> list[Payment]:
    """Each credit with its order's product, buyer, units and coupon; the title of a product
    no longer on the shelf comes from its order."""
    out = []
    for (order_id, amount, at), raw in zip(credits, orders, strict=False):
        order: Json = orjson.loads(raw) if raw else {}
        pid = str(order.get("product_id", ""))
        titles.setdefault(pid, str(order.get("title", "")))
        out.append(Payment(order_id=order_id, product_id=pid, buyer=str(order.get("buyer", "")),
                           quantity=int(order.get("quantity", 0)), amount=amount, paid_at=at,
                           coupon_id=str(order.get("coupon_id") or ""),
                           discount=int(order.get("discount") or 0),
                           placed_at=int(order.get("created_at") or at)))
    return out


def _samples(raw: dict[bytes, bytes]) -> dict[int, tuple[int, int]]:
    """``o:<minute>`` / ``n:<minute>`` fields → minute → (sum of samples, count)."""
    out: dict[int, tuple[int, int]] = {}
    for field, value in raw.items():
        kind, _, minute = field.decode().partition(":")
        total, count = out.get(int(minute), (0, 0))
        if kind == "o":
            total = int(value)
        elif kind == "n":
            count = int(value)
        out[int(minute)] = (total, count)
    return out


def _titles(products: dict[bytes, bytes]) -> dict[str, str]:
    """The room's copies of its shelf products (``bp:<id>`` fields are rates, not cards)."""
    out = {}
    for pid, raw in products.items():
        card = orjson.loads(raw) if raw[:1] == b"{" else None
        if isinstance(card, dict) and not pid.startswith(b"bp:"):
            out[pid.decode()] = str(card.get("title", ""))
    return out


def _packet(raw: list[bytes]) -> Packet:
    fixed, left, refunded = raw
    return Packet(total=int(orjson.loads(fixed)["total"]), left=int(left or 0),
                  refunded=int(refunded or 0))
