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
from live_server.store.red_packets import RedPacketStore
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
    """Recompute every wallet and every packet from the ledger, and run ``checks`` over the
    same pass; list what disagrees."""
    report = AuditReport()
    users: dict[str, int] = {}
    held: dict[str, int] = {}  # packet id → cents the ledger says it holds
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
    for pid in stored_packets:
        report.packets += 1
        fields, shares, claims = await packets.packet_books(pid)
        if not fields:
            report.mismatches.append(f"packet {pid}: missing")
            continue
        total = int(loads(fields["json"])["total"])
        left = int(fields["left_amt"])
        if held.get(pid, 0) != left:
            report.mismatches.append(f"packet {pid}: ledger holds {held.get(pid, 0)}, "
                                     f"packet says {left} left")
        if sum(shares) != left:
            report.mismatches.append(f"packet {pid}: shares left sum to {sum(shares)}, "
                                     f"not {left}")
        if claims != grabs.get(pid, {}):
            report.mismatches.append(f"packet {pid}: claims differ from the ledger's grabs")
        refunded = refunds.get(pid, 0)
        if sum(claims.values()) + left + refunded != total:
            report.mismatches.append(f"packet {pid}: grabbed {sum(claims.values())} + left "
                                     f"{left} + refunded {refunded} != total {total}")
        if refunded != int(fields.get("refunded", "0")):
            report.mismatches.append(f"packet {pid}: refunded twice or not recorded")
        if any(a < 1 for a in claims.values()) or any(s < 1 for s in shares):
            report.mismatches.append(f"packet {pid}: a share below one cent")
    for pid in set(held) - set(stored_packets):
        report.mismatches.append(f"packet {pid}: in the ledger but not stored")
    for check in checks:
        report.mismatches += await check.finish()
    return report
