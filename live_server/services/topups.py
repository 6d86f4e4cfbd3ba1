"""Wallet top-ups through the payment provider, the way orders are paid.

A top-up is an order for wallet money: ``start`` records it (an allowed pack, or a free amount
within bounds) for the configured provider, on its user's wallet bucket, under an id that says
which bucket that is (``store/topups.py``). The development provider confirms it at the
user's request; with the webhook provider the gateway's signed notice (the payment webhook,
whose ``order_id`` is then the top-up's id) confirms it. Either way the wallet is credited by
one script that records the payment reference, so a replayed notice credits nothing.
"""

from __future__ import annotations

import secrets

from live_server.auth import Identity, require_user
from live_server.config import Settings
from live_server.domain.gifts import check_topup_amount, is_topup_id
from live_server.errors import (
    BadRequest,
    InvalidField,
    InvalidState,
    NotFound,
    PaymentDeclined,
)
from live_server.protocol import Json, now_ms
from live_server.store.topups import TopupStore


def _view(topup: Json, now: int) -> Json:
    """A top-up as its user sees it: ``lapsed`` once an unpaid one is past its time."""
    state = topup["state"]
    if state == "pending" and now >= topup["expires_at"]:
        state = "lapsed"
    return {**topup, "state": state}


class TopupService:
    def __init__(self, settings: Settings, store: TopupStore) -> None:
        self.settings = settings
        self.cfg = settings.gifts
        self.store = store

    async def start(self, who: Identity, amount: int) -> Json:
        uid = require_user(who)
        cfg = self.cfg
        check_topup_amount(amount, cfg.topup_packs, cfg.topup_min_cents, cfg.topup_max_cents)
        now = now_ms()
        topup: Json = {"id": self.store.new_id(uid), "user": uid,
                       "amount": amount, "provider": self.settings.payments.provider,
                       "created_at": now, "expires_at": now + cfg.topup_ttl_ms}
        await self.store.create(topup)
        return {"topup": {**topup, "state": "pending"},
                "currency": self.settings.shelf.currency,
                "confirm": "page" if topup["provider"] == "dev" else "gateway"}

    async def _own(self, who: Identity, topup_id: str) -> Json:
        uid = require_user(who)
        topup = await self.store.get(topup_id) if is_topup_id(topup_id) else None
        if topup is None or topup["user"] != uid:
            raise NotFound("no such top-up")
        return topup

    async def get(self, who: Identity, topup_id: str) -> Json:
        return _view(await self._own(who, topup_id), now_ms())

    async def mine(self, who: Identity, limit: int) -> Json:
        now = now_ms()
        return {"topups": [_view(t, now) for t in await self.store.mine(require_user(who),
                                                                       limit)],
                "currency": self.settings.shelf.currency}

    async def pay(self, who: Identity, topup_id: str, outcome: str) -> Json:
        """The development provider's confirmation from the page: ``confirm`` credits the
        wallet once, ``decline`` leaves the top-up pending (the user may try again)."""
        topup = await self._own(who, topup_id)
        if topup["provider"] != "dev" or self.settings.payments.provider != "dev":
            raise BadRequest("payments are confirmed by the payment gateway's webhook")
        view = _view(topup, now_ms())
        if view["state"] != "pending":
            raise InvalidState(f"the top-up is {view['state']}", state=view["state"])
        if outcome != "confirm":
            raise PaymentDeclined("declined by the development provider")
        balance = await self.store.pay(topup_id, topup["user"], "dev_" + secrets.token_hex(8),
                                       topup["amount"], now_ms(), "dev")
        return {"topup": await self.get(who, topup_id), "balance": balance}

    async def webhook(self, event: Json) -> Json:
        """A verified, bound gateway notice whose ``order_id`` is a top-up: ``payment.succeeded``
        credits it once (also after its time: the gateway took the money). The reference
        (or the event id) is what makes a replay credit nothing."""
        topup_id = str(event["order_id"])
        topup = await self.store.get(topup_id) if is_topup_id(topup_id) else None
        if topup is None:
            raise NotFound("no such top-up")
        if event["type"] != "payment.succeeded":
            raise InvalidField("a top-up is not refunded through the gateway")
        if event["amount"] != topup["amount"]:
            raise InvalidField("'amount' does not match the top-up")
        reference = str(event.get("reference") or event["id"])[:100]
        await self.store.pay(topup_id, topup["user"], reference, topup["amount"], now_ms(),
                             topup["provider"])
        paid = await self.store.get(topup_id)
        assert paid is not None
        return paid


class TopupAudit:
    """The audit's check of top-ups (``services/wallets.py`` ``LedgerCheck``): a paid top-up
    was credited exactly once with its amount, an unpaid one never, and every gateway credit
    belongs to a top-up."""

    def __init__(self, store: TopupStore) -> None:
        self.store = store
        self.credits: dict[str, list[int]] = {}

    def note(self, entry: dict[str, str]) -> None:
        if entry["reason"] == "topup" and entry["from"].startswith("gateway:"):
            self.credits.setdefault(entry["ref"], []).append(int(entry["amount"]))

    async def finish(self) -> list[str]:
        out: list[str] = []
        known: set[str] = set()
        async for topup in self.store.every_topup():
            known.add(topup["id"])
            credits = self.credits.get(topup["id"], [])
            want = [topup["amount"]] if topup["state"] == "paid" else []
            if credits != want:
                out.append(f"top-up {topup['id']} ({topup['state']}): credited {credits}, "
                           f"expected {want}")
        for ref in sorted(set(self.credits) - known):
            out.append(f"top-up {ref}: credited in the ledger but not stored")
        return out
