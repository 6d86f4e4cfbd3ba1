"""Wallets and red packets: top-up, the wallet view, launching and grabbing packets, their
clock (open, expiry refund) and the audit that recomputes every balance from the ledger."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time

from orjson import loads

from live_server.auth import Identity, require_creator, require_user
from live_server.config import Settings
from live_server.domain.redpacket import (
    new_packet_id,
    normalise_keyword,
    packet_fields,
    split_for,
)
from live_server.domain.rooms import Room
from live_server.errors import Forbidden, InvalidField, InvalidState, NotFound
from live_server.protocol import Json, dumps, event, is_safe_id, now_ms
from live_server.services.periodic import Periodic
from live_server.store.money import MoneyStore
from live_server.store.rooms import RoomStore

log = logging.getLogger(__name__)


def utc_day(now: int | None = None, starts_at_utc_hour: int = 0) -> int:
    """Days since the epoch, each starting at ``starts_at_utc_hour`` UTC: the unit of the
    intimacy caps. ``now`` in ms (default: the clock)."""
    return ((now_ms() if now is None else now) - starts_at_utc_hour * 3_600_000) // 86_400_000


def _packet_id(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 40 or not is_safe_id(value):
        raise NotFound("no such red packet")
    return value


KEYWORD_ROOMS_TTL_S = 10.0  # a missed red packet event costs at most this long


class MoneyService:
    def __init__(self, settings: Settings, rooms: RoomStore, money: MoneyStore) -> None:
        self.settings = settings
        self.cfg = settings.money
        self.rooms = rooms
        self.money = money
        # packet id → (room id, creator id, condition): fixed at launch, for grabs
        self._static: dict[str, tuple[str, str, str]] = {}
        self._creators: dict[str, str] = {}  # room id → its creator (hearts)
        # room id → (has keyword packets open, when read): chat is the hottest write path and
        # almost never meets a keyword packet, so the question is not asked per message; a red
        # packet event of the room drops the answer (forget_keyword_packets)
        self._keyword_rooms: dict[str, tuple[bool, float]] = {}
        # (creator, user, source, day) that reached the day's cap here: no call until tomorrow
        self._capped: set[tuple[str, str, str, int]] = set()

    # Wallets ----------------------------------------------------------------------------

    async def wallet(self, who: Identity) -> Json:
        uid = require_user(who)
        balance, recent = await self.money.wallet(uid, self.cfg.recent_entries)
        return {"user": uid, "balance": balance, "currency": self.settings.shelf.currency,
                "entries": recent,
                "dev_topup": self.cfg.dev_topup and not self.settings.production}

    async def topup(self, who: Identity, amount: int) -> Json:
        if not self.cfg.dev_topup or self.settings.production:
            raise Forbidden("development top-up is off")
        uid = require_user(who)
        if not 1 <= amount <= self.cfg.max_topup_cents:
            raise InvalidField(f"'amount' must be between 1 and {self.cfg.max_topup_cents}")
        balance = await self.money.topup(uid, amount, now_ms(), "dev-" + secrets.token_hex(6))
        return {"user": uid, "balance": balance}

    # Fans -------------------------------------------------------------------------------

    def day(self, now: int | None = None) -> int:
        """The intimacy day of ``now`` (ms; default: the clock), per fans.day_starts_at_utc_hour."""
        return utc_day(now, self.settings.fans.day_starts_at_utc_hour)

    async def fans(self, who: Identity, creator_id: str, now: int | None = None) -> Json:
        followers, members, follows, member, total, today, top = await self.money.fans_card(
            creator_id, who.user_id, self.day(now), self.settings.fans.top)
        return {"creator_id": creator_id, "followers": followers, "fan_club_members": members,
                "following": follows, "fan_club_member": member,
                "fan_club_fee": self.cfg.fan_club_fee_cents,
                "currency": self.settings.shelf.currency,
                "intimacy": total, "intimacy_today": today,
                "level": self.settings.fans.level(total),
                "intimacy_daily_cap": self.settings.fans.daily_cap,
                "top": [{"user": u, "intimacy": p} for u, p in top]}

    async def earn(self, creator_id: str, user_id: str, source: str, count: int = 1,
                   now: int | None = None) -> int:
        """Intimacy points toward a creator (never toward oneself) for ``count`` events of
        ``source`` (see INTIMACY_SOURCES), capped per (user, source) per day; the points added."""
        per, cap = self.settings.fans.source(source)
        points = per * count
        if points <= 0 or cap <= 0 or user_id == creator_id:
            return 0
        day = self.day(now)
        capped = (creator_id, user_id, source, day)
        if capped in self._capped:
            return 0
        added, _total = await self.money.add_intimacy(creator_id, user_id, points, cap, day,
                                                      source)
        if added < points:  # the cap is reached for today: later events earn nothing
            if len(self._capped) > 100_000:
                self._capped.clear()
            self._capped.add(capped)
        return added

    async def follow(self, who: Identity, creator_id: str, on: bool) -> Json:
        uid = require_user(who)
        if uid == creator_id:
            raise InvalidField("you cannot follow yourself")
        await self.money.follow(uid, creator_id, on)
        return await self.fans(who, creator_id)

    async def join_club(self, who: Identity, creator_id: str) -> Json:
        uid = require_user(who)
        if uid == creator_id:
            raise InvalidField("you cannot join your own fan club")
        balance = await self.money.join_club(uid, creator_id, self.cfg.fan_club_fee_cents,
                                             now_ms())
        await self.earn(creator_id, uid, "fan_club")
        return {**await self.fans(who, creator_id), "balance": balance}

    # Red packets ------------------------------------------------------------------------

    async def launch(self, who: Identity, room_id: str, body: Json) -> Json:
        uid = require_creator(who)
        room = await self.rooms.require(room_id)
        if room.creator_id != uid:
            raise Forbidden("only the room's creator launches red packets in it")
        if room.state == "ended":
            raise InvalidState("the room has ended", state=room.state)
        now = now_ms()
        fields = packet_fields(body, max_total=self.cfg.max_packet_cents,
                               max_shares=self.cfg.max_shares,
                               max_duration_ms=self.cfg.max_duration_ms,
                               max_open_delay_ms=self.cfg.max_countdown_ms, now=now)
        packet = {"id": new_packet_id(), "room_id": room_id, "creator_id": uid,
                  "creator_name": who.name, "created_at": now, **fields}
        shares = split_for(fields["split"], fields["total"], fields["shares"])
        balance = await self.money.create_packet(packet, shares, now)
        view = await self.money.packet(packet["id"], with_record=False)
        assert view is not None
        seq = await self.money.room_event(room_id, dumps(event("red_packet", {
            "packet": view, "server_time": now}, ts=now)))
        return {"packet": view, "balance": balance, "seq": seq}

    async def grab(self, who: Identity, packet_id: object, room_id: str | None = None) -> Json:
        uid = require_user(who)
        packet = await self._packet_fields(packet_id)
        if room_id is not None and packet["room_id"] != room_id:
            raise NotFound("no such red packet in this room")
        now = now_ms()
        follows = (packet["condition"] == "followers"
                   and await self.money.follows(uid, packet["creator_id"]))
        amount, left, finished = await self.money.grab(
            packet, uid, who.name or uid, now, self.cfg.grab_sample_every, follows)
        if finished:
            await self._finished(packet["id"], now)
        await self.earn(packet["creator_id"], uid, "grab", now=now)
        return {"packet_id": packet["id"], "amount": amount, "shares_left": left}

    async def view(self, who: Identity, packet_id: object) -> Json:
        found = await self.money.packet(_packet_id(packet_id))
        if found is None:
            raise NotFound("no such red packet")
        if who.user_id is not None:
            found["mine"] = await self.money.claim(found["id"], who.user_id)
        return found

    async def room_packets(self, room_id: str) -> list[Json]:
        await self.rooms.require(room_id)
        return await self.money.room_packets(room_id, self.cfg.room_list_max)

    async def note_chat(self, room: Room, user_id: str, text: str) -> None:
        """A chat message was sent: keyword packets, and intimacy toward the room's creator."""
        if await self._keyword_packets_open(room.id):
            await self.money.note_chat(room.id, user_id, normalise_keyword(text))
        await self.earn(room.creator_id, user_id, "chat")

    async def _keyword_packets_open(self, room_id: str) -> bool:
        known = self._keyword_rooms.get(room_id)
        now = time.monotonic()
        if known is not None and now - known[1] < KEYWORD_ROOMS_TTL_S:
            return known[0]
        open_now = await self.money.has_keyword_packets(room_id)
        if len(self._keyword_rooms) > 10_000:
            self._keyword_rooms.clear()
        self._keyword_rooms[room_id] = (open_now, now)
        return open_now

    def forget_keyword_packets(self, room_id: str) -> None:
        """A red packet of the room was launched, opened or finished: ask again next time."""
        self._keyword_rooms.pop(room_id, None)

    async def note_hearts(self, by_room: dict[str, dict[str, int]],
                          now: int | None = None) -> None:
        """One tick's hearts (room → user → count): intimacy toward each room's creator, all in
        one pipelined round."""
        per, cap = self.settings.fans.source("heart")
        if per <= 0 or cap <= 0:
            return
        items = []
        for room_id, users in by_room.items():
            creator_id = await self._creator_of(room_id)
            if creator_id is None:
                continue
            items += [(creator_id, uid, per * count) for uid, count in users.items()
                      if uid != creator_id and count > 0]
        if items:
            await self.money.add_intimacy_many(items, cap, self.day(now), "heart")

    async def note_watch(self, by_room: dict[str, list[str]], now: int | None = None) -> None:
        """A minute watched (room → logged-in users connected): intimacy toward each room's
        creator, in one pipelined round."""
        per, cap = self.settings.fans.source("watch")
        if per <= 0 or cap <= 0:
            return
        items = []
        for room_id, users in by_room.items():
            creator_id = await self._creator_of(room_id)
            if creator_id is not None:
                items += [(creator_id, uid, per) for uid in users if uid != creator_id]
        if items:
            await self.money.add_intimacy_many(items, cap, self.day(now), "watch")

    async def _creator_of(self, room_id: str) -> str | None:
        """A room's creator (fixed for its life), cached."""
        creator_id = self._creators.get(room_id)
        if creator_id is None:
            room = await self.rooms.get(room_id)
            if room is None:
                return None
            if len(self._creators) >= 10_000:
                self._creators.clear()
            creator_id = self._creators[room_id] = room.creator_id
        return creator_id

    async def badge(self, creator_id: str, user_id: str) -> tuple[int, bool]:
        """(level, fan-club member) of a user toward a creator: shown next to chat messages."""
        points, member = await self.money.badge(creator_id, user_id)
        return self.settings.fans.level(points), member

    async def note_paid(self, order: Json) -> None:
        """An order was paid: intimacy toward the room's creator for the buyer."""
        room = await self.rooms.get(str(order["room_id"]))
        if room is not None:
            await self.earn(room.creator_id, str(order["buyer"]), "buy")

    async def _packet_fields(self, packet_id: object) -> Json:
        pid = _packet_id(packet_id)
        if pid in self._static:
            room_id, creator_id, condition = self._static[pid]
            return {"id": pid, "room_id": room_id, "creator_id": creator_id,
                    "condition": condition}
        found = await self.money.packet(pid, with_record=False)
        if found is None:
            raise NotFound("no such red packet")
        if len(self._static) >= 10_000:
            self._static.clear()
        self._static[pid] = (found["room_id"], found["creator_id"], found["condition"])
        return found

    async def _finished(self, packet_id: str, now: int) -> None:
        """Tell the room once: called by the one grab or clock step that finished it."""
        view = await self.money.packet(packet_id, with_record=False)
        if view is None:
            return
        await self.money.room_event(view["room_id"], dumps(event("red_packet_finished", {
            "packet_id": packet_id, "reason": view["reason"], "luckiest": view["luckiest"],
            "refunded": view["refunded"], "shares_left": view["shares_left"]}, ts=now)))

    async def tick(self, packet_id: str, now: int) -> str:
        what, _refund, packet = await self.money.tick(packet_id, now)
        if what == "opened" and packet is not None:
            await self.money.room_event(packet["room_id"], dumps(event(
                "red_packet_opened", {"packet_id": packet_id, "expires_at":
                                      packet["expires_at"]}, ts=now)))
        elif what == "expired":
            await self._finished(packet_id, now)
        return what


class PacketClock(Periodic):
    """Per process: every ``money.scheduler_interval_ms``, run the packets' due clock steps
    (open, expiry refund). Every process may do it at once: each step is a script that acts
    only if it is still to be done (the shelf's scheduler pattern)."""

    name = "packet-clock"

    def __init__(self, service: MoneyService, interval_ms: int) -> None:
        self.service = service
        super().__init__(interval_ms)

    async def run_once(self, now: int) -> int:
        due = await self.service.money.due(now)
        for packet_id in due:
            await self.service.tick(packet_id, now)
        return len(due)


@dataclasses.dataclass
class AuditReport:
    entries: int = 0
    accounts: int = 0
    packets: int = 0
    mismatches: list[str] = dataclasses.field(default_factory=list)


async def audit(money: MoneyStore) -> AuditReport:
    """Recompute every wallet and every packet from the ledger; list what disagrees."""
    report = AuditReport()
    users: dict[str, int] = {}
    packets: dict[str, int] = {}
    grabs: dict[str, dict[str, int]] = {}
    refunds: dict[str, int] = {}
    async for entry in money.ledger_entries():
        report.entries += 1
        amount = int(entry["amount"])
        if amount <= 0:
            report.mismatches.append(f"ledger {entry['id']}: amount {amount} is not positive")
        for side, sign in (("from", -1), ("to", 1)):
            kind, _, name = entry[side].partition(":")
            if kind == "user":
                users[name] = users.get(name, 0) + sign * amount
            elif kind == "packet":
                packets[name] = packets.get(name, 0) + sign * amount
        if entry["reason"] == "grab":
            user = entry["to"].partition(":")[2]
            per = grabs.setdefault(entry["ref"], {})
            if user in per:
                report.mismatches.append(f"packet {entry['ref']}: {user} credited twice")
            per[user] = amount
        elif entry["reason"] == "refund":
            refunds[entry["ref"]] = refunds.get(entry["ref"], 0) + amount
    stored = await money.balances()
    report.accounts = len(set(users) | set(stored))
    for user in sorted(set(users) | set(stored)):
        want, have = users.get(user, 0), stored.get(user, 0)
        if want != have:
            report.mismatches.append(f"wallet {user}: ledger says {want}, balance is {have}")
        if have < 0:
            report.mismatches.append(f"wallet {user}: negative balance {have}")
    stored_packets = await money.packet_ids()
    for pid in stored_packets:
        report.packets += 1
        fields, shares, claims = await money.packet_books(pid)
        if not fields:
            report.mismatches.append(f"packet {pid}: missing")
            continue
        total = int(loads(fields["json"])["total"])
        left = int(fields["left_amt"])
        if packets.get(pid, 0) != left:
            report.mismatches.append(f"packet {pid}: ledger holds {packets.get(pid, 0)}, "
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
    for pid in set(packets) - set(stored_packets):
        report.mismatches.append(f"packet {pid}: in the ledger but not stored")
    return report
