"""The webhook delivery worker: every process claims due deliveries with a lease and sends them.

Each pass (every ``webhooks.poll_interval_ms``) claims, per enabled endpoint, as many due
deliveries as it has free slots (``webhooks.concurrency`` per process, at most
``webhooks.per_endpoint_in_flight`` per endpoint, so one slow receiver cannot take them all);
each is sent in its own task, so the pass never waits on a receiver. The lease
(``webhooks.timeout_ms`` plus a margin) outlives an attempt: a process that dies mid-attempt
leaves the delivery to be claimed again when the lease runs out, and it is sent again with the
same ``webhook-id`` (at least once; receivers deduplicate by id). An answer in 2xx delivers;
anything else (another status, a timeout, a refused or unresolvable address) is retried after
``webhooks.retry_schedule_ms`` and, once that is spent, has failed. Redirects are not followed.

Requests are signed with ``standardwebhooks`` (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``), through one shared ``aiohttp.ClientSession`` whose resolver refuses
private addresses unless ``webhooks.allow_private``."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import socket
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver
from standardwebhooks.webhooks import Webhook

from live_server import logs
from live_server.config import Settings
from live_server.domain.webhooks import address_allowed, excerpt, next_delay
from live_server.errors import UrlNotAllowed
from live_server.protocol import Json, now_ms
from live_server.services.periodic import ClockStats, Periodic
from live_server.services.webhooks import WebhookService
from live_server.store.due import OUTAGE
from live_server.store.webhooks import WebhookStore

log = logging.getLogger(__name__)

LEASE_MARGIN_MS = 5_000
DEPTH_REFRESH_S = 1.0
USER_AGENT = "live_server-webhooks/1"


@dataclasses.dataclass(frozen=True, slots=True)
class DeliveryStats:
    """What the worker reports (the container hands it the metrics' callbacks)."""

    attempt: Callable[[str, float], None]  # outcome (delivered, retry, failed), seconds
    queued: Callable[[int], None]  # deliveries waiting in every endpoint's queue
    disabled: Callable[[], None]  # an endpoint disabled after failing too long


class SafeResolver(ThreadedResolver):
    """The system's resolver (aiohttp's default, in a thread), minus the addresses a delivery
    may not reach."""

    def __init__(self, allow_private: bool) -> None:
        super().__init__()
        self.allow_private = allow_private

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await super().resolve(host, port, family)
        allowed = [r for r in found if address_allowed(r["host"], self.allow_private)]
        if not allowed:
            raise OSError(f"{host} resolves only to addresses webhooks may not reach")
        return allowed


def lease_ms(settings: Settings) -> int:
    return settings.webhooks.timeout_ms + LEASE_MARGIN_MS


def signed_headers(endpoint: Json, msg_id: str, body: str, now: int) -> dict[str, str]:
    """The Standard Webhooks headers; during a rotation's grace both secrets sign."""
    when = datetime.datetime.fromtimestamp(now / 1000, tz=datetime.UTC)
    signatures = [Webhook(endpoint["secret"]).sign(msg_id, when, body)]
    if endpoint.get("previous_secret") and now < int(endpoint.get("previous_until", 0)):
        signatures.append(Webhook(endpoint["previous_secret"]).sign(msg_id, when, body))
    return {"webhook-id": msg_id, "webhook-timestamp": str(now // 1000),
            "webhook-signature": " ".join(signatures), "content-type": "application/json",
            "user-agent": USER_AGENT}


class DeliveryWorker(Periodic):
    name = "webhooks"

    def __init__(self, settings: Settings, service: WebhookService, store: WebhookStore, *,
                 stats: DeliveryStats | None = None, clock_stats: ClockStats | None = None) -> None:
        self.cfg = settings.webhooks
        self.service = service
        self.store = store
        self.delivery_stats = stats
        super().__init__(self.cfg.poll_interval_ms, stats=clock_stats, lease_ms=lease_ms(settings))
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: dict[str, int] = {}
        self._depth_at = 0.0

    def session(self) -> aiohttp.ClientSession:
        """The one client session of this process (made on first use, in the running loop)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=SafeResolver(self.cfg.allow_private),
                                             limit=self.cfg.concurrency, ttl_dns_cache=10)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=self.cfg.timeout_ms
                                                                   / 1000))
        return self._session

    async def stop(self) -> None:
        await super().stop()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.cfg.timeout_ms / 1000 + 1)
            for task in self._tasks:
                task.cancel()
        if self._session is not None:
            await self._session.close()

    async def run_once(self, now: int) -> int:
        endpoints = [ep for ep, state in await self.service.endpoints() if state["enabled"]]
        await self._report_depth(endpoints)
        free = self.cfg.concurrency - len(self._tasks)
        claimed = 0
        for ep in endpoints:
            room = min(free, self.cfg.per_endpoint_in_flight - self._in_flight.get(ep["id"], 0))
            if room <= 0:
                continue
            msg_ids = await self.store.schedule(ep["id"]).claim(now, room)
            for msg_id in msg_ids:
                self._start(ep, msg_id)
            free -= len(msg_ids)
            claimed += len(msg_ids)
        return claimed

    def _start(self, endpoint: Json, msg_id: str) -> None:
        webhook_id = endpoint["id"]
        self._in_flight[webhook_id] = self._in_flight.get(webhook_id, 0) + 1
        task = asyncio.create_task(self._attempt(endpoint, msg_id), name=f"webhook {msg_id}")
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            left = self._in_flight.get(webhook_id, 1) - 1
            if left > 0:
                self._in_flight[webhook_id] = left
            else:
                self._in_flight.pop(webhook_id, None)
        task.add_done_callback(done)

    async def _attempt(self, endpoint: Json, msg_id: str) -> None:
        """One delivery in its own task: nothing it raises may go unseen. The id field is
        ``message_id``: ``message`` is a LogRecord attribute, and the standard library refuses
        to overwrite it (a KeyError from inside the log call)."""
        try:
            await self.deliver(endpoint, msg_id)
        except OUTAGE:
            # every delivery fails the same way in an outage: plain ids, one line per window
            log.warning("webhook delivery: store unreachable; the lease will run out",
                        extra={"webhook": endpoint["id"], "message_id": msg_id})
        except Exception:
            # counted before it is logged, so that the count holds whatever the log call does
            if self.stats is not None:
                self.stats.failed(self.name)
            # limited per endpoint: one broken endpoint does not hide another's failures
            log.warning("webhook delivery failed unexpectedly", exc_info=True,
                        extra={"message_id": msg_id, **logs.about(webhook=endpoint["id"])})

    async def deliver(self, endpoint: Json, msg_id: str) -> str:
        """One attempt at one delivery, recorded; returns the delivery's state after it.
        ``endpoint`` (from the cached list) only names it: the URL and secrets are read
        afresh with the delivery."""
        webhook_id = endpoint["id"]
        try:
            current, found = await self.store.attempt_inputs(webhook_id, msg_id)
        except orjson.JSONDecodeError:
            # a record that cannot be read never will be: moved aside at once (for an operator,
            # ``<due>:parked``) rather than claimed again after every lease; still counted and
            # logged as a failure by the caller
            await self.store.schedule(webhook_id).park(msg_id, now_ms())
            raise
        if current is None or found is None or found["state"] != "pending":
            await self.store.core.client.zrem(self.store.keys(webhook_id).due, msg_id)
            return "gone"
        attempt = int(found["attempts"]) + 1
        started, at = time.perf_counter(), now_ms()
        status, error, answer = await self._post(current, msg_id, found["body"], at)
        took = time.perf_counter() - started
        if status is not None and 200 <= status < 300:
            outcome, next_at = "delivered", 0
        else:
            delay = next_delay(attempt - int(found.get("base", 0)), self.cfg.retry_schedule_ms)
            outcome, next_at = ("failed", 0) if delay is None else ("retry", now_ms() + delay)
        entry = {"message_id": msg_id, "type": found["type"], "attempt": attempt, "at": at,
                 "status": status, "error": error, "response": answer,
                 "duration_ms": round(took * 1000), "outcome": outcome,
                 "next_retry_at": next_at or None}
        state, disabled = await self.store.record(
            webhook_id, msg_id, attempt, entry, outcome, next_at, now_ms(),
            self.cfg.disable_after_failures)
        if self.delivery_stats is not None:
            self.delivery_stats.attempt(outcome, took)
            if disabled:
                self.delivery_stats.disabled()
        if disabled:
            log.warning("webhook disabled after %d failed deliveries",
                        self.cfg.disable_after_failures, extra=logs.about(webhook=webhook_id))
            self.service.changed()
        return state

    async def _post(self, endpoint: Json, msg_id: str, body: str,
                    now: int) -> tuple[int | None, str, str]:
        """(HTTP status or None, error, the answer's first bytes)."""
        url = endpoint["url"]
        host = urllib.parse.urlsplit(url).hostname or ""
        try:
            literal = socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        except OSError:
            literal = None
        if literal is not None and not address_allowed(host, self.cfg.allow_private):
            return None, UrlNotAllowed.code, ""
        headers = signed_headers(endpoint, msg_id, body, now)
        try:
            async with self.session().post(url, data=body.encode(), headers=headers,
                                           allow_redirects=False) as resp:
                answer = await resp.content.read(1024)
                return resp.status, "", excerpt(answer)
        except TimeoutError:
            return None, "timeout", ""
        except aiohttp.ClientError as exc:
            return None, _error_text(exc), ""
        except OSError as exc:
            return None, _error_text(exc), ""

    async def _report_depth(self, endpoints: list[Json]) -> None:
        if self.delivery_stats is None or time.monotonic() - self._depth_at < DEPTH_REFRESH_S:
            return
        self._depth_at = time.monotonic()
        depths = await self.store.depths([ep["id"] for ep in endpoints])
        self.delivery_stats.queued(sum(depths.values()))


def _error_text(exc: BaseException) -> str:
    text: Any = str(exc) or type(exc).__name__
    return str(text)[:200]
