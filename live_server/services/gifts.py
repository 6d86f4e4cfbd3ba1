"""Virtual gifts: the catalogue, sending gifts in a live room, and the gift figures.

A send is one script on the creator's wallet bucket (``store/gifts.py``): the sender pays, the
creator and the platform account are credited, the ledger gets both entries, and the room
hears a ``gift`` event when the gift is on its stage. A sender whose wallet is on another
bucket pays through a transfer first (``store/transfers.py``); a send whose process died
between the two is finished by the reconciler through the ``gift`` finisher registered here.
The idempotency key makes a retried send (a lost reply, another process) answer the first
send's answer without moving money again. Intimacy comes after the commit and never fails the
send.

Bursts: the sends that arrive while a batch is at Valkey go together as the next batch, in one
pipeline (``services/pipelined.py``), and the batch's intimacy in one more; concurrent sends
in a room share one read of the room. A burst then costs a few round trips instead of three
pooled round trips per tap (which ran the pool dry and refused taps ``not_ready``).
"""

from __future__ import annotations

import secrets

from live_server.auth import Identity, require_moderator, require_user
from live_server.config import Settings
from live_server.domain.gifts import Gift, parse_catalogue, split
from live_server.domain.rooms import Room
from live_server.errors import InvalidField, InvalidState, NotFound
from live_server.protocol import Json, now_ms
from live_server.services.after_commit import AfterCommit
from live_server.services.fans import FanService
from live_server.services.pipelined import Pipelined, Shared
from live_server.services.transfers import Transfers
from live_server.store.gifts import GiftSend, GiftStore, Sent
from live_server.store.rooms import RoomStore
from live_server.store.transfers import Received


class GiftService:
    def __init__(self, settings: Settings, rooms: RoomStore, store: GiftStore,
                 fans: FanService, after: AfterCommit,
                 transfers: Transfers | None = None) -> None:
        self.settings = settings
        self.cfg = settings.gifts
        self.rooms = rooms
        self.store = store
        self.fans = fans
        self.after = after
        self.gifts: dict[str, Gift] = parse_catalogue(self.cfg.catalogue)
        self.sends: Pipelined[tuple[GiftSend, int], Sent] = Pipelined(self._send_many)
        self.room_reads: Shared[str, Room | None] = Shared(rooms.get)
        if transfers is not None:
            transfers.register("gift", self._finish_transfer)

    def catalogue(self) -> Json:
        """The gifts in catalogue order, and the top-up packs the wallet offers."""
        cfg = self.cfg
        return {"gifts": [g.to_json() for g in self.gifts.values()],
                "currency": self.settings.shelf.currency, "max_quantity": cfg.max_quantity,
                "combo_window_ms": cfg.combo_window_ms,
                "topup": {"packs": list(cfg.topup_packs), "min": cfg.topup_min_cents,
                          "max": cfg.topup_max_cents,
                          "provider": self.settings.payments.provider}}

    async def send(self, who: Identity, room_id: str, gift_id: str, quantity: int,
                   idempotency_key: str = "") -> Json:
        uid = require_user(who)
        room = await self.room_reads.get(room_id) if room_id else None
        if room is None:
            raise NotFound("no such room")
        gift = self.gifts.get(gift_id)
        if gift is None:
            raise NotFound("no such gift")
        if not 1 <= quantity <= self.cfg.max_quantity:
            raise InvalidField(f"'quantity' must be between 1 and {self.cfg.max_quantity}")
        if uid == room.creator_id:
            raise InvalidField("you cannot send gifts in your own room")
        if room.state != "live":
            raise InvalidState("gifts can be sent while the room is live", state=room.state)
        to_creator, to_platform = split(gift.price * quantity, self.cfg.creator_share_bp)
        answer, moved = await self.sends.call((GiftSend(
            sender=uid, sender_name=who.name, creator=room.creator_id, room_id=room_id,
            gift={"gift_id": gift.id, "name": gift.name, "icon": gift.icon,
                  "price": gift.price},
            quantity=quantity, to_creator=to_creator, to_platform=to_platform,
            idempotency_key=idempotency_key, send_id="g" + secrets.token_hex(8)), now_ms()))
        return {**answer, "repeated": not moved, "currency": self.settings.shelf.currency}

    async def _send_many(self, batch: list[tuple[GiftSend, int]]) -> list[Sent | Exception]:
        """One batch of sends, then the intimacy the charged ones earn (before they are
        answered, so a sender's fan card read after the answer counts the gift)."""
        answers = await self.store.send_many(batch)
        earned: dict[str, dict[str, int]] = {}
        for (s, _), answer in zip(batch, answers, strict=True):
            if isinstance(answer, tuple) and answer[1]:
                by_user = earned.setdefault(s.room_id, {})
                by_user[s.sender] = by_user.get(s.sender, 0) + s.quantity
        if earned:
            await self.after.run("gift_intimacy", self.fans.note_gifts(earned))
        return answers

    async def _finish_transfer(self, transfer_id: str, record: Json, now: int) -> Received:
        """The reconciler's way to finish a send whose process died after the sender paid on
        their bucket: the send on the creator's bucket (once, however often it runs), its
        charity earmark computed on the room's terms as they are now, and, when this call made
        the send, the fan points it earns (the dead caller never gave them)."""
        received = await self.store.receive(transfer_id, record, now)
        if received.moved and received.ok:
            s = record["send"]
            await self.after.run("gift_intimacy", self.fans.note_gifts(
                {s["room_id"]: {s["sender"]: int(s["quantity"])}}))
        return received

    async def room_figures(self, who: Identity, room_id: str) -> Json:
        """A room's gifts so far (the studio's live counters): its creator or ops."""
        room = await self.rooms.require(room_id)
        require_moderator(who, room.creator_id)
        return {"room_id": room_id, **await self.store.figures(
            self.store.room_figures(room_id, room.creator_id)),
            "currency": self.settings.shelf.currency}

    async def figures_of_room(self, room_id: str, creator_id: str) -> Json:
        """No role check: for the show report, which checks its reader itself."""
        return await self.store.figures(self.store.room_figures(room_id, creator_id))

    async def creator_figures(self, creator_id: str) -> Json:
        """A creator's gifts over every room (the earnings)."""
        return await self.store.figures(self.store.creator_figures(creator_id))

    async def live_rooms_figures(self, rooms: dict[str, str]) -> dict[str, Json]:
        """Rooms' figures (room id → its creator)."""
        return await self.store.rooms_figures(rooms)


class GiftAudit:
    """The audit's check of gifts (``services/wallets.py`` ``LedgerCheck``): every platform
    account (its sub-accounts on every bucket, summed) equals what the ledgers moved to it,
    each send has at most one entry per share, and each room's gift figures spent what the
    ledger says its senders paid. A send through a transfer has its two shares' entries out of
    ``xfer:<id>`` (reason ``gift``, ``gift_fee``) on the creator's bucket like a send in one
    script, and its sender's entry into the transfer (``gift_transfer``) on the sender's: the
    transfer itself is the audit's transfer check."""

    def __init__(self, store: GiftStore) -> None:
        self.store = store
        self.platform: dict[str, int] = {}
        self.rooms: dict[tuple[str, int], int] = {}  # (room, bucket) → spent
        self.seen: set[tuple[str, str]] = set()  # (reason, ref)
        self.mismatches: list[str] = []

    def note(self, entry: dict[str, str]) -> None:
        amount = int(entry["amount"])
        for side, sign in (("from", -1), ("to", 1)):
            kind, _, name = entry[side].partition(":")
            if kind == "platform":
                self.platform[name] = self.platform.get(name, 0) + sign * amount
        reason = entry["reason"]
        if reason in ("gift", "gift_fee"):
            if (reason, entry["ref"]) in self.seen:
                self.mismatches.append(f"gift {entry['ref']}: {reason} entered twice")
            self.seen.add((reason, entry["ref"]))
            # the shares' entries are on the creator's bucket, with the room's figures
            room = (entry["ref"].partition("|")[0], int(entry.get("bucket", "0")))
            self.rooms[room] = self.rooms.get(room, 0) + amount

    async def finish(self) -> list[str]:
        out = list(self.mismatches)
        stored = await self.store.platform_books()
        for account in sorted(set(stored) | set(self.platform)):
            want, have = self.platform.get(account, 0), stored.get(account, 0)
            if want != have:
                out.append(f"platform {account}: ledger says {want}, balance is {have}")
        for (room, bucket), spent in sorted(self.rooms.items()):
            have = await self.store.room_spent(room, bucket)
            if have != spent:
                out.append(f"gifts in room {room}: ledger says {spent} spent, figures say "
                           f"{have}")
        return out
