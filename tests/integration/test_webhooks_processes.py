"""Webhook deliveries survive a process that dies: real server processes killed with SIGKILL,
a real receiver, and the order stream's consumer group taking over what a dead reader left."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis
from standardwebhooks import Webhook

from live_server.protocol import now_ms
from tests.conftest import ServerProcess, token
from tests.integration.test_webhooks import ADDRESS, PRODUCT, Receiver

FAST = {"LIVE_WEBHOOKS_POLL_INTERVAL_MS": "30", "LIVE_WEBHOOKS_FOLLOW_INTERVAL_MS": "30",
        "LIVE_WEBHOOKS_TIMEOUT_MS": "1000", "LIVE_WEBHOOKS_CACHE_MS": "100",
        "LIVE_WEBHOOKS_CLAIM_IDLE_MS": "1000",
        "LIVE_WEBHOOKS_RETRY_SCHEDULE_MS": "300,300,300,300,300,300"}


async def call(server: ServerProcess, method: str, path: str, user: str | None = None,
               role: str = "viewer", json: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token(user, role)}"} if user else {}  # type: ignore[arg-type]
    async with aiohttp.ClientSession() as http, http.request(
            method, server.url + path, json=json, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def live_room(server: ServerProcess) -> str:
    status, room = await call(server, "POST", "/api/rooms", "alice", "creator",
                              json={"title": "Show"})
    assert status == 201, room
    status, room = await call(server, "POST", f"/api/rooms/{room['id']}/start", "alice",
                              "creator")
    assert status == 200, room
    return str(room["id"])


async def test_a_delivery_in_flight_when_its_process_dies_is_sent_again(
        server_factory: Any) -> None:
    hanging = asyncio.Event()
    release = asyncio.Event()  # set at the end, so stopping the receiver does not wait on it

    class Hanging(Receiver):
        async def handle(self, request: Any) -> Any:
            if not hanging.is_set():  # the first attempt gets no answer while the test runs
                self.got.append(({k.lower(): v for k, v in request.headers.items()},
                                 await request.text()))
                hanging.set()
                await release.wait()
            return await super().handle(request)

    receiver = Hanging()
    url = await receiver.start()
    try:
        first = await server_factory(env=FAST)
        status, made = await call(first, "POST", "/api/webhooks", "alice", "creator",
                                  json={"url": url, "events": ["room.started"]})
        assert status == 201, made
        await live_room(first)
        await asyncio.wait_for(hanging.wait(), 10)
        first.stop(signal.SIGKILL)  # dies while its attempt waits for an answer
        await server_factory(env=FAST, key_prefix=first.key_prefix)
        await receiver.wait(lambda: len(receiver.got) == 2, 15)  # after the lease lapses
        (h1, b1), (h2, b2) = receiver.got
        assert h1["webhook-id"] == h2["webhook-id"] and b1 == b2
    finally:
        release.set()
        await receiver.stop()


async def test_an_order_committed_by_a_process_that_dies_is_still_delivered(
        server_factory: Any) -> None:
    receiver = Receiver()
    url = await receiver.start()
    try:
        # the first process never reads the order streams: only the stream holds the order
        first = await server_factory(env={**FAST, "LIVE_WEBHOOKS_FOLLOW_INTERVAL_MS": "3600000"})
        status, made = await call(first, "POST", "/api/webhooks", "alice", "creator",
                                  json={"url": url, "events": ["order.reserved"]})
        assert status == 201, made
        room = await live_room(first)
        status, product = await call(first, "POST", "/api/products", "alice", "creator",
                                     json=PRODUCT)
        assert status == 201, product
        status, _ = await call(first, "POST", f"/api/rooms/{room}/shelf", "alice", "creator",
                               json={"product_id": product["id"]})
        start = now_ms()
        status, sale = await call(first, "POST", f"/api/rooms/{room}/sales", "alice",
                                  "creator", json={"product_id": product["id"], "price": 999,
                                                   "stock": 10, "start_at": start,
                                                   "end_at": start + 600_000})
        assert status == 201, sale
        await call(first, "PUT", "/api/me/address", "vic", json=ADDRESS)
        status, bought = await call(first, "POST", f"/api/rooms/{room}/buy", "vic", json={
            "product_id": product["id"], "quantity": 1, "idempotency_key": "k1"})
        assert status == 201, bought
        first.stop(signal.SIGKILL)
        await server_factory(env=FAST, key_prefix=first.key_prefix)
        await receiver.wait(lambda: receiver.of_type("order.reserved"), 15)
        [(_, parsed)] = receiver.of_type("order.reserved")
        assert parsed["data"]["order"]["id"] == bought["order"]["id"]
    finally:
        await receiver.stop()


async def test_stream_entries_a_dead_reader_left_are_taken_over(live_app_factory: Any,
                                                                valkey_url: str) -> None:
    receiver = Receiver()
    url = await receiver.start()
    app = await live_app_factory(webhooks={"poll_interval_ms": 30, "follow_interval_ms": 30,
                                           "cache_ms": 100, "claim_idle_ms": 400})
    client = aioredis.from_url(valkey_url)
    try:
        # off for now, so no process of the app reads the order streams yet
        status, made = await app.call("POST", "/api/webhooks", "alice", "creator",
                                      json={"url": url, "events": ["order.paid"],
                                            "enabled": False})
        assert status == 201, made
        room = await app.live_room("alice")
        stream = f"{app.settings.store.key_prefix}:{{{room}}}:ostream"
        await client.xgroup_create(stream, "webhooks", id="0", mkstream=True)
        order = {"id": f"o.{room}.dead", "room_id": room, "state": "paid", "amount": 999}
        await client.xadd(stream, {"type": "paid", "order": orjson.dumps(order)})
        # a reader that took the entry and died before queueing it (never acknowledged)
        taken = await client.xreadgroup("webhooks", "dead", {stream: ">"}, count=10)
        assert len(taken[0][1]) == 1
        status, _ = await app.call("PATCH", f"/api/webhooks/{made['id']}", "alice", "creator",
                                   json={"enabled": True})
        assert status == 200
        await receiver.wait(lambda: receiver.of_type("order.paid"), 10)
        await asyncio.sleep(0.6)
        [(_, parsed)] = receiver.of_type("order.paid")
        assert parsed["data"]["order"]["id"] == order["id"]
        pending = await client.xpending(stream, "webhooks")
        assert pending["pending"] == 0
    finally:
        await client.aclose()
        await receiver.stop()


async def test_a_secret_rotated_through_another_process_signs_at_once(
        server_factory: Any) -> None:
    """Each process keeps the endpoint list for ``webhooks.cache_ms``; a rotation made
    elsewhere must not leave its deliveries signed only with the old secret meanwhile (a
    receiver that switched to the new one would refuse them)."""
    slow_cache = {**FAST, "LIVE_WEBHOOKS_CACHE_MS": "600000"}
    receiver = Receiver()
    url = await receiver.start()
    try:
        first = await server_factory(env=slow_cache)
        status, made = await call(first, "POST", "/api/webhooks", "alice", "creator",
                                  json={"url": url, "events": ["room.started"]})
        assert status == 201, made
        await asyncio.sleep(0.3)  # the first process's worker has read the list, old secret
        other = await server_factory(env=slow_cache, key_prefix=first.key_prefix)
        status, rotated = await call(other, "POST", f"/api/webhooks/{made['id']}/rotate",
                                     "alice", "creator")
        assert status == 200 and rotated["secret"] != made["secret"]
        other.stop()  # only the first process, with its list from before, is left to deliver
        await live_room(first)
        await receiver.wait(lambda: receiver.of_type("room.started"), 10)
        [(headers, body)] = receiver.got
        Webhook(rotated["secret"]).verify(body, headers)
        Webhook(made["secret"]).verify(body, headers)  # still signs during the grace
    finally:
        await receiver.stop()
