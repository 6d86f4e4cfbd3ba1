"""Virtual gifts and wallet top-ups: the rules, without I/O.

A gift's price is split once, here, into the creator's share and the platform's, so the send
script only moves the two amounts it is given and the audit can recompute the same split.
The creator's share is rounded down: a cent that cannot be split goes to the platform, never
to nobody.
"""

from __future__ import annotations

import dataclasses
import re

from live_server.errors import InvalidField

GIFT_ID = re.compile(r"[a-z0-9_]{1,32}")
ICON = re.compile(r"[a-z0-9_-]{1,32}")
TOPUP_PREFIX = "tu_"  # a top-up's id, told apart from an order id by the payment webhook
TOPUP_ID = re.compile(r"tu_[0-9a-f]{20}")


@dataclasses.dataclass(frozen=True, slots=True)
class Gift:
    id: str
    name: str
    price: int  # cents
    icon: str

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "price": self.price, "icon": self.icon}


def parse_catalogue(entries: tuple[str, ...]) -> dict[str, Gift]:
    """``gifts.catalogue`` ("id|name|price cents|icon" each) as gifts by id, in the order given;
    a malformed entry or a repeated id is a configuration error (ValueError)."""
    out: dict[str, Gift] = {}
    for entry in entries:
        parts = entry.split("|")
        if len(parts) != 4:
            raise ValueError(f"gifts.catalogue: {entry!r} is not 'id|name|price|icon'")
        gift_id, name, price, icon = (p.strip() for p in parts)
        if not GIFT_ID.fullmatch(gift_id) or not ICON.fullmatch(icon):
            raise ValueError(f"gifts.catalogue: {entry!r}: bad id or icon name")
        if not name or len(name) > 40:
            raise ValueError(f"gifts.catalogue: {entry!r}: the name must be 1..40 characters")
        if not price.isdigit() or int(price) <= 0:
            raise ValueError(f"gifts.catalogue: {entry!r}: the price must be positive cents")
        if gift_id in out:
            raise ValueError(f"gifts.catalogue: {gift_id!r} appears twice")
        out[gift_id] = Gift(gift_id, name, int(price), icon)
    if not out:
        raise ValueError("gifts.catalogue is empty")
    return out


def split(total: int, creator_share_bp: int) -> tuple[int, int]:
    """(creator's cents, platform's cents) of ``total``; they always sum to ``total``."""
    creator = total * creator_share_bp // 10_000
    return creator, total - creator


def combo(previous: int, last_at: int, now: int, quantity: int, window_ms: int) -> int:
    """The combo after a send of ``quantity``: it grows while sends of the same gift come
    within ``window_ms`` of each other, else starts again. (The send script applies the same
    rule atomically; this is its reference.)"""
    if previous > 0 and 0 <= now - last_at <= window_ms:
        return previous + quantity
    return quantity


def check_topup_amount(amount: int, packs: tuple[int, ...], lo: int, hi: int) -> int:
    """A top-up amount: one of the packs, or a free amount within the bounds."""
    if amount in packs or lo <= amount <= hi:
        return amount
    raise InvalidField(f"'amount' must be a pack or between {lo} and {hi} cents")


def is_topup_id(value: str) -> bool:
    return TOPUP_ID.fullmatch(value) is not None
