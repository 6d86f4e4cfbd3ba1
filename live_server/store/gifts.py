"""Gifts in Valkey: the send script, and the room's and creator's gift figures.

Everything about a creator's gifts is on the creator's wallet bucket (``keys.wallet(creator)``,
``store/keys.py``): the creator's wallet, the platform's sub-account there, the room's and the
creator's gift figures, the room's stage, the room's charity keys, the sender's combo. A sender
whose wallet is on that bucket too pays in one script (``gift_send.lua``): the sender debited,
the creator and the platform credited with their two ledger entries, the figures the show
report, the earnings and the ops console read.

A sender on another bucket pays through a transfer (``store/transfers.py``):
``xfer_hold.lua`` takes the amount on the sender's bucket (ledger ``user:<sender> →
xfer:<id>``, reason ``gift_transfer``; the sender's idempotency key is the transfer's memo),
``gift_send.lua`` in its transfer mode does the rest on the creator's bucket (``xfer:<id> →
user:<creator>`` ``gift``, ``xfer:<id> → platform:<account>`` ``gift_fee``) and records its
answer under the transfer id, and ``xfer_drop.lua`` ends the transfer, the key answering that
answer from then on. A send whose process died between the steps is finished by the
reconciler (``services/transfers.py``; the ``gift`` finisher is ``GiftService``'s).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson
from redis.exceptions import RedisError

from live_server.config import Settings
from live_server.errors import InsufficientFunds, Internal, LiveError, NotReady
from live_server.protocol import Json, dumps
from live_server.store.charity import CharityStore, Cut, TermsChanged
from live_server.store.core import StoreCore, text
from live_server.store.keys import Keys, WalletKeys
from live_server.store.transfers import Received, TransferStore, held_from, memo_of

log = logging.getLogger(__name__)

FIGURES = ("gifts", "sends", "spent", "creator", "platform")
# the sender's ledger entry into a transfer to the creator's bucket (``user:<sender> →
# xfer:<id>``); the transfer's own entries out of it are ``gift`` and ``gift_fee``
TRANSFER_REASON = "gift_transfer"


def room_gift_figures(keys: Keys, room_id: str, creator_id: str) -> str:
    """hash: a room's gift figures (FIGURES, and ``g:<gift>`` → units), on its creator's
    bucket."""
    return keys.wallet(creator_id).key(f"gifts:r:{room_id}")


@dataclasses.dataclass(frozen=True, slots=True)
class GiftSend:
    """One send as the service asks it: who, where, what, the split, the keys of the reply."""

    sender: str
    sender_name: str
    creator: str
    room_id: str
    gift: Json  # {"gift_id", "name", "icon", "price"}
    quantity: int
    to_creator: int
    to_platform: int
    idempotency_key: str
    send_id: str


@dataclasses.dataclass(frozen=True, slots=True)
class Stage:
    """Which gifts the room hears of (``gift_send.lua``): at most ``slots`` senders' gifts at
    once, each kept ``hold_ms`` after its latest send; a send worth ``always_cents`` or more
    is always heard."""

    slots: int
    hold_ms: int
    always_cents: int


Sent = tuple[Json, bool]  # (the answer, whether this call moved the money)
# a receiving step to run: (transfer id, its record, now, the sender's balance to tell or None)
Step = tuple[str, Json, int, int | None]


class GiftStore:
    def __init__(self, core: StoreCore, *, recent_max: int, platform_account: str,
                 idempotency_ttl_ms: int, combo_window_ms: int, stage: Stage) -> None:
        self.core = core
        self.keys = core.keys
        self.recent_max = recent_max
        self.platform_account = platform_account
        self.idempotency_ttl_ms = idempotency_ttl_ms
        self.combo_window_ms = combo_window_ms
        self.stage = stage
        self.charity = CharityStore(core)  # a charity room's earmark of the creator's share
        self.transfers = TransferStore(core, recent_max=recent_max)  # senders on other buckets

    # Keys: on the creator's bucket, but the sender's idempotency keys (the sender's) --------

    @property
    def platform_balances(self) -> str:
        """hash: platform account → cents, bucket 0's sub-account (each bucket has one, its
        ``WalletKeys.platform``; ``platform_books`` sums them)."""
        return self.keys.buckets[0].platform

    def room_figures(self, room_id: str, creator_id: str) -> str:
        return room_gift_figures(self.keys, room_id, creator_id)

    def creator_figures(self, creator_id: str) -> str:
        """hash: a creator's gift figures over every room (FIGURES, ``g:<gift>``)."""
        return self.keys.wallet(creator_id).key(f"gifts:c:{creator_id}")

    def room_stage(self, room_id: str, creator_id: str) -> str:
        """hash: the gifts a room hears of now: ``<sender>|<gift>`` → shown until (ms)."""
        return self.keys.wallet(creator_id).key(f"gifts:stage:{room_id}")

    def idempotency_keys(self, sender: str) -> str:
        """hash: the sender's idempotency keys → the send's answer (``x:<transfer id>`` while
        a send through a transfer is in flight), on the sender's bucket."""
        return self.keys.wallet(sender).key(f"gidem:{sender}")

    def _apart(self, s: GiftSend) -> bool:
        """Whether the sender's wallet is on another bucket than the creator's."""
        return self.keys.wallet(s.sender).index != self.keys.wallet(s.creator).index

    # Sending ------------------------------------------------------------------------------

    async def send(self, s: GiftSend, now: int) -> Sent:
        """(the answer, whether this call moved the money); a key used before answers its
        first answer again, with False. In a charity room covering gifts, the earmark of the
        creator's share moves to the beneficiary in the same script (on the terms it saw)."""
        if self._apart(s):
            out = (await self._send_apart([(s, now)]))[0]
            if isinstance(out, Exception):
                raise out
            return out
        for attempt in range(3):
            cut = (await self.charity.view(s.room_id, s.creator, cached=attempt == 0)).cut(
                "gifts", s.to_creator)
            try:
                return await self._send(s, now, cut)
            except TermsChanged:
                continue
        raise Internal("the room's charity terms kept changing")

    async def send_many(self, sends: list[tuple[GiftSend, int]]) -> list[Sent | Exception]:
        """Many sends (each with its own ``now``) in a few pipelines: one round trip and one
        pooled connection for a burst of senders on the creator's bucket, each still its own
        script with its own answer (or refusal); the senders on other buckets in three (their
        payments, the sends, the transfers' ends). A send refused for charity terms that
        changed meanwhile goes again on fresh terms."""
        here = [i for i, (s, _) in enumerate(sends) if not self._apart(s)]
        apart = [i for i, (s, _) in enumerate(sends) if self._apart(s)]
        parts = await asyncio.gather(self._send_here([sends[i] for i in here]),
                                     self._send_apart([sends[i] for i in apart]))
        out: list[Sent | Exception] = [Internal("not sent")] * len(sends)
        for indexes, answers in zip((here, apart), parts, strict=True):
            for i, answer in zip(indexes, answers, strict=True):
                out[i] = answer
        return out

    async def _send_here(self, sends: list[tuple[GiftSend, int]]) -> list[Sent | Exception]:
        """Sends whose sender is on the creator's bucket: one script each, pipelined."""
        if not sends:
            return []
        cuts = [(await self.charity.view(s.room_id, s.creator, cached=True)).cut(
                    "gifts", s.to_creator)
                for s, _ in sends]
        async with self.core.client.pipeline(transaction=False) as pipe:
            for (s, now), cut in zip(sends, cuts, strict=True):
                self.core.scripts.queue(pipe, "gift_send", *self._call(s, now, cut))
            start = time.perf_counter()
            replies = await self.core.scripts.execute(pipe)
            self.core.timed("gift_send_many", start)
        await self._publish([(s, reply) for (s, _), reply in zip(sends, replies, strict=True)])
        out: list[Sent | Exception] = []
        for (s, now), reply in zip(sends, replies, strict=True):
            try:
                out.append(self._answer(s, reply))
            except TermsChanged:
                out.append(await self._again(s, now))
            except LiveError as err:
                out.append(err)
        return out

    async def _again(self, s: GiftSend, now: int) -> Sent | Exception:
        try:
            return await self.send(s, now)
        except LiveError as err:
            return err

    async def _send(self, s: GiftSend, now: int, cut: Cut) -> Sent:
        reply = await self.core.script("gift_send", *self._call(s, now, cut))
        await self._publish([(s, reply)])
        return self._answer(s, reply)

    async def _send_apart(self, sends: list[tuple[GiftSend, int]]) -> list[Sent | Exception]:
        """Sends whose sender is on another bucket, as transfers: the payments on the senders'
        buckets (pipelined), the sends on the creators' (pipelined), then the transfers'
        ends (pipelined). A key whose send is still in flight (``held``: a concurrent call, or
        a process that died) finishes that send and answers its answer, moving nothing more."""
        if not sends:
            return []
        records = [self.transfer_record(s, now) for s, now in sends]
        async with self.core.client.pipeline(transaction=False) as pipe:
            for (s, now), record in zip(sends, records, strict=True):
                self._queue_hold(pipe, s.send_id, record, now)
            start = time.perf_counter()
            replies = await self.core.scripts.execute(pipe)
            self.core.timed("gift_hold_many", start)
        out: list[Sent | Exception] = [Internal("not sent")] * len(sends)
        steps: list[tuple[int, bool]] = []  # (index of the send, whether this call paid)
        todo: list[Step] = []
        for i, ((s, now), record, reply) in enumerate(zip(sends, records, replies,
                                                          strict=True)):
            held = held_from(reply)
            if held.status == "ok":
                steps.append((i, True))
                todo.append((held.transfer_id, record, now, held.balance))
            elif held.status == "held" and held.record is not None:
                steps.append((i, False))
                todo.append((held.transfer_id, held.record, now, None))
            elif held.status == "repeat":
                out[i] = (orjson.loads(held.answer), False)
            elif held.status == "insufficient_funds":
                out[i] = InsufficientFunds("not enough money in the wallet",
                                           balance=held.balance,
                                           needed=s.to_creator + s.to_platform)
            else:
                out[i] = Internal(f"unexpected reply {held.status}")
        firsts = await self._receive_many(todo, cached=True)
        ended: list[tuple[str, Json, bytes]] = []
        for (i, paid), (transfer_id, record, now, _), first in zip(steps, todo, firsts,
                                                                   strict=True):
            if isinstance(first, Exception):
                out[i] = first  # still pending: the reconciler finishes it
                continue
            if first.ok:
                out[i] = (orjson.loads(first.answer), paid)
                ended.append((transfer_id, record, first.answer))
            else:  # never for a gift (the send refuses nothing it was paid for): given back
                await self.transfers.give_back(record["payer"], transfer_id, now,
                                               ref=record["ref"], memo=memo_of(record))
                out[i] = Internal(f"the gift was refused ({first.answer.decode()})")
        await self._drop_many(ended)
        return out

    async def _drop_many(self, ended: list[tuple[str, Json, bytes]]) -> None:
        """The transfers received: forgotten on the senders' buckets, each sender's key now
        answering the send's answer (pipelined). Should this fail, the reconciler ends them:
        the sends are made, and their answers stand."""
        if not ended:
            return
        try:
            async with self.core.client.pipeline(transaction=False) as pipe:
                for transfer_id, record, answer in ended:
                    self.core.scripts.queue(pipe, "xfer_drop", *self.transfers.drop_call(
                        int(record["from"]), transfer_id, memo=memo_of(record),
                        answer=answer))
                await self.core.scripts.execute(pipe)
        except (RedisError, OSError) as exc:
            log.warning("gifts: %d transfers received but not ended (%s); the reconciler "
                        "ends them", len(ended), exc)

    async def receive(self, transfer_id: str, record: Json, now: int) -> Received:
        """The receiving step of a gift's transfer on the creator's bucket, its charity
        earmark computed on fresh terms: the first answer (``ok|<answer JSON>``), however
        often it runs (the reconciler's way to finish a send whose process died), and whether
        this call is the one that made the send."""
        got = (await self._receive_many([(transfer_id, record, now, None)], cached=False))[0]
        if isinstance(got, Exception):
            raise got
        return got

    async def _receive_many(self, steps: list[Step], *,
                            cached: bool) -> list[Received | Exception]:
        """``gift_send.lua`` in its transfer mode for each step (pipelined): each transfer's
        first answer (``ok|…``) and whether this call made the send. The answer tells the
        sender's balance from the paying step, or, when another call paid (None), the balance
        now."""
        if not steps:
            return []
        sends = [GiftSend(**record["send"]) for _, record, _, _ in steps]
        unknown = [i for i, step in enumerate(steps) if step[3] is None]
        balances = [step[3] or 0 for step in steps]
        if unknown:
            async with self.core.client.pipeline(transaction=False) as pipe:
                for i in unknown:
                    pipe.hget(self.keys.wallet(sends[i].sender).balances, sends[i].sender)
                for i, bal in zip(unknown, await pipe.execute(), strict=True):
                    balances[i] = int(bal or 0)
        cuts = [(await self.charity.view(s.room_id, s.creator, cached=cached)).cut(
                    "gifts", s.to_creator)
                for s in sends]
        async with self.core.client.pipeline(transaction=False) as pipe:
            for (transfer_id, _, now, _), s, cut, bal in zip(steps, sends, cuts, balances,
                                                             strict=True):
                self.core.scripts.queue(pipe, "gift_send",
                                        *self._call(s, now, cut, transfer_id, bal))
            start = time.perf_counter()
            replies = await self.core.scripts.execute(pipe)
            self.core.timed("gift_send_many", start)
        await self._publish(list(zip(sends, replies, strict=True)))
        out: list[Received | Exception] = []
        for (transfer_id, _, now, _), s, bal, reply in zip(steps, sends, balances, replies,
                                                           strict=True):
            first = _first(reply)
            # terms changed: the earmark again, on fresh terms
            out.append(first if first is not None
                       else await self._receive_again(transfer_id, s, now, bal))
        return out

    async def _receive_again(self, transfer_id: str, s: GiftSend, now: int,
                             balance: int) -> Received | Exception:
        for _ in range(2):
            cut = (await self.charity.view(s.room_id, s.creator)).cut("gifts", s.to_creator)
            reply = await self.core.script("gift_send",
                                           *self._call(s, now, cut, transfer_id, balance))
            await self._publish([(s, reply)])
            first = _first(reply)
            if first is not None:
                return first
        return Internal("the room's charity terms kept changing")

    def transfer_record(self, s: GiftSend, now: int) -> Json:
        """The transfer of a send from the sender's bucket: what finishes it."""
        record: Json = {
            "kind": "gift", "amount": s.to_creator + s.to_platform, "payer": s.sender,
            "from": self.keys.wallet(s.sender).index, "to": self.keys.wallet(s.creator).index,
            "ref": f"{s.room_id}|{s.send_id}", "reason": TRANSFER_REASON, "at": now,
            "send": dataclasses.asdict(s)}
        if s.idempotency_key:
            record["memo"] = {"key": self.idempotency_keys(s.sender),
                              "field": s.idempotency_key, "ttl_ms": self.idempotency_ttl_ms}
        return record

    def _queue_hold(self, pipe: Any, transfer_id: str, record: Json, now: int) -> None:
        """``TransferStore.hold``'s call (the paying step), queued in a pipeline."""
        self.core.scripts.queue(pipe, "xfer_hold", *self.transfers.hold_call(
            record["payer"], transfer_id, record, now, reason=record["reason"],
            ref=record["ref"], memo=memo_of(record)))

    async def _publish(self, sent: list[tuple[GiftSend, Any]]) -> None:
        """The `gift` events the scripts built, each published on its room's slot (the script
        ran on the money slot); unsequenced and lossy like every coalesced event."""
        shown = [(s, reply[2]) for s, reply in sent
                 if isinstance(reply, list) and len(reply) > 2 and reply[2]]
        if not shown:
            return
        async with self.core.client.pipeline(transaction=False) as pipe:
            for s, event in shown:
                self.core.queue_publish(pipe, self.keys.room(s.room_id).channel, event)
            await pipe.execute()

    def _call(self, s: GiftSend, now: int, cut: Cut, transfer_id: str = "",
              balance: int = 0) -> tuple[list[str], list[Any]]:
        """The send script's keys and arguments (see ``gift_send.lua``), on the creator's
        bucket; ``transfer_id``: its transfer mode, telling the sender's ``balance``."""
        w: WalletKeys = self.keys.wallet(s.creator)
        return (
            [w.balances, w.ledger, w.recent(s.sender), w.recent(s.creator), w.platform,
             w.key(f"gidem:{s.sender}"), w.key(f"gcombo:{s.sender}"),
             self.room_figures(s.room_id, s.creator), self.creator_figures(s.creator),
             *self.charity.wallet_keys(s.room_id, s.creator),
             self.room_stage(s.room_id, s.creator), w.transfers_in],
            [now, s.sender, s.creator, self.platform_account, s.room_id, dumps(s.gift),
             s.gift["gift_id"], s.quantity, s.to_creator, s.to_platform, self.recent_max,
             s.idempotency_key, self.idempotency_ttl_ms, self.combo_window_ms,
             transfer_id, dumps(s.sender_name), s.send_id, cut.version,
             cut.earmark, cut.beneficiary, self.stage.slots, self.stage.hold_ms,
             self.stage.always_cents, balance])

    @staticmethod
    def _answer(s: GiftSend, reply: list[Any]) -> Sent:
        status = text(reply[0])
        if status == "terms_changed":
            raise TermsChanged
        if status == "repeat" and bytes(reply[1]).startswith(b"x:"):
            # the key's send, in a room of a creator on another bucket, is still in flight
            raise NotReady("a send with this idempotency key is still being made")
        if status in ("ok", "repeat"):
            return orjson.loads(reply[1]), status == "ok"
        if status == "insufficient_funds":
            raise InsufficientFunds("not enough money in the wallet", balance=int(reply[1]),
                                    needed=s.to_creator + s.to_platform)
        raise Internal(f"unexpected reply {status}")

    @classmethod
    def of(cls, core: StoreCore, settings: Settings) -> GiftStore:
        """The store as the settings say (the server's and the audit's)."""
        g = settings.gifts
        return cls(core, recent_max=settings.money.recent_entries,
                   platform_account=g.platform_account, idempotency_ttl_ms=g.idempotency_ttl_ms,
                   combo_window_ms=g.combo_window_ms,
                   stage=Stage(g.stage_slots, g.stage_hold_ms, g.always_show_cents))

    async def figures(self, key: str) -> Json:
        raw = await self.core.client.hgetall(key)
        h = {a.decode(): int(b) for a, b in raw.items()}
        return {**{f: h.get(f, 0) for f in FIGURES},
                "by_gift": {name[2:]: n for name, n in h.items() if name.startswith("g:")}}

    async def rooms_figures(self, rooms: Mapping[str, str]) -> dict[str, Json]:
        """Several rooms' figures (room id → its creator) in one round trip (the ops
        console's live rooms)."""
        ids = list(rooms)
        async with self.core.client.pipeline(transaction=False) as pipe:
            for room_id in ids:
                pipe.hmget(self.room_figures(room_id, rooms[room_id]), "gifts", "spent",
                           "creator")
            rows = await pipe.execute()
        return {room_id: {"gifts": int(row[0] or 0), "spent": int(row[1] or 0),
                          "creator": int(row[2] or 0)}
                for room_id, row in zip(ids, rows, strict=True)}

    async def platform_books(self) -> dict[str, int]:
        """The platform's accounts → cents: every bucket's sub-account, summed (the audit's
        read)."""
        out: dict[str, int] = {}
        for w in self.keys.buckets:
            for a, b in (await self.core.client.hgetall(w.platform)).items():
                out[a.decode()] = out.get(a.decode(), 0) + int(b)
        return out

    async def room_spent(self, room_id: str, bucket: int) -> int:
        """What a room's figures say was spent on gifts, on the bucket they are on (its
        creator's: the audit knows it from the ledger the gifts' entries are in)."""
        key = self.keys.buckets[bucket].key(f"gifts:r:{room_id}")
        return int(await self.core.client.hget(key, "spent") or 0)


def _first(reply: list[Any]) -> Received | None:
    """The transfer's first answer from ``gift_send.lua``'s reply in transfer mode, and
    whether this call made the send (``ok``, not ``seen``); None when the charity terms
    changed (nothing recorded: run it again on fresh terms)."""
    status = text(reply[0])
    if status == "ok":
        return Received(True, bytes(reply[1]), moved=True)
    if status == "seen":
        return Received.parse(bytes(reply[1]))
    if status == "terms_changed":
        return None
    return Received(False, status.encode(), moved=True)
