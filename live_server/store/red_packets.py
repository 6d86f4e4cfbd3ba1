"""Red packets in Valkey: launch, grab, the clock's steps, keyword eligibility, and the
books the audit checks.

The packet's keys carry the hash tag ``{wallets}``: launching takes the total from the
creator's wallet and a grab credits the grabber, each in one script with its ledger entry.
The room is told afterwards through ``room_event`` (the room's own slot).
"""

from __future__ import annotations

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
        """Take the total from the creator and store the packet: (packet id, the creator's
        balance, created). A key the creator used before gives the packet it launched, with
        ``created`` false and nothing debited."""
        k, pid = self.keys, packet["id"]
        due = packet["open_at"] if packet["open_at"] > now else packet["expires_at"]
        reply = await self.core.script(
            "rp_create",
            [k.balances, k.ledger, k.recent(packet["creator_id"]), k.packet(pid),
             f"{k.packet(pid)}:shares", k.room_packets(packet["room_id"]), k.packets_due,
             k.all_packets, k.room_keyword_packets(packet["room_id"]),
             k.launch_keys(packet["creator_id"])],
            [now, packet["creator_id"], pid, dumps(packet), packet["total"], self.recent_max,
             due, packet["keyword"], idempotency_key, *shares])
        status = text(reply[0])
        if status == "ok":
            return pid, int(reply[1]), True
        if status == "dup":
            return text(reply[1]), int(reply[2]), False
        if status == "insufficient_funds":
            raise InsufficientFunds("not enough money in the wallet", balance=int(reply[1]),
                                    needed=packet["total"])
        raise Internal(f"unexpected reply {status}")

    async def grab(self, packet: Json, user_id: str, name: str, now: int,
                   sample_every: int, follows: bool = False) -> tuple[int, int, bool]:
        """(amount, shares left, finished by this grab) or the precise refusal."""
        k, pid = self.keys, packet["id"]
        base = k.packet(pid)
        reply = await self.core.script(
            "rp_grab",
            [k.balances, k.ledger, k.recent(user_id), base, f"{base}:shares", f"{base}:claims",
             f"{base}:rec", f"{base}:elig", k.room_keyword_packets(packet["room_id"]),
             k.fan_club(packet["creator_id"])],
            [now, user_id, pid, dumps(name), self.recent_max, "", sample_every,
             "1" if follows else "0"])
        status = text(reply[0])
        if status == "ok":
            if reply[4]:  # the sampled notice, published on the room's slot (lossy)
                await self.core.publish(k.room(packet["room_id"]).channel, reply[4])
            return int(reply[1]), int(reply[2]), bool(int(reply[3]))
        raise grab_refusal(status, reply)

    async def tick(self, packet_id: str, now: int) -> tuple[str, int, Json | None]:
        """Run one due clock step; reschedule or forget it. (what happened, refund, packet)."""
        k = self.keys
        raw = await self.core.client.hget(k.packet(packet_id), "json")
        if raw is None:
            await self.core.client.zrem(k.packets_due, packet_id)
            return "", 0, None
        packet: Json = orjson.loads(raw)
        for _ in range(3):  # a charity room: the remainder's earmark, on the terms it saw
            cut = Cut("")
            if now >= int(packet["expires_at"]):
                view = await self.charity.view(packet["room_id"])
                left = int(await self.core.client.hget(k.packet(packet_id), "left_amt") or 0)
                cut = view.cut("red_packets", left)
            reply = await self.core.script(
                "rp_tick",
                [k.balances, k.ledger, k.recent(packet["creator_id"]), k.packet(packet_id),
                 f"{k.packet(packet_id)}:shares", k.room_keyword_packets(packet["room_id"]),
                 *self.charity.wallet_keys(packet["room_id"])],
                [now, packet_id, self.recent_max, cut.version, cut.base, cut.earmark,
                 cut.beneficiary, packet["room_id"]])
            if text(reply[0]) != "terms_changed":
                break
        else:
            return "", 0, packet  # still due: the next pass tries again
        if text(reply[0]) != "ok" or int(reply[2]) == 0:
            await self.core.client.zrem(k.packets_due, packet_id)
        else:
            await self.core.client.zadd(k.packets_due, {packet_id: int(reply[2])})
        if text(reply[0]) != "ok":
            return "", 0, packet
        return text(reply[1]), int(reply[3]), packet

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

    async def packet_books(self, packet_id: str) -> tuple[Json, list[int], dict[str, int]]:
        """(hash fields, shares not yet taken, claims) for the audit."""
        base = self.keys.packet(packet_id)
        async with self.core.client.pipeline(transaction=True) as pipe:
            pipe.hgetall(base)
            pipe.lrange(f"{base}:shares", 0, -1)
            pipe.hgetall(f"{base}:claims")
            fields, shares, claims = await pipe.execute()
        return ({key.decode(): value.decode() for key, value in fields.items()},
                [int(s) for s in shares], {u.decode(): int(a) for u, a in claims.items()})


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
