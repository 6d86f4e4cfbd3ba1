"""Charity shows in Valkey: beneficiaries, a room's terms, earmark totals and entries.

Gifts and red-packet remainders are wallet money: their earmark is a ledger movement
``user:<creator> → beneficiary:<id>`` made by the send or refund script itself (keys under
``{wallets}``, see ``wallet_keys``). Orders are paid through the payment provider, so their
earmark is recorded on the room's slot by the payment's own transition (``order_keys``),
beside the commission, and reversed by the refund's.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import orjson

from live_server.domain.charity import Beneficiary, Terms
from live_server.errors import CharityLocked, Internal
from live_server.protocol import Json, dumps
from live_server.store.core import StoreCore, text

TERMS_CACHE_MS = 2000  # how long a process trusts its copy of a room's terms before a send
WALLET_SOURCES = ("gifts", "red_packets")


@dataclasses.dataclass(frozen=True, slots=True)
class TermsView:
    """A room's terms as read, with the version a script checks before it moves money."""

    version: str
    terms: Terms | None
    locked: bool
    set_at: int = 0

    def cut(self, source: str, amount: int) -> Cut:
        if self.terms is None or not self.terms.covers(source):
            return Cut(self.version)
        return Cut(self.version, self.terms.cut(source, amount), self.terms.beneficiary_id,
                   amount)


@dataclasses.dataclass(frozen=True, slots=True)
class Cut:
    """What a money script is told: the terms version, the earmark, to whom ('' for none),
    and the amount it was computed from."""

    version: str
    earmark: int = 0
    beneficiary: str = ""
    base: int = 0


class TermsChanged(Exception):
    """A script refused an earmark computed on terms (or a remainder) it no longer holds."""


class CharityStore:
    def __init__(self, core: StoreCore) -> None:
        self.core = core
        self.keys = core.keys
        # the registry is not money: it stays on bucket 0's slot, read by Python only
        self.base = self.keys.buckets[0].key("charity")
        self._cache: dict[str, tuple[float, TermsView]] = {}

    # Keys: a room's terms, totals and entries are on its creator's wallet bucket, with the
    # creator's wallet the earmarks come out of; the beneficiaries' balances are one
    # sub-account per bucket (summed on read). --------------------------------------------

    @property
    def beneficiaries_key(self) -> str:
        """hash: beneficiary id → its JSON (ops registers them)."""
        return f"{self.base}:ben"

    def _at(self, creator_id: str) -> str:
        return self.keys.wallet(creator_id).key("charity")

    def balances_key(self, creator_id: str) -> str:
        """hash: beneficiary id → cents earmarked from wallet money (gifts, red packets) on
        the creator's bucket."""
        return f"{self._at(creator_id)}:bal"

    def terms_key(self, room_id: str, creator_id: str) -> str:
        """hash: ``json`` (the terms), ``version``, ``locked``, ``creator``, ``set_at``."""
        return f"{self._at(creator_id)}:t:{room_id}"

    def totals_key(self, room_id: str, creator_id: str) -> str:
        """hash: ``gifts``, ``gifts_n``, ``red_packets``, ``red_packets_n`` (cents, entries)."""
        return f"{self._at(creator_id)}:r:{room_id}"

    def entries_key(self, room_id: str, creator_id: str) -> str:
        """stream: the room's wallet earmarks (source, ref, amount, base, ts, ledger id)."""
        return f"{self._at(creator_id)}:e:{room_id}"

    def wallet_keys(self, room_id: str, creator_id: str) -> list[str]:
        """The keys a gift send or a packet refund passes for the room's earmark."""
        return [self.terms_key(room_id, creator_id), self.balances_key(creator_id),
                self.totals_key(room_id, creator_id), self.entries_key(room_id, creator_id)]

    def order_keys(self, room_id: str) -> list[str]:
        """On the room's slot: the order earmark totals (``orders``, ``orders_n``,
        ``reversed_n``) and entries (kind earmark/reversal, order, amount, base, to, ts)."""
        root = self.keys.room(room_id).meta[:-len(":meta")]
        return [f"{root}:charity", f"{root}:charity:log"]

    # Beneficiaries -------------------------------------------------------------------------

    async def add_beneficiary(self, b: Beneficiary) -> None:
        await self.core.client.hset(self.beneficiaries_key, b.id, dumps(b.to_json()))

    async def beneficiaries(self) -> list[Beneficiary]:
        raw = await self.core.client.hgetall(self.beneficiaries_key)
        out = [_beneficiary(v) for v in raw.values()]
        return sorted(out, key=lambda b: (b.created_at, b.id))

    async def beneficiary(self, beneficiary_id: str) -> Beneficiary | None:
        raw = await self.core.client.hget(self.beneficiaries_key, beneficiary_id)
        return _beneficiary(raw) if raw else None

    async def balances(self) -> dict[str, int]:
        """Every beneficiary's wallet earmarks, summed over the buckets."""
        out: dict[str, int] = {}
        for w in self.keys.buckets:
            for k, v in (await self.core.client.hgetall(w.key("charity:bal"))).items():
                out[k.decode()] = out.get(k.decode(), 0) + int(v)
        return out

    # Terms ---------------------------------------------------------------------------------

    async def view(self, room_id: str, creator_id: str, *, cached: bool = False) -> TermsView:
        """The room's terms; ``cached``: this process's copy if younger than TERMS_CACHE_MS
        (a script refuses an earmark on stale terms, and the caller reads them again)."""
        now = time.monotonic()
        if cached:
            hit = self._cache.get(room_id)
            if hit is not None and (now - hit[0]) * 1000 < TERMS_CACHE_MS:
                return hit[1]
        raw = await self.core.client.hgetall(self.terms_key(room_id, creator_id))
        h = {k.decode(): v.decode() for k, v in raw.items()}
        terms = Terms.from_json(orjson.loads(h["json"])) if h.get("json") else None
        view = TermsView(h.get("version", ""), terms, h.get("locked") == "1",
                         int(h.get("set_at", "0") or 0))
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[room_id] = (now, view)
        return view

    async def set_terms(self, room_id: str, terms: Terms | None, creator: str,
                        now: int) -> None:
        """Set or clear the terms; ``charity_locked`` once proceeds were earmarked."""
        reply = await self.core.script(
            "charity_terms", [self.terms_key(room_id, creator),
                              self.keys.wallet(creator).key("charity:rooms")],
            [dumps(terms.to_json()) if terms else "", room_id, creator, now])
        self._cache.pop(room_id, None)
        if text(reply[0]) == "locked":
            raise CharityLocked("proceeds were earmarked under these terms: they stay until "
                                "the show ends")
        if text(reply[0]) != "ok":
            raise Internal(f"unexpected reply {text(reply[0])}")

    async def lock_for_orders(self, room_id: str, creator_id: str) -> Terms | None:
        """The terms, locked, when they cover orders (before a payment is earmarked)."""
        reply = await self.core.script("charity_lock", [self.terms_key(room_id, creator_id)],
                                       ["orders"])
        if text(reply[0]) != "ok":
            return None
        return Terms.from_json(orjson.loads(reply[1]))

    async def rooms(self) -> list[tuple[str, str, int]]:
        """Every charity room: (room id, its creator, when its terms were first set), over
        every bucket."""
        out: list[tuple[str, str, int]] = []
        for w in self.keys.buckets:
            rows = await self.core.client.zrange(w.key("charity:rooms"), 0, -1, withscores=True)
            for m, score in rows:
                creator = await self.core.client.hget(w.key(f"charity:t:{m.decode()}"),
                                                      "creator")
                out.append((m.decode(), (creator or b"").decode(), int(score)))
        return sorted(out, key=lambda r: (r[2], r[0]))

    # Totals and entries --------------------------------------------------------------------

    async def totals(self, room_id: str, creator_id: str) -> dict[str, int]:
        """The room's earmarks per source (cents) and their entry counts."""
        order_totals, _ = self.order_keys(room_id)
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.totals_key(room_id, creator_id))
            pipe.hgetall(order_totals)
            wallet, orders = await pipe.execute()
        h = {k.decode(): int(v) for k, v in {**wallet, **orders}.items()}
        return {name: h.get(name, 0) for name in (
            "orders", "orders_n", "reversed_n", "gifts", "gifts_n", "red_packets",
            "red_packets_n")}

    async def wallet_entries(self, room_id: str, creator_id: str) -> list[Json]:
        rows = await self.core.client.xrange(self.entries_key(room_id, creator_id))
        return [{"id": i.decode(), **_fields(f)} for i, f in rows]

    async def order_entries(self, room_id: str) -> list[Json]:
        _, log = self.order_keys(room_id)
        rows = await self.core.client.xrange(log)
        return [{"id": i.decode(), **_fields(f)} for i, f in rows]


def _fields(raw: dict[Any, Any]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


def _beneficiary(raw: bytes) -> Beneficiary:
    j = orjson.loads(raw)
    return Beneficiary(j["id"], j["name"], j["description"], j["url"], int(j["created_at"]))
