"""Transfers between wallet buckets: the two steps and the marks between them.

Wallets live in ``money.wallet_buckets`` slots (``store/keys.py``, ``WalletKeys``). A payment
whose payer and payee are on one bucket is one script, as it always was. One between two
buckets is a transfer (docs/ARCHITECTURE.md, "Transfers between slots"):

1. ``xfer_hold.lua`` on the payer's bucket debits the payer and records the transfer as
   pending (its record says how to finish it) and due for the reconciler a grace later;
2. the receiving step on the payee's bucket checks the transfer id in ``xfer:in`` and records
   its answer there, so it moves the money once however often it runs (``xfer_credit.lua``
   for a plain credit; a payment script such as ``gift_send.lua`` in its transfer mode);
3. ``xfer_drop.lua`` on the payer's bucket forgets the pending record, or, when the receiving
   step refused, ``xfer_return.lua`` gives the money back.

A process that dies between the steps leaves the record; the reconciler
(``services/transfers.py``) finishes it from there.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from live_server.protocol import Json
from live_server.store.core import StoreCore, text
from live_server.store.due import Schedule
from live_server.store.keys import WalletKeys

# How long a transfer may stay pending before the reconciler finishes it: the caller that
# debited it normally finishes it within a round trip or two.
GRACE_MS = 5000


@dataclasses.dataclass(frozen=True, slots=True)
class Memo:
    """The payer's idempotency keys (a hash on the payer's bucket) and this call's key: a key
    seen before moves nothing again."""

    key: str
    field: str
    ttl_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class Held:
    """What the paying step answered: ``ok`` (debited now), ``held`` (the transfer was already
    in flight: finish it), ``repeat`` (the memo's answer), ``insufficient_funds``."""

    status: str
    transfer_id: str = ""
    balance: int = 0
    record: Json | None = None
    answer: bytes = b""


@dataclasses.dataclass(frozen=True, slots=True)
class Received:
    """The receiving step's answer: received (with what the payer's idempotency key answers
    from now on) or refused (with its error code); ``moved``: this call is the one that
    moved the money (not a later one answering the first answer)."""

    ok: bool
    answer: bytes = b""
    moved: bool = False

    @classmethod
    def parse(cls, first: bytes | str) -> Received:
        """From ``xfer:in``'s ``ok|<answer>`` or ``refused|<code>``."""
        raw = first.encode() if isinstance(first, str) else bytes(first)
        status, _, rest = raw.partition(b"|")
        return cls(status == b"ok", rest)


def memo_of(record: Json) -> Memo | None:
    """The payer's idempotency memo a transfer's record names (None: paid without one)."""
    m = record.get("memo")
    return None if not m else Memo(m["key"], m["field"], int(m["ttl_ms"]))


def held_from(reply: list[Any]) -> Held:
    """``xfer_hold.lua``'s reply (alone, or out of a pipeline)."""
    status = text(reply[0])
    if status == "ok":
        return Held(status, text(reply[1]), balance=int(reply[2]))
    if status == "held":
        return Held(status, text(reply[1]), record=orjson.loads(reply[2]))
    if status == "repeat":
        return Held(status, answer=bytes(reply[1]))
    return Held(status, balance=int(reply[1]) if len(reply) > 1 else 0)


class TransferStore:
    def __init__(self, core: StoreCore, *, recent_max: int) -> None:
        self.core = core
        self.keys = core.keys
        self.recent_max = recent_max

    def bucket(self, index: int) -> WalletKeys:
        return self.keys.buckets[index]

    def schedule(self, index: int) -> Schedule:
        """The reconciler's schedule of one bucket's pending transfers (leased for a grace)."""
        return Schedule(self.core, self.bucket(index).transfers_due, lease_ms=GRACE_MS,
                        park_after=5)

    async def hold(self, payer: str, transfer_id: str, record: Json, now: int, *, reason: str,
                   ref: str, memo: Memo | None = None) -> Held:
        """Step 1: debit ``payer`` by ``record["amount"]`` into the transfer, pending."""
        return held_from(await self.core.script(
            "xfer_hold", *self.hold_call(payer, transfer_id, record, now, reason=reason,
                                         ref=ref, memo=memo)))

    def hold_call(self, payer: str, transfer_id: str, record: Json, now: int, *, reason: str,
                  ref: str, memo: Memo | None = None) -> tuple[list[str], list[Any]]:
        """``xfer_hold.lua``'s keys and arguments (to run alone or in a pipeline)."""
        w = self.keys.wallet(payer)
        return ([w.balances, w.ledger, w.recent(payer), w.transfers_out, w.transfers_due,
                 memo.key if memo else w.key("xfer:nomemo")],
                [now, payer, transfer_id, record["amount"], orjson.dumps(record),
                 now + GRACE_MS, self.recent_max, reason, ref, memo.field if memo else "",
                 memo.ttl_ms if memo else 0])

    async def drop(self, bucket: int, transfer_id: str, *, memo: Memo | None = None,
                   answer: bytes | str = b"") -> bool:
        """Step 3: the transfer was received; True when it was still pending."""
        reply = await self.core.script("xfer_drop", *self.drop_call(bucket, transfer_id,
                                                                    memo=memo, answer=answer))
        return bool(int(reply))

    def drop_call(self, bucket: int, transfer_id: str, *, memo: Memo | None = None,
                  answer: bytes | str = b"") -> tuple[list[str], list[Any]]:
        """``xfer_drop.lua``'s keys and arguments (to run alone or in a pipeline)."""
        w = self.bucket(bucket)
        return ([w.transfers_out, w.transfers_due, memo.key if memo else w.key("xfer:nomemo")],
                [transfer_id, memo.field if memo else "", answer, memo.ttl_ms if memo else 0])

    async def give_back(self, payer: str, transfer_id: str, now: int, *, ref: str,
                        memo: Memo | None = None) -> bool:
        """Step 3 after a refusal: the money back to ``payer``; False when it was not pending
        (given back already)."""
        w = self.keys.wallet(payer)
        reply = await self.core.script(
            "xfer_return",
            [w.balances, w.ledger, w.recent(payer), w.transfers_out, w.transfers_due,
             memo.key if memo else w.key("xfer:nomemo")],
            [now, payer, transfer_id, self.recent_max, memo.field if memo else "", ref])
        return text(reply[0]) == "ok"

    async def credit(self, payee: str, transfer_id: str, amount: int, now: int, *,
                     reason: str, ref: str) -> bool:
        """Step 2 of a plain credit: ``payee`` gets ``amount`` once; False when it already
        had."""
        w = self.keys.wallet(payee)
        reply = await self.core.script(
            "xfer_credit", [w.balances, w.ledger, w.recent(payee), w.transfers_in],
            [now, payee, transfer_id, amount, self.recent_max, reason, ref])
        return text(reply[0]) == "ok"

    async def pending(self, bucket: int, transfer_ids: list[str]) -> list[Json | None]:
        """The records of these transfers still pending on ``bucket`` (None: not pending)."""
        if not transfer_ids:
            return []
        raw = await self.core.client.hmget(self.bucket(bucket).transfers_out, transfer_ids)
        return [None if r is None else orjson.loads(r) for r in raw]

    async def all_pending(self) -> dict[str, Json]:
        """The audit's read: every transfer pending on any bucket."""
        out: dict[str, Json] = {}
        for w in self.keys.buckets:
            raw = await self.core.client.hgetall(w.transfers_out)
            out.update({a.decode(): orjson.loads(b) for a, b in raw.items()})
        return out

    async def received(self) -> dict[str, str]:
        """The audit's read: every transfer received on any bucket → its answer."""
        out: dict[str, str] = {}
        for w in self.keys.buckets:
            raw: dict[Any, Any] = await self.core.client.hgetall(w.transfers_in)
            out.update({a.decode(): b.decode() for a, b in raw.items()})
        return out
