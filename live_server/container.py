"""Everything a request handler may use, built once per process from settings and a client.

Listeners are handed to constructors, so the order below is the order of dependence: the
stores, then the services (fans first: red packets, chat and orders tell it what happened),
then the hub (told of room events by chat and red packets) and the node (told of hearts and
watching by fans), and the media service, which goes live through the room service.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from redis.exceptions import BusyLoadingError, RedisError
from redis.exceptions import ConnectionError as StoreConnectionError
from redis.exceptions import TimeoutError as StoreTimeoutError

from live_server.config import Settings
from live_server.media.relay import RelayStats
from live_server.media.service import MediaService, MediaStats
from live_server.media.thumbnail import Thumbnails
from live_server.metrics import Metrics
from live_server.realtime.gone import GoneRecord
from live_server.realtime.hub import Hub, HubStats
from live_server.realtime.node import Node
from live_server.realtime.notices import Notices
from live_server.services.addresses import AddressService
from live_server.services.after_commit import AfterCommit
from live_server.services.alerts import AlertsService, ProcessFigures
from live_server.services.auctions import AuctionClock, AuctionService
from live_server.services.charity import CharityService
from live_server.services.chat import ChatService
from live_server.services.cohost import CohostService
from live_server.services.coupons import CouponService
from live_server.services.draws import DrawClock, DrawService
from live_server.services.fans import FanService
from live_server.services.gifts import GiftService
from live_server.services.local_refusals import LocalRefusals
from live_server.services.moderation_log import ModerationLog
from live_server.services.moderation_undo import ModerationUndo
from live_server.services.ops import OpsService
from live_server.services.orders import OrderService
from live_server.services.periodic import ClockStats
from live_server.services.red_packets import PacketClock, RedPacketService
from live_server.services.reminders import ReminderService
from live_server.services.replays import ReplayService, ReplayStats, ReplaySweep
from live_server.services.room_series import INTERVAL_MS, POINTS, SeriesClock
from live_server.services.rooms import RoomService
from live_server.services.shelf import Scheduler, ShelfService
from live_server.services.show_report import ShowReportService
from live_server.services.suspensions import SuspensionService
from live_server.services.topups import TopupService
from live_server.services.transfers import TransferClock, Transfers
from live_server.services.viewing import ViewingService
from live_server.services.wallets import WalletService
from live_server.services.webhook_delivery import DeliveryStats, DeliveryWorker, lease_ms
from live_server.services.webhook_orders import OrderFeed
from live_server.services.webhooks import WebhookService
from live_server.store.addresses import AddressStore
from live_server.store.auctions import AuctionStore
from live_server.store.charity import CharityStore
from live_server.store.chat import ChatStore
from live_server.store.cohost import CohostStore
from live_server.store.core import Client, StoreCore, connect
from live_server.store.coupons import CouponStore
from live_server.store.draws import DrawStore
from live_server.store.fans import FanStore
from live_server.store.gifts import GiftStore
from live_server.store.keys import Keys
from live_server.store.media import MediaStore
from live_server.store.moderation_log import ModerationLogStore
from live_server.store.order_feed import OrderFeedStore
from live_server.store.orders import OrderStore
from live_server.store.presence import PresenceStore
from live_server.store.red_packets import RedPacketStore
from live_server.store.reminders import ReminderStore
from live_server.store.replays import ReplayStore
from live_server.store.room_series import RoomSeriesStore
from live_server.store.rooms import RoomStore
from live_server.store.shelf import ShelfStore
from live_server.store.show_report import ReportStore
from live_server.store.suspensions import SuspensionStore
from live_server.store.topups import TopupStore
from live_server.store.transfers import TransferStore
from live_server.store.wallets import WalletStore
from live_server.store.webhooks import WebhookStore

# What a failing or unreachable store raises, for the layers above that must not know the client
# library (the room socket turns these into close 1011 ``internal`` during a join).
STORE_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
# The store cannot be reached right now (down, restarting, still loading its data, too slow):
# the client should try again shortly (503 / close 1013 ``not_ready``), and it is no bug of
# ours, so it stays out of the ``internal`` count that alerts fire on. Other store errors (a
# script's error, a key of the wrong type) remain ``internal``.
STORE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    StoreConnectionError, StoreTimeoutError, BusyLoadingError, OSError, TimeoutError)


@dataclasses.dataclass
class Services:
    settings: Settings
    metrics: Metrics
    client: Client
    core: StoreCore
    room_store: RoomStore
    presence: PresenceStore
    hub: Hub
    node: Node
    rooms: RoomService
    chat: ChatService
    modlog: ModerationLog
    ops: OpsService
    suspensions: SuspensionService  # platform-wide bans, checked in memory on every command
    moderation_undo: ModerationUndo
    alerts: AlertsService
    shelf: ShelfService
    orders: OrderService
    scheduler: Scheduler
    wallets: WalletService
    fans: FanService
    red_packets: RedPacketService
    packet_clock: PacketClock
    transfers: Transfers  # money between wallet buckets: how each kind of transfer ends
    transfer_clock: TransferClock  # finishes the transfers a dead caller left pending
    auctions: AuctionService
    auction_clock: AuctionClock  # ends auctions, writes the winner's order once
    media: MediaService
    viewing: ViewingService
    local_refusals: LocalRefusals
    show_reports: ShowReportService
    coupons: CouponService
    addresses: AddressService
    webhooks: WebhookService
    webhook_worker: DeliveryWorker
    order_feed: OrderFeed
    room_series: SeriesClock  # the live rooms' load history (ops sparklines)
    thumbnails: Thumbnails  # live rooms' stream thumbnails (ops)
    gifts: GiftService  # virtual gifts: the catalogue, sends, the gift figures
    charity: CharityService  # charity shows: beneficiaries, terms, receipts
    topups: TopupService  # wallet top-ups through the payment provider
    reminders: ReminderService  # show reminders: subscribe, and the notices at the start
    draws: DrawService  # lucky draws: create, enter, the verifiable result
    draw_clock: DrawClock  # draws the draws whose entries have closed
    replays: ReplayService  # shows' replays: parts, chapters, who sees them, deletion
    replay_sweep: ReplaySweep  # replays' retention and disk budget
    cohost: CohostService  # co-hosting: invitations, guests, their publishing tokens
    # bound once, handed to every session (no per-connection closures)
    count_error: Callable[[str], None] = dataclasses.field(init=False)
    count_request: Callable[[str], None] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.count_error = self.metrics.count_error
        self.count_request = self.metrics.count_request

    @classmethod
    def build(cls, settings: Settings, metrics: Metrics, info: dict[str, Any]) -> Services:
        client = connect(settings.store.url, settings.store.pool_size, settings.store.cluster)
        keys = Keys(settings.store.key_prefix, settings.money.wallet_buckets)
        core = StoreCore(client, keys, metrics.valkey, ack_replicas=settings.store.ack_replicas,
                         ack_timeout_ms=settings.store.ack_timeout_ms,
                         on_short_ack=metrics.unacknowledged_write)
        history_max = settings.history.max_events
        recent_max = settings.money.recent_entries
        room_store = RoomStore(core, history_max=history_max,
                               process_ttl_ms=settings.server.process_ttl_ms)
        chat_store = ChatStore(core, history_max=history_max,
                               log_max=settings.ops.log_max_entries)
        presence = PresenceStore(core, process_ttl_ms=settings.server.process_ttl_ms)
        shelf_store = ShelfStore(core, history_max=history_max,
                                 order_stream_max=settings.shelf.order_stream_max)
        order_store = OrderStore(core, history_max=history_max,
                                 order_stream_max=settings.shelf.order_stream_max)
        media_store = MediaStore(core, history_max=history_max,
                                 home_ttl_ms=settings.media.home_ttl_ms)

        transfers = Transfers(TransferStore(core, recent_max=recent_max))
        modlog = ModerationLog(ModerationLogStore(core, log_max=settings.ops.log_max_entries))
        after = AfterCommit(lambda step: metrics.after_commit_failures.labels(step).inc())
        show_reports = ShowReportService(settings, room_store, ReportStore(core), after)
        wh = settings.webhooks
        webhook_store = WebhookStore(core, lease_ms=lease_ms(settings), log_max=wh.log_max,
                                     keep_max=wh.keep_max)
        webhooks = WebhookService(settings, webhook_store, after)
        reminder_store = ReminderStore(core)
        reminders = ReminderService(room_store, reminder_store, webhooks, after)
        rooms = RoomService(settings, room_store, modlog, ended=(show_reports,),
                            webhooks=webhooks, started=(reminders,), reminders=reminders)
        fans = FanService(settings, room_store, FanStore(core, recent_max=recent_max), after,
                          transfers)
        # buys naming a sale and grabs take turns for half the pool: the losers of a rush
        # are refused from what the hub heard is gone, never queued in the pool
        local_refusals = LocalRefusals(GoneRecord(), permits=settings.store.pool_size // 2,
                                       count=metrics.local_refused)
        red_packets = RedPacketService(settings, room_store, RedPacketStore(
            core, history_max=history_max, recent_max=recent_max), fans, after,
            refusals=local_refusals,
            webhooks=webhooks)
        draws = DrawService(settings, room_store, DrawStore(
            core, history_max=history_max, recent_max=recent_max), fans, order_store, transfers)
        chat = ChatService(settings, room_store, chat_store, modlog, badges=fans,
                           listeners=(red_packets, fans, draws), after=after, webhooks=webhooks)
        auctions = AuctionService(settings, room_store, AuctionStore(
            core, history_max=history_max, order_stream_max=settings.shelf.order_stream_max))
        orders = OrderService(settings, room_store, order_store, listeners=(fans, auctions),
                              after=after)
        gifts = GiftService(settings, room_store, GiftStore.of(core, settings), fans, after,
                            transfers)

        hub = Hub(max_out_buffer=settings.ws.max_out_buffer_bytes,
                  slow_close_grace_ms=settings.ws.slow_close_grace_ms,
                  join_names=settings.realtime.join_names_per_tick,
                  max_batch_events=settings.realtime.max_batch_events,
                  counters_interval_ms=settings.realtime.counters_interval_ms,
                  max_notice_writes_per_s=settings.realtime.max_notice_writes_per_s,
                  stats=HubStats(frames=metrics.frames, slow_consumer=metrics.slow_consumer,
                                 received=metrics.received, sampled_out=metrics.sampled_out),
                  listeners=(chat, red_packets, draws), gone=local_refusals.gone,
                  chat_sample_above=settings.chat.sample_above_viewers,
                  chat_sample_per_s=settings.chat.sample_per_second)
        node = Node(hub=hub, broker_client=client, rooms=room_store, presence=presence,
                    audience=fans, tick_ms=settings.realtime.tick_ms,
                    heartbeat_ms=settings.server.process_heartbeat_ms,
                    ping_s=settings.ws.heartbeat_s, info=info,
                    figures=ProcessFigures(metrics, client.ping, settings.alerts.window_ms),
                    notices=Notices(hub, reminder_store, reminder_store.channel),
                    after_failed=after.on_failure)
        cohost = CohostService(settings, room_store, CohostStore(core), media_store)
        media = MediaService(settings, room_store, rooms, media_store, MediaStats(
            relay=RelayStats(forwarded=metrics.media_forwarded.inc,
                             dropped=metrics.media_dropped.inc,
                             keyframe_requests=metrics.media_keyframe_requests.inc,
                             forwarded_bytes=metrics.media_forwarded_bytes.inc,
                             layer_switches=lambda cause: metrics.media_layer_switches.labels(
                                 cause).inc()),
            publishers=metrics.media_publishers.set, viewers=metrics.media_viewers.set),
            cohost=cohost)
        suspensions = SuspensionService(SuspensionStore(core), modlog, hub)
        shelf = ShelfService(settings, room_store, shelf_store, modlog, after)
        clocks = ClockStats(failed=metrics.scheduler_failed, parked=metrics.set_scheduler_parked)
        series = RoomSeriesStore(core, interval_ms=INTERVAL_MS, points=POINTS)
        replays = ReplayService(settings, room_store, ReplayStore(core), modlog, ReplayStats(
            bytes_kept=metrics.replay_bytes.set,
            deleted=lambda why: metrics.replays_deleted.labels(why).inc()))
        thumbnails = Thumbnails(media, room_store, settings.hls)
        return cls(settings=settings, metrics=metrics, client=client, core=core,
                   room_store=room_store, presence=presence, hub=hub, node=node, rooms=rooms,
                   chat=chat, modlog=modlog, suspensions=suspensions,
                   moderation_undo=ModerationUndo(modlog, chat, suspensions, shelf),
                   alerts=AlertsService(settings.alerts, presence),
                   ops=OpsService(room_store, presence, chat_store, modlog, media_store,
                                  order_store, series=series, gifts=gifts.store,
                                  has_picture=thumbnails.has_picture),
                   shelf=shelf,
                   orders=orders,
                   scheduler=Scheduler(shelf_store, order_store,
                                       settings.shelf.scheduler_interval_ms, stats=clocks),
                   wallets=WalletService(settings, WalletStore(core, recent_max=recent_max)),
                   fans=fans, red_packets=red_packets, show_reports=show_reports,
                   packet_clock=PacketClock(red_packets, settings.money.scheduler_interval_ms,
                                            stats=clocks, fleet=presence.process_count),
                   transfers=transfers, transfer_clock=TransferClock(transfers, stats=clocks),
                   auctions=auctions,
                   auction_clock=AuctionClock(auctions, settings.auctions.scheduler_interval_ms,
                                              stats=clocks),
                   media=media, viewing=ViewingService(settings, node, room_store, presence),
                   local_refusals=local_refusals,
                   coupons=CouponService(settings, room_store,
                                         CouponStore(core, history_max=history_max),
                                         webhooks=webhooks),
                   addresses=AddressService(AddressStore(core)),
                   webhooks=webhooks,
                   webhook_worker=DeliveryWorker(settings, webhooks, webhook_store, stats=(
                       DeliveryStats(attempt=metrics.webhook_attempt,
                                     queued=metrics.webhook_queued.set,
                                     disabled=metrics.webhook_disabled.inc)), clock_stats=clocks),
                   order_feed=OrderFeed(settings, webhooks, OrderFeedStore(core), room_store,
                                        stats=clocks),
                   room_series=SeriesClock(series, room_store, order_store, stats=clocks),
                   thumbnails=thumbnails,
                   gifts=gifts, charity=CharityService(settings, room_store,
                                                       CharityStore(core)),
                   topups=TopupService(settings, TopupStore(
                       core, recent_max=recent_max)),
                   reminders=reminders, draws=draws,
                   draw_clock=DrawClock(draws, settings.draws.scheduler_interval_ms,
                                        stats=clocks),
                   replays=replays,
                   replay_sweep=ReplaySweep(replays, settings.replays.sweep_interval_ms),
                   cohost=cohost)

    async def ping_store(self) -> None:
        """Readiness: raises unless Valkey answers."""
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()
