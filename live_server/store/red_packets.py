"""Red packets in Valkey: launch, grab, the clock's steps, keyword eligibility, and the
books the audit checks.

A packet's keys live on its own slot (``{rp:<id>}``): its escrow. Money moves between a wallet
(``{wallets}``) and the escrow in two steps, each idempotent by the transfer's id (the launch:
the packet id; a grab: the packet and the grabber; the refund: the packet and ``~refund``),
with the transfer pending on the paying side in between; ``settle`` and ``finish_launch`` are
the reconciler's steps for transfers whose caller stopped half-way (docs/ARCHITECTURE.md,
"Transfers between slots"). The room is told afterwards through ``room_event`` (the room's own
slot).
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

SETTLE_GRACE_MS = 5_000  # a transfer pending this long lost its caller: the reconciler ends it
PARK_NEVER = 1_000_000  # a settle pass does not fail per packet (a failed pass is retried whole)


class RedPacketStore:
    def __init__(self, core: StoreCore, *, history_max: int, recent_max: int) -> None:
        self.core = core
        self.keys = core.keys
        self.history_max = history_max
        self.recent_max = recent_max
        self.charity = CharityStore(core)  # a charity room's earmark of a refunded remainder

    async def create_packet(self, packet: Json, shares: list[int], now: int,
                            idempotency_key: str = "") -> tuple[str, int, bool]:
        """Take the total from the creator and put it in the packet's escrow: (packet id, the
        creator's balance, created). A key the creator used before gives the packet it
        launched, with ``created`` false and nothing debited. Two steps on two slots (the
        debit with the launch recorded as pending, then the escrow); a launch whose caller
        dies between them is finished by the reconciler (``settle``, ``finish_launch``)."""
        k, pid = self.keys, packet["id"]
        due = packet["open_at"] if packet["open_at"] > now else packet["expires_at"]
        launch = dumps({"packet": packet, "shares": shares, "at": now})
        reply = await self.core.script(
            "rp_create",
            [k.balances, k.ledger, k.recent(packet["creator_id"]),
             k.room_packets(packet["room_id"]), k.packets_due, k.all_packets,
             k.room_keyword_packets(packet["room_id"]), k.launch_keys(packet["creator_id"]),
             k.launches_pending, k.packets_unsettled],
            [now, packet["creator_id"], pid, launch, packet["total"], self.recent_max,
             due, packet["keyword"], idempotency_key, now + SETTLE_GRACE_MS])
        status = text(reply[0])
        if status == "ok":
            await self._escrow(packet, shares, now)
            return pid, int(reply[1]), True
        if status == "dup":
            prior = text(reply[1])
            await self.finish_launch(prior)  # the first launch may have stopped half-way
            return prior, int(reply[2]), False
        if status == "insufficient_funds":
            raise InsufficientFunds("not enough money in the wallet", balance=int(reply[1]),
                                    needed=packet["total"])
        raise Internal(f"unexpected reply {status}")

    async def _escrow(self, packet: Json, shares: list[int], now: int,
                      credited: dict[str, int] | None = None) -> bool:
        """Step 2 of a launch (idempotent): whether it put the packet in escrow now. The
        launch stays recorded on the wallet slot until the packet is settled, so an escrow a
        failover lost can be rebuilt from it (less ``credited``)."""
        base = self.keys.packet(packet["id"])
        pairs = [x for field, cents in (credited or {}).items() for x in (field, cents)]
        reply = await self.core.script(
            "rp_escrow", [base, f"{base}:shares", f"{base}:claims", f"{base}:rec"],
            [now, dumps(packet), packet["total"], len(pairs) // 2, *pairs, *shares])
        return int(reply[1]) == 1

    async def finish_launch(self, packet_id: str, now: int | None = None) -> bool:
        """Put a launch that is not in escrow (its caller stopped between the steps, or a
        failover lost the escrow) into escrow, without the transfers the wallet slot already
        credited; whether it did. False too when no launch is recorded (settled, or never
        debited)."""
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.hget(self.keys.launches_pending, packet_id)
            pipe.hgetall(self.keys.packet_credits(packet_id))
            raw, credits = await pipe.execute()
        if raw is None:
            return False
        launch = orjson.loads(raw)
        done = {f.decode(): int(v) for f, v in credits.items()}
        return await self._escrow(launch["packet"], launch["shares"],
                                  int(launch["at"]) if now is None else now, done)

    async def launches_recorded(self) -> set[str]:
        """The packets whose launch is still recorded on the wallet slot (not settled yet)."""
        return {pid.decode() for pid in await self.core.client.hkeys(self.keys.launches_pending)}

    async def grab(self, packet: Json, user_id: str, name: str, now: int,
                   sample_every: int, follows: bool = False) -> Grabbed:
        """The grab's first step: the share leaves the escrow, pending to the grabber (the
        caller credits it, ``credit_grabs``, before answering), or the precise refusal."""
        k, pid = self.keys, packet["id"]
        base = k.packet(pid)
        member = (packet.get("condition") == "fan_club" and bool(
            await self.core.client.hexists(k.fan_club(packet["creator_id"]), user_id)))
        keys = [base, f"{base}:shares", f"{base}:claims", f"{base}:rec", f"{base}:elig",
                f"{base}:out"]
        args = [now, user_id, pid, dumps(name), sample_every, "1" if follows else "0",
                "1" if member else "0"]
        reply = await self.core.script("rp_grab", keys, args)
        status = text(reply[0])
        if status == "not_found" and await self.finish_launch(pid):
            # launched, but its escrow is not there (a launch cut between its steps, or one a
            # failover lost): put back from the launch record, then the grab goes on
            reply = await self.core.script("rp_grab", keys, args)
            status = text(reply[0])
        if status == "ok":
            return Grabbed(pid, packet["room_id"], user_id, int(reply[1]), int(reply[2]),
                           bool(int(reply[3])), reply[4] or b"", now)
        raise grab_refusal(status, reply)

    async def credit_grabs(self, grabs: list[Grabbed]) -> list[Exception | None]:
        """The credit steps of many grabs (each idempotent by packet and grabber), one
        pipeline on the wallet slot: in a rush the calls that arrive while one batch is out
        share the next round trip (``services/pipelined.py``). The pending marks stay on the
        escrow until the reconciler, seeing them credited, drops them (``settle``)."""
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
                    if g.finished:
                        pipe.hdel(k.room_keyword_packets(g.room_id), g.packet_id)
                await pipe.execute()
        return [None] * len(grabs)

    def _credit_keys(self, packet_id: str, room_id: str, payee: str) -> list[str]:
        k = self.keys
        return [k.balances, k.ledger, k.recent(payee), k.packet_credits(packet_id),
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

    async def tick(self, packet_id: str, now: int) -> tuple[str, int, Json | None]:
        """Run one due clock step; reschedule or forget it. (what happened, refund, packet)."""
        k = self.keys
        raw = await self.core.client.hget(k.packet(packet_id), "json")
        if raw is None:
            if (await self.finish_launch(packet_id)
                    or await self.core.client.exists(k.packet(packet_id))):
                return "", 0, None  # the launch's escrow was missing: the next pass runs it
            await self.core.client.zrem(k.packets_due, packet_id)
            return "", 0, None
        packet: Json = orjson.loads(raw)
        base = k.packet(packet_id)
        reply = await self.core.script("rp_tick", [base, f"{base}:shares", f"{base}:out"],
                                       [now, packet_id])
        if text(reply[0]) == "ok" and text(reply[1]) == "expired":
            await self.core.client.hdel(k.room_keyword_packets(packet["room_id"]), packet_id)
            if int(reply[3]) > 0:
                await self.refund(packet, int(reply[3]), now)
        if text(reply[0]) != "ok" or int(reply[2]) == 0:
            await self.core.client.zrem(k.packets_due, packet_id)
        else:
            await self.core.client.zadd(k.packets_due, {packet_id: int(reply[2])})
        if text(reply[0]) != "ok":
            return "", 0, packet
        return text(reply[1]), int(reply[3]), packet

    def settle_schedule(self, grace_ms: int) -> Schedule:
        """The packets not known settled as a leased schedule: a process that claims one looks
        at it, and the lease puts it ``grace_ms`` later, so each is looked at by one process
        about once per grace, however many processes run the reconciler."""
        return Schedule(self.core, self.keys.packets_unsettled, lease_ms=grace_ms,
                        park_after=PARK_NEVER)

    async def unsettled(self) -> list[str]:
        """The packets not known settled (finished, every transfer out credited)."""
        return [m.decode() for m in await self.core.client.zrange(self.keys.packets_unsettled,
                                                                  0, -1)]

    async def settle(self, packet_ids: list[str], now: int, grace_ms: int) -> int:
        """The reconciler's pass over ``packet_ids``, two reads for them all:

        * a packet not in escrow (its launch stopped between the steps, or a failover lost the
          escrow) is put in escrow from its recorded launch;
        * a pending mark whose transfer the wallet slot credited is dropped;
        * a transfer pending longer than ``grace_ms`` and not credited (its grab or refund
          stopped between the steps) is credited now;
        * a finished packet with nothing pending is settled: it leaves the unsettled set and
          its launch record goes.

        Returns how many transfers (launches included) it finished."""
        if not packet_ids:
            return 0
        k = self.keys
        async with self.core.client.pipeline(transaction=False) as pipe:
            for pid in packet_ids:
                pipe.hmget(k.packet(pid), "json", "state")
                pipe.hgetall(f"{k.packet(pid)}:out")
                pipe.hgetall(k.packet_credits(pid))
            found = await pipe.execute()
        finished = 0
        settled: list[str] = []
        drops: dict[str, list[str]] = {}
        for n, pid in enumerate(packet_ids):
            (raw, state), out, credits = found[3 * n:3 * n + 3]
            if raw is None:
                if await self.finish_launch(pid, now):
                    finished += 1
                elif not await self.core.client.hexists(k.launches_pending, pid):
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
                    pipe.hdel(k.launches_pending, *settled)
                    pipe.zrem(k.packets_unsettled, *settled)
                await pipe.execute()
        return finished

    async def due(self, now: int, limit: int = 200) -> list[str]:
        found = await self.core.client.zrangebyscore(self.keys.packets_due, "-inf", now,
                                                     start=0, num=limit)
        return [m.decode() for m in found]

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

    async def room_packets(self, room_id: str, limit: int) -> list[Json]:
        """The room's latest packets, newest first, without their records (one pipeline)."""
        ids = await self.core.client.zrevrange(self.keys.room_packets(room_id), 0, limit - 1)
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

    async def has_keyword_packets(self, room_id: str) -> bool:
        """Whether the room has keyword packets still grabbable."""
        return bool(await self.core.client.hlen(self.keys.room_keyword_packets(room_id)))

    async def note_chat(self, room_id: str, user_id: str, normalised: str) -> None:
        """A chat message in the room: if it says a keyword packet's keyword, its sender may
        grab that packet."""
        active = await self.core.client.hgetall(self.keys.room_keyword_packets(room_id))
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
        return [m.decode() for m in await self.core.client.zrange(self.keys.all_packets, 0, -1)]

    async def packet_books(self, packet_id: str, credited: bool = True) -> PacketBooks:
        """The escrow's books (one read of the packet's slot) and (``credited``) the transfers
        the wallet slot says it credited, for the audit."""
        base = self.keys.packet(packet_id)
        pairs, _record, shares, claims_pairs, out_pairs = await self.core.script(
            "rp_read", self._read_keys(base), ["books"])
        fields, claims, out = _as_dict(pairs), _as_dict(claims_pairs), _as_dict(out_pairs)
        done = (await self.core.client.hgetall(self.keys.packet_credits(packet_id))
                if credited else {})
        return PacketBooks(
            {key.decode(): value.decode() for key, value in fields.items()},
            [int(s) for s in shares], {u.decode(): int(a) for u, a in claims.items()},
            {f.decode(): int(v.decode().partition("|")[0]) for f, v in out.items()},
            {f.decode(): int(v) for f, v in done.items()})


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


@dataclasses.dataclass(frozen=True, slots=True)
class PacketBooks:
    """A packet's books for the audit: on its slot the hash, the shares not yet taken, the
    claims and the transfers out pending (field → cents); on the wallet slot the transfers
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
