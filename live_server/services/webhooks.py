"""Outgoing webhooks: endpoints (a creator's, for their rooms; ops', for every room) and the
events handed to them.

An event becomes one queued delivery per matching endpoint (``store/webhooks.py``); HTTP
happens only in the delivery worker (``services/webhook_delivery.py``), so a receiver that is
down or slow never slows the action that caused the event. Order events come from the rooms'
order streams (``services/webhook_orders.py``: durable, even if this process dies after the
commit); the others are queued here right after their commit, through the after-commit guard
(a failed enqueue is counted as ``live_after_commit_failures_total{step="webhook"}``, never
answered as an error). That leaves one gap: a process that dies between such a commit and its
enqueue (one Valkey round trip) loses that one event."""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.parse
from typing import Protocol

from live_server.auth import Identity, require_creator
from live_server.config import Settings
from live_server.domain.webhooks import (
    PLATFORM,
    TEST_EVENT,
    address_allowed,
    check_events,
    check_url,
    endpoint_view,
    message_body,
    new_message_id,
    new_secret,
    new_webhook_id,
)
from live_server.errors import Forbidden, InvalidState, LimitReached, NotFound, UrlNotAllowed
from live_server.protocol import Json, now_ms
from live_server.services.after_commit import AfterCommit
from live_server.store.webhooks import WebhookStore

ROTATION_GRACE_MS = 24 * 3600 * 1000  # the previous secret still signs this long after rotate
RESOLVE_TIMEOUT_S = 3.0
Endpoint = tuple[Json, Json]  # fields (with the secret), state
# message id, type, when it happened (ms), room, the room's creator, data
StreamEvent = tuple[str, str, int, str, str, Json]


class WebhookEmitter(Protocol):
    """What a service that commits an event's cause calls right after the commit."""

    async def emit(self, kind: str, room_id: str, creator_id: str, data: Json) -> None: ...


def _owner(who: Identity) -> str:
    """The owner of the endpoints ``who`` manages: ops manage the platform's."""
    if who.is_ops:
        return PLATFORM
    return require_creator(who)


def delivery(msg_id: str, kind: str, body: str, now: int) -> Json:
    return {"id": msg_id, "type": kind, "body": body, "created_at": now, "attempts": 0,
            "base": 0, "state": "pending", "next_at": now, "last": None}


class WebhookService:
    def __init__(self, settings: Settings, store: WebhookStore,
                 after: AfterCommit | None = None) -> None:
        self.cfg = settings.webhooks
        self.store = store
        self.after = after or AfterCommit()
        self._cache: list[Endpoint] = []
        self._cache_at = -1e18
        self._generation = 0  # bumped by each change, so a read begun before it is not kept

    # the endpoint list, shared by emit, the order feed and the worker ---------------------

    async def endpoints(self) -> list[Endpoint]:
        """Every endpoint, read again after ``webhooks.cache_ms`` (and at once after a change
        made through this process)."""
        if time.monotonic() - self._cache_at >= self.cfg.cache_ms / 1000:
            generation, read_at = self._generation, time.monotonic()
            found = await self.store.all()
            if generation != self._generation:
                return found  # a change landed while reading: used once, not kept
            self._cache, self._cache_at = found, read_at
        return self._cache

    def changed(self) -> None:
        """Read the endpoint list again at the next use, and drop any read begun before."""
        self._cache_at = -1e18
        self._generation += 1

    def matching(self, endpoints: list[Endpoint], kind: str, creator_id: str,
                 at: int | None = None) -> list[Json]:
        """Enabled endpoints of the room's creator or the platform subscribed to ``kind``
        (and, for an event from a stream, registered by the time it happened)."""
        return [ep for ep, state in endpoints
                if state["enabled"] and kind in ep["events"]
                and ep["owner"] in (creator_id, PLATFORM)
                and (at is None or ep["created_at"] <= at)]

    # emitting -----------------------------------------------------------------------------

    async def emit(self, kind: str, room_id: str, creator_id: str, data: Json) -> None:
        """Queue ``kind`` for every endpoint that wants it; never raises (after-commit)."""
        await self.after.run("webhook", self._emit(kind, room_id, creator_id, data))

    async def _emit(self, kind: str, room_id: str, creator_id: str, data: Json) -> None:
        targets = self.matching(await self.endpoints(), kind, creator_id)
        if not targets:
            return
        now = now_ms()
        msg_id = new_message_id()
        body = message_body(kind, now, {"room_id": room_id, "creator_id": creator_id, **data})
        await self.store.enqueue([(ep["id"], msg_id, delivery(msg_id, kind, body, now))
                                  for ep in targets], now)

    async def wants(self, kinds: frozenset[str]) -> int | None:
        """When the oldest enabled endpoint taking one of ``kinds`` was made, or None if none
        does (the order feed idles then)."""
        found = [ep["created_at"] for ep, state in await self.endpoints()
                 if state["enabled"] and kinds.intersection(ep["events"])]
        return min(found) if found else None

    async def enqueue_stream_events(self, events: list[StreamEvent]) -> int:
        """Events read from a durable stream: each queued once per matching endpoint however
        often it is read (its message id comes from the stream entry); one round trip."""
        endpoints = await self.endpoints()
        now = now_ms()
        items: list[tuple[str, str, Json]] = []
        for msg_id, kind, at, room_id, creator_id, data in events:
            targets = self.matching(endpoints, kind, creator_id, at)
            if targets:
                body = message_body(kind, at, {"room_id": room_id, "creator_id": creator_id,
                                               **data})
                items.extend((ep["id"], msg_id, delivery(msg_id, kind, body, now))
                             for ep in targets)
        return await self.store.enqueue(items, now)

    # the commands -------------------------------------------------------------------------

    async def _owned(self, who: Identity, webhook_id: str) -> Endpoint:
        owner = _owner(who)
        found = await self.store.get(webhook_id)
        if found is None:
            raise NotFound("no such webhook")
        if not who.is_ops and found[0]["owner"] != owner:
            raise Forbidden("not your webhook")
        return found

    async def _check_url(self, url: str) -> str:
        """The URL rule, and for a name, what it resolves to now (the worker checks again at
        each connection)."""
        url = check_url(url, self.cfg.allow_private)
        if self.cfg.allow_private:
            return url
        host = urllib.parse.urlsplit(url).hostname or ""
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S)
        except (OSError, TimeoutError):
            return url  # not resolvable now: each attempt is checked when it connects
        if any(not address_allowed(str(info[4][0]), False) for info in infos):
            raise UrlNotAllowed("the URL's host resolves to a private or reserved address")
        return url

    async def create(self, who: Identity, args: Json) -> Json:
        owner = _owner(who)
        url = await self._check_url(args["url"])
        events = check_events(args["events"])
        mine = [ep for ep, _ in await self.store.all() if ep["owner"] == owner]
        if len(mine) >= self.cfg.max_per_owner:
            raise LimitReached(f"at most {self.cfg.max_per_owner} webhooks")
        now = now_ms()
        endpoint: Json = {
            "id": new_webhook_id(), "owner": owner,
            "scope": "platform" if owner == PLATFORM else "creator", "url": url,
            "events": events, "description": args.get("description", ""),
            "created_at": now, "updated_at": now, "created_by": who.user_id,
            "secret": new_secret(), "previous_secret": "", "previous_until": 0}
        enabled = bool(args.get("enabled", True))
        await self.store.create(endpoint, enabled)
        self.changed()
        found = await self.store.get(endpoint["id"])
        assert found is not None
        return {**endpoint_view(*found), "secret": endpoint["secret"]}

    async def listing(self, who: Identity) -> list[Json]:
        owner = _owner(who)
        mine = [(ep, state) for ep, state in await self.store.all() if ep["owner"] == owner]
        depths = await self.store.depths([ep["id"] for ep, _ in mine])
        return [{**endpoint_view(ep, state), "queued": depths[ep["id"]]} for ep, state in mine]

    async def get(self, who: Identity, webhook_id: str, limit: int) -> Json:
        ep, state = await self._owned(who, webhook_id)
        depth = (await self.store.depths([webhook_id]))[webhook_id]
        return {**endpoint_view(ep, state), "queued": depth,
                "deliveries": await self.store.log(webhook_id, limit)}

    async def update(self, who: Identity, webhook_id: str, changes: Json) -> Json:
        ep, _state = await self._owned(who, webhook_id)
        if "url" in changes:
            ep["url"] = await self._check_url(changes["url"])
        if "events" in changes:
            ep["events"] = check_events(changes["events"])
        if "description" in changes:
            ep["description"] = changes["description"]
        ep["updated_at"] = now_ms()
        await self.store.put(ep)
        if "enabled" in changes:
            await self.store.set_enabled(webhook_id, bool(changes["enabled"]))
        self.changed()
        found = await self.store.get(webhook_id)
        if found is None:
            raise NotFound("no such webhook")
        return endpoint_view(*found)

    async def rotate(self, who: Identity, webhook_id: str) -> Json:
        """A new secret, shown once; the old one still signs (a second signature) for
        ``ROTATION_GRACE_MS`` so receivers can switch without losing messages."""
        ep, _state = await self._owned(who, webhook_id)
        now = now_ms()
        ep["previous_secret"], ep["previous_until"] = ep["secret"], now + ROTATION_GRACE_MS
        ep["secret"], ep["updated_at"] = new_secret(), now
        await self.store.put(ep)
        self.changed()
        return {"id": webhook_id, "secret": ep["secret"], "previous_until": now + ROTATION_GRACE_MS}

    async def delete(self, who: Identity, webhook_id: str) -> None:
        await self._owned(who, webhook_id)
        await self.store.delete(webhook_id)
        self.changed()

    async def send_test(self, who: Identity, webhook_id: str) -> Json:
        ep, state = await self._owned(who, webhook_id)
        if not state["enabled"]:
            raise InvalidState("the webhook is disabled", state="disabled")
        now = now_ms()
        msg_id = new_message_id()
        body = message_body(TEST_EVENT, now, {"webhook_id": webhook_id,
                                              "message": "a test event from the studio"})
        await self.store.enqueue([(webhook_id, msg_id, delivery(msg_id, TEST_EVENT, body, now))],
                                 now)
        return {"message_id": msg_id, "owner": ep["owner"]}

    async def redeliver(self, who: Identity, webhook_id: str, msg_id: str) -> Json:
        await self._owned(who, webhook_id)
        found = await self.store.redeliver(webhook_id, msg_id, now_ms())
        return {"message_id": found["id"], "type": found["type"], "state": found["state"]}
