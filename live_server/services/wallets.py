"""Wallets: the wallet view, the development top-up, and the money audit.

Every movement of money is a script that changes balances and appends to the ledger in one
step (``store/wallets.py``, ``store/red_packets.py``, ``store/fans.py``); ``audit()`` is the
independent check that the two agree: it recomputes every balance and every red packet from
the ledger alone (``live-server audit``).
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence
from typing import Protocol

from orjson import loads

from live_server.auth import Identity, require_user
from live_server.config import Settings
from live_server.errors import Forbidden, InvalidField
from live_server.protocol import Json, now_ms
from live_server.store.keys import bucket_index
from live_server.store.red_packets import PacketBooks, RedPacketStore
from live_server.store.transfers import TransferStore
from live_server.store.wallets import WalletStore


class WalletService:
    def __init__(self, settings: Settings, store: WalletStore) -> None:
        self.settings = settings
        self.cfg = settings.money
        self.store = store

    async def wallet(self, who: Identity) -> Json:
        uid = require_user(who)
        balance, recent = await self.store.wallet(uid, self.cfg.recent_entries)
        return {"user": uid, "balance": balance, "currency": self.settings.shelf.currency,
                "entries": recent,
                "dev_topup": self.cfg.dev_topup and not self.settings.production}

    async def topup(self, who: Identity, amount: int) -> Json:
        if not self.cfg.dev_topup or self.settings.production:
            raise Forbidden("development top-up is off")
        uid = require_user(who)
        if not 1 <= amount <= self.cfg.max_topup_cents:
            raise InvalidField(f"'amount' must be between 1 and {self.cfg.max_topup_cents}")
        balance = await self.store.topup(uid, amount, now_ms(), "dev-" + secrets.token_hex(6))
        return {"user": uid, "balance": balance}


@dataclasses.dataclass
class AuditReport:
    entries: int = 0
    accounts: int = 0
    packets: int = 0
    mismatches: list[str] = dataclasses.field(default_factory=list)


class LedgerCheck(Protocol):
    """One more book checked against the ledger (gifts and the platform account, top-ups):
    shown every entry in the one pass over the ledger, then asked what disagrees."""

    def note(self, entry: dict[str, str]) -> None: ...

    async def finish(self) -> list[str]: ...


async def audit(wallets: WalletStore, packets: RedPacketStore,
                checks: Sequence[LedgerCheck] = ()) -> AuditReport:
    """Recompute every wallet and every packet from the ledgers of every wallet bucket, and
    run ``checks`` over the same pass; list what disagrees. Each packet's escrow lives on its
    own slot: its books are read there and checked against the ledger, counting the transfers
    still pending between the two slots (``packet_mismatches``). Money between two buckets
    sits in an ``xfer:<id>`` account while it travels: what the ledgers say each one holds
    must be exactly its pending record's amount, and nothing once it has arrived
    (``transfer_mismatches``)."""
    report = AuditReport()
    buckets = len(wallets.keys.buckets)
    users: dict[str, int] = {}
    held: dict[str, int] = {}  # packet id → cents the ledger says it holds
    in_transit: dict[str, int] = {}  # transfer id → cents the ledgers say it holds
    grabs: dict[str, dict[str, int]] = {}
    refunds: dict[str, int] = {}
    async for entry in wallets.ledger_entries():
        report.entries += 1
        for check in checks:
            check.note(entry)
        amount = int(entry["amount"])
        if amount <= 0:
            report.mismatches.append(f"ledger {entry['id']}: amount {amount} is not positive")
        for side, sign in (("from", -1), ("to", 1)):
            kind, _, name = entry[side].partition(":")
            if kind == "user":
                users[name] = users.get(name, 0) + sign * amount
                if bucket_index(name, buckets) != int(entry.get("bucket", "0")):
                    report.mismatches.append(
                        f"ledger {entry['id']}: {name}'s wallet moved on bucket "
                        f"{entry['bucket']}, not theirs")
            elif kind == "xfer":
                in_transit[name] = in_transit.get(name, 0) + sign * amount
            elif kind == "packet":
                held[name] = held.get(name, 0) + sign * amount
        if entry["reason"] == "grab":
            user = entry["to"].partition(":")[2]
            per = grabs.setdefault(entry["ref"], {})
            if user in per:
                report.mismatches.append(f"packet {entry['ref']}: {user} credited twice")
            per[user] = amount
        elif entry["reason"] == "refund":
            refunds[entry["ref"]] = refunds.get(entry["ref"], 0) + amount
    stored = await wallets.balances()
    report.accounts = len(set(users) | set(stored))
    for user in sorted(set(users) | set(stored)):
        want, have = users.get(user, 0), stored.get(user, 0)
        if want != have:
            report.mismatches.append(f"wallet {user}: ledger says {want}, balance is {have}")
        if have < 0:
            report.mismatches.append(f"wallet {user}: negative balance {have}")
    stored_packets = await packets.packet_ids()
    launching = await packets.launches_recorded()
    for pid in stored_packets:
        report.packets += 1
        books = await packets.packet_books(pid)
        report.mismatches += packet_mismatches(pid, books, held.get(pid, 0),
                                               grabs.get(pid, {}), refunds.get(pid, 0),
                                               pid in launching)
    for pid in set(held) - set(stored_packets):
        report.mismatches.append(f"packet {pid}: in the ledger but not stored")
    pending = await TransferStore(wallets.core, recent_max=wallets.recent_max).all_pending()
    report.mismatches += transfer_mismatches(in_transit, pending)
    for check in checks:
        report.mismatches += await check.finish()
    return report


def transfer_mismatches(in_transit: dict[str, int], pending: dict[str, Json]) -> list[str]:
    """Each transfer between buckets against the ledgers: debited on one bucket and credited
    (or given back) on another, it holds its amount while pending and nothing after."""
    out: list[str] = []
    for tid in sorted(set(in_transit) | set(pending)):
        have = in_transit.get(tid, 0)
        record = pending.get(tid)
        want = int(record["amount"]) if record is not None else 0
        if have != want:
            state = "pending" if record is not None else "not pending"
            out.append(f"transfer {tid}: the ledgers hold {have} in it, {state} with {want}")
    return out


def packet_mismatches(pid: str, books: PacketBooks, held: int, grabs: dict[str, int],
                      refunded: int, launching: bool) -> list[str]:
    """One packet's escrow against the ledger. The ledger (on the wallet slot) says what the
    escrow holds: the launch's debit less every credit out of it. The escrow must hold that
    as its shares left plus its transfers out still pending (popped or refunded, not credited
    yet); each transfer's two sides must agree (the escrow's claim or refund and the wallet
    slot's credit); grabbed + left + refunded = total. A packet not in escrow with its launch
    still recorded is pending (the reconciler puts it in escrow)."""
    fields = books.fields
    if not fields:
        return [] if launching else [f"packet {pid}: missing"]
    out: list[str] = []
    total = int(loads(fields["json"])["total"])
    left = int(fields["left_amt"])
    pending = {f: a for f, a in books.pending.items() if f not in books.credited}
    if held != left + sum(pending.values()):
        out.append(f"packet {pid}: ledger holds {held}, escrow has {left} left and "
                   f"{sum(pending.values())} pending out")
    if sum(books.shares) != left:
        out.append(f"packet {pid}: shares left sum to {sum(books.shares)}, not {left}")
    credited_grabs = {f: a for f, a in books.credited.items() if f != "~refund"}
    if credited_grabs != grabs:
        out.append(f"packet {pid}: credited grabs differ from the ledger's grabs")
    if books.credited.get("~refund", 0) != refunded:
        out.append(f"packet {pid}: credited refund differs from the ledger's refund")
    for field, amount in books.pending.items():
        if field in books.credited and books.credited[field] != amount:
            out.append(f"packet {pid}: {field} pending {amount}, credited "
                       f"{books.credited[field]}")
    if books.claims != {f: a for f, a in (credited_grabs | pending).items() if f != "~refund"}:
        out.append(f"packet {pid}: claims differ from the grabs credited and pending")
    escrow_refunded = int(fields.get("refunded", "0"))
    if escrow_refunded != refunded + pending.get("~refund", 0):
        out.append(f"packet {pid}: refunded twice or not recorded")
    if sum(books.claims.values()) + left + escrow_refunded != total:
        out.append(f"packet {pid}: grabbed {sum(books.claims.values())} + left {left} + "
                   f"refunded {escrow_refunded} != total {total}")
    if any(a < 1 for a in books.claims.values()) or any(s < 1 for s in books.shares):
        out.append(f"packet {pid}: a share below one cent")
    return out
