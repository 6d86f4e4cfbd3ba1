"""Orders in Valkey: transitions (one script each call, payment claims and gateway events
included), listings, money and the ledger."""

from __future__ import annotations

from typing import Any

import orjson

from live_server.domain.orders import order_room
from live_server.errors import Internal, InvalidState, NotFound, Replayed
from live_server.protocol import Json, dumps
from live_server.store.addresses import AddressStore
from live_server.store.charity import CharityStore
from live_server.store.core import StoreCore, text
from live_server.store.stock import StockStore, room_holder


class OrderStore:
    def __init__(self, core: StoreCore, *, history_max: int, order_stream_max: int) -> None:
        self.core = core
        self.keys = core.keys
        self.history_max = history_max
        self.order_stream_max = order_stream_max
        self.stock = StockStore(core)
        self.addresses = AddressStore(core)  # a buyer's address, copied onto the order
        self.charity = CharityStore(core)  # a charity room's earmark of a paid order

    async def get(self, order_id: str) -> Json | None:
        room_id = order_room(order_id)
        if room_id is None:
            return None
        raw = await self.core.client.hget(self.keys.shelf(room_id).orders, order_id)
        return orjson.loads(raw) if raw else None

    async def transition(self, order_id: str, action: str, *, actor: str, now: int,
                         reference: str = "", claim: str = "", lease_ms: int = 0,
                         event_id: str = "", address: Json | None = None) -> tuple[Json, bool]:
        """(order after, True), or (expired order, False) when a claim came too late.

        ``claim`` is the token of a payment claim (``claim``, ``release``, and ``pay`` confirming
        it); ``event_id`` a payment gateway's event, checked and recorded on the order in the
        same step as the transition (a repeat is ``replayed``); ``address`` the buyer's
        shipping address, copied onto the order by a claim or a payment. Units that go back
        to the catalogue (cancel, expiry, refund outside the order's sale) are a transfer the
        script records, finished here (or by the reconciler should this process die)."""
        room_id = order_room(order_id)
        if room_id is None:
            raise NotFound("no such order")
        k, s, c = self.keys.room(room_id), self.keys.shelf(room_id), self.keys.coupons(room_id)
        if action in ("cancel", "expire", "refund", "claim", "pay"):
            await self.stock.expect_room_transfer(room_id, now)
        earmark, beneficiary = await self._charity_cut(room_id, order_id, action)
        reply = await self.core.script(
            "order_transition",
            [s.orders, s.sales, s.left, s.bought, s.order_stream, s.earnings, s.ledger, k.seq,
             k.events, s.products, self.keys.transfers_out(room_holder(room_id)), c.coupons,
             c.uses, *self.charity.order_keys(room_id)],
            [k.channel, self.history_max, now, order_id, action, actor, reference,
             self.order_stream_max, claim, lease_ms, event_id,
             dumps(address) if address else "", earmark, beneficiary])
        status = text(reply[0])
        if status in ("ok", "expired"):
            await self.stock.finish_from(room_id, reply[2], now)
            order: Json = orjson.loads(reply[1])
            if order["state"] not in ("reserved", "paying"):
                await self.core.client.zrem(self.keys.orders_due, order_id)
            return order, status == "ok"
        if status == "not_found":
            raise NotFound("no such order")
        if status == "replayed":
            raise Replayed("this event was already received")
        if status == "invalid_state":
            raise InvalidState(f"cannot {action} an order that is {text(reply[1])}",
                               state=text(reply[1]))
        if status == "not_due":  # still held (reserved, or a payment claim's lease runs)
            await self.core.client.zadd(self.keys.orders_due, {order_id: int(reply[1])})
            raise InvalidState("the reservation has not expired yet", state="reserved")
        raise Internal(f"unexpected reply {status}")

    async def _charity_cut(self, room_id: str, order_id: str, action: str) -> tuple[str, str]:
        """A payment in a charity room covering orders: (earmark cents, beneficiary), the
        terms locked first (they live on another slot, so the payment's script cannot lock
        them). The transition to paid happens once, so the earmark is recorded once."""
        if action != "pay":
            return "", ""
        creator = await self.core.client.hget(self.keys.room(room_id).meta, "creator_id")
        if creator is None:
            return "", ""
        terms = await self.charity.lock_for_orders(room_id, creator.decode())
        if terms is None:
            return "", ""
        order = await self.get(order_id)
        if order is None:
            return "", ""
        return str(terms.cut("orders", int(order["amount"]))), terms.beneficiary_id

    async def due(self, now: int, limit: int = 500) -> list[str]:
        found = await self.core.client.zrangebyscore(self.keys.orders_due, "-inf", now,
                                                     start=0, num=limit)
        return [m.decode() for m in found]

    async def forget_due(self, order_id: str) -> None:
        await self.core.client.zrem(self.keys.orders_due, order_id)

    async def many(self, order_ids: list[str]) -> list[Json]:
        if not order_ids:
            return []
        async with self.core.client.pipeline(transaction=False) as pipe:
            for oid in order_ids:
                room_id = order_room(oid) or "-"
                pipe.hget(self.keys.shelf(room_id).orders, oid)
            raws = await pipe.execute()
        return [orjson.loads(r) for r in raws if r]

    async def of_buyer(self, user_id: str, limit: int) -> list[Json]:
        ids = await self.core.client.zrevrange(self.keys.buyer_orders(user_id), 0, limit - 1)
        return await self.many([i.decode() for i in ids])

    async def of_room(self, room_id: str, limit: int | None = None) -> list[Json]:
        """A room's orders, newest first."""
        s = self.keys.shelf(room_id)
        ids = await self.core.client.zrevrange(s.order_list, 0, -1 if limit is None else limit - 1)
        if not ids:
            return []
        raws = await self.core.client.hmget(s.orders, ids)
        return [orjson.loads(r) for r in raws if r]

    async def earnings(self, room_id: str) -> Json:
        """The room's sales totals: GMV, refunds, net, commission, paid and refunded orders, and
        the late payments still to refund (``late_paid`` cents over ``late_paid_orders``)."""
        return _totals(await self.core.client.hgetall(self.keys.shelf(room_id).earnings))

    async def earnings_many(self, room_ids: list[str]) -> list[Json]:
        """Each room's earnings totals (as :meth:`earnings`), in one pipeline."""
        if not room_ids:
            return []
        async with self.core.client.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                pipe.hgetall(self.keys.shelf(room_id).earnings)
            replies = await pipe.execute()
        return [_totals(raw) for raw in replies]

    async def books(self, room_ids: list[str], limit: int) -> list[tuple[Json, list[Json]]]:
        """Each room's earnings totals and its latest ``limit`` ledger entries, newest first, in
        one pipeline."""
        if not room_ids:
            return []
        async with self.core.client.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                s = self.keys.shelf(room_id)
                pipe.hgetall(s.earnings)
                pipe.xrevrange(s.ledger, count=limit)
            replies = await pipe.execute()
        return [(_totals(totals), _ledger(room_id, entries)) for room_id, totals, entries
                in zip(room_ids, replies[0::2], replies[1::2], strict=True)]


def _totals(raw: dict[bytes, bytes]) -> Json:
    vals = {k.decode(): int(v) for k, v in raw.items()}
    gmv, refunded = vals.get("gmv", 0), vals.get("refunded", 0)
    return {"gmv": gmv, "refunded": refunded, "net": gmv - refunded,
            "commission": vals.get("commission", 0),
            "paid_orders": vals.get("paid_orders", 0),
            "refunded_orders": vals.get("refunded_orders", 0),
            "late_paid": vals.get("late_paid", 0),
            "late_paid_orders": vals.get("late_paid_orders", 0)}


def _ledger(room_id: str, entries: list[Any]) -> list[Json]:
    out = []
    for entry_id, fields in entries:
        f = {k.decode(): v.decode() for k, v in fields.items()}
        out.append({"id": entry_id.decode(), "room_id": room_id, "kind": f["kind"],
                    "order_id": f["order"], "amount": int(f["amount"]),
                    "commission": int(f["commission"]), "ts": int(f["ts"])})
    return out
