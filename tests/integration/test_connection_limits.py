"""What a connection may hold, over real sockets: one that sends nothing, one that trickles its
request head, one idle between keep-alive requests, one whose request body never arrives whole
are each cut after their timeout, and one client address gets at most
``http.max_connections_per_ip`` open connections, whatever they carry (HTTP, a room websocket
the front door read, one aiohttp read). Behind a proxy in ``http.trusted_proxies`` the client is
the one the proxy forwarded; from anyone else, forwarded headers change nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from typing import Any

import pytest
from yarl import URL

from tests.conftest import LiveApp, token
from tests.integration.test_ws_paths import door, metrics

LOOPBACK = "127.0.0.1"
WAIT_S = 5.0
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def _sample(live: LiveApp, name: str, **labels: str) -> float:
    return metrics(live).registry.get_sample_value(name, labels) or 0.0


async def _open(live: LiveApp) -> Stream:
    url = URL(live.base)
    assert url.host is not None and url.port is not None
    return await asyncio.open_connection(url.host, url.port)


async def _hung_up(stream: Stream, within_s: float = WAIT_S) -> bytes:
    """Everything the server sent until it closed the connection (fails if it does not)."""
    reader, _ = stream
    got = b""
    deadline = time.monotonic() + within_s
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), deadline - time.monotonic())
            if not chunk:
                return got
            got += chunk
    except ConnectionResetError:
        return got
    except TimeoutError:
        raise AssertionError(f"still open after {within_s} s (got {got!r})") from None


async def _get(stream: Stream, target: str = "/healthz", extra: str = "") -> bytes:
    """One keep-alive request (``extra``: more header lines, each ending in CRLF); the answer's
    head (the body is read and dropped)."""
    reader, writer = stream
    writer.write(f"GET {target} HTTP/1.1\r\nHost: test\r\n{extra}\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    await asyncio.wait_for(reader.readexactly(length), WAIT_S)
    return head


async def _upgrade(stream: Stream, room: str, user: str, extra: str = "") -> bytes:
    reader, writer = stream
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(f"GET /ws/rooms/{room}?token={token(user)} HTTP/1.1\r\nHost: test\r\n"
                 f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 f"Sec-WebSocket-Version: 13\r\n{extra}\r\n".encode())
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)


async def _count_back_to(live: LiveApp, n: int) -> None:
    for _ in range(int(WAIT_S / 0.02)):
        if door(live).open_per_ip.get(LOOPBACK, 0) == n:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{door(live).open_per_ip} open, expected {n}")


async def test_a_connection_that_sends_nothing_is_closed(live_app_factory: Any) -> None:
    live = await live_app_factory(http={"idle_timeout_ms": 300, "header_timeout_ms": 5000})
    started = time.monotonic()
    stream = await _open(live)
    assert await _hung_up(stream) == b""
    assert time.monotonic() - started >= 0.25
    assert _sample(live, "live_connections_timed_out_total", stage="idle") == 1


@pytest.mark.parametrize("first_line", [b"GET /healthz HTTP/1.1\r\n",
                                        b"GET /ws/rooms/r1 HTTP/1.1\r\n",
                                        b"POST /api/rooms HTTP/1.1\r\n"])
async def test_a_trickling_request_head_is_cut(live_app_factory: Any, first_line: bytes) -> None:
    live = await live_app_factory(http={"idle_timeout_ms": 5000, "header_timeout_ms": 400})
    stream = await _open(live)
    _, writer = stream
    writer.write(first_line)
    started = time.monotonic()

    async def trickle() -> None:
        for i in range(100):  # one header line every 50 ms, never the blank line
            await asyncio.sleep(0.05)
            writer.write(f"X-Slow-{i}: a\r\n".encode())

    dripping = asyncio.create_task(trickle())
    try:
        assert await _hung_up(stream) == b""
    finally:
        dripping.cancel()
    assert time.monotonic() - started >= 0.35
    assert _sample(live, "live_connections_timed_out_total", stage="header") == 1


async def test_keep_alive_connections_are_cut_when_idle(live_app_factory: Any) -> None:
    live = await live_app_factory(http={"keepalive_timeout_ms": 400})
    idle = await _open(live)
    assert (await _get(idle)).startswith(b"HTTP/1.1 200")
    assert await _hung_up(idle) == b""  # idle after its answer
    trickling = await _open(live)
    assert (await _get(trickling)).startswith(b"HTTP/1.1 200")
    trickling[1].write(b"GET /healthz HTTP/1.1\r\nX-Slow: a\r\n")  # a second head, never ended
    assert await _hung_up(trickling) == b""


@pytest.mark.parametrize(("target", "earlier_requests", "drip"), [
    ("/api/rooms", 0, True), ("/api/rooms", 1, False),
    ("/api/payments/webhook", 0, False), ("/api/payments/webhook", 1, True)])
async def test_a_trickling_request_body_is_cut(live_app_factory: Any, target: str,
                                               earlier_requests: int, drip: bool) -> None:
    """A head that arrives whole and a body that never does (of the 1000 bytes it announced, a
    byte every 50 ms, or none at all): 408 ``request_timeout`` after
    ``http.body_timeout_ms``, then the connection is closed, whether the request is the
    connection's first or a later one."""
    live = await live_app_factory(http={"body_timeout_ms": 400, "keepalive_timeout_ms": 5000})
    stream = await _open(live)
    for _ in range(earlier_requests):
        assert (await _get(stream)).startswith(b"HTTP/1.1 200")
    _, writer = stream
    writer.write(f"POST {target} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                 f"Authorization: Bearer {token('alice', 'creator')}\r\n"
                 "Content-Length: 1000\r\n\r\n".encode())

    async def trickle() -> None:
        for _ in range(200 if drip else 0):
            await asyncio.sleep(0.05)
            writer.write(b" ")

    dripping = asyncio.create_task(trickle())
    try:
        answer = await _hung_up(stream)
    finally:
        dripping.cancel()
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"code":"request_timeout"' in answer, answer
    assert _sample(live, "live_errors_total", code="request_timeout") == 1


async def test_a_body_in_pieces_is_read_whole(live_app_factory: Any) -> None:
    """A body whose pieces arrive apart (as over a slow network) is read to its end, within
    the body timeout: the first piece alone is not the body."""
    live = await live_app_factory(http={"body_timeout_ms": 5000})
    reader, writer = await _open(live)
    body = b'{"title": "A show in pieces"}'
    writer.write(f"POST /api/rooms HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                 f"Authorization: Bearer {token('alice', 'creator')}\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode())
    for i in range(0, len(body), 7):
        writer.write(body[i:i + 7])
        await writer.drain()
        await asyncio.sleep(0.05)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
    assert head.startswith(b"HTTP/1.1 201"), head
    writer.close()
    _, rooms = await live.call("GET", "/api/rooms?state=mine", "alice", "creator")
    assert [r["title"] for r in rooms["rooms"]] == ["A show in pieces"]


async def test_one_address_gets_at_most_the_cap(live_app_factory: Any) -> None:
    live = await live_app_factory(http={"max_connections_per_ip": 3})
    room = await live.live_room()
    await live.client.session.close()  # the test client's pooled connection no longer counts
    await _count_back_to(live, 0)
    fresh_ws, http, late_ws = await _open(live), await _open(live), await _open(live)
    assert (await _upgrade(fresh_ws, room, "ann")).startswith(b"HTTP/1.1 101")  # front door's
    assert (await _get(http)).startswith(b"HTTP/1.1 200")
    assert (await _get(late_ws)).startswith(b"HTTP/1.1 200")
    assert (await _upgrade(late_ws, room, "bob")).startswith(b"HTTP/1.1 101")  # aiohttp's
    await _count_back_to(live, 3)

    refused = await _open(live)
    refused[1].write(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    assert await _hung_up(refused, within_s=1.0) == b""  # closed at once, nothing answered
    assert _sample(live, "live_connections_refused_total") == 1
    assert (await _get(http)).startswith(b"HTTP/1.1 200")  # the first three still work

    # each kind of connection gives its place back when it ends
    replacements = []
    for stream in (fresh_ws, http, late_ws):
        stream[1].close()
        await _count_back_to(live, 2)
        again = await _open(live)
        assert (await _get(again)).startswith(b"HTTP/1.1 200")
        replacements.append(again)
    assert _sample(live, "live_connections_refused_total") == 1
    for _, writer in replacements:
        writer.close()
    await _count_back_to(live, 0)


async def test_behind_a_trusted_proxy_each_forwarded_client_has_the_cap(
        live_app_factory: Any) -> None:
    """The test plays a proxy on 127.0.0.1: many connections, each naming another client, all
    get through a cap of 2; the same client's third connection is answered 429
    ``too_many_connections`` and closed, however its sender dresses the header."""
    live = await live_app_factory(http={"max_connections_per_ip": 2,
                                        "trusted_proxies": ["127.0.0.1/32", "10.0.0.0/8"]})
    room = await live.live_room()
    await live.client.session.close()
    await _count_back_to(live, 0)

    clients = []
    for i in range(6):  # three times the cap from one proxy address
        stream = await _open(live)
        hop = (f"X-Forwarded-For: 203.0.113.{i}\r\n" if i % 2 else
               f'Forwarded: for="203.0.113.{i}:4711";proto=https\r\n')
        if i < 3:
            assert (await _get(stream, extra=hop)).startswith(b"HTTP/1.1 200")
        else:
            assert (await _upgrade(stream, room, f"v{i}", hop)).startswith(b"HTTP/1.1 101")
        clients.append(stream)
    one = "X-Forwarded-For: 198.51.100.7\r\n"
    first, second = await _open(live), await _open(live)
    assert (await _get(first, extra=one)).startswith(b"HTTP/1.1 200")
    assert (await _upgrade(second, room, "w", one)).startswith(b"HTTP/1.1 101")
    assert door(live).open_per_ip == {**{f"203.0.113.{i}": 1 for i in range(6)},
                                      "198.51.100.7": 2}

    for over in (one,
                 # what a client wrote is left of what the proxies appended: the right-most
                 # address that is not a trusted proxy is the client's
                 "X-Forwarded-For: 192.0.2.99, 198.51.100.7, 10.1.2.3\r\n",
                 'Forwarded: for=192.0.2.99, for=198.51.100.7\r\n'):
        refused = await _open(live)
        refused[1].write(f"GET /healthz HTTP/1.1\r\nHost: test\r\n{over}\r\n".encode())
        answer = await _hung_up(refused)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 429"), answer
        assert json.loads(body)["error"]["code"] == "too_many_connections"
    assert _sample(live, "live_connections_refused_total") == 3
    assert (await _get(first, extra=one)).startswith(b"HTTP/1.1 200")  # the first two still work

    first[1].close()  # the client's place comes back when one of its connections ends
    for _ in range(int(WAIT_S / 0.02)):
        if door(live).open_per_ip.get("198.51.100.7") == 1:
            break
        await asyncio.sleep(0.02)
    again = await _open(live)
    assert (await _get(again, extra=one)).startswith(b"HTTP/1.1 200")
    for _, writer in [*clients, second, again]:
        writer.close()
    for _ in range(int(WAIT_S / 0.02)):
        if not door(live).open_per_ip:
            break
        await asyncio.sleep(0.02)
    assert door(live).open_per_ip == {}


@pytest.mark.parametrize("trusted", [[], ["10.0.0.0/8"]])
async def test_forwarded_for_from_anyone_else_is_ignored(live_app_factory: Any,
                                                         trusted: list[str]) -> None:
    """A client that is not a trusted proxy cannot name itself someone else to escape the cap:
    its connections count under its own address, and the one over is closed unanswered."""
    live = await live_app_factory(http={"max_connections_per_ip": 2, "trusted_proxies": trusted})
    await live.client.session.close()
    await _count_back_to(live, 0)
    kept = []
    for i in range(2):
        stream = await _open(live)
        assert (await _get(stream, extra=f"X-Forwarded-For: 203.0.113.{i}\r\n")).startswith(
            b"HTTP/1.1 200")
        kept.append(stream)
    refused = await _open(live)
    refused[1].write(b"GET /healthz HTTP/1.1\r\nHost: test\r\n"
                     b"X-Forwarded-For: 203.0.113.9\r\nForwarded: for=203.0.113.9\r\n\r\n")
    assert await _hung_up(refused, within_s=1.0) == b""
    assert door(live).open_per_ip == {LOOPBACK: 2}
    assert _sample(live, "live_connections_refused_total") == 1
    for _, writer in kept:
        writer.close()
    await _count_back_to(live, 0)


async def test_what_cannot_be_http_is_answered_at_once(live: LiveApp) -> None:
    stream = await _open(live)
    stream[1].write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a TLS hello, say
    answer = await _hung_up(stream, within_s=1.0)  # not held for the header timeout
    assert answer.split(b" ")[1] == b"400", answer


async def test_an_oversized_first_head_is_refused(live: LiveApp) -> None:
    stream = await _open(live)
    stream[1].write(b"GET /healthz HTTP/1.1\r\n" + b"X-Big: " + b"a" * 4000 + b"\r\n")
    for _ in range(20):  # 80 KB of headers and no end
        stream[1].write(b"X-More: " + b"b" * 4000 + b"\r\n")
    answer = await _hung_up(stream, within_s=1.0)
    assert answer.startswith(b"HTTP/1.1 431"), answer
