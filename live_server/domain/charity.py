"""Charity shows: beneficiaries, a room's terms, and the one earmark rule, without I/O.

The earmark of a movement is computed here and nowhere else: the send, refund and payment
scripts move the amount they are given, and the audit recomputes it from the source movement
with the same function. Rounding: the earmark is rounded DOWN to a whole cent per movement,
so it is never more than the proceeds it comes from (a cent that cannot be split stays with
the creator; a movement too small to earn a cent earmarks nothing).
"""

from __future__ import annotations

import dataclasses
import re

from live_server.errors import InvalidField

SOURCES = ("orders", "gifts", "red_packets")
"""What a room's terms may cover: paid orders' amounts (auction orders included), the
creator's share of gifts, the refunded remainders of the creator's expired red packets."""

MAX_BP = 10_000
BENEFICIARY_ID = re.compile(r"b_[0-9a-f]{12}")
URL = re.compile(r"https?://[^\s<>\"']{1,300}")
ACCOUNT_KIND = "beneficiary"  # the ledger side of a beneficiary: ``beneficiary:<id>``
LEDGER_REASON = "charity"  # the reason of an earmark's ledger entry
STATEMENT = (
    "Every earmark is an entry in the money ledger (gifts, red-packet remainders) or in the "
    "room's order ledger (paid orders; a refund reverses it). Each is {bp_percent} of its "
    "source movement, rounded down to the cent. The platform's audit (live-server audit) "
    "checks that the beneficiary's balance equals the sum of its earmarks, that these totals "
    "equal the listed entries, and that each entry is exactly the share of its source. "
    "Download the entries to add them up yourself.")


def earmark(amount: int, bp: int) -> int:
    """The cents earmarked from a movement of ``amount`` cents at ``bp`` basis points:
    ``amount * bp // 10000`` (rounded down), so ``0 <= earmark <= amount``."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError("amount must be non-negative integer cents")
    if isinstance(bp, bool) or not isinstance(bp, int) or not 1 <= bp <= MAX_BP:
        raise ValueError("bp must be 1..10000")
    return amount * bp // MAX_BP


def percent_text(bp: int) -> str:
    """Basis points as a percentage a person reads: 1000 → "10%", 1250 → "12.5%"."""
    whole, rest = divmod(bp, 100)
    return f"{whole}%" if rest == 0 else f"{whole}.{rest:02d}".rstrip("0") + "%"


def account(beneficiary_id: str) -> str:
    return f"{ACCOUNT_KIND}:{beneficiary_id}"


def entry_ref(room_id: str, source: str, source_id: str) -> str:
    """An earmark's reference: the room, the source and the source movement's id."""
    return f"{room_id}|{source}|{source_id}"


def parse_ref(ref: str) -> tuple[str, str, str]:
    """(room, source, source id) of an earmark's reference."""
    room_id, _, rest = ref.partition("|")
    source, _, source_id = rest.partition("|")
    return room_id, source, source_id


@dataclasses.dataclass(frozen=True, slots=True)
class Beneficiary:
    """A payee ops registered: creators choose among these, never invent one."""

    id: str
    name: str
    description: str
    url: str
    created_at: int

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "description": self.description,
                "url": self.url, "created_at": self.created_at}


def check_beneficiary(name: str, description: str, url: str) -> tuple[str, str, str]:
    name, description, url = name.strip(), description.strip(), url.strip()
    if not 1 <= len(name) <= 80:
        raise InvalidField("'name' must be 1-80 characters")
    if len(description) > 280:
        raise InvalidField("'description' must be at most 280 characters")
    if url and not URL.fullmatch(url):
        raise InvalidField("'url' must be an http(s) address")
    return name, description, url


@dataclasses.dataclass(frozen=True, slots=True)
class Terms:
    """A room's charity terms: to whom, how much, from which proceeds."""

    beneficiary_id: str
    bp: int
    sources: tuple[str, ...]

    def covers(self, source: str) -> bool:
        return source in self.sources

    def cut(self, source: str, amount: int) -> int:
        """The earmark of a movement from ``source``: 0 when the terms do not cover it."""
        return earmark(amount, self.bp) if self.covers(source) else 0

    def to_json(self) -> dict[str, object]:
        return {"beneficiary_id": self.beneficiary_id, "bp": self.bp,
                "sources": list(self.sources)}

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> Terms:
        bp = raw["bp"]
        sources = raw["sources"]
        assert isinstance(bp, int) and isinstance(sources, list)
        return cls(str(raw["beneficiary_id"]), bp, tuple(str(s) for s in sources))


def check_terms(beneficiary_id: str, bp: int, sources: list[str]) -> Terms:
    """Terms as a creator sets them: a registered beneficiary's id, 1..10000 basis points, at
    least one source, each known (kept in the canonical order, each once)."""
    if not BENEFICIARY_ID.fullmatch(beneficiary_id):
        raise InvalidField("'beneficiary_id' must be a beneficiary's id")
    if isinstance(bp, bool) or not isinstance(bp, int) or not 1 <= bp <= MAX_BP:
        raise InvalidField("'bp' must be between 1 and 10000")
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise InvalidField(f"'sources' must be among {', '.join(SOURCES)}")
    if not sources:
        raise InvalidField("'sources' must name at least one source")
    return Terms(beneficiary_id, bp, tuple(s for s in SOURCES if s in sources))
