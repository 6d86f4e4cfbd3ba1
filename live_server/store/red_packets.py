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
        dies between them is finished by the reconciler (``finish_launches``)."""
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
             due, packet["keyword"], idempotency_key])
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

    async def _escrow(self, packet: Json, shares: list[int], now: int) -> None:
        """Step 2 of a launch (idempotent), then the pending launch is dropped."""
        base = self.keys.packet(packet["id"])
        await self.core.script("rp_escrow", [base, f"{base}:shares"],
                               [now, dumps(packet), packet["total"], *shares])
        await self.core.client.hdel(self.keys.launches_pending, packet["id"])

    async def finish_launch(self, packet_id: str) -> bool:
        """Put a launch debited but not in escrow yet into escrow; whether one was pending."""
        raw = await self.core.client.hget(self.keys.launches_pending, packet_id)
        if raw is None:
            return False
        launch = orjson.loads(raw)
        await self._escrow(launch["packet"], launch["shares"], int(launch["at"]))
        return True

    async def pending_launches(self) -> dict[str, int]:
        """Packet id → when its launch was debited, for every launch not in escrow yet."""
        raw = await self.core.client.hgetall(self.keys.launches_pending)
        return {pid.decode(): int(orjson.loads(value)["at"]) for pid, value in raw.items()}

    async def grab(self, packet: Json, user_id: str, name: str, now: int,
                   sample_every: int, follows: bool = False) -> tuple[int, int, bool]:
        """(amount, shares left, finished by this grab) or the precise refusal. The share
        leaves the escrow (pending) and is credited to the grabber before the answer."""
        k, pid = self.keys, packet["id"]
        base = k.packet(pid)
        member = (packet.get("condition") == "fan_club" and bool(
            await self.core.client.hexists(k.fan_club(packet["creator_id"]), user_id)))
        reply = await self.core.script(
            "rp_grab",
            [base, f"{base}:shares", f"{base}:claims", f"{base}:rec", f"{base}:elig",
             f"{base}:out"],
            [now, user_id, pid, dumps(name), sample_every, "1" if follows else "0",
             "1" if member else "0"])
        status = text(reply[0])
        if status == "ok":
            amount, left, finished = int(reply[1]), int(reply[2]), bool(int(reply[3]))
            await self.credit(pid, packet["room_id"], user_id, user_id, amount, now)
            if reply[4]:  # the sampled notice, published on the room's slot (lossy)
                await self.core.publish(k.room(packet["room_id"]).channel, reply[4])
            if finished:
                await self.core.client.hdel(k.room_keyword_packets(packet["room_id"]), pid)
            return amount, left, finished
        raise grab_refusal(status, reply)

    async def credit(self, packet_id: str, room_id: str, payee: str, field: str, amount: int,
                     now: int, cut: Cut | None = None) -> bool:
        """The credit step of a transfer out of the escrow (a grab's share, or ``~refund``),
        then the pending transfer is dropped; run twice, it credits once. False: the charity
        terms changed under the refund's earmark (the caller computes it again)."""
        k, cut = self.keys, cut or Cut("")
        reply = await self.core.script(
            "rp_credit",
            [k.balances, k.ledger, k.recent(payee), k.packet_credits(packet_id),
             *self.charity.wallet_keys(room_id)],
            [now, packet_id, payee, field, amount, self.recent_max, cut.version, cut.base,
             cut.earmark, cut.beneficiary, room_id])
        if text(reply[0]) != "ok":
            return False
        await self.core.client.hdel(f"{k.packet(packet_id)}:out", field)
        return True

    async def refund(self, packet: Json, amount: int, now: int) -> None:
        """Credit a finished packet's remainder to its creator, with a charity room's earmark
        computed on the terms the credit step sees."""
        for _ in range(3):
            view = await self.charity.view(packet["room_id"])
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
            if await self.finish_launch(packet_id):
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

    async def unsettled(self) -> list[str]:
        """The packets not known settled (finished, every transfer out credited)."""
        return [m.decode() for m in await self.core.client.zrange(self.keys.packets_unsettled,
                                                                  0, -1)]

    async def settle(self, packet_ids: list[str], now: int, grace_ms: int) -> int:
        """The reconciler's pass over ``packet_ids``: every transfer out of an escrow pending
        for longer than ``grace_ms`` (its grab or refund stopped between its two steps) is
        credited now; a finished packet with nothing pending leaves the unsettled set.
        Returns how many transfers it finished."""
        if not packet_ids:
            return 0
        k = self.keys
        async with self.core.client.pipeline(transaction=False) as pipe:
            for pid in packet_ids:
                pipe.hmget(k.packet(pid), "json", "state")
                pipe.hgetall(f"{k.packet(pid)}:out")
            found = await pipe.execute()
        finished = 0
        settled: list[str] = []
        for n, pid in enumerate(packet_ids):
            (raw, state), out = found[2 * n], found[2 * n + 1]
            if raw is None:
                continue  # not in escrow yet: the launch's own reconciliation
            packet: Json = orjson.loads(raw)
            for field, value in out.items():
                amount, _, at = value.decode().partition("|")
                if now - int(at) < grace_ms:
                    continue
                who = field.decode()
                if who == "~refund":
                    await self.refund(packet, int(amount), now)
                else:
                    await self.credit(pid, packet["room_id"], who, who, int(amount), now)
                finished += 1
            if state == b"finished" and not out:
                settled.append(pid)
        if settled:
            await self.core.client.zrem(k.packets_unsettled, *settled)
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
            return packet_view(fields, None) if fields else None
        async with self.core.client.pipeline(transaction=True) as pipe:
            pipe.hgetall(base)
            pipe.lrange(f"{base}:rec", 0, -1)
            fields, record = await pipe.execute()
        if not fields:
            return None
        return packet_view(fields, record)

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
        async with self.core.client.pipeline(transaction=True) as pipe:
            pipe.hgetall(base)
            pipe.lrange(f"{base}:shares", 0, -1)
            pipe.hgetall(f"{base}:claims")
            pipe.hgetall(f"{base}:out")
            fields, shares, claims, out = await pipe.execute()
        done = (await self.core.client.hgetall(self.keys.packet_credits(packet_id))
                if credited else {})
        return PacketBooks(
            {key.decode(): value.decode() for key, value in fields.items()},
            [int(s) for s in shares], {u.decode(): int(a) for u, a in claims.items()},
            {f.decode(): int(v.decode().partition("|")[0]) for f, v in out.items()},
            {f.decode(): int(v) for f, v in done.items()})


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
