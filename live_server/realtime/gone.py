"""What this process knows is gone: flash sales that closed and red packets with no share left.

Why: the second after a sale sells out (or a packet empties) thousands of buyers and grabbers
are still pressing the button, and every one of them would cost a Valkey round trip to hear
"sold out". The events this process already receives for the rooms it serves say so first, so
the losers can be answered here, with the very refusal the script would give. This module holds
the rules only (no I/O); ``services/local_refusals.py`` asks it before and after waiting for a
turn at Valkey, and feeds it what the grab replies say.

The rules, each chosen so that a local answer is always the one the script would give:

* **Sales.** A sale is *watched* once its start (``sale_countdown``, or ``sale_started`` that is
  not a reopening) arrives while the room is followed here (``follow``: the first local socket
  of the room, before it is subscribed). ``sale_ended`` marks a watched sale closed with its
  reason and ``end_at``; ``sale_started`` with ``reopened`` (units came back), a ``stock`` event
  with units left in that sale (``sale_id``), or the product's card changing (``shelf_updated``,
  ``product_updated``) forget that; the start of another sale of its product makes it
  ``sale_ended`` with ``end_at`` 0 (the script's answer for a sale that is not the product's
  current one). A ``buy`` naming a closed, watched sale is refused ``sold_out`` (reason
  ``sold_out``) or ``sale_ended`` with ``end_at`` (``ended``, ``cancelled``), when it is for the
  sale's product and variant (the script checks those first): its ``variant_id`` is the sale's,
  or it names none and the sale is still the product's current one (the script then takes the
  sale's variant). Not when this process sent that buyer's idempotency key for this sale to
  Valkey before: then it goes to Valkey again and the script answers the order it made (or the
  refusal it gave). Every key sent while the room is followed is kept with its sale (and a key
  in flight when the room starts being followed is taken over), so for a watched sale the record
  knows every key this process ever sent. A retry reaching another process after a lost reply is
  refused there: the order is in the buyer's ``my_orders``.
* **Red packets.** Facts about a packet never go back once true (shares are never returned to a
  packet), so they are learnt from grab replies as well as from ``red_packet_grabbed`` (``left``
  0) and ``red_packet_finished``. A packet known expired is refused ``expired``. A packet known
  empty is refused only once its claims (user → cents, final once empty) have been read (one
  read per process and packet, by the service), only for a packet open to ``anyone``
  (eligibility is checked before shares, and only Valkey knows it), and only before its
  ``expires_at`` (after it, the script says ``expired``): a user among the claims gets
  ``already_grabbed`` with their amount, anyone else ``none_left``.
* **Forgetting.** A room's sales are forgotten when its last local socket leaves (events stop
  coming); its sales and packets when its stream is resynchronised (``Hub.resync``: the store
  may have lost writes) and when it ends. After a lost pub/sub connection every closure and
  every packet is forgotten (``forget_gone``): events may have been missed and Valkey may have
  restarted without them.
* **Bounds.** At most ``max_sales`` sales per room (past it the room refuses nothing locally
  until it is forgotten), ``max_keys`` keys per sale (past it that sale is no longer refused
  locally), ``max_packets`` packets and ``max_claims`` claims in all (the oldest packets are
  forgotten first). Forgetting only ever sends a request to Valkey.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

SALE_EVENTS = frozenset({"sale_countdown", "sale_started", "sale_ended", "stock",
                         "shelf_updated", "product_updated", "room_state"})
PACKET_EVENTS = frozenset({"red_packet_grabbed", "red_packet_finished"})
GONE_EVENTS = SALE_EVENTS | PACKET_EVENTS


class Refusal(NamedTuple):
    """The script's refusal as its reply reads: a status and its one value, if any
    (``('sold_out', None)``, ``('sale_ended', end_at)``, ``('already_grabbed', cents)``)."""

    status: str
    value: int | None = None

    @property
    def reply(self) -> list[Any]:
        """The reply list the store's mapping (``buy_refusal``, ``grab_refusal``) reads."""
        return [self.status] if self.value is None else [self.status, self.value]


class SaleBuy(NamedTuple):
    """What a buy naming a sale says, as far as the rules need it."""

    sale_id: str
    product_id: str
    variant_id: str | None
    user_id: str
    key: str


@dataclasses.dataclass(slots=True)
class _Sale:
    watched: bool = False
    product_id: str | None = None
    variant_id: str | None = None
    closed: Refusal | None = None
    superseded: bool = False  # another sale of its product started since
    keys: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    lost: bool = False  # keys were dropped (too many): never watched again


@dataclasses.dataclass(slots=True)
class _Room:
    sales: dict[str, _Sale] = dataclasses.field(default_factory=dict)
    disabled: bool = False  # too many sales: nothing refused here until forgotten


@dataclasses.dataclass(slots=True)
class _Packet:
    room_id: str
    empty: bool = False
    expired: bool = False
    claims: dict[str, int] | None = None


class GoneRecord:
    def __init__(self, *, max_sales: int = 1_000, max_keys: int = 100_000,
                 max_packets: int = 10_000, max_claims: int = 500_000) -> None:
        self.max_sales = max_sales
        self.max_keys = max_keys
        self.max_packets = max_packets
        self.max_claims = max_claims
        self._rooms: dict[str, _Room] = {}
        # keys sent to Valkey and not answered yet: (room, sale, user, key) → how many
        self._in_flight: dict[tuple[str, str, str, str], int] = {}
        self._packets: OrderedDict[str, _Packet] = OrderedDict()
        self._claims_held = 0
        # told when a waiting buy or grab may now be refused (LocalRefusals re-asks them)
        self.on_change: Callable[[], None] = lambda: None

    # Following rooms ---------------------------------------------------------------------

    def follow(self, room_id: str) -> None:
        """The room's first local socket arrived (before the subscription is asked for): from
        now on its events come here. Keys already in flight for it are taken over."""
        if room_id in self._rooms:
            return
        room = self._rooms[room_id] = _Room()
        for (rid, sale_id, user_id, key) in self._in_flight:
            if rid == room_id:
                self._add_key(room, sale_id, user_id, key)

    def unfollow(self, room_id: str) -> None:
        """The room's last local socket left: its events stop coming, so nothing is known of
        its sales any more. What is known of its packets stays true (it never goes back)."""
        self._rooms.pop(room_id, None)

    def forget_room(self, room_id: str) -> None:
        """What came for the room may be wrong (its stream was resynchronised: the store may
        have lost writes), or it ended: its sales and its packets are forgotten."""
        self._rooms.pop(room_id, None)
        for pid in [pid for pid, p in self._packets.items() if p.room_id == room_id]:
            self._drop_packet(pid)

    def forget_gone(self) -> None:
        """Pub/sub was lost: events may be missing. Every closure and packet is forgotten; the
        sales stay watched and their keys kept (keys were recorded whatever pub/sub did), so a
        ``sale_ended`` that arrives later (or in the refill from history) counts again."""
        for room in self._rooms.values():
            for sale in room.sales.values():
                sale.closed = None
        self._packets.clear()
        self._claims_held = 0

    @property
    def rooms_followed(self) -> int:
        return len(self._rooms)

    # Feeding: events -----------------------------------------------------------------------

    def note_event(self, room_id: str, ev: dict[str, Any]) -> None:
        """One event of a followed room, decoded once by the hub."""
        kind = ev.get("type")
        if kind not in GONE_EVENTS:
            return
        data = ev.get("data")
        if not isinstance(data, dict):
            return
        if kind in PACKET_EVENTS:
            self._packet_event(room_id, str(kind), data)
            return
        room = self._rooms.get(room_id)
        if room is None:
            return
        if kind == "room_state":
            if data.get("state") == "ended":
                self.forget_room(room_id)
        elif kind in ("sale_countdown", "sale_started", "sale_ended"):
            self._sale_event(room, str(kind), data)
        elif kind == "stock":
            # units back in a sale (a cancelled or expired reservation); a figure of ordinary
            # units (sale_id null) says nothing of a sale
            left, sale_id = data.get("left"), data.get("sale_id")
            if isinstance(left, int) and left > 0 and sale_id is not None:
                self._reopen_product(room, data.get("product_id"), sale_id)
        elif kind == "product_updated":
            card = data.get("product")
            self._reopen_product(room, card.get("id") if isinstance(card, dict) else None)
        elif kind == "shelf_updated":
            for sale in room.sales.values():
                sale.closed = None

    def _sale_event(self, room: _Room, kind: str, data: dict[str, Any]) -> None:
        sale_info = data.get("sale")
        if not isinstance(sale_info, dict) or not isinstance(sale_info.get("id"), str):
            return
        sale = self._sale(room, sale_info["id"])
        if sale is None:
            return
        pid, vid = sale_info.get("product_id"), sale_info.get("variant_id")
        sale.product_id = pid if isinstance(pid, str) else sale.product_id
        sale.variant_id = vid if isinstance(vid, str) else sale.variant_id
        if kind == "sale_ended":
            reason = data.get("reason")
            if reason == "sold_out":
                sale.closed = Refusal("sold_out")
            elif isinstance(sale_info.get("end_at"), int):
                sale.closed = Refusal("sale_ended", sale_info["end_at"])
            self.on_change()
        elif data.get("reopened"):
            sale.closed = None
        else:  # its start: every key this process sends for it from now on is known here
            sale.watched = not sale.lost
            sale.closed = None
            for sid, other in room.sales.items():  # no longer the product's current sale
                if sid != sale_info["id"] and other.product_id == sale.product_id:
                    other.closed, other.superseded = Refusal("sale_ended", 0), True

    def _reopen_product(self, room: _Room, product_id: object, sale_id: object = None) -> None:
        """Units came back to a product (or its card changed): its closures are not trusted."""
        for sid, sale in room.sales.items():
            if sale.product_id == product_id and (sale_id is None or sale_id == sid):
                sale.closed = None

    def _sale(self, room: _Room, sale_id: str) -> _Sale | None:
        if room.disabled:
            return None
        sale = room.sales.get(sale_id)
        if sale is None:
            if len(room.sales) >= self.max_sales:
                room.disabled = True
                room.sales.clear()
                return None
            sale = room.sales[sale_id] = _Sale()
        return sale

    # Buying ------------------------------------------------------------------------------

    def sale_refusal(self, room_id: str, buy: SaleBuy) -> Refusal | None:
        """The buy script's refusal for a buy naming a sale, when it is known here; None: ask
        Valkey."""
        room = self._rooms.get(room_id)
        if room is None:
            return None
        sale = room.sales.get(buy.sale_id)
        if sale is None or not sale.watched or sale.closed is None:
            return None
        if buy.product_id != sale.product_id or sale.variant_id is None:
            return None  # the script answers about the product it names first
        if buy.variant_id is None:
            if sale.superseded:
                return None  # the script would say a variant is required, if it is
        elif buy.variant_id != sale.variant_id:
            return None
        if (buy.user_id, buy.key) in sale.keys:
            return None  # sent before: the script answers it (the order, if it made one)
        return sale.closed

    def sending(self, room_id: str, sale_id: str, user_id: str, key: str) -> None:
        """A buy naming ``sale_id`` goes to Valkey now; ``answered`` must follow."""
        entry = (room_id, sale_id, user_id, key)
        self._in_flight[entry] = self._in_flight.get(entry, 0) + 1
        room = self._rooms.get(room_id)
        if room is not None:
            self._add_key(room, sale_id, user_id, key)

    def answered(self, room_id: str, sale_id: str, user_id: str, key: str) -> None:
        entry = (room_id, sale_id, user_id, key)
        n = self._in_flight.pop(entry, 0) - 1
        if n > 0:
            self._in_flight[entry] = n

    def _add_key(self, room: _Room, sale_id: str, user_id: str, key: str) -> None:
        sale = self._sale(room, sale_id)
        if sale is None:
            return
        if sale.lost:
            return
        if len(sale.keys) >= self.max_keys:  # no longer sure to know every key
            sale.watched, sale.lost = False, True
            sale.keys.clear()
            return
        sale.keys.add((user_id, key))

    # Red packets -------------------------------------------------------------------------

    def _packet_event(self, room_id: str, kind: str, data: dict[str, Any]) -> None:
        pid = data.get("packet_id")
        if not isinstance(pid, str):
            return
        if kind == "red_packet_grabbed":
            if data.get("left") == 0:
                self.packet_empty(pid, room_id)
        elif data.get("reason") == "expired":
            self.packet_expired(pid, room_id)
        elif data.get("shares_left") == 0:
            self.packet_empty(pid, room_id)

    def packet_empty(self, packet_id: str, room_id: str) -> None:
        """No share left in the packet (an event, a grab that took the last share, or a grab
        refused ``none_left``)."""
        self._packet(packet_id, room_id).empty = True

    def packet_expired(self, packet_id: str, room_id: str) -> None:
        """The packet expired (its event, or a grab refused ``expired``): so it stays."""
        p = self._packet(packet_id, room_id)
        if not p.expired:
            p.expired = True
            self.on_change()

    def claims_wanted(self, packet_id: str) -> bool:
        """The packet is empty but its claims are not known here yet."""
        p = self._packets.get(packet_id)
        return p is not None and p.empty and not p.expired and p.claims is None

    def note_claims(self, packet_id: str, claims: dict[str, int]) -> None:
        """The claims of an empty packet (final: no grab succeeds once it is empty)."""
        p = self._packets.get(packet_id)
        if p is None or not p.empty or p.claims is not None:
            return
        p.claims = dict(claims)
        self._claims_held += len(claims)
        while self._claims_held > self.max_claims and self._packets:
            self._drop_packet(next(iter(self._packets)))
        self.on_change()

    def packet_refusal(self, packet_id: str, user_id: str, *, now: int, condition: str,
                       expires_at: int) -> Refusal | None:
        """The grab script's refusal for this user, when it is known here; None: ask Valkey.
        The packet must be open (``open_at`` passed): only then can it be empty or expired."""
        p = self._packets.get(packet_id)
        if p is None:
            return None
        if p.expired:
            return Refusal("expired")
        if p.claims is None or condition != "anyone" or now >= expires_at:
            return None
        amount = p.claims.get(user_id)
        return Refusal("none_left") if amount is None else Refusal("already_grabbed", amount)

    def _packet(self, packet_id: str, room_id: str) -> _Packet:
        p = self._packets.get(packet_id)
        if p is None:
            p = self._packets[packet_id] = _Packet(room_id)
            while len(self._packets) > self.max_packets:
                self._drop_packet(next(iter(self._packets)))
        return p

    def _drop_packet(self, packet_id: str) -> None:
        p = self._packets.pop(packet_id, None)
        if p is not None and p.claims is not None:
            self._claims_held -= len(p.claims)
