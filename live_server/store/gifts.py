"""Gifts in Valkey: the send script, and the room's and creator's gift figures.

Every key carries the hash tag ``{wallets}``: a send debits the sender and credits the creator
and the platform account in one script (``gift_send.lua``) with its two ledger entries, and
records the figures the show report, the earnings and the ops console read.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import orjson

from live_server.config import Settings
from live_server.errors import InsufficientFunds, Internal, LiveError
from live_server.protocol import Json, dumps
from live_server.store.charity import CharityStore, Cut, TermsChanged
from live_server.store.core import StoreCore, text

FIGURES = ("gifts", "sends", "spent", "creator", "platform")


def room_gift_figures(prefix: str, room_id: str) -> str:
    """hash: a room's gift figures (FIGURES, and ``g:<gift>`` → units)."""
    return f"{prefix}:{{wallets}}:gifts:r:{room_id}"


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


class GiftStore:
    def __init__(self, core: StoreCore, *, recent_max: int, platform_account: str,
                 idempotency_ttl_ms: int, combo_window_ms: int, stage: Stage) -> None:
        self.core = core
        self.keys = core.keys
        self.base = f"{core.keys.prefix}:{{wallets}}"
        self.recent_max = recent_max
        self.platform_account = platform_account
        self.idempotency_ttl_ms = idempotency_ttl_ms
        self.combo_window_ms = combo_window_ms
        self.stage = stage
        self.charity = CharityStore(core)  # a charity room's earmark of the creator's share

    @property
    def platform_balances(self) -> str:
        """hash: platform account → cents (the gifts' platform shares)."""
        return f"{self.base}:platform"

    def room_figures(self, room_id: str) -> str:
        return room_gift_figures(self.keys.prefix, room_id)

    def creator_figures(self, creator_id: str) -> str:
        """hash: a creator's gift figures over every room (FIGURES, ``g:<gift>``)."""
        return f"{self.base}:gifts:c:{creator_id}"

    def room_stage(self, room_id: str) -> str:
        """hash: the gifts a room hears of now: ``<sender>|<gift>`` → shown until (ms)."""
        return f"{self.base}:gifts:stage:{room_id}"

    async def send(self, s: GiftSend, now: int) -> Sent:
        """(the answer, whether this call moved the money); a key used before answers its
        first answer again, with False. In a charity room covering gifts, the earmark of the
        creator's share moves to the beneficiary in the same script (on the terms it saw)."""
        for attempt in range(3):
            cut = (await self.charity.view(s.room_id, s.creator, cached=attempt == 0)).cut(
                "gifts", s.to_creator)
            try:
                return await self._send(s, now, cut)
            except TermsChanged:
                continue
        raise Internal("the room's charity terms kept changing")

    async def send_many(self, sends: list[tuple[GiftSend, int]]) -> list[Sent | Exception]:
        """Many sends (each with its own ``now``) in one pipeline: one round trip and one pooled
        connection for a burst, each still its own script with its own answer (or refusal). A
        send refused for charity terms that changed meanwhile goes again through ``send``."""
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

    def _call(self, s: GiftSend, now: int, cut: Cut) -> tuple[list[str], list[Any]]:
        """The send script's keys and arguments (see ``gift_send.lua``)."""
        k = self.keys
        return (
            [k.balances, k.ledger, k.recent(s.sender), k.recent(s.creator),
             self.platform_balances, f"{self.base}:gidem:{s.sender}",
             f"{self.base}:gcombo:{s.sender}", self.room_figures(s.room_id),
             self.creator_figures(s.creator), *self.charity.wallet_keys(s.room_id, s.creator),
             self.room_stage(s.room_id)],
            [now, s.sender, s.creator, self.platform_account, s.room_id, dumps(s.gift),
             s.gift["gift_id"], s.quantity, s.to_creator, s.to_platform, self.recent_max,
             s.idempotency_key, self.idempotency_ttl_ms, self.combo_window_ms,
             "", dumps(s.sender_name), s.send_id, cut.version,
             cut.earmark, cut.beneficiary, self.stage.slots, self.stage.hold_ms,
             self.stage.always_cents])

    @staticmethod
    def _answer(s: GiftSend, reply: list[Any]) -> Sent:
        status = text(reply[0])
        if status == "terms_changed":
            raise TermsChanged
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

    async def rooms_figures(self, room_ids: list[str]) -> dict[str, Json]:
        """Several rooms' figures in one round trip (the ops console's live rooms)."""
        async with self.core.client.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                pipe.hmget(self.room_figures(room_id), "gifts", "spent", "creator")
            rows = await pipe.execute()
        return {room_id: {"gifts": int(row[0] or 0), "spent": int(row[1] or 0),
                          "creator": int(row[2] or 0)}
                for room_id, row in zip(room_ids, rows, strict=True)}

    async def platform_books(self) -> dict[str, int]:
        """The audit's read: platform account → cents."""
        raw = await self.core.client.hgetall(self.platform_balances)
        return {a.decode(): int(b) for a, b in raw.items()}

    async def room_spent(self, room_id: str) -> int:
        return int(await self.core.client.hget(self.room_figures(room_id), "spent") or 0)
