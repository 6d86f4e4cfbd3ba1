"""Ops surface: health, readiness against a Valkey that goes away, metrics, the rooms console."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from live_server.app import create_app
from live_server.store.embedded import EmbeddedValkey
from tests.conftest import LiveApp, make_settings, token
from tests.helpers import Viewer
from tests.integration.media_peers import Publisher


async def test_readyz_follows_valkey(aiohttp_client: Any, tmp_path: Path) -> None:
    valkey = EmbeddedValkey(tmp_path, appendonly=False)
    valkey.start()
    try:
        client: TestClient[Any, Any] = await aiohttp_client(
            TestServer(create_app(make_settings(valkey.url)), host="127.0.0.1"))
        async with client.get("/readyz") as resp:
            assert resp.status == 200
        valkey.stop()
        async with client.get("/readyz") as resp:
            assert resp.status == 503
            assert (await resp.json())["error"]["code"] == "not_ready"
        async with client.get("/healthz") as resp:
            assert resp.status == 200  # the process itself is fine
    finally:
        valkey.stop()


async def test_metrics_count_what_happens(live: LiveApp) -> None:
    room = await live.live_room()
    viewer = await Viewer.connect(live.base, room, token("bob"))
    await viewer.wait_welcome()
    await viewer.request("chat", text="hello")
    await viewer.request("dance")
    await viewer.wait_for(lambda: viewer.of_type("chat"))
    async with live.client.get("/metrics") as resp:
        text = await resp.text()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    assert values["live_ws_connections"] == 1
    assert values['live_ws_requests_total{op="chat"}'] == 1
    assert values['live_ws_requests_total{op="unknown"}'] == 1
    assert values['live_errors_total{code="unknown_op"}'] == 1
    assert values["live_events_out_total"] >= 1
    assert values["live_frames_written_total"] >= 3  # welcome, replies, the chat batch
    assert values["live_bytes_out_total"] > 0
    assert values["live_pubsub_messages_total"] >= 1
    assert values[f'live_room_online{{room="{room}"}}'] >= 0
    assert any(k.startswith('live_valkey_seconds_count{op="chat_send"}') for k in values)
    assert "process_resident_memory_bytes" in values
    await viewer.close()


async def test_ops_console_lists_live_rooms_with_figures(live: LiveApp) -> None:
    room = await live.live_room()
    viewers = [await Viewer.connect(live.base, room, token(f"v{i}")) for i in range(3)]
    for v in viewers:
        await v.wait_welcome()
    await viewers[0].request("chat", text="hi")
    await viewers[0].wait_for(lambda: (viewers[0].last_counters() or {}).get("online") == 3)
    status, body = await live.call("GET", "/api/ops/rooms", "olga", "ops")
    assert status == 200
    row = next(r for r in body["rooms"] if r["id"] == room)
    assert row["counters"]["online"] == 3 and row["counters"]["chat"] == 1
    assert list(row["processes"].values()) == [3]
    assert "chat_per_min" in row
    assert row["video"] == {"publishing": False}
    assert len(body["processes"]) == 1 and body["processes"][0]["connections"] >= 0
    for v in viewers:
        await v.close()


async def test_ops_rooms_show_who_has_video(live: LiveApp) -> None:
    room = await live.live_room()
    publisher = Publisher("H264")
    async with aiohttp.ClientSession() as http:
        try:
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            status, body = await live.call("GET", "/api/ops/rooms", "olga", "ops")
            assert status == 200
            video = next(r for r in body["rooms"] if r["id"] == room)["video"]
            assert video["publishing"] is True and video["codecs"]["video"] == "H264"
            assert video["home"].startswith("http://")
        finally:
            await publisher.close()
