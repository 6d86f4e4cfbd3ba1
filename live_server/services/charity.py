"""Charity shows: beneficiaries (ops), a room's terms (its creator), the public receipt and
its entries, the ops list, and the audit's check of every earmark.

The money moves elsewhere, in the scripts that move the proceeds (``store/gifts.py``,
``store/red_packets.py``, ``store/orders.py``), each with the earmark
``domain/charity.py`` computed; this service only sets terms and reads what was recorded.
"""

from __future__ import annotations

import secrets

from live_server.auth import Identity, require_moderator, require_ops, require_user
from live_server.config import Settings
from live_server.domain.charity import (
    ACCOUNT_KIND,
    LEDGER_REASON,
    SOURCES,
    STATEMENT,
    Beneficiary,
    Terms,
    check_beneficiary,
    check_terms,
    earmark,
    parse_ref,
    percent_text,
)
from live_server.errors import Forbidden, InvalidState, NotFound
from live_server.protocol import Json, now_ms
from live_server.store.charity import CharityStore
from live_server.store.orders import OrderStore
from live_server.store.rooms import RoomStore


class CharityService:
    def __init__(self, settings: Settings, rooms: RoomStore, store: CharityStore) -> None:
        self.settings = settings
        self.rooms = rooms
        self.store = store

    # Beneficiaries (ops) -------------------------------------------------------------------

    async def add_beneficiary(self, who: Identity, name: str, description: str,
                              url: str) -> Json:
        require_ops(who)
        name, description, url = check_beneficiary(name, description, url)
        b = Beneficiary("b_" + secrets.token_hex(6), name, description, url, now_ms())
        await self.store.add_beneficiary(b)
        return {"beneficiary": b.to_json()}

    async def beneficiaries(self) -> Json:
        """Public: creators choose among them, viewers read who they are."""
        return {"beneficiaries": [b.to_json() for b in await self.store.beneficiaries()]}

    # Terms (the room's creator) ------------------------------------------------------------

    async def set_terms(self, who: Identity, room_id: str, beneficiary_id: str, bp: int,
                        sources: list[str]) -> Json:
        uid = require_user(who)
        room = await self.rooms.require(room_id)
        if room.creator_id != uid:
            raise Forbidden("only the room's creator may set its charity terms")
        if room.state not in ("scheduled", "live"):
            raise InvalidState("charity terms are set before or during the show",
                               state=room.state)
        terms = check_terms(beneficiary_id, bp, sources)
        if await self.store.beneficiary(terms.beneficiary_id) is None:
            raise NotFound("no such beneficiary")
        await self.store.set_terms(room_id, terms, uid, now_ms())
        return await self.receipt(room_id)

    async def clear_terms(self, who: Identity, room_id: str) -> Json:
        uid = require_user(who)
        room = await self.rooms.require(room_id)
        if room.creator_id != uid:
            raise Forbidden("only the room's creator may clear its charity terms")
        if room.state == "ended":
            raise InvalidState("the show has ended", state=room.state)
        await self.store.set_terms(room_id, None, uid, now_ms())
        return await self.receipt(room_id)

    # The public receipt --------------------------------------------------------------------

    async def receipt(self, room_id: str) -> Json:
        """Public: the beneficiary, the terms, the totals per source, the entries' count, the
        total earmarked, and how to check it."""
        room = await self.rooms.require(room_id)
        view = await self.store.view(room_id, room.creator_id)
        if view.terms is None:
            return {"room_id": room_id, "title": room.title, "state": room.state,
                    "charity": False, "currency": self.settings.shelf.currency}
        t = view.terms
        b = await self.store.beneficiary(t.beneficiary_id)
        totals = await self.store.totals(room_id, room.creator_id)
        by_source = {s: {"amount": totals[s], "entries": totals[f"{s}_n"]} for s in SOURCES}
        return {
            "room_id": room_id, "title": room.title, "state": room.state, "charity": True,
            "creator_id": room.creator_id,
            "beneficiary": b.to_json() if b else {"id": t.beneficiary_id},
            "terms": {**t.to_json(), "percent": percent_text(t.bp), "locked": view.locked},
            "totals": by_source, "reversed_orders": totals["reversed_n"],
            "entries": sum(totals[f"{s}_n"] for s in SOURCES) + totals["reversed_n"],
            "total": sum(totals[s] for s in SOURCES),
            "currency": self.settings.shelf.currency,
            "statement": STATEMENT.format(bp_percent=percent_text(t.bp)),
            "entries_url": f"/api/rooms/{room_id}/charity/entries",
        }

    async def entries(self, room_id: str) -> Json:
        """Public: every earmark of the room, oldest first (no buyer or sender identity)."""
        room = await self.rooms.require(room_id)
        out: list[Json] = []
        for e in await self.store.wallet_entries(room_id, room.creator_id):
            out.append({"id": e["id"], "source": e["source"], "ref": e["ref"],
                        "amount": int(e["amount"]), "base": int(e["base"]),
                        "ts": int(e["ts"]), "ledger_id": e["ledger"]})
        for e in await self.store.order_entries(room_id):
            out.append({"id": e["id"], "source": "orders", "ref": e["order"],
                        "kind": e["kind"], "amount": int(e["amount"]),
                        "base": int(e["base"]), "ts": int(e["ts"]), "ledger_id": e["id"]})
        out.sort(key=lambda e: (e["ts"], e["id"]))
        return {"room_id": room_id, "entries": out, "currency": self.settings.shelf.currency}

    async def total_of_room(self, room_id: str, creator_id: str) -> int:
        """The room's earmarked total (the show report, the watch page's end screen)."""
        totals = await self.store.totals(room_id, creator_id)
        return sum(totals[s] for s in SOURCES)

    async def figures_of_room(self, room_id: str, creator_id: str) -> Json:
        """No role check: for the show report, which checks its reader itself."""
        totals = await self.store.totals(room_id, creator_id)
        return {"total": sum(totals[s] for s in SOURCES),
                **{s: totals[s] for s in SOURCES}}

    # Ops -----------------------------------------------------------------------------------

    async def ops_view(self, who: Identity) -> Json:
        """Ops: every beneficiary with what it holds, every charity show with its totals."""
        require_ops(who)
        balances = await self.store.balances()
        owed: dict[str, int] = {}
        shows = []
        for room_id, creator_id, set_at in await self.store.rooms():
            room = await self.rooms.get(room_id)
            view = await self.store.view(room_id, creator_id)
            if room is None or view.terms is None:
                continue
            totals = await self.store.totals(room_id, creator_id)
            total = sum(totals[s] for s in SOURCES)
            ben = view.terms.beneficiary_id
            owed[ben] = owed.get(ben, 0) + totals["orders"]
            shows.append({"room_id": room_id, "title": room.title, "state": room.state,
                          "creator_id": room.creator_id, "set_at": set_at,
                          "beneficiary_id": ben, "bp": view.terms.bp,
                          "sources": list(view.terms.sources), "locked": view.locked,
                          "total": total, **{s: totals[s] for s in SOURCES}})
        bens = [{**b.to_json(), "wallet": balances.get(b.id, 0),
                 "orders": owed.get(b.id, 0),
                 "total": balances.get(b.id, 0) + owed.get(b.id, 0)}
                for b in await self.store.beneficiaries()]
        return {"beneficiaries": bens, "shows": shows,
                "currency": self.settings.shelf.currency}

    async def room_terms(self, who: Identity, room_id: str) -> Json:
        """The studio's panel: the terms, whether they are locked, and the total so far."""
        room = await self.rooms.require(room_id)
        require_moderator(who, room.creator_id)
        return {**await self.receipt(room_id), **await self.beneficiaries()}


class CharityAudit:
    """The audit's check of charity (``services/wallets.py`` ``LedgerCheck``): each
    beneficiary's balance equals the earmarks the ledger moved to it; each room's totals equal
    its entries; each earmark equals ``domain.charity.earmark`` of its source movement at the
    room's terms (a gift's creator share, a packet's refund, a paid order's amount)."""

    def __init__(self, store: CharityStore, orders: OrderStore) -> None:
        self.store = store
        self.orders = orders
        self.to_beneficiary: dict[str, int] = {}
        self.sources: dict[tuple[str, str], int] = {}  # (reason, ref) → amount
        self.earmarks: list[dict[str, str]] = []
        self.mismatches: list[str] = []

    def note(self, entry: dict[str, str]) -> None:
        amount = int(entry["amount"])
        for side, sign in (("from", -1), ("to", 1)):
            kind, _, name = entry[side].partition(":")
            if kind == ACCOUNT_KIND:
                self.to_beneficiary[name] = self.to_beneficiary.get(name, 0) + sign * amount
        reason = entry["reason"]
        if reason in ("gift", "refund"):
            self.sources[(reason, entry["ref"])] = amount
        elif reason == LEDGER_REASON:
            self.earmarks.append(entry)

    async def finish(self) -> list[str]:
        out = list(self.mismatches)
        stored = await self.store.balances()
        for ben in sorted(set(stored) | set(self.to_beneficiary)):
            want, have = self.to_beneficiary.get(ben, 0), stored.get(ben, 0)
            if want != have:
                out.append(f"beneficiary {ben}: ledger says {want}, balance is {have}")
        # a room's charity keys are on its creator's bucket; an earmark's ledger entry comes
        # out of the creator's wallet, so it names the creator too
        creators = {room_id: creator for room_id, creator, _ in await self.store.rooms()}
        for e in self.earmarks:
            creators.setdefault(parse_ref(e["ref"])[0], e["from"].partition(":")[2])
        rooms = set(creators)
        terms: dict[str, Terms | None] = {
            r: (await self.store.view(r, creators[r])).terms for r in rooms}
        seen: set[str] = set()
        for e in self.earmarks:
            room_id, source, source_id = parse_ref(e["ref"])
            if e["ref"] in seen:
                out.append(f"charity {e['ref']}: earmarked twice")
            seen.add(e["ref"])
            base = self.sources.get(("gift", f"{room_id}|{source_id}") if source == "gifts"
                                    else ("refund", source_id))
            t = terms.get(room_id)
            if base is None or t is None or not t.covers(source):
                out.append(f"charity {e['ref']}: no source movement under the room's terms")
            elif earmark(base, t.bp) != int(e["amount"]) or e["to"] != f"{ACCOUNT_KIND}:"\
                    f"{t.beneficiary_id}":
                out.append(f"charity {e['ref']}: {e['amount']} is not "
                           f"{earmark(base, t.bp)} of {base} to {t.beneficiary_id}")
        for room_id in sorted(rooms):
            out += await self._room(room_id, creators[room_id], terms[room_id])
        return out

    async def _room(self, room_id: str, creator_id: str, terms: Terms | None) -> list[str]:
        out: list[str] = []
        totals = await self.store.totals(room_id, creator_id)
        ledger = [e for e in self.earmarks if parse_ref(e["ref"])[0] == room_id]
        entries = await self.store.wallet_entries(room_id, creator_id)
        for source in ("gifts", "red_packets"):
            in_ledger = [int(e["amount"]) for e in ledger if parse_ref(e["ref"])[1] == source]
            listed = [int(e["amount"]) for e in entries if e["source"] == source]
            if not sum(in_ledger) == sum(listed) == totals[source] or \
                    not len(in_ledger) == len(listed) == totals[f"{source}_n"]:
                out.append(f"charity room {room_id} {source}: ledger {sum(in_ledger)} in "
                           f"{len(in_ledger)}, entries {sum(listed)} in {len(listed)}, "
                           f"totals {totals[source]} in {totals[f'{source}_n']}")
        orders = await self.store.order_entries(room_id)
        if sum(int(e["amount"]) for e in orders) != totals["orders"]:
            out.append(f"charity room {room_id} orders: entries sum to "
                       f"{sum(int(e['amount']) for e in orders)}, totals say "
                       f"{totals['orders']}")
        for e in orders:
            order = await self.orders.get(e["order"])
            want = earmark(int(order["amount"]), terms.bp) if terms and order else None
            if e["kind"] == "reversal":
                want = -want if want is not None else None
            if want is None or want != int(e["amount"]):
                out.append(f"charity order {e['order']}: {e['amount']} is not the "
                           f"earmark of its amount under the room's terms")
        return out
