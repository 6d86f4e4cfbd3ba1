"""Red packets: launching and grabbing them, keyword packets, and their clock.

A creator launches a packet in their room (its total leaves their wallet at once); viewers
grab shares. Conditions (followers, fan club, keyword) and the countdown are checked by the
grab script; the ``PacketClock`` opens packets at their time and refunds what is left when
they expire. The room is told through guaranteed events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from live_server import events
from live_server.auth import Identity, require_creator, require_user
from live_server.config import Settings
from live_server.domain.redpacket import (
    new_packet_id,
    normalise_keyword,
    packet_fields,
    split_for,
)
from live_server.domain.rooms import Room
from live_server.errors import Expired, Forbidden, InvalidState, LiveError, NoneLeft, NotFound
from live_server.protocol import Json, is_safe_id, now_ms
from live_server.realtime.gone import GoneRecord
from live_server.services.after_commit import AfterCommit
from live_server.services.fans import FanService
from live_server.services.local_refusals import LocalRefusals
from live_server.services.periodic import (
    LEASE_MS,
    PARK_AFTER,
    BucketTurns,
    ClockStats,
    FleetShare,
    Periodic,
)
from live_server.services.pipelined import Pipelined
from live_server.services.webhooks import WebhookEmitter
from live_server.store.keys import WalletKeys
from live_server.store.red_packets import (
    SETTLE_GRACE_MS,
    Grabbed,
    RedPacketStore,
    grab_refusal,
)
from live_server.store.rooms import RoomStore

log = logging.getLogger(__name__)

KEYWORD_ROOMS_TTL_S = 10.0  # a missed red packet event costs at most this long
PACKET_EVENTS = frozenset({"red_packet", "red_packet_opened", "red_packet_finished"})


def _packet_id(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 40 or not is_safe_id(value):
        raise NotFound("no such red packet")
    return value


class RedPacketService:
    def __init__(self, settings: Settings, rooms: RoomStore, store: RedPacketStore,
                 fans: FanService, after: AfterCommit | None = None,
                 refusals: LocalRefusals | None = None,
                 webhooks: WebhookEmitter | None = None) -> None:
        self.cfg = settings.money
        self.webhooks = webhooks  # told of red_packet.finished after the room is
        self.rooms = rooms
        self.store = store
        self.fans = fans
        self.after = after or AfterCommit()
        # grabs of a packet known empty or expired are answered without Valkey
        self.refusals = refusals or LocalRefusals(GoneRecord(), permits=32)
        self.gone = self.refusals.gone
        # the grabs' credit steps: those arriving while a batch is out share the next trip
        self.credits: Pipelined[Grabbed, None] = Pipelined(store.credit_grabs)
        # an empty packet's claims being read (one read per process and packet)
        self._claims_reads: dict[str, asyncio.Future[None]] = {}
        # packet id → (room id, creator id, condition, expires_at): fixed at launch, for grabs
        self._static: dict[str, tuple[str, str, str, int]] = {}
        self._static_reads: dict[str, asyncio.Future[Json | None]] = {}
        # room id → (has keyword packets open, when read): chat is the hottest write path and
        # almost never meets a keyword packet, so the question is not asked per message; a red
        # packet event of the room drops the answer (note_room_event)
        self._keyword_rooms: dict[str, tuple[bool, float]] = {}

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
        pid, balance, created = await self.store.create_packet(
            packet, shares, now, str(body.get("idempotency_key") or ""))
        view = await self.store.packet(pid, with_record=False)
        assert view is not None
        if not created:  # a retry: the first launch told the room
            return {"packet": view, "balance": balance, "seq": None, "created": False}
        seq = await self.store.room_event(room_id, events.red_packet(view, now))
        return {"packet": view, "balance": balance, "seq": seq, "created": True}

    async def grab(self, who: Identity, packet_id: object, room_id: str | None = None) -> Json:
        """One grab. A packet this process knows to be empty or expired is refused here, with
        the script's own answer (``realtime/gone.py`` has the rules); otherwise the grab takes
        its turn at Valkey (``LocalRefusals``), and its reply teaches the record."""
        uid = require_user(who)
        packet = await self._packet_fields(packet_id)
        if room_id is not None and packet["room_id"] != room_id:
            raise NotFound("no such red packet in this room")
        now = now_ms()
        pid = packet["id"]

        def refuse() -> LiveError | None:
            known = self.gone.packet_refusal(pid, uid, now=now, condition=packet["condition"],
                                             expires_at=packet["expires_at"])
            return None if known is None else grab_refusal(known.status, known.reply)

        async def claims() -> None:
            if self.gone.claims_wanted(pid):
                await self._read_claims(pid)

        taken = await self.refusals.run(
            refuse, lambda: self._take(packet, uid, who.name or uid, now), prepare=claims)
        # the share left the escrow; answered once it is in the grabber's wallet (should the
        # credit step fail, the reconciler makes it: the share is pending, never lost)
        await self.credits.call(taken)
        amount, left, finished = taken.amount, taken.left, taken.finished
        # the money moved: the notice and the points may fail, the grab stands (and they run
        # after the turn, which only the grab script needs)
        if finished:
            await self.after.run("packet_finished", self._finished(pid, now))
        await self.after.run("grab_intimacy",
                             self.fans.earn(packet["creator_id"], uid, "grab", now=now))
        return {"packet_id": pid, "amount": amount, "shares_left": left}

    async def _take(self, packet: Json, uid: str, name: str, now: int) -> Grabbed:
        """The grab script; what its reply says is gone goes into the record (and an empty
        packet's claims are read at once, so the grabs queued behind are answered here)."""
        follows = (packet["condition"] == "followers"
                   and await self.fans.follows(uid, packet["creator_id"]))
        pid, room_id = packet["id"], packet["room_id"]
        try:
            taken = await self.store.grab(packet, uid, name, now, self.cfg.grab_sample_every,
                                          follows)
        except NoneLeft:
            self._empty(pid, room_id)
            raise
        except Expired:
            self.gone.packet_expired(pid, room_id)
            raise
        if taken.left == 0:
            self._empty(pid, room_id)
        return taken

    def _empty(self, packet_id: str, room_id: str) -> None:
        self.gone.packet_empty(packet_id, room_id)
        if self.gone.claims_wanted(packet_id) and packet_id not in self._claims_reads:
            self._start_claims_read(packet_id)

    async def view(self, who: Identity, packet_id: object) -> Json:
        found = await self.store.packet(_packet_id(packet_id))
        if found is None:
            raise NotFound("no such red packet")
        if who.user_id is not None:
            found["mine"] = await self.store.claim(found["id"], who.user_id)
        return found

    async def room_packets(self, room_id: str) -> list[Json]:
        room = await self.rooms.require(room_id)
        return await self.store.room_packets(room_id, room.creator_id, self.cfg.room_list_max)

    async def note_chat(self, room: Room, user_id: str, text: str) -> None:
        """A chat message was sent: if it says an open keyword packet's keyword, its sender
        may grab that packet."""
        if await self._keyword_packets_open(room):
            await self.store.note_chat(room.id, room.creator_id, user_id,
                                       normalise_keyword(text))

    async def _keyword_packets_open(self, room: Room) -> bool:
        known = self._keyword_rooms.get(room.id)
        now = time.monotonic()
        if known is not None and now - known[1] < KEYWORD_ROOMS_TTL_S:
            return known[0]
        open_now = await self.store.has_keyword_packets(room.id, room.creator_id)
        if len(self._keyword_rooms) > 10_000:
            self._keyword_rooms.clear()
        self._keyword_rooms[room.id] = (open_now, now)
        return open_now

    def note_room_event(self, room_id: str, ev: Json) -> None:
        """A red packet event of a room served here (from any process) may open or close a
        keyword packet: forget whether the room has one. A launch carries the packet's fixed
        fields: kept, so the rush of grabs that follows reads nothing first."""
        if ev.get("type") in PACKET_EVENTS:
            self._keyword_rooms.pop(room_id, None)
        if ev.get("type") == "red_packet":
            packet = (ev.get("data") or {}).get("packet")
            if isinstance(packet, dict):
                self._keep_static(packet)

    async def _packet_fields(self, packet_id: object) -> Json:
        pid = _packet_id(packet_id)
        if pid in self._static:
            room_id, creator_id, condition, expires_at = self._static[pid]
            return {"id": pid, "room_id": room_id, "creator_id": creator_id,
                    "condition": condition, "expires_at": expires_at}
        # One read for every grab that arrives before it is answered: in a rush thousands do,
        # and a read each would cost more than the grabs themselves.
        reading = self._static_reads.get(pid)
        if reading is None:
            reading = asyncio.ensure_future(self.store.packet(pid, with_record=False))
            self._static_reads[pid] = reading
            reading.add_done_callback(lambda _: self._static_reads.pop(pid, None))
        found = await asyncio.shield(reading)
        if found is None:
            raise NotFound("no such red packet")
        self._keep_static(found)
        return found

    def _keep_static(self, packet: Json) -> None:
        try:
            pid = str(packet["id"])
            fixed = (str(packet["room_id"]), str(packet["creator_id"]), str(packet["condition"]),
                     int(packet["expires_at"]))
        except (KeyError, TypeError, ValueError):
            return
        if len(self._static) >= 10_000:
            self._static.clear()
        self._static[pid] = fixed

    async def _read_claims(self, packet_id: str) -> None:
        """Read an empty packet's claims once for every grab waiting on them; a failed read
        only means these grabs ask Valkey."""
        reading = self._claims_reads.get(packet_id) or self._start_claims_read(packet_id)
        await asyncio.shield(reading)

    def _start_claims_read(self, packet_id: str) -> asyncio.Future[None]:
        reading = asyncio.ensure_future(self._claims(packet_id))
        self._claims_reads[packet_id] = reading
        reading.add_done_callback(lambda _: self._claims_reads.pop(packet_id, None))
        return reading

    async def _claims(self, packet_id: str) -> None:
        """A failed read only means the grabs waiting on it ask Valkey, which answers them."""
        try:
            books = await self.store.packet_books(packet_id, credited=False)
        except Exception:
            log.warning("reading the claims of red packet %s failed", packet_id, exc_info=True)
            return
        if books.fields and int(books.fields.get("left_n", "1")) == 0:
            self.gone.note_claims(packet_id, books.claims)

    async def _finished(self, packet_id: str, now: int) -> None:
        """Tell the room once: called by the one grab or clock step that finished it."""
        view = await self.store.packet(packet_id, with_record=False)
        if view is None:
            return
        await self.store.room_event(view["room_id"], events.red_packet_finished(
            packet_id, view["reason"], view["luckiest"], view["refunded"], view["shares_left"],
            now))
        if self.webhooks is not None:
            await self.webhooks.emit("red_packet.finished", view["room_id"],
                                     view["creator_id"], {"packet": view})

    async def tick(self, packet_id: str, now: int, home: WalletKeys | None = None) -> str:
        """One due clock step of a packet (``home``: the bucket whose schedule named it)."""
        what, _refund, packet = await self.store.tick(packet_id, now, home)
        if what == "opened" and packet is not None:
            await self.store.room_event(packet["room_id"], events.red_packet_opened(
                packet_id, packet["expires_at"], now))
        elif what == "expired":
            await self._finished(packet_id, now)
        return what


SETTLE_EVERY_MS = 1_000  # how often a process runs the reconciler's pass
SETTLE_BATCH = 500  # most packets one pass looks at (the others stay due for the next)


class PacketClock(Periodic):
    """Per process: every ``money.scheduler_interval_ms``, run the packets' due clock steps
    (open, expiry refund). Every process may do it at once: each claims its packets with a
    lease (``Periodic.work``), and each step is a script that acts only if it is still to be
    done (the shelf's scheduler pattern).

    It is also the reconciler of transfers between the wallet buckets and the packets' escrows
    (at most every ``SETTLE_EVERY_MS``): a launch debited but not in escrow, and a grab's share
    or a refund out of the escrow but not credited, pending longer than ``settle_grace_ms``
    (their caller died between the two steps), are finished. Each step is idempotent by the
    transfer's id, so processes running it together, or together with a slow caller, move the
    money once. The packets to look at are a leased schedule (``settle_schedule``): each is
    looked at by one process about once per grace, first a grace after its launch, so the
    reconciler's cost does not grow with the number of processes. Both schedules are kept per
    wallet bucket (a packet's are on its creator's): a pass works its share of the due
    schedules (``FleetShare``) and one bucket's unsettled schedule, each in turn."""

    name = "packet-clock"

    def __init__(self, service: RedPacketService, interval_ms: int, *,
                 stats: ClockStats | None = None, lease_ms: int = LEASE_MS,
                 park_after: int = PARK_AFTER, settle_grace_ms: int = SETTLE_GRACE_MS,
                 fleet: Callable[[], Awaitable[int]] | None = None) -> None:
        self.service = service
        super().__init__(interval_ms, stats=stats, lease_ms=lease_ms, park_after=park_after)
        store = service.store
        self.buckets = store.keys.buckets
        self.due = [self.schedule(store.core, store.due_key(w)) for w in self.buckets]
        self.settle_grace_ms = settle_grace_ms
        self.unsettled = [store.settle_schedule(settle_grace_ms, w) for w in self.buckets]
        self.turns = BucketTurns(len(self.buckets))
        self.due_turns = BucketTurns(len(self.buckets))
        self.share = FleetShare(len(self.buckets), fleet)
        self._settled_at = 0

    async def run_once(self, now: int) -> int:
        """One pass; returns how many due packets it claimed (and transfers it finished). It
        looks at the due schedules of its share of the buckets (all of them for a process
        alone; see ``FleetShare``)."""
        claimed = 0
        for index in self.due_turns.take(await self.share.per_pass()):
            home = self.buckets[index]

            async def step(packet_id: str, home: WalletKeys = home) -> None:
                await self.service.tick(packet_id, now, home)

            claimed += await self.work(self.due[index], now, step)
        if now - self._settled_at >= SETTLE_EVERY_MS:
            self._settled_at = now
            claimed += await self.reconcile(now, [self.turns.next()])
        return claimed

    async def reconcile(self, now: int, indexes: list[int] | None = None) -> int:
        """Finish the transfers left half-done on these buckets (every bucket by default; the
        clock's pass looks at one, in turn, so its calls do not grow with the buckets);
        returns how many."""
        store = self.service.store
        finished = 0
        for index in range(len(self.buckets)) if indexes is None else indexes:
            home, unsettled = self.buckets[index], self.unsettled[index]
            claimed = await unsettled.claim(now, SETTLE_BATCH)
            finished += await store.settle(claimed, now, self.settle_grace_ms, home)
        if finished:
            log.warning("red packets: %d transfers finished by the reconciler", finished)
        return finished
