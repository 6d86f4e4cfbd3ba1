"""Red packets in Valkey: launch, grab, the clock's steps, keyword eligibility, and the
books the audit checks.

A packet's keys live on its own slot (``{rp:<id>}``): its escrow. Money moves between a wallet
bucket and the escrow in two steps, each idempotent by the transfer's id (the launch: the
packet id; a grab: the packet and the grabber; the refund: the packet and ``~refund``), with
the transfer pending on the paying side in between; ``settle`` and ``finish_launch`` are the
reconciler's steps for transfers whose caller stopped half-way (docs/ARCHITECTURE.md,
"Transfers between slots"). The room is told afterwards through ``room_event`` (the room's own
slot).

With wallets in buckets (``money.wallet_buckets``) a packet's money is its creator's: the
launch (the debit, the launch record, every index of the packet: the room's list and keyword
packets, the creator's launch keys, the clock's due schedule, the audit's list, the
reconciler's schedule) runs on the creator's bucket (``keys.wallet(creator)``, ``_home``); a
grab's credit runs on the grabber's bucket and the refund on the creator's, each marking the
credit in ``packet_credits`` of its own bucket, so the marks of one packet are read from every
bucket (``_credited``). Whatever walks all packets walks every bucket.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from live_server.errors import (
    GRAB_REFUSALS,
    AlreadyGrabbed,
    InsufficientFunds,
    Internal,
    LiveError,
    NotEligible,
    NotFound,
    NotOpen,
)
from live_server.events import RoomEvent
from live_server.protocol import Json, dumps
from live_server.store.charity import CharityStore, Cut
from live_server.store.core import StoreCore, text
from live_server.store.due import Schedule
from live_server.store.fans import club_key
from live_server.store.keys import Keys, WalletKeys

SETTLE_GRACE_MS = 5_000  # a transfer pending this long lost its caller: the reconciler ends it
PARK_NEVER = 1_000_000  # a settle pass does not fail per packet (a failed pass is retried whole)


def room_packets_key(keys: Keys, room_id: str, creator_id: str) -> str:
    """zset: a room's packet ids by creation time, on its creator's wallet bucket (what the
    show report counts)."""
    return keys.wallet(creator_id).key(f"rproom:{room_id}")


class RedPacketStore:
    def __init__(self, core: StoreCore, *, history_max: int, recent_max: int) -> None:
        self.core = core
        self.keys = core.keys
        self.history_max = history_max
        self.recent_max = recent_max
        self.charity = CharityStore(core)  # a charity room's earmark of a refunded remainder

    # Keys on a wallet bucket: a packet's are on its creator's (``_home``). With one bucket each
    # is the name it had on ``{wallets}``. ------------------------------------------------

    def _home(self, creator_id: str) -> WalletKeys:
        """The bucket of a creator's packets: their launches, indexes and refunds."""
        return self.keys.wallet(creator_id)

    @staticmethod
    def launches_key(w: WalletKeys) -> str:
        """hash: packet id → the launch (JSON: the packet, its shares, ``at``) debited on this
        bucket, kept until the packet is settled (a lost escrow is rebuilt from it)."""
        return w.key("rp:launching")

    @staticmethod
    def unsettled_key(w: WalletKeys) -> str:
        """zset: packet id → when the reconciler looks at it next (a leased schedule), for
        this bucket's launches not settled yet."""
        return w.key("rp:unsettled")

    @staticmethod
    def due_key(w: WalletKeys) -> str:
        """zset: packet id → its next clock step (open, expiry), this bucket's launches."""
        return w.key("rp:due")

    @staticmethod
    def all_key(w: WalletKeys) -> str:
        """zset: every packet launched on this bucket by creation time (the audit walks it)."""
        return w.key("rp:all")

    def room_packets_key(self, room_id: str, creator_id: str) -> str:
        """zset: a room's packet ids by creation time, on its creator's bucket."""
        return room_packets_key(self.keys, room_id, creator_id)

    def keyword_packets_key(self, room_id: str, creator_id: str) -> str:
        """hash: packet id → keyword, the room's keyword packets still grabbable."""
        return self._home(creator_id).key(f"rpkw:{room_id}")

    def launch_keys_key(self, creator_id: str) -> str:
        """hash: a creator's launch idempotency key → the packet it launched."""
        return self._home(creator_id).key(f"rpidem:{creator_id}")

    async def _credited(self, packet_ids: list[str]) -> list[dict[str, int]]:
        """Each packet's transfers credited (field → cents), merged over every bucket (a
        grab's mark is on its grabber's bucket, the refund's on the creator's): one pipeline."""
        if not packet_ids:
            return []
        buckets = self.keys.buckets
        async with self.core.client.pipeline(transaction=False) as pipe:
            for pid in packet_ids:
                for w in buckets:
                    pipe.hgetall(w.packet_credits(pid))
            found = await pipe.execute()
        out: list[dict[str, int]] = []
        for n in range(len(packet_ids)):
            merged: dict[str, int] = {}
            for marks in found[n * len(buckets):(n + 1) * len(buckets)]:
                merged.update({f.decode(): int(v) for f, v in marks.items()})
            out.append(merged)
        return out

    async def create_packet(self, packet: Json, shares: list[int], now: int,
                            idempotency_key: str = "") -> tuple[str, int, bool]:
        """Take the total from the creator and put it in the packet's escrow: (packet id, the
        creator's balance, created). A key the creator used before gives the packet it
        launched, with ``created`` false and nothing debited. Two steps on two slots (the
        debit with the launch recorded as pending, then the escrow); a launch whose caller
        dies between them is finished by the reconciler (``settle``, ``finish_launch``)."""
        pid, creator, room = packet["id"], packet["creator_id"], packet["room_id"]
        due = packet["open_at"] if packet["open_at"] > now else packet["expires_at"]
        launch = dumps({"packet": packet, "shares": shares, "at": now})
        reply = await self.core.script(
            "rp_create", self.create_keys(room, creator),
            [now, creator, pid, launch, packet["total"], self.recent_max,
             due, packet["keyword"], idempotency_key, now + SETTLE_GRACE_MS])
        status = text(reply[0])
        if status == "ok":
            await self._escrow(packet, shares, now)
            return pid, int(reply[1]), True
        if status == "dup":
            prior = text(reply[1])
            # the first launch may have stopped half-way
            await self.finish_launch(prior, creator_id=creator)
            return prior, int(reply[2]), False
        if status == "insufficient_funds":
            raise InsufficientFunds("not enough money in the wallet", balance=int(reply[1]),
                                    needed=packet["total"])
        raise Internal(f"unexpected reply {status}")

    def create_keys(self, room_id: str, creator_id: str) -> list[str]:
        """The keys of ``rp_create.lua``: all on the creator's bucket."""
        w = self._home(creator_id)
        return [w.balances, w.ledger, w.recent(creator_id),
                self.room_packets_key(room_id, creator_id), self.due_key(w), self.all_key(w),
                self.keyword_packets_key(room_id, creator_id), self.launch_keys_key(creator_id),
                self.launches_key(w), self.unsettled_key(w)]

    async def _escrow(self, packet: Json, shares: list[int], now: int,
                      credited: dict[str, int] | None = None) -> bool:
        """Step 2 of a launch (idempotent): whether it put the packet in escrow now. The
        launch stays recorded on the creator's bucket until the packet is settled, so an escrow
        a failover lost can be rebuilt from it (less ``credited``)."""
        base = self.keys.packet(packet["id"])
        pairs = [x for field, cents in (credited or {}).items() for x in (field, cents)]
        reply = await self.core.script(
            "rp_escrow", [base, f"{base}:shares", f"{base}:claims", f"{base}:rec"],
            [now, dumps(packet), packet["total"], len(pairs) // 2, *pairs, *shares])
        return int(reply[1]) == 1

    async def finish_launch(self, packet_id: str, now: int | None = None, *,
                            creator_id: str | None = None,
                            home: WalletKeys | None = None) -> bool:
        """Put a launch that is not in escrow (its caller stopped between the steps, or a
        failover lost the escrow) into escrow, without the transfers already credited (on
        any bucket); whether it did. False too when no launch is recorded (settled, or never
        debited). The launch record is on the creator's bucket: ``home``, or that of
        ``creator_id``; a caller that knows neither has every bucket asked."""
        if home is None and creator_id is not None:
            home = self._home(creator_id)
        if home is not None:
            raw = await self.core.client.hget(self.launches_key(home), packet_id)
        else:
            async with self.core.client.pipeline(transaction=False) as pipe:
                for w in self.keys.buckets:
                    pipe.hget(self.launches_key(w), packet_id)
                raw = next((r for r in await pipe.execute() if r is not None), None)
        if raw is None:
            return False
        launch = orjson.loads(raw)
        done = (await self._credited([packet_id]))[0]
        return await self._escrow(launch["packet"], launch["shares"],
                                  int(launch["at"]) if now is None else now, done)

    async def launches_recorded(self) -> set[str]:
        """The packets whose launch is still recorded (not settled yet), on every bucket."""
        async with self.core.client.pipeline(transaction=False) as pipe:
            for w in self.keys.buckets:
                pipe.hkeys(self.launches_key(w))
            found = await pipe.execute()
        return {pid.decode() for ids in found for pid in ids}

    async def grab(self, packet: Json, user_id: str, name: str, now: int,
                   sample_every: int, follows: bool = False) -> Grabbed:
        """The grab's first step: the share leaves the escrow, pending to the grabber (the
        caller credits it, ``credit_grabs``, before answering), or the precise refusal."""
        k, pid = self.keys, packet["id"]
        base = k.packet(pid)
        member = (packet.get("condition") == "fan_club" and bool(
            await self.core.client.hexists(club_key(self.keys, packet["creator_id"]), user_id)))
        keys = [base, f"{base}:shares", f"{base}:claims", f"{base}:rec", f"{base}:elig",
                f"{base}:out"]
        args = [now, user_id, pid, dumps(name), sample_every, "1" if follows else "0",
                "1" if member else "0"]
        reply = await self.core.script("rp_grab", keys, args)
        status = text(reply[0])
        if status == "not_found" and await self.finish_launch(
                pid, creator_id=packet.get("creator_id")):
            # launched, but its escrow is not there (a launch cut between its steps, or one a
            # failover lost): put back from the launch record, then the grab goes on
            reply = await self.core.script("rp_grab", keys, args)
            status = text(reply[0])
        if status == "ok":
            return Grabbed(pid, packet["room_id"], user_id, int(reply[1]), int(reply[2]),
                           bool(int(reply[3])), reply[4] or b"", now,
                           str(packet.get("creator_id") or ""))
        raise grab_refusal(status, reply)

    async def credit_grabs(self, grabs: list[Grabbed]) -> list[Exception | None]:
        """The credit steps of many grabs (each idempotent by packet and grabber, each one
        script on its grabber's bucket), one pipeline: in a rush the calls that arrive while
        one batch is out share the next round trip (``services/pipelined.py``; on a cluster
        the pipeline goes to each bucket's node). The pending marks stay on the escrow until
        the reconciler, seeing them credited, drops them (``settle``)."""
        k = self.keys
        async with self.core.client.pipeline(transaction=False) as pipe:
            for g in grabs:
                self.core.scripts.queue(pipe, "rp_credit", self._credit_keys(
                    g.packet_id, g.room_id, g.user_id), self._credit_args(
                    g.packet_id, g.room_id, g.user_id, g.user_id, g.amount, g.now, Cut("")))
            await self.core.scripts.execute(pipe)
        if any(g.notice or g.finished for g in grabs):
            async with self.core.client.pipeline(transaction=False) as pipe:
                for g in grabs:
                    if g.notice:  # the sampled notice, published on the room's slot (lossy)
                        self.core.queue_publish(pipe, k.room(g.room_id).channel, g.notice)
                    if g.finished and g.creator_id:
                        pipe.hdel(self.keyword_packets_key(g.room_id, g.creator_id),
                                  g.packet_id)
                await pipe.execute()
        return [None] * len(grabs)

    def _credit_keys(self, packet_id: str, room_id: str, payee: str) -> list[str]:
        """On the payee's bucket: the grabber's, or for the refund the creator's (whose
        bucket holds the room's charity terms; a grabber's has none for it, and a grab
        earmarks nothing)."""
        w = self.keys.wallet(payee)
        return [w.balances, w.ledger, w.recent(payee), w.packet_credits(packet_id),
                *self.charity.wallet_keys(room_id, payee)]

    def _credit_args(self, packet_id: str, room_id: str, payee: str, field: str, amount: int,
                     now: int, cut: Cut) -> list[Any]:
        return [now, packet_id, payee, field, amount, self.recent_max, cut.version, cut.base,
                cut.earmark, cut.beneficiary, room_id]

    async def credit(self, packet_id: str, room_id: str, payee: str, field: str, amount: int,
                     now: int, cut: Cut | None = None) -> bool:
        """The credit step of one transfer out of the escrow (a grab's share, or
        ``~refund``); run twice, it credits once. False: the charity terms changed under the
        refund's earmark (the caller computes it again)."""
        args = self._credit_args(packet_id, room_id, payee, field, amount, now, cut or Cut(""))
        reply = await self.core.script("rp_credit", self._credit_keys(packet_id, room_id, payee),
                                       args)
        return text(reply[0]) == "ok"

    async def refund(self, packet: Json, amount: int, now: int) -> None:
        """Credit a finished packet's remainder to its creator, with a charity room's earmark
        computed on the terms the credit step sees."""
        for _ in range(3):
            view = await self.charity.view(packet["room_id"], packet["creator_id"])
            cut = view.cut("red_packets", amount)
            if await self.credit(packet["id"], packet["room_id"], packet["creator_id"],
                                 "~refund", amount, now, cut):
                return
        raise Internal("charity terms kept changing under a refund")  # the reconciler retries

    async def tick(self, packet_id: str, now: int,
                   home: WalletKeys | None = None) -> tuple[str, int, Json | None]:
        """Run one due clock step; reschedule or forget it. (what happened, refund, packet).
        ``home``: the bucket whose due schedule named it (else its creator's, read from the
        packet; a packet not stored at all is forgotten on every bucket)."""
        k = self.keys
        raw = await self.core.client.hget(k.packet(packet_id), "json")
        if raw is None:
            if (await self.finish_launch(packet_id, home=home)
                    or await self.core.client.exists(k.packet(packet_id))):
                return "", 0, None  # the launch's escrow was missing: the next pass runs it
            for w in [home] if home is not None else self.keys.buckets:
                await self.core.client.zrem(self.due_key(w), packet_id)
            return "", 0, None
        packet: Json = orjson.loads(raw)
        due = self.due_key(home or self._home(packet["creator_id"]))
        base = k.packet(packet_id)
        reply = await self.core.script("rp_tick", [base, f"{base}:shares", f"{base}:out"],
                                       [now, packet_id])
        if text(reply[0]) == "ok" and text(reply[1]) == "expired":
            await self.core.client.hdel(
                self.keyword_packets_key(packet["room_id"], packet["creator_id"]), packet_id)
            if int(reply[3]) > 0:
                await self.refund(packet, int(reply[3]), now)
        if text(reply[0]) != "ok" or int(reply[2]) == 0:
            await self.core.client.zrem(due, packet_id)
        else:
            await self.core.client.zadd(due, {packet_id: int(reply[2])})
        if text(reply[0]) != "ok":
            return "", 0, packet
        return text(reply[1]), int(reply[3]), packet

    def settle_schedule(self, grace_ms: int, home: WalletKeys) -> Schedule:
        """The packets launched on ``home`` and not known settled as a leased schedule: a
        process that claims one looks at it, and the lease puts it ``grace_ms`` later, so each
        is looked at by one process about once per grace, however many processes run the
        reconciler (one schedule per bucket)."""
        return Schedule(self.core, self.unsettled_key(home), lease_ms=grace_ms,
                        park_after=PARK_NEVER)

    async def unsettled(self) -> list[str]:
        """The packets not known settled (finished, every transfer out credited), on every
        bucket."""
        async with self.core.client.pipeline(transaction=False) as pipe:
            for w in self.keys.buckets:
                pipe.zrange(self.unsettled_key(w), 0, -1)
            found = await pipe.execute()
        return [m.decode() for ids in found for m in ids]

    async def settle(self, packet_ids: list[str], now: int, grace_ms: int,
                     home: WalletKeys | None = None) -> int:
        """The reconciler's pass over ``packet_ids`` of ``home``'s schedule (bucket 0 when not
        given), two reads for them all (the credited marks from every bucket):

        * a packet not in escrow (its launch stopped between the steps, or a failover lost the
          escrow) is put in escrow from its recorded launch;
        * a pending mark whose transfer its payee's bucket credited is dropped;
        * a transfer pending longer than ``grace_ms`` and not credited (its grab or refund
          stopped between the steps) is credited now;
        * a finished packet with nothing pending is settled: it leaves the unsettled set and
          its launch record goes.

        Returns how many transfers (launches included) it finished."""
        if not packet_ids:
            return 0
        k = self.keys
        home = home or k.buckets[0]
        buckets = len(k.buckets)
        per = 2 + buckets
        async with self.core.client.pipeline(transaction=False) as pipe:
            for pid in packet_ids:
                pipe.hmget(k.packet(pid), "json", "state")
                pipe.hgetall(f"{k.packet(pid)}:out")
                for w in k.buckets:
                    pipe.hgetall(w.packet_credits(pid))
            found = await pipe.execute()
        finished = 0
        settled: list[str] = []
        drops: dict[str, list[str]] = {}
        for n, pid in enumerate(packet_ids):
            (raw, state), out = found[per * n:per * n + 2]
            credits = {f for marks in found[per * n + 2:per * (n + 1)] for f in marks}
            if raw is None:
                if await self.finish_launch(pid, now, home=home):
                    finished += 1
                elif not await self.core.client.hexists(self.launches_key(home), pid):
                    settled.append(pid)  # nothing recorded to settle
                continue
            packet: Json = orjson.loads(raw)
            for field, value in out.items():
                if field in credits:
                    drops.setdefault(pid, []).append(field.decode())
                    continue
                amount, _, at = value.decode().partition("|")
                if now - int(at) < grace_ms:
                    continue
                who = field.decode()
                if who == "~refund":
                    await self.refund(packet, int(amount), now)
                else:
                    await self.credit(pid, packet["room_id"], who, who, int(amount), now)
                drops.setdefault(pid, []).append(who)
                finished += 1
            if state == b"finished" and len(drops.get(pid, ())) == len(out):
                settled.append(pid)
        if drops or settled:
            async with self.core.client.pipeline(transaction=False) as pipe:
                for pid, fields in drops.items():
                    pipe.hdel(f"{k.packet(pid)}:out", *fields)
                if settled:
                    pipe.hdel(self.launches_key(home), *settled)
                    pipe.zrem(self.unsettled_key(home), *settled)
                await pipe.execute()
        return finished

    async def packet(self, packet_id: str, with_record: bool = True) -> Json | None:
        """The packet's public view: its fields, state, what is left, the luckiest grabber
        and (``with_record``) every claim in grab order."""
        base = self.keys.packet(packet_id)
        if not with_record:
            fields = await self.core.client.hgetall(base)
            found = packet_view(fields, None) if fields else None
        else:
            pairs, record = await self.core.script("rp_read", self._read_keys(base), ["view"])
            found = packet_view(_as_dict(pairs), record) if pairs else None
        if found is None and await self.finish_launch(packet_id):
            # launched, its escrow not there yet or lost: a listed packet is never "not found"
            return await self.packet(packet_id, with_record)
        return found

    @staticmethod
    def _read_keys(base: str) -> list[str]:
        return [base, f"{base}:rec", f"{base}:shares", f"{base}:claims", f"{base}:out"]

    async def room_packets(self, room_id: str, creator_id: str, limit: int) -> list[Json]:
        """The room's latest packets, newest first, without their records (one pipeline)."""
        ids = await self.core.client.zrevrange(self.room_packets_key(room_id, creator_id), 0,
                                               limit - 1)
        if not ids:
            return []
        async with self.core.client.pipeline(transaction=False) as pipe:
            for pid in ids:
                pipe.hgetall(self.keys.packet(pid.decode()))
            found = await pipe.execute()
        return [packet_view(fields, None) for fields in found if fields]

    async def claim(self, packet_id: str, user_id: str) -> int | None:
        raw = await self.core.client.hget(f"{self.keys.packet(packet_id)}:claims", user_id)
        return int(raw) if raw is not None else None

    async def has_keyword_packets(self, room_id: str, creator_id: str) -> bool:
        """Whether the room (of ``creator_id``) has keyword packets still grabbable."""
        return bool(await self.core.client.hlen(self.keyword_packets_key(room_id, creator_id)))

    async def note_chat(self, room_id: str, creator_id: str, user_id: str,
                        normalised: str) -> None:
        """A chat message in the room: if it says a keyword packet's keyword, its sender may
        grab that packet."""
        active = await self.core.client.hgetall(self.keyword_packets_key(room_id, creator_id))
        if not active:
            return
        matched = [pid.decode() for pid, word in active.items() if word.decode() == normalised]
        if matched:
            async with self.core.client.pipeline(transaction=False) as pipe:
                for pid in matched:
                    pipe.sadd(f"{self.keys.packet(pid)}:elig", user_id)
                await pipe.execute()

    async def room_event(self, room_id: str, ev: RoomEvent) -> int:
        """Append a guaranteed event (``events.red_packet*``) to the room; 0 if the room is
        gone."""
        k = self.keys.room(room_id)
        reply = await self.core.script("room_event", [k.meta, k.seq, k.events],
                                       [k.channel, self.history_max, ev.kind, ev.body])
        return int(reply[1]) if text(reply[0]) == "ok" else 0

    # Audit reads ------------------------------------------------------------------------

    async def packet_ids(self) -> list[str]:
        """Every packet, from every bucket's list, by creation time."""
        async with self.core.client.pipeline(transaction=False) as pipe:
            for w in self.keys.buckets:
                pipe.zrange(self.all_key(w), 0, -1, withscores=True)
            found = await pipe.execute()
        every = sorted((score, m.decode()) for rows in found for m, score in rows)
        return [pid for _, pid in every]

    async def packet_books(self, packet_id: str, credited: bool = True) -> PacketBooks:
        """The escrow's books (one read of the packet's slot) and (``credited``) the transfers
        credited out of it, from every bucket, for the audit."""
        base = self.keys.packet(packet_id)
        pairs, _record, shares, claims_pairs, out_pairs = await self.core.script(
            "rp_read", self._read_keys(base), ["books"])
        fields, claims, out = _as_dict(pairs), _as_dict(claims_pairs), _as_dict(out_pairs)
        done = (await self._credited([packet_id]))[0] if credited else {}
        return PacketBooks(
            {key.decode(): value.decode() for key, value in fields.items()},
            [int(s) for s in shares], {u.decode(): int(a) for u, a in claims.items()},
            {f.decode(): int(v.decode().partition("|")[0]) for f, v in out.items()}, done)


@dataclasses.dataclass(frozen=True, slots=True)
class Grabbed:
    """A grab's first step done: its share left the escrow, pending to the grabber."""

    packet_id: str
    room_id: str
    user_id: str
    amount: int
    left: int
    finished: bool
    notice: bytes  # the sampled "X grabbed" notice for the room, or b""
    now: int
    creator_id: str = ""  # the packet's creator: its room's keyword packets are on their bucket


@dataclasses.dataclass(frozen=True, slots=True)
class PacketBooks:
    """A packet's books for the audit: on its slot the hash, the shares not yet taken, the
    claims and the transfers out pending (field → cents); on the payees' buckets the transfers
    already credited (field → cents). A field in both was credited and its pending mark not
    dropped yet (the reconciler drops it)."""

    fields: dict[str, str]
    shares: list[int]
    claims: dict[str, int]
    pending: dict[str, int]
    credited: dict[str, int]


def _as_dict(pairs: list[bytes]) -> dict[bytes, bytes]:
    """A script's ``HGETALL`` reply (a flat list of field, value) as a dict."""
    return dict(zip(pairs[0::2], pairs[1::2], strict=True))


def grab_refusal(status: str, reply: list[Any]) -> LiveError:
    """The error for a refusing reply of ``rp_grab.lua`` (also what a process that knows the
    answer already gives without asking: ``services/local_refusals.py``)."""
    if status == "not_found":
        return NotFound("no such red packet")
    if status == "not_open":
        return NotOpen("the red packet is not open yet", open_at=int(reply[1]))
    if status == "already_grabbed":
        return AlreadyGrabbed("you already grabbed this red packet", amount=int(reply[1]))
    if status == "not_eligible" and len(reply) > 1 and text(reply[1]):
        # a keyword packet: the page tells the viewer what to say in chat
        keyword = text(reply[1])
        return NotEligible(f"this red packet is for those who sent its keyword '{keyword}' in "
                           "chat", keyword=keyword)
    messages = {"expired": "the red packet has expired",
                "not_eligible": "this red packet is for followers, fan-club members or "
                                "those who sent its keyword",
                "none_left": "every share has been grabbed"}
    if status in messages:
        return GRAB_REFUSALS[status](messages[status])
    return Internal(f"unexpected reply {status}")


def packet_view(fields: dict[bytes, bytes], record: list[bytes] | None) -> Json:
    f = {key.decode(): value for key, value in fields.items()}
    packet: Json = orjson.loads(f["json"])
    if packet.get("condition") != "keyword":
        packet.pop("keyword", None)
    best = None
    # the best grab so far is not the luckiest until nobody else can beat it: shown only once
    # the packet finished (while open it would only tell who is ahead)
    if f.get("best_user") and f["state"] == b"finished":
        best = {"user": f["best_user"].decode(), "name": orjson.loads(f["best_name"]),
                "amount": int(f["best_amt"])}
    packet.update({
        "state": f["state"].decode(), "shares_left": int(f["left_n"]),
        "amount_left": int(f["left_amt"]), "refunded": int(f.get("refunded", b"0")),
        "reason": f["reason"].decode() if "reason" in f else None,
        "finished_at": int(f["finished_at"]) if "finished_at" in f else None, "luckiest": best,
    })
    if record is not None:
        packet["record"] = [orjson.loads(r) for r in record]
    return packet
