"""Order events for webhooks, from the rooms' order streams (the durable source).

Every ``webhooks.follow_interval_ms`` each process reads the order streams of live and
recently ended rooms through the ``webhooks`` consumer group (``store/order_feed.py``), queues
one delivery per matching endpoint (the message id is the stream entry's, so reading an entry
twice queues it once) and acknowledges the entries. Entries a process read but never
acknowledged (it died between the read and the acknowledgement) are taken over by any process
after ``webhooks.claim_idle_ms``. So an order committed by a process that dies at once is still
delivered. While no enabled endpoint takes order events, the feed only keeps the list of rooms
to follow up to date."""

from __future__ import annotations

import logging
import secrets

import orjson
from redis.exceptions import ResponseError

from live_server.config import Settings
from live_server.domain.webhooks import ORDER_EVENTS, order_message_id
from live_server.services.periodic import ClockStats, Periodic
from live_server.services.webhooks import StreamEvent, WebhookService
from live_server.store.order_feed import Entry, OrderFeedStore
from live_server.store.rooms import RoomStore

log = logging.getLogger(__name__)

ORDER_KINDS = frozenset(ORDER_EVENTS.values())
READ_COUNT = 500  # entries per stream per read
IDLE_FOLLOW_MS = 5_000  # while nobody takes order events, the rooms list is kept this often


class OrderFeed(Periodic):
    name = "webhook-orders"

    def __init__(self, settings: Settings, service: WebhookService, feed: OrderFeedStore,
                 rooms: RoomStore, *, stats: ClockStats | None = None) -> None:
        self.cfg = settings.webhooks
        self.service = service
        self.feed = feed
        self.rooms = rooms
        self.consumer = "c-" + secrets.token_hex(6)  # this process, in every room's group
        self._creators: dict[str, str] = {}
        self._followed_at = 0
        self._taken_over_at = 0
        super().__init__(self.cfg.follow_interval_ms, stats=stats)

    async def run_once(self, now: int) -> int:
        since = await self.service.wants(ORDER_KINDS)
        if since is None:
            if now - self._followed_at >= IDLE_FOLLOW_MS:
                await self.feed.rooms(now, self.cfg.follow_ended_ms)
                self._followed_at = now
            return 0
        room_ids = await self.feed.rooms(now, self.cfg.follow_ended_ms)
        self._followed_at = now
        if not room_ids:
            return 0
        await self.feed.ensure_groups(room_ids, max(0, since - 1))
        try:
            entries = await self.feed.read_new(room_ids, self.consumer, READ_COUNT)
        except ResponseError:  # a group or stream went missing: make them again next pass
            self.feed.forget_groups()
            raise
        if now - self._taken_over_at >= self.cfg.claim_idle_ms // 2:
            self._taken_over_at = now
            found, gone = await self.feed.take_over(room_ids, self.consumer,
                                                    self.cfg.claim_idle_ms, READ_COUNT)
            entries.extend(found)
            await self.feed.ack(gone)
        if entries:
            await self.handle(entries)
        return len(entries)

    async def handle(self, entries: list[Entry]) -> None:
        """Queue the deliveries of ``entries``, then acknowledge them. A failure leaves them
        pending, to be taken over after ``webhooks.claim_idle_ms``."""
        events: list[StreamEvent] = []
        for room_id, entry_id, fields in entries:
            kind = ORDER_EVENTS.get(fields.get("type", b"").decode())
            if kind is None or "order" not in fields:
                continue
            creator_id = await self._creator(room_id)
            if creator_id is None:
                continue
            at = int(entry_id.split("-", 1)[0])
            events.append((order_message_id(room_id, entry_id), kind, at, room_id, creator_id,
                           {"order": orjson.loads(fields["order"])}))
        await self.service.enqueue_stream_events(events)
        await self.feed.ack([(room_id, entry_id) for room_id, entry_id, _ in entries])

    async def _creator(self, room_id: str) -> str | None:
        found = self._creators.get(room_id)
        if found is None:
            room = await self.rooms.get(room_id)
            if room is None:
                return None
            if len(self._creators) >= 10_000:
                self._creators.clear()
            found = self._creators[room_id] = room.creator_id
        return found
