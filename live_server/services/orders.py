"""Order use cases: pay (through a payment provider), cancel, fulfil, refund, the signed payment
webhook, listings, GMV, CSV export and the creator's earnings.

Paying never charges twice: the order is claimed first (``paying``, with a lease), then charged,
then confirmed with the claim's token; a concurrent ``pay`` meets the claim and is refused before
any charge. A process that dies between claim and confirm leaves a claim whose lease runs out,
after which the order can be paid (or expires) again."""

from __future__ import annotations

import asyncio
import collections
import csv
import dataclasses
import hashlib
import hmac
import io
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Protocol

from live_server import logs
from live_server.auth import Identity, require_creator, require_user
from live_server.config import DEV_WEBHOOK_SECRET, Settings
from live_server.domain.address import FIELDS as ADDRESS_FIELDS
from live_server.domain.orders import check_action, effective_state, order_room
from live_server.domain.show_report import csv_cell
from live_server.errors import (
    AddressRequired,
    BadRequest,
    Forbidden,
    InvalidField,
    InvalidSignature,
    InvalidState,
    NotFound,
    PaymentDeclined,
    Unauthorized,
)
from live_server.protocol import Json, now_ms
from live_server.services.after_commit import AfterCommit
from live_server.store.orders import OrderStore
from live_server.store.rooms import RoomStore

log = logging.getLogger(__name__)

# How long a payment claim holds an order: longer than any charge may take (CHARGE_TIMEOUT_S),
# so a claim only runs out when its process died between claim and confirm.
PAY_LEASE_MS = 60_000
CHARGE_TIMEOUT_S = 30.0


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentResult:
    ok: bool
    reference: str
    message: str = ""


class PaymentProvider(Protocol):
    """What the order service needs from a payment gateway. A real gateway confirms through
    the signed webhook (``OrderService.webhook``); ``charge`` is for providers that answer at
    once (the development provider), which must charge an order at most once whoever calls
    (a real one would pass the order id as the gateway's idempotency key)."""

    name: str
    charges_at_once: bool

    async def charge(self, order: Json, outcome: str) -> PaymentResult: ...


class DevProvider:
    """Development payments: the buyer says ``confirm`` or ``decline``. Never in production."""

    name = "dev"
    charges_at_once = True

    def __init__(self) -> None:
        self.charged: collections.Counter[str] = collections.Counter()  # order id → charges

    async def charge(self, order: Json, outcome: str) -> PaymentResult:
        if outcome == "confirm":
            self.charged[str(order["id"])] += 1
            return PaymentResult(True, "dev_" + secrets.token_hex(6))
        return PaymentResult(False, "", "declined by the development provider")


class WebhookProvider:
    """A real gateway: the page hands the buyer to it; its signed webhook marks the order paid."""

    name = "webhook"
    charges_at_once = False

    async def charge(self, order: Json, outcome: str) -> PaymentResult:
        raise BadRequest("payments are confirmed by the payment gateway's webhook")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Live-Signature`` header value for ``body`` sent at ``timestamp`` (unix s)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


CSV_FIELDS = ("id", "created_at", "updated_at", "state", "buyer", "product_id", "variant_id",
              "title", "quantity", "unit_price", "subtotal", "discount", "coupon_id", "amount",
              "currency", "commission_bp", "commission", "payment_ref", "paid_at")


class PaymentListener(Protocol):
    """Told of every order that became paid (intimacy toward the room's creator)."""

    async def note_paid(self, order: Json) -> None: ...


class OrderService:
    def __init__(self, settings: Settings, rooms: RoomStore, orders: OrderStore, *,
                 listeners: Sequence[PaymentListener] = (),
                 after: AfterCommit | None = None) -> None:
        self.settings = settings
        self.rooms = rooms
        self.store = orders
        self.provider: PaymentProvider = (
            DevProvider() if settings.payments.provider == "dev" else WebhookProvider())
        self.listeners = tuple(listeners)  # after-commit work of a payment, each in turn
        self.after = after or AfterCommit()

    async def _order(self, order_id: str) -> Json:
        order = await self.store.get(order_id)
        if order is None:
            raise NotFound("no such order")
        return order

    async def _room_manager(self, who: Identity, order: Json, *, ops_ok: bool = True) -> bool:
        room = await self.rooms.get(order["room_id"])
        return who.user_id is not None and (
            (ops_ok and who.is_ops) or (room is not None and who.role == "creator"
                                        and room.creator_id == who.user_id))

    async def get(self, who: Identity, order_id: str) -> Json:
        if who.user_id is None:
            raise Unauthorized("a token is needed")
        order = await self._order(order_id)
        if order["buyer"] != who.user_id and not await self._room_manager(who, order):
            raise NotFound("no such order")
        return order

    async def pay(self, who: Identity, order_id: str, outcome: str) -> Json:
        """Claim, charge, confirm. A declined charge releases the claim at once; a charge that
        fails or times out keeps it until its lease runs out (the provider may have charged)."""
        uid = require_user(who)
        order = await self._order(order_id)
        if order["buyer"] != uid:
            raise NotFound("no such order")
        check_action(effective_state(order, now_ms()), "claim")
        if outcome not in ("confirm", "decline"):
            raise InvalidField("'outcome' must be confirm or decline")
        if not self.provider.charges_at_once:
            raise BadRequest("payments are confirmed by the payment gateway's webhook")
        # the buyer's saved address, copied onto the order (the one it has otherwise); a
        # reservation already over is answered by the claim (expired), not by this
        address = await self.store.addresses.get(uid)
        if address is None and not order.get("address") and now_ms() < order["expires_at"]:
            raise AddressRequired("a shipping address is needed: save one first")
        claim = secrets.token_hex(12)
        claimed = await self._apply(order_id, "claim", uid, claim=claim, address=address)
        async with asyncio.timeout(CHARGE_TIMEOUT_S):
            result = await self.provider.charge(claimed, outcome)
        if not result.ok:
            await self.store.transition(order_id, "release", actor=uid, now=now_ms(),
                                        claim=claim)
            raise PaymentDeclined(result.message or "payment declined")
        return await self._apply(order_id, "pay", uid, result.reference, claim=claim)

    async def _apply(self, order_id: str, action: str, actor: str, reference: str = "", *,
                     claim: str = "", event_id: str = "", address: Json | None = None) -> Json:
        order, done = await self.store.transition(
            order_id, action, actor=actor, now=now_ms(), reference=reference, claim=claim,
            lease_ms=PAY_LEASE_MS, event_id=event_id, address=address)
        if not done:
            raise InvalidState("the reservation expired before the payment", state="expired")
        if order["state"] == "paid_late":
            log.warning("late payment %s for order %s: recorded as paid_late, to refund",
                        reference, order_id, extra=logs.about(order_id=order_id))
        elif action == "pay":
            for listener in self.listeners:  # the order is paid either way
                await self.after.run("paid_listener", listener.note_paid(order))
        return order

    async def cancel(self, who: Identity, order_id: str) -> Json:
        uid = require_user(who)
        order = await self._order(order_id)
        if order["buyer"] != uid and not await self._room_manager(who, order):
            raise NotFound("no such order")
        return await self._apply(order_id, "cancel", uid)

    async def fulfil(self, who: Identity, order_id: str) -> Json:
        uid = require_user(who)
        order = await self._order(order_id)
        if not await self._room_manager(who, order, ops_ok=False):
            raise Forbidden("only the room's creator may fulfil its orders")
        return await self._apply(order_id, "fulfil", uid)

    async def refund(self, who: Identity, order_id: str) -> Json:
        uid = require_user(who)
        order = await self._order(order_id)
        if not await self._room_manager(who, order):
            raise Forbidden("only the room's creator or ops may refund")
        return await self._apply(order_id, "refund", uid, "")

    def verify_webhook(self, raw: bytes, signature: str) -> None:
        """A payment gateway's notice is signed over its raw body: the signature and a fresh
        timestamp are checked before the body is read (the caller binds its fields after)."""
        cfg = self.settings.payments
        if self.settings.production and cfg.webhook_secret == DEV_WEBHOOK_SECRET:
            raise InvalidSignature("the webhook secret is not configured")
        parts = dict(p.split("=", 1) for p in signature.split(",") if "=" in p)
        try:
            stamp = int(parts.get("t", ""))
        except ValueError:
            raise InvalidSignature("malformed signature header") from None
        expected = sign(cfg.webhook_secret, stamp, raw).split("v1=", 1)[1]
        if not hmac.compare_digest(expected, parts.get("v1", "")):
            raise InvalidSignature("bad signature")
        if abs(time.time() - stamp) > cfg.webhook_tolerance_s:
            raise InvalidSignature("signature timestamp outside the tolerance")

    async def webhook(self, event: Json) -> Json:
        """A verified notice (:meth:`verify_webhook`), its fields bound: event id never seen.
        ``payment.succeeded`` pays the order (``paid_late`` if its reservation had ended);
        ``payment.refunded`` refunds it. The event id is checked and recorded on the order in
        the transition's own step: an event whose transition failed is not seen, so the
        gateway's retry is tried again rather than answered ``replayed``."""
        event_id, kind, order_id = event["id"], event["type"], event["order_id"]
        if order_room(order_id) is None:
            raise InvalidField("'order_id' must be an order id")
        order = await self._order(order_id)
        if event["amount"] != order["amount"]:
            raise InvalidField("'amount' does not match the order")
        reference = str(event.get("reference") or event_id)[:100]
        action = "pay" if kind == "payment.succeeded" else "refund"
        # the gateway took the money: the buyer's address is copied if they saved one, the
        # payment is never refused for the want of one
        address = (await self.store.addresses.get(order["buyer"]) if action == "pay"
                   else None)
        return await self._apply(order_id, action, "gateway", reference, event_id=event_id,
                                 address=address)

    # Listings ---------------------------------------------------------------------------

    async def mine(self, who: Identity, limit: int) -> Json:
        """The buyer's orders, each with its room's title, and how payment works here."""
        orders = await self.store.of_buyer(require_user(who), limit)
        rooms = await self.rooms.many(sorted({str(o["room_id"]) for o in orders}))
        titles = {r.id: r.title for r in rooms}
        for order in orders:
            order["room_title"] = titles.get(str(order["room_id"]), "")
        return {"orders": orders, "payment_provider": self.settings.payments.provider,
                "currency": self.settings.shelf.currency}

    async def _managed_room(self, who: Identity, room_id: str) -> None:
        room = await self.rooms.require(room_id)
        if who.user_id is None:
            raise Unauthorized("a token is needed")
        if not (who.is_ops or (who.role == "creator" and who.user_id == room.creator_id)):
            raise Forbidden("only the room's creator or ops may see its orders")

    async def room_orders(self, who: Identity, room_id: str, limit: int) -> Json:
        await self._managed_room(who, room_id)
        totals = {**await self.store.earnings(room_id), "currency": self.settings.shelf.currency}
        return {"orders": await self.store.of_room(room_id, limit), "totals": totals}

    async def room_csv(self, who: Identity, room_id: str) -> str:
        await self._managed_room(who, room_id)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([*CSV_FIELDS, *(f"ship_{f}" for f in ADDRESS_FIELDS)])
        for order in reversed(await self.store.of_room(room_id)):
            address = order.get("address") or {}
            writer.writerow([csv_cell(order.get(f, "")) for f in CSV_FIELDS]
                            + [csv_cell(address.get(f, "")) for f in ADDRESS_FIELDS])
        return out.getvalue()

    async def earnings(self, who: Identity, limit: int) -> Json:
        uid = require_creator(who)
        rooms = await self.rooms.owned_ids(uid)
        total = {"gmv": 0, "refunded": 0, "net": 0, "commission": 0, "paid_orders": 0,
                 "refunded_orders": 0, "late_paid": 0, "late_paid_orders": 0}
        entries: list[Json] = []
        for money, ledger in await self.store.books(rooms, limit):
            for key in total:
                total[key] += money[key]
            entries += ledger
        entries.sort(key=lambda e: (e["ts"], e["id"]), reverse=True)
        return {"totals": {**total, "currency": self.settings.shelf.currency},
                "ledger": entries[:limit], "currency": self.settings.shelf.currency}

