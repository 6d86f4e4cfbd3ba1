"""Outgoing webhooks end to end: a real app, a real Valkey and real receivers (aiohttp servers
on 127.0.0.1): signed deliveries that verify with ``standardwebhooks``, retries with the same
id, a receiver that answers nothing while buyers are answered, a corrupt delivery counted and
logged while the others still go out, roles, SSRF refusal, bad input."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from live_server.protocol import now_ms
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp
from tests.integration.test_schedulers import process_log, sample

WEBHOOKS = {"poll_interval_ms": 30, "follow_interval_ms": 30, "timeout_ms": 1000,
            "retry_schedule_ms": [300, 300, 300, 300, 300, 300, 300, 300, 300, 300],
            "cache_ms": 100, "claim_idle_ms": 1000}
PRODUCT = {"title": "Tea", "list_price": 2000, "live_price": 1500, "stock": 500,
           "per_buyer_limit": 5}
ADDRESS = {"name": "Vic", "phone": "+86 10 1234 5678", "country": "CN", "city": "Beijing",
           "line1": "1 Road", "postal_code": "100000"}


class Receiver:
    """An HTTP receiver on 127.0.0.1: answers each request with the next status of
    ``statuses`` (the last one repeats) and keeps what it got."""

    def __init__(self, statuses: tuple[int, ...] = (200,)) -> None:
        self.statuses = list(statuses)
        self.got: list[tuple[dict[str, str], str]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.got.append(({k.lower(): v for k, v in request.headers.items()}, body))
        self.arrived.set()
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return web.Response(status=status, text="ok" if status < 300 else "boom " * 200)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{self.port}/hook"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def of_type(self, kind: str) -> list[tuple[dict[str, str], Any]]:
        out = []
        for headers, body in self.got:
            parsed = orjson.loads(body)
            if parsed["type"] == kind:
                out.append((headers, parsed))
        return out

    async def wait(self, predicate: Any, timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"receiver got {[b for _, b in self.got]}")
            await asyncio.sleep(0.02)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    made = Receiver()
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
async def app(live_app_factory: Any) -> LiveApp:
    made: LiveApp = await live_app_factory(webhooks=WEBHOOKS)
    return made


async def hook(app: LiveApp, url: str, events: list[str], user: str = "alice",
               role: str = "creator") -> dict[str, Any]:
    status, body = await app.call("POST", "/api/webhooks", user, role,  # type: ignore[arg-type]
                                  json={"url": url, "events": events})
    assert status == 201, body
    return dict(body)


async def logged(app: LiveApp, webhook_id: str, attempts: int) -> dict[str, Any]:
    """The endpoint once its delivery log holds ``attempts`` attempts (a receiver has the
    request a moment before the worker records its answer)."""
    for _ in range(200):
        status, got = await app.call("GET", f"/api/webhooks/{webhook_id}", "alice", "creator")
        assert status == 200, got
        if len(got["deliveries"]) >= attempts:
            return dict(got)
        await asyncio.sleep(0.03)
    raise AssertionError(got)


async def selling_room(app: LiveApp, stock: int = 100) -> tuple[str, str]:
    room = await app.live_room("alice")
    status, product = await app.call("POST", "/api/products", "alice", "creator", json=PRODUCT)
    assert status == 201, product
    status, body = await app.call("POST", f"/api/rooms/{room}/shelf", "alice", "creator",
                                  json={"product_id": product["id"]})
    assert status == 201, body
    start = now_ms()
    status, sale = await app.call("POST", f"/api/rooms/{room}/sales", "alice", "creator",
                                  json={"product_id": product["id"], "price": 999,
                                        "stock": stock, "start_at": start,
                                        "end_at": start + 600_000})
    assert status == 201, sale
    return room, str(product["id"])


async def buy(app: LiveApp, room: str, pid: str, user: str, key: str) -> tuple[int, Any]:
    return await app.call("POST", f"/api/rooms/{room}/buy", user,
                          json={"product_id": pid, "quantity": 1, "idempotency_key": key})


async def pay(app: LiveApp, order_id: str, user: str) -> dict[str, Any]:
    # a saved address where the deployment asks for one before paying
    await app.call("PUT", "/api/me/address", user, json=ADDRESS)
    status, body = await app.call("POST", f"/api/orders/{order_id}/pay", user, json={})
    assert status == 200, body
    return dict(body)


async def test_a_paid_order_reaches_the_receiver_signed(app: LiveApp,
                                                        receiver: Receiver) -> None:
    made = await hook(app, f"http://127.0.0.1:{receiver.port}/hook",
                      ["order.reserved", "order.paid"])
    assert made["secret"].startswith("whsec_") and made["enabled"] is True
    room, pid = await selling_room(app)
    status, bought = await buy(app, room, pid, "vic", "k1")
    assert status == 201, bought
    order_id = bought["order"]["id"]
    await pay(app, order_id, "vic")
    await receiver.wait(lambda: receiver.of_type("order.paid"))
    verifier = Webhook(made["secret"])
    for kind in ("order.reserved", "order.paid"):
        [(headers, parsed)] = receiver.of_type(kind)
        raw = next(b for h, b in receiver.got if h["webhook-id"] == headers["webhook-id"])
        assert verifier.verify(raw, headers) == parsed  # signature, id and timestamp check
        assert parsed["data"]["order"]["id"] == order_id
        assert parsed["data"]["room_id"] == room and parsed["data"]["creator_id"] == "alice"
        assert parsed["timestamp"].endswith("Z")
    assert receiver.of_type("order.paid")[0][1]["data"]["order"]["state"] == "paid"
    # the delivery log shows both, delivered with the receiver's status (once recorded)
    for _ in range(100):
        status, got = await app.call("GET", f"/api/webhooks/{made['id']}", "alice", "creator")
        if len(got["deliveries"]) == 2:
            break
        await asyncio.sleep(0.03)
    assert status == 200 and "secret" not in got
    assert {(d["type"], d["status"], d["outcome"]) for d in got["deliveries"]} == {
        ("order.reserved", 200, "delivered"), ("order.paid", 200, "delivered")}
    # another secret does not verify
    other = Webhook("whsec_" + "A" * 32)
    headers, _ = receiver.of_type("order.paid")[0]
    raw = next(b for h, b in receiver.got if h["webhook-id"] == headers["webhook-id"])
    with pytest.raises(WebhookVerificationError):
        other.verify(raw, headers)


async def test_a_failed_attempt_is_retried_with_the_same_id(app: LiveApp,
                                                            receiver: Receiver) -> None:
    receiver.statuses = [500, 200]
    made = await hook(app, f"http://127.0.0.1:{receiver.port}/hook", ["room.started"])
    room = await app.live_room("alice")
    await receiver.wait(lambda: len(receiver.got) == 2)
    (h1, b1), (h2, b2) = receiver.got
    assert h1["webhook-id"] == h2["webhook-id"] and b1 == b2
    assert int(h2["webhook-timestamp"]) >= int(h1["webhook-timestamp"])
    Webhook(made["secret"]).verify(b2, h2)
    got = await logged(app, made["id"], 2)
    newest, oldest = got["deliveries"]
    assert (oldest["attempt"], oldest["status"], oldest["outcome"]) == (1, 500, "retry")
    assert oldest["next_retry_at"] >= oldest["at"] + 300
    assert oldest["response"].startswith("boom") and len(oldest["response"].encode()) <= 500
    assert (newest["attempt"], newest["status"], newest["outcome"]) == (2, 200, "delivered")
    assert b2.count(room) >= 1


async def test_a_corrupt_delivery_is_counted_and_logged_and_the_others_go_out(
        app: LiveApp, receiver: Receiver) -> None:
    made = await hook(app, f"http://127.0.0.1:{receiver.port}/hook", ["room.started"])
    store = app.client.server.app[SERVICES].webhook_worker.store
    keys = store.keys(made["id"])
    with process_log() as out:
        # one queued delivery whose record is not JSON any more, due now
        await store.core.client.hset(keys.msgs, "msg_corrupt", b"{not json")
        await store.core.client.zadd(keys.due, {"msg_corrupt": now_ms()})
        rooms = [await app.live_room("alice"), await app.live_room("alice")]
        await receiver.wait(lambda: len(receiver.of_type("room.started")) == 2)
        assert sorted(p["data"]["room"]["id"] for _, p in receiver.of_type("room.started")) \
            == sorted(rooms)
        deadline = asyncio.get_running_loop().time() + 10
        while sample(app, "live_scheduler_failures_total", clock="webhooks") < 1:
            assert asyncio.get_running_loop().time() < deadline, out.getvalue()
            await asyncio.sleep(0.03)
        lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    [warned] = [line for line in lines if line.get("message_id") == "msg_corrupt"]
    assert warned["level"] == "warning" and warned["webhook"] == made["id"]
    assert warned["message"] == "webhook delivery failed unexpectedly"
    assert "JSONDecodeError" in warned["exception"]
    got = await logged(app, made["id"], 2)
    assert [d["outcome"] for d in got["deliveries"]] == ["delivered", "delivered"]
    # it can never be read, so it is moved aside at once, not claimed again after each lease
    assert await store.core.client.zscore(keys.due, "msg_corrupt") is None
    assert await store.core.client.zscore(f"{keys.due}:parked", "msg_corrupt") is not None


def silent_socket() -> socket.socket:
    """A listening socket that never accepts: connections wait in its backlog, unanswered."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


async def test_a_receiver_that_answers_nothing_never_slows_buyers(app: LiveApp,
                                                                  receiver: Receiver) -> None:
    silent = silent_socket()
    try:
        port = silent.getsockname()[1]
        made = await hook(app, f"http://127.0.0.1:{port}/hook", ["order.reserved"])
        room, pid = await selling_room(app)
        replies = await asyncio.gather(*(buy(app, room, pid, f"u{i}", f"k{i}")
                                         for i in range(20)))
        assert [s for s, _ in replies] == [201] * 20
        order_ids = {b["order"]["id"] for _, b in replies}
        # every reservation waits in the queue while the receiver answers nothing
        for _ in range(200):
            status, got = await app.call("GET", f"/api/webhooks/{made['id']}", "alice",
                                         "creator")
            if got["queued"] == 20 and got["deliveries"]:
                break
            await asyncio.sleep(0.05)
        assert got["queued"] == 20
        assert got["deliveries"][0]["status"] is None and got["deliveries"][0]["error"]
        # the receiver comes back (elsewhere): every event arrives, once per webhook-id
        status, _ = await app.call("PATCH", f"/api/webhooks/{made['id']}", "alice", "creator",
                                   json={"url": f"http://127.0.0.1:{receiver.port}/hook"})
        assert status == 200
        await receiver.wait(lambda: len(receiver.of_type("order.reserved")) >= 20, 20)
        await asyncio.sleep(0.5)  # nothing more arrives
        ids = [h["webhook-id"] for h, _ in receiver.got]
        assert len(ids) == len(set(ids)) == 20
        assert {p["data"]["order"]["id"] for _, p in receiver.of_type("order.reserved")} == \
            order_ids
    finally:
        silent.close()


async def test_room_events_and_a_test_event_and_redelivery(app: LiveApp,
                                                          receiver: Receiver) -> None:
    url = f"http://127.0.0.1:{receiver.port}/hook"
    made = await hook(app, url, ["room.started", "room.ended"])
    room = await app.live_room("alice")
    status, _ = await app.call("POST", f"/api/rooms/{room}/end", "alice", "creator")
    assert status == 200
    await receiver.wait(lambda: receiver.of_type("room.ended"))
    [(_, started)] = receiver.of_type("room.started")
    assert started["data"]["room"]["id"] == room and started["data"]["room"]["state"] == "live"
    status, sent = await app.call("POST", f"/api/webhooks/{made['id']}/test", "alice",
                                  "creator")
    assert status == 200, sent
    await receiver.wait(lambda: receiver.of_type("webhook.test"))
    # a delivered message sent again: the same id
    [(first, _)] = receiver.of_type("room.ended")
    await logged(app, made["id"], 3)
    status, again = await app.call(
        "POST", f"/api/webhooks/{made['id']}/deliveries/{first['webhook-id']}/redeliver",
        "alice", "creator")
    assert status == 200 and again["state"] == "pending", again
    await receiver.wait(lambda: len(receiver.of_type("room.ended")) == 2)
    assert [h["webhook-id"] for h, _ in receiver.of_type("room.ended")] == \
        [first["webhook-id"]] * 2
    status, body = await app.call(
        "POST", f"/api/webhooks/{made['id']}/deliveries/msg_nope/redeliver", "alice", "creator")
    assert status == 404 and body["error"]["code"] == "not_found"


async def test_a_platform_endpoint_gets_every_room_and_a_creator_only_theirs(
        app: LiveApp, receiver: Receiver) -> None:
    other = Receiver()
    other_url = await other.start()
    try:
        await hook(app, f"http://127.0.0.1:{receiver.port}/hook", ["room.started"], "olga",
                   "ops")
        await hook(app, other_url, ["room.started"], "bob", "creator")
        room = await app.live_room("alice")
        await receiver.wait(lambda: receiver.of_type("room.started"))
        await asyncio.sleep(0.3)
        assert [p["data"]["room_id"] for _, p in receiver.of_type("room.started")] == [room]
        assert other.got == []  # bob's endpoint hears nothing of alice's room
    finally:
        await other.stop()


async def test_an_endpoint_failing_long_is_disabled(live_app_factory: Any,
                                                   receiver: Receiver) -> None:
    app = await live_app_factory(webhooks={**WEBHOOKS, "retry_schedule_ms": [50],
                                           "disable_after_failures": 2})
    receiver.statuses = [500]
    made = await hook(app, f"http://127.0.0.1:{receiver.port}/hook", ["room.started"])
    await app.live_room("alice")
    await app.live_room("alice")
    for _ in range(200):
        status, got = await app.call("GET", f"/api/webhooks/{made['id']}", "alice", "creator")
        if not got["enabled"]:
            break
        await asyncio.sleep(0.05)
    assert got["enabled"] is False and got["disabled_reason"] == "failing"
    assert got["consecutive_failures"] == 2 and len(receiver.got) == 4
    assert {d["outcome"] for d in got["deliveries"]} == {"retry", "failed"}
    # turned on again by its owner: the count starts over
    status, got = await app.call("PATCH", f"/api/webhooks/{made['id']}", "alice", "creator",
                                 json={"enabled": True})
    assert status == 200 and got["enabled"] and got["consecutive_failures"] == 0


async def test_roles(app: LiveApp, receiver: Receiver) -> None:
    url = f"http://127.0.0.1:{receiver.port}/hook"
    status, body = await app.call("POST", "/api/webhooks", "vic", "viewer",
                                  json={"url": url, "events": ["room.started"]})
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, body = await app.call("POST", "/api/webhooks", None,
                                  json={"url": url, "events": ["room.started"]})
    assert status in (401, 403)
    mine = await hook(app, url, ["room.started"])
    wid = mine["id"]
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/rotate"),
                         ("POST", "/test")):
        body_json = {"enabled": False} if method == "PATCH" else None
        status, body = await app.call(method, f"/api/webhooks/{wid}{path}", "bob", "creator",
                                      json=body_json)
        assert status == 403, (method, path, body)
        status, body = await app.call(method, f"/api/webhooks/{wid}{path}", "vic", "viewer",
                                      json=body_json)
        assert status == 403, (method, path, body)
    status, listing = await app.call("GET", "/api/webhooks", "bob", "creator")
    assert status == 200 and listing["webhooks"] == []
    status, listing = await app.call("GET", "/api/webhooks", "alice", "creator")
    assert [w["id"] for w in listing["webhooks"]] == [wid]
    assert "secret" not in listing["webhooks"][0]
    # ops see the platform's endpoints, and may act on anyone's
    status, listing = await app.call("GET", "/api/webhooks", "olga", "ops")
    assert status == 200 and listing["webhooks"] == []
    status, got = await app.call("GET", f"/api/webhooks/{wid}", "olga", "ops")
    assert status == 200 and got["owner"] == "alice"
    # rotating: a new secret, shown once; the old one still signs during the grace
    status, rotated = await app.call("POST", f"/api/webhooks/{wid}/rotate", "alice", "creator")
    assert status == 200 and rotated["secret"] != mine["secret"]
    assert "previous_secret" not in rotated  # the old secret is never shown again
    for path in ("", f"/{wid}"):
        status, read = await app.call("GET", f"/api/webhooks{path}", "alice", "creator")
        text = orjson.dumps(read).decode()
        assert mine["secret"] not in text and rotated["secret"] not in text, path
    await app.live_room("alice")
    await receiver.wait(lambda: receiver.of_type("room.started"))
    headers, _ = receiver.of_type("room.started")[0]
    body_text = receiver.got[0][1]
    Webhook(rotated["secret"]).verify(body_text, headers)
    Webhook(mine["secret"]).verify(body_text, headers)
    status, _ = await app.call("DELETE", f"/api/webhooks/{wid}", "alice", "creator")
    assert status == 200
    status, body = await app.call("GET", f"/api/webhooks/{wid}", "alice", "creator")
    assert status == 404


async def test_private_addresses_are_refused_unless_allowed(live_app_factory: Any) -> None:
    app = await live_app_factory(webhooks={**WEBHOOKS, "allow_private": False})
    for url in ("http://127.0.0.1:8080/x", "http://localhost/x", "http://10.1.2.3/x",
                "http://192.168.0.10/x", "http://169.254.169.254/latest", "http://[::1]/x",
                "http://[::ffff:127.0.0.1]/x", "http://0.0.0.0/x", "https://db.internal/x",
                "http://printer/x"):
        status, body = await app.call("POST", "/api/webhooks", "alice", "creator",
                                      json={"url": url, "events": ["room.started"]})
        assert status == 400 and body["error"]["code"] == "url_not_allowed", (url, body)
    status, made = await app.call("POST", "/api/webhooks", "alice", "creator",
                                  json={"url": "https://93.184.215.14/hook",
                                        "events": ["room.started"]})
    assert status == 201, made
    status, body = await app.call("PATCH", f"/api/webhooks/{made['id']}", "alice", "creator",
                                  json={"url": "http://127.0.0.1/x"})
    assert status == 400 and body["error"]["code"] == "url_not_allowed"


async def test_bad_input_codes(app: LiveApp) -> None:
    cases: list[tuple[Any, str]] = [
        ({"events": ["room.started"]}, "missing_field"),
        ({"url": "http://127.0.0.1:1/x"}, "missing_field"),
        ({"url": "ftp://127.0.0.1/x", "events": ["room.started"]}, "invalid_field"),
        ({"url": "http://user:pw@127.0.0.1/x", "events": ["room.started"]}, "invalid_field"),
        ({"url": "not a url", "events": ["room.started"]}, "invalid_field"),
        ({"url": "http://127.0.0.1/" + "x" * 3000, "events": ["room.started"]},
         "invalid_field"),
        ({"url": "http://127.0.0.1/x", "events": ["order.eaten"]}, "invalid_field"),
        ({"url": "http://127.0.0.1/x", "events": []}, "invalid_field"),
        ({"url": "http://127.0.0.1/x", "events": "room.started"}, "invalid_field"),
        ({"url": "http://127.0.0.1/x", "events": ["webhook.test"]}, "invalid_field"),
        ({"url": "http://127.0.0.1/x", "events": ["room.started"], "secret": "mine"},
         "invalid_field"),
        ({"url": 5, "events": ["room.started"]}, "invalid_field"),
        ({"url": "http://127.0.0.1/x", "events": ["room.started"], "enabled": "yes"},
         "invalid_field"),
    ]
    for body_json, code in cases:
        status, body = await app.call("POST", "/api/webhooks", "alice", "creator",
                                      json=body_json)
        assert status == 400 and body["error"]["code"] == code, (body_json, body)
    status, listing = await app.call("GET", "/api/webhooks", "alice", "creator")
    assert listing["webhooks"] == []  # nothing was made
    status, body = await app.call("GET", "/api/webhooks/nope", "alice", "creator")
    assert status == 400 and body["error"]["code"] == "invalid_field"
    status, body = await app.call("GET", "/api/webhooks/wh_0123456789abcdef", "alice",
                                  "creator")
    assert status == 404 and body["error"]["code"] == "not_found"
    for i in range(app.settings.webhooks.max_per_owner):
        await hook(app, f"http://127.0.0.1:1/{i}", ["room.started"])
    status, body = await app.call("POST", "/api/webhooks", "alice", "creator",
                                  json={"url": "http://127.0.0.1:1/x",
                                        "events": ["room.started"]})
    assert status == 409 and body["error"]["code"] == "limit_reached"
