"""A real server process's log, as an operator reads it: during a Valkey outage hundreds of
failing requests write a handful of lines (the first with its traceback, then counts), malformed
HTTP requests write no traceback and no error, and every line is JSON with the request's id."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from live_server.store.embedded import EmbeddedValkey
from tests.conftest import token
from tests.helpers import Viewer

pytestmark = pytest.mark.system

REQUESTS = 300


def records(log: str) -> list[dict[str, Any]]:
    """Every line of the log as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in log.splitlines() if line.strip()]


async def test_a_valkey_outage_writes_a_bounded_log(server_factory: Any, tmp_path: Path) -> None:
    own = EmbeddedValkey(tmp_path / "valkey", appendonly=False)
    own.start()
    try:
        server = await server_factory(redis_url=own.url, env={"LIVE_LOG_FORMAT": "json"})
        headers = {"Authorization": f"Bearer {token('alice', 'creator')}"}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{server.url}/api/rooms", json={"title": "Outage"},
                                 headers=headers) as resp:
                assert resp.status == 201
                room = (await resp.json())["id"]
            async with http.post(f"{server.url}/api/rooms/{room}/start",
                                 headers=headers) as resp:
                assert resp.status == 200
            viewer = await Viewer.connect(server.url, room, token("vic"))
            await viewer.wait_welcome()
            before = len(server.log().splitlines())
            own.stop()

            retries: list[str] = []

            async def failing(i: int) -> tuple[int, str]:
                async with http.get(f"{server.url}/api/rooms/{room}",
                                    headers={"X-Request-Id": f"req-{i}"}) as resp:
                    retries.append(resp.headers.get("Retry-After", ""))
                    return resp.status, resp.headers.get("X-Request-Id", "")

            answers = [await failing(i) for i in range(REQUESTS)]
            for _ in range(20):  # the room socket's requests fail too, and keep the socket
                reply = await viewer.request("history")
                assert reply["error"]["code"] == "not_ready", reply  # try again shortly
            await viewer.close()
        assert {status for status, _ in answers} == {503}  # not_ready, not an internal error
        assert all(retry == "1" for retry in retries)
        assert [rid for _, rid in answers] == [f"req-{i}" for i in range(REQUESTS)]
        await asyncio.sleep(0.3)
        log = server.log()
        during = records("\n".join(log.splitlines()[before:]))
    finally:
        own.stop()
    assert len(during) < 40, "\n".join(log.splitlines()[before:][:80])
    assert len(log.encode()) < 64_000
    failed = [r for r in during if r["message"].startswith("store unavailable on")]
    assert failed, during
    # the first failure whole, with its traceback and the request it happened in
    assert "exception" in failed[0] and failed[0]["request_id"] == "req-0"
    assert failed[0]["room_id"] == room and failed[0]["level"] == "warning"
    assert all("exception" not in r for r in failed[1:])
    assert not [r for r in during if r["level"] == "error"]  # an outage is no bug of ours
    socket = [r for r in during if r["message"] == "store unavailable"]
    assert socket and "exception" in socket[0] and all("exception" not in r for r in socket[1:])
    assert socket[0]["room_id"] == room and socket[0]["user_id"] == "vic"
    assert socket[0]["conn_id"]
    assert sum(1 for r in during if "exception" in r) <= 8  # one per kind of failure


MALFORMED = [
    b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
    b"GET /api/rooms HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"b" * 20_000 + b"\r\n\r\n",
    b"GET / HTTP/9.9x\r\n\r\n",
]


async def test_malformed_requests_log_no_traceback(server_factory: Any) -> None:
    server = await server_factory(env={"LIVE_LOG_FORMAT": "json"})
    before = len(server.log().splitlines())
    for _ in range(40):
        for raw in MALFORMED:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(raw)
            await writer.drain()
            head = await reader.read(64)
            writer.close()
            assert head.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")), head
    await asyncio.sleep(0.3)
    during = records("\n".join(server.log().splitlines()[before:]))
    assert during, "a malformed request is worth one line to an operator"
    assert all(r["level"] == "info" and "exception" not in r for r in during), during
    assert all(r["message"].startswith("malformed HTTP request") for r in during), during
    assert len(during) <= len(MALFORMED)  # one line per kind, not per request
