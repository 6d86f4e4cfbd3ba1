"""Key names. Every key of one room shares the hash tag ``{room_id}`` so that a room's scripts
and pipelines stay on one cluster slot; user-wide keys use ``u:{user_id}``."""

from __future__ import annotations

import dataclasses
import zlib


@dataclasses.dataclass(frozen=True, slots=True)
class RoomKeys:
    meta: str
    seq: str
    events: str
    channel: str
    stats: str
    online: str
    online_seen: str
    unique: str
    fans: str
    names: str
    mutes: str
    bans: str
    keywords: str
    deleted: str

    @property
    def ticks(self) -> str:
        """process id → the last counter report (tick id) applied: reports count once."""
        return f"{self.meta[:-5]}:ticks"

    def rate(self, user_id: str) -> str:
        return f"{self.meta[:-5]}:rl:{user_id}"

    def slow(self, user_id: str) -> str:
        return f"{self.meta[:-5]}:slow:{user_id}"

    def chat_minute(self, minute: int) -> str:
        return f"{self.meta[:-5]}:cpm:{minute}"


@dataclasses.dataclass(frozen=True, slots=True)
class ShelfKeys:
    """A room's shelf, sales and orders: all under the room's hash tag, so a purchase (stock,
    per-buyer counts, idempotency record, order, order stream) is one script on one slot."""

    shelf: str      # list: product ids in shelf order
    products: str   # hash: product id → the room's copy of the product (JSON); bp:<id> → rate
    pinned: str     # string: the product being explained
    sales: str      # hash: product id → sale JSON (without the stock left)
    left: str       # hash: product id → units left in its sale; n:<id> → purchases counted
    bought: str     # hash: "<product id>:<user>" → units reserved or paid
    idem: str       # hash: "<user>:<idempotency key>" → order id
    orders: str     # hash: order id → order JSON
    order_list: str  # zset: order id by creation time
    order_stream: str  # stream: every order event (consumer groups welcome)
    # hash: gmv, refunded, commission, paid_orders, refunded_orders. Its Valkey name stays
    # ``{room}:money`` (the name it had before "money" came to mean wallets): renaming a key
    # would hide every existing room's totals.
    earnings: str
    ledger: str     # stream: commission credits and reversals


@dataclasses.dataclass(frozen=True, slots=True)
class CouponKeys:
    """A room's coupons: under the room's hash tag, so a claim (quota, per-user count) and a
    purchase that uses a copy are each one script on the room's slot."""

    coupons: str    # hash: coupon id → coupon JSON (with its claimed and used counts)
    claims: str     # hash: "<coupon id>:<user>" → copies the user claimed
    uses: str       # hash: "<coupon id>:<user>" → copies the user used
    pinned: str     # string: the pinned coupon id


@dataclasses.dataclass(frozen=True, slots=True)
class ReportKeys:
    """What a show's report is built from that nothing else keeps, and the frozen report: under
    the room's hash tag (domain/show_report.py says what each figure means)."""

    minutes: str       # hash: o:<minute> → sum of online samples, n:<minute> → their count
    card_views: str    # hash: product id → product cards answered
    card_viewers: str  # HyperLogLog: logged-in users who opened any card
    report: str        # string: the report frozen when the room ended (JSON)

    def card_viewers_of(self, product_id: str) -> str:
        """HyperLogLog: logged-in users who opened this product's card."""
        return f"{self.card_viewers}:{product_id}"


class WalletKeys:
    """One wallet bucket: a slot of its own (``{wallets}`` for bucket 0, ``{wallets:<k>}`` for
    the others) with its users' balances, its own ledger stream and recent lists, its share of
    the platform's account, and the transfers into and out of it (docs/ARCHITECTURE.md,
    "Money"). Everything one payment script touches is on one bucket; money between two buckets
    moves as a transfer (``store/transfers.py``)."""

    __slots__ = ("base", "index")

    def __init__(self, prefix: str, index: int) -> None:
        self.index = index
        tag = "wallets" if index == 0 else f"wallets:{index}"
        self.base = f"{prefix}:{{{tag}}}"

    def key(self, name: str) -> str:
        """Any other key on this bucket's slot."""
        return f"{self.base}:{name}"

    @property
    def balances(self) -> str:
        """hash: user id → wallet balance in cents (this bucket's users)."""
        return f"{self.base}:bal"

    @property
    def ledger(self) -> str:
        """stream: every money movement on this bucket (append-only, never trimmed)."""
        return f"{self.base}:ledger"

    def recent(self, user_id: str) -> str:
        """list: a user's latest ledger entries (JSON), newest first."""
        return f"{self.base}:recent:{user_id}"

    @property
    def platform(self) -> str:
        """hash: platform account → cents, this bucket's share (summed on read)."""
        return f"{self.base}:platform"

    def packet_credits(self, packet_id: str) -> str:
        """hash: a packet's transfers credited to this bucket's users (``<user>`` or
        ``~refund`` → cents): a credit step run twice moves the money once."""
        return f"{self.base}:rpcred:{packet_id}"

    @property
    def transfers_out(self) -> str:
        """hash: transfer id → its record (JSON) while it is debited here and not yet
        received on the other bucket."""
        return f"{self.base}:xfer:out"

    @property
    def transfers_due(self) -> str:
        """zset: transfer id → when the reconciler looks at it (a leased schedule)."""
        return f"{self.base}:xfer:due"

    @property
    def transfers_in(self) -> str:
        """hash: transfer id → the receiving step's first answer (``ok|…`` or ``refused|…``):
        a receiving step run twice moves the money once; kept, like the ledger."""
        return f"{self.base}:xfer:in"


def bucket_index(user_id: str, buckets: int) -> int:
    """The wallet bucket of a user: a stable hash of the id (CRC-32, the same in every process
    and release), so ``money.wallet_buckets`` is fixed once money exists."""
    if buckets <= 1:
        return 0
    return zlib.crc32(user_id.encode()) % buckets


class Keys:
    """Names for one deployment; ``prefix`` lets several deployments (or tests) share a server."""

    def __init__(self, prefix: str, wallet_buckets: int = 1) -> None:
        self.prefix = prefix
        self.buckets = [WalletKeys(prefix, i) for i in range(max(1, wallet_buckets))]
        self.live_rooms = f"{prefix}:rooms:live"
        self.all_rooms = f"{prefix}:rooms:all"
        self.processes = f"{prefix}:procs"
        self.reports = f"{prefix}:reports"
        self.report_outcomes = f"{prefix}:reports:outcomes"  # hash: report id → how handled
        self.modlog = f"{prefix}:modlog"
        self.channel_prefix = f"{prefix}:{{"
        self.product_owner = f"{prefix}:prodowner"  # hash: product id → creator id
        self.sales_due = f"{prefix}:sales:due"      # zset: "room|product|sale" → next transition
        self.orders_due = f"{prefix}:orders:due"    # zset: order id → reservation expiry

    def wallet(self, user_id: str) -> WalletKeys:
        """The bucket holding this user's wallet (and, for a creator, the money of their rooms:
        gifts' figures, red packets' launches, cash draws, charity)."""
        return self.buckets[bucket_index(user_id, len(self.buckets))]

    # Money: wallets are in buckets (``wallet``, ``buckets``, ``WalletKeys`` above); a red
    # packet's escrow lives on its own slot (``{rp:<id>}``) and money moves between the two in
    # idempotent steps (docs/ARCHITECTURE.md, "Transfers between slots").

    def packet(self, packet_id: str) -> str:
        """hash: json, state, left_n, left_amt, refunded, best_*, reason, finished_at; on the
        packet's own slot with its shares, claims, record, eligible set and ``:out`` (the
        transfers out of the escrow not yet credited: ``<user>`` or ``~refund`` → cents|ms)."""
        return f"{self.prefix}:{{rp:{packet_id}}}"

    def followers(self, creator_id: str) -> str:
        """set: the users who follow this creator."""
        return f"{self.prefix}:u:{{{creator_id}}}:followers"

    def intimacy(self, creator_id: str) -> str:
        """zset: user → intimacy points toward this creator."""
        return f"{self.prefix}:u:{{{creator_id}}}:intimacy"

    def intimacy_day(self, creator_id: str, day: int) -> str:
        """hash: user → points earned on this day, user|source → per source (the daily caps;
        expires after two days)."""
        return f"{self.prefix}:u:{{{creator_id}}}:intimacy:{day}"

    def room(self, room_id: str) -> RoomKeys:
        base = f"{self.prefix}:{{{room_id}}}"
        return RoomKeys(
            meta=f"{base}:meta", seq=f"{base}:seq", events=f"{base}:events", channel=f"{base}:ch",
            stats=f"{base}:stats", online=f"{base}:online", online_seen=f"{base}:onseen",
            unique=f"{base}:uv", fans=f"{base}:fans", names=f"{base}:names",
            mutes=f"{base}:mutes", bans=f"{base}:bans", keywords=f"{base}:kw",
            deleted=f"{base}:deleted",
        )

    def shelf(self, room_id: str) -> ShelfKeys:
        base = f"{self.prefix}:{{{room_id}}}"
        return ShelfKeys(
            shelf=f"{base}:shelf", products=f"{base}:prod", pinned=f"{base}:pin",
            sales=f"{base}:sales", left=f"{base}:left", bought=f"{base}:bought",
            idem=f"{base}:idem", orders=f"{base}:orders", order_list=f"{base}:olist",
            order_stream=f"{base}:ostream", earnings=f"{base}:money", ledger=f"{base}:ledger",
        )

    def coupons(self, room_id: str) -> CouponKeys:
        base = f"{self.prefix}:{{{room_id}}}"
        return CouponKeys(coupons=f"{base}:coupons", claims=f"{base}:cclaim",
                          uses=f"{base}:cuse", pinned=f"{base}:cpin")

    def address(self, user_id: str) -> str:
        """string: the user's shipping address (JSON); only they, and an order's creator and
        ops through the order, ever read it."""
        return f"{self.prefix}:u:{{{user_id}}}:address"

    def media_home(self, room_id: str) -> str:
        """string: "<process id>|<url>|<kind>=<codec>,..." of the process holding the room's
        WebRTC publisher (expires unless that process refreshes it)."""
        return f"{self.prefix}:{{{room_id}}}:media_home"

    def replay(self, room_id: str) -> str:
        """hash: creator, state (recording|ready|deleted), parts (count), part:<n> → part JSON
        (started_ms, ended_ms), open:<n> → until when the recording process vouches for that
        part (ms), deleted_at, deleted_by."""
        return f"{self.prefix}:{{{room_id}}}:replay"

    def replay_pins(self, room_id: str) -> str:
        """list: the pin changes seen while recording (JSON at_ms, product_id, title)."""
        return f"{self.prefix}:{{{room_id}}}:replay:pins"

    @property
    def replays(self) -> str:
        """zset: room id → when its replay's latest part ended (ms; 0 while recording)."""
        return f"{self.prefix}:replays"

    def creator_replays(self, creator_id: str) -> str:
        """zset: a creator's rooms with a replay, by when recording began (ms)."""
        return f"{self.prefix}:u:{{{creator_id}}}:replays"

    def catalogue(self, creator_id: str) -> str:
        """hash: product id → product JSON, per creator."""
        return f"{self.prefix}:u:{{{creator_id}}}:products"

    # Stock (store/stock.py): the catalogue's units live with the catalogue, under the
    # creator's tag; a room holds an allotment drawn from it by transfers (docs/ARCHITECTURE.md).

    def stock(self, creator_id: str) -> str:
        """hash: "<product>:<variant>" → units available in the warehouse; "out:<product>:
        <variant>" → units drawn into rooms (allotments, sales, orders) not given back."""
        return f"{self.prefix}:u:{{{creator_id}}}:stock"

    def allotment(self, room_id: str) -> str:
        """hash: "<product>:<variant>" → units the room holds for ordinary buying;
        "cat:<product>:<variant>" → the catalogue's units as of the last transfer (a hint)."""
        return f"{self.prefix}:{{{room_id}}}:alloc"

    def transfers_out(self, holder: str) -> str:
        """hash: transfer id → the pending transfer (JSON) whose source is this slot's stock;
        ``holder`` is ``u|<creator>`` (a catalogue) or ``r|<room>`` (a room)."""
        return f"{self._holder(holder)}:xout"

    def transfers_in(self, holder: str) -> str:
        """zset: transfer id → when it was credited here (each is credited once; kept a day)."""
        return f"{self._holder(holder)}:xin"

    def _holder(self, holder: str) -> str:
        kind, name = holder.split("|", 1)
        return f"{self.prefix}:u:{{{name}}}" if kind == "u" else f"{self.prefix}:{{{name}}}"

    @property
    def transfers_due(self) -> str:
        """zset: holder ("u|<creator>" or "r|<room>") with pending transfers → when the
        reconciler looks at it (a due schedule)."""
        return f"{self.prefix}:xfer:due"

    @property
    def allotment_rooms(self) -> str:
        """zset: room id holding an allotment → when to check whether it ended (a due
        schedule: an ended room's allotment goes back to the catalogue)."""
        return f"{self.prefix}:alloc:due"

    def buyer_orders(self, user_id: str) -> str:
        """zset: a buyer's order ids by creation time (a pointer index)."""
        return f"{self.prefix}:u:{{{user_id}}}:orders"

    def room_from_channel(self, channel: str) -> str:
        """``ls:{r1}:ch`` → ``r1``."""
        return channel[len(self.channel_prefix):-4]

    def user_rooms(self, user_id: str) -> str:
        return f"{self.prefix}:u:{{{user_id}}}:rooms"

    def reminders(self, room_id: str) -> str:
        """set: user ids who asked to be reminded when this scheduled room goes live."""
        return f"{self.prefix}:{{{room_id}}}:reminders"

    def reminded(self, room_id: str) -> str:
        """string: how many subscribers the room had when it went live (the show report)."""
        return f"{self.prefix}:{{{room_id}}}:reminded"

    def user_reminders(self, user_id: str) -> str:
        """zset: room id → when the user asked to be reminded of it (GET /api/me/reminders)."""
        return f"{self.prefix}:u:{{{user_id}}}:reminders"

    @property
    def notices(self) -> str:
        """pub/sub channel (not a key): one message per show start; every process sends the
        ``show_starting`` notice to its own sockets of the room's subscribers."""
        return f"{self.prefix}:notices"

    def follow_times(self, creator_id: str) -> str:
        """zset: follower → when they first followed this creator (ms; kept on unfollow, so a
        show counts only new followers)."""
        return f"{self.prefix}:u:{{{creator_id}}}:followed"

    def report(self, room_id: str) -> ReportKeys:
        base = f"{self.prefix}:{{{room_id}}}"
        return ReportKeys(minutes=f"{base}:minutes", card_views=f"{base}:cviews",
                          card_viewers=f"{base}:cvu", report=f"{base}:report")
