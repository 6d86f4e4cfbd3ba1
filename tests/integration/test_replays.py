"""Replays end to end: an aiortc publisher sends H.264 and Opus over WHIP to the real app in two
broadcasts of one show while the creator pins products; after the show the replay is one VOD
playlist (read with the m3u8 library) whose segments decode with PyAV at the publisher's size,
with the pins as chapters; ops delete it; and the sweep deletes replays by age and by budget."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import av
import m3u8
import pytest
from aiohttp.test_utils import TestClient

from live_server import config
from live_server.app import create_app
from live_server.domain.replays import DAY_MS
from live_server.protocol import now_ms
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, LiveTestServer, token
from tests.helpers import WAIT_S
from tests.integration.media_peers import HEIGHT, WIDTH, Publisher

SEGMENT_MS = 1000
POLL_MS = 100


async def replay_app(aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
                     settings_factory: Callable[..., config.Settings], root: Path) -> LiveApp:
    settings = settings_factory(hls={"segment_ms": SEGMENT_MS},
                                replays={"dir": str(root), "pin_poll_ms": POLL_MS})
    app = create_app(settings)
    client = await aiohttp_client(LiveTestServer(app, host="127.0.0.1"))
    return LiveApp(client=client, settings=settings)


async def until(check: Callable[[], Awaitable[bool] | bool]) -> None:
    """Poll what nothing notifies about (a hang guard, not a timing assertion)."""
    async with asyncio.timeout(WAIT_S * 2):
        while True:
            done = check()
            if done if isinstance(done, bool) else await done:
                return
            await asyncio.sleep(0.1)


async def on_shelf(live: LiveApp, room: str, title: str) -> str:
    status, body = await live.call("POST", "/api/products", "alice", "creator", json={
        "title": title, "list_price": 2000, "live_price": 1500, "currency": "CNY",
        "stock": 50})
    assert status == 201, body
    status, _ = await live.call("POST", f"/api/rooms/{room}/shelf", "alice", "creator",
                                json={"product_id": body["id"]})
    assert status == 201
    return str(body["id"])


async def pin(live: LiveApp, room: str, pid: str) -> int:
    status, body = await live.call("PUT", f"/api/rooms/{room}/pinned", "alice", "creator",
                                   json={"product_id": pid})
    assert status == 200, body
    return now_ms()


def decode(body: bytes) -> tuple[set[tuple[int, int]], bool]:
    sizes: set[tuple[int, int]] = set()
    first_key: bool | None = None
    with av.open(io.BytesIO(body), format="mpegts") as container:
        for frame in container.decode(video=0):
            first_key = frame.key_frame if first_key is None else first_key
            sizes.add((frame.width, frame.height))
    return sizes, bool(first_key)


async def test_a_show_in_two_broadcasts_becomes_one_replay_with_product_chapters(
        aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
        settings_factory: Callable[..., config.Settings], tmp_path: Path) -> None:
    live = await replay_app(aiohttp_client, settings_factory, tmp_path / "replays")
    room = await live.live_room("alice")
    mug, hat = await on_shelf(live, room, "Mug"), await on_shelf(live, room, 'Hat "XL"')
    whip = f"{live.base}/api/rooms/{room}/whip"

    async def view(user: str | None = None, role: Any = "viewer") -> dict[str, Any]:
        status, body = await live.call("GET", f"/api/rooms/{room}/replay", user, role)
        assert status == 200, body
        return dict(body)

    async with aiohttp.ClientSession() as http:

        async def get(path: str) -> tuple[int, dict[str, str], bytes]:
            async with http.get(f"{live.base}{path}") as resp:
                return resp.status, dict(resp.headers), await resp.read()

        first, second = Publisher("H264", audio=True), Publisher("H264", audio=True)
        try:
            assert await first.publish(http, whip, token("alice", "creator")) == 201
            await until(lambda: _state(view("alice", "creator"), "recording"))
            folder = tmp_path / "replays" / room / "1"
            await until(lambda: _segments_in(folder, 2))
            pinned_mug = await pin(live, room, mug)
            await until(lambda: _segments_in(folder, 4))
            pinned_hat = await pin(live, room, hat)
            await until(lambda: _segments_in(folder, 6))
            # a viewer sees only the state while the show is live; nothing is served yet
            during = await view("vic")
            assert during["state"] == "recording" and during["chapters"] == []
            assert during["playlist_url"] is None
            assert (await get(f"/replays/{room}/index.m3u8"))[0] == 404
            assert first.location is not None
            async with http.delete(first.location) as resp:  # the first broadcast stops
                assert resp.status == 204
            assert await second.publish(http, whip, token("alice", "creator")) == 201
            await until(lambda: _segments_in(tmp_path / "replays" / room / "2", 2))
            status, _ = await live.call("POST", f"/api/rooms/{room}/end", "alice", "creator")
            assert status == 200
            await until(lambda: _state(view(), "ready"))
        finally:
            await first.close()
            await second.close()

        replay = await view()
        assert replay["playlist_url"] == f"/replays/{room}/index.m3u8"
        assert [c["product_id"] for c in replay["chapters"]] == [mug, hat]
        assert [c["title"] for c in replay["chapters"]] == ["Mug", 'Hat "XL"']
        spacing = replay["chapters"][1]["t_ms"] - replay["chapters"][0]["t_ms"]
        # both pins fell in the first broadcast: their distance in the replay is the distance
        # in time, within a segment's length (the recorder's clock and the pin reads)
        assert abs(spacing - (pinned_hat - pinned_mug)) <= SEGMENT_MS

        status, headers, body = await get(replay["playlist_url"])
        assert status == 200 and headers["Content-Type"] == "application/vnd.apple.mpegurl"
        assert headers["Access-Control-Allow-Origin"] == "*"
        playlist = m3u8.loads(body.decode())
        assert playlist.playlist_type == "vod" and playlist.is_endlist
        uris = [s.uri for s in playlist.segments]
        parts = [uri.split("/")[0] for uri in uris]
        assert parts[0] == "1" and parts[-1] == "2" and parts == sorted(parts)
        assert playlist.segments[parts.index("2")].discontinuity  # the second broadcast
        total = sum(s.duration for s in playlist.segments)
        assert abs(total * 1000 - replay["duration_ms"]) <= len(uris)
        ranges = [dict(r.x_client_attrs) for s in playlist.segments for r in s.dateranges]
        assert [r["x_product_id"] for r in ranges] == [f'"{mug}"', f'"{hat}"']
        for uri in (uris[0], uris[parts.index("2")], uris[-1]):
            status, headers, body = await get(f"/replays/{room}/{uri}")
            assert status == 200 and headers["Content-Type"] == "video/mp2t"
            assert "immutable" in headers["Cache-Control"]
            sizes, first_key = decode(body)
            assert sizes == {(WIDTH, HEIGHT)} and first_key
        # only the names the recorder writes, under the room's own parts
        name = uris[0].split("/")[1]
        for bad in (f"/replays/{room}/1/..%2F..%2Fx.ts", f"/replays/{room}/1/index.m3u8",
                    f"/replays/{room}/9/{name}", f"/replays/{room}/x/{name}",
                    f"/replays/{room}/1/", f"/replays/{room}/", "/replays/..%2F/index.m3u8"):
            status, headers, _ = await get(bad)
            assert status == 404, bad

        status, mine = await live.call("GET", "/api/me/replays", "alice", "creator")
        assert status == 200 and [r["room_id"] for r in mine["replays"]] == [room]
        status, _ = await live.call("DELETE", f"/api/rooms/{room}/replay", "alice", "creator")
        assert status == 403
        status, gone = await live.call("DELETE", f"/api/rooms/{room}/replay", "olga", "ops",
                                       json={"reason": "copyright claim"})
        assert status == 200 and gone["state"] == "deleted"
        assert not exists(tmp_path / "replays" / room)
        after = await view()
        assert after["state"] == "deleted" and after["playlist_url"] is None
        assert (await get(f"/replays/{room}/index.m3u8"))[0] == 404
        assert (await get(f"/replays/{room}/{uris[0]}"))[0] == 404
        status, log = await live.call("GET", f"/api/ops/moderation?room={room}", "olga", "ops")
        assert status == 200
        assert [(e["action"], e["reason"]) for e in log["actions"]] == [
            ("delete_replay", "copyright claim")]
        status, _ = await live.call("DELETE", f"/api/rooms/{room}/replay", "olga", "ops")
        assert status == 404


async def _state(view: Awaitable[dict[str, Any]], state: str) -> bool:
    return (await view)["state"] == state


def _segments_in(folder: Path, count: int) -> bool:
    return folder.is_dir() and len(list(folder.glob("*.ts"))) >= count


def exists(path: Path) -> bool:
    return path.exists()


async def test_the_sweep_deletes_replays_by_age_then_the_oldest_over_budget(
        live_app_factory: Callable[..., Awaitable[LiveApp]], tmp_path: Path) -> None:
    root = tmp_path / "replays"
    live = await live_app_factory(replays={"dir": str(root), "retention_days": 7,
                                           "max_total_bytes": 2500})
    replays = live.client.app[SERVICES].replays
    now = now_ms()
    rooms: dict[str, str] = {}
    for name, ended in (("old", now - 8 * DAY_MS), ("a", now - 3 * DAY_MS),
                        ("b", now - 2 * DAY_MS), ("c", now - DAY_MS)):
        room = rooms[name] = await live.live_room("alice")
        n = await replays.begin(room)
        part = root / room / str(n)
        part.mkdir(parents=True)
        (part / "0a1b2c3d-0.ts").write_bytes(b"\0" * 1000)
        (part / "index.m3u8").write_text("#EXTM3U\n#EXTINF:2.000,\n0a1b2c3d-0.ts\n"
                                         "#EXT-X-ENDLIST\n")
        await replays.end(room, n, ended - 2000, ended)
    recording = await live.live_room("alice")
    assert await replays.begin(recording) is not None
    (root / recording / "1").mkdir(parents=True)
    (root / recording / "1" / "0a1b2c3d-0.ts").write_bytes(b"\0" * 900)

    # "old" is past the retention; 3,900 bytes are left for a budget of 2,500: "a" goes,
    # then the total (2,900) is still over, so "b"; the recording one is never swept
    doomed = await replays.sweep(now)
    assert doomed == [(rooms["old"], "age"), (rooms["a"], "budget"), (rooms["b"], "budget")]
    for name in ("old", "a", "b"):
        assert not (root / rooms[name]).exists()
        status, body = await live.call("GET", f"/api/rooms/{rooms[name]}/replay", "alice",
                                       "creator")
        assert status == 200 and body["state"] == "deleted"
    assert (root / rooms["c"]).is_dir() and (root / recording).is_dir()
    assert await replays.sweep(now) == []
    # a part whose process stops vouching for it (a crash) no longer counts as recording
    assert (await replays.store.read(recording, now_ms())).recording
    assert not (await replays.store.read(recording, now_ms() + replays.vouch_ms + 1)).recording
    metrics = live.client.app[SERVICES].metrics
    assert metrics.replays_deleted.labels("budget")._value.get() == 2
    on_disk = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    assert metrics.replay_bytes._value.get() == on_disk


@pytest.mark.system
async def test_a_publisher_moving_to_another_worker_continues_the_replay_in_a_new_part(
        server_factory: Any, tmp_path: Path) -> None:
    """Two worker processes on one port sharing the replay folder: the creator's reconnect
    lands on the other worker, which takes the room over and records the next part there; the
    ended show's replay plays both, the second after a discontinuity."""
    root = tmp_path / "replays"
    server = await server_factory(workers=2, env={
        "LIVE_REPLAYS_DIR": str(root), "LIVE_HLS_SEGMENT_MS": str(SEGMENT_MS),
        "LIVE_REPLAYS_PIN_POLL_MS": str(POLL_MS)})
    creator = token("alice", "creator")
    headers = {"Authorization": f"Bearer {creator}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/rooms", json={"title": "Move"},
                             headers=headers) as resp:
            room = (await resp.json())["id"]
        async with http.post(f"{server.url}/api/rooms/{room}/start", headers=headers) as resp:
            assert resp.status == 200
        url = f"{server.url}/api/rooms/{room}/whip"
        publishers: list[Publisher] = []

        async def publish() -> Publisher:
            publisher = Publisher("H264", audio=True)
            publishers.append(publisher)
            async with aiohttp.ClientSession(  # a new connection, maybe another worker
                    connector=aiohttp.TCPConnector(force_close=True)) as fresh:
                assert await publisher.publish(fresh, url, creator) == 201
            await publisher.wait_for(lambda: publisher.pc.connectionState == "connected")
            return publisher

        async def replay() -> dict[str, Any]:
            async with http.get(f"{server.url}/api/rooms/{room}/replay",
                                headers=headers) as resp:
                assert resp.status == 200
                return dict(await resp.json())

        try:
            first = await publish()
            assert first.location is not None
            first_home = first.location.split("/api/")[0]
            await until(lambda: _segments_in(root / room / "1", 2))
            moved: Publisher | None = None
            for _ in range(60):  # SO_REUSEPORT spreads new connections over the workers
                candidate = await publish()
                assert candidate.location is not None
                if not candidate.location.startswith(first_home):
                    moved = candidate
                    break
            assert moved is not None, "every request landed on the first worker"
            await until(lambda: any(_segments_in(p, 2) for p in (root / room).iterdir()
                                    if p.name != "1"))
            async with http.post(f"{server.url}/api/rooms/{room}/end", headers=headers) as resp:
                assert resp.status == 200
            await until(lambda: _state(replay(), "ready"))
        finally:
            for p in publishers:
                await p.close()
        async with http.get(f"{server.url}/replays/{room}/index.m3u8") as resp:
            assert resp.status == 200
            playlist = m3u8.loads(await resp.text())
        parts = [s.uri.split("/")[0] for s in playlist.segments]
        assert parts[0] == "1" and len(set(parts)) >= 2 and playlist.is_endlist
        later = parts.index(parts[-1])
        assert playlist.segments[later].discontinuity
        for uri in (playlist.segments[0].uri, playlist.segments[later].uri):
            async with http.get(f"{server.url}/replays/{room}/{uri}") as resp:
                assert resp.status == 200
                sizes, first_key = decode(await resp.read())
            assert sizes == {(WIDTH, HEIGHT)} and first_key
    assert server.stop() == 0
    assert "Traceback" not in server.log()


async def test_a_vp8_broadcast_is_not_recorded(
        aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
        settings_factory: Callable[..., config.Settings], tmp_path: Path) -> None:
    """HLS players do not take VP8: such a show has no replay, and the API says so."""
    live = await replay_app(aiohttp_client, settings_factory, tmp_path / "replays")
    room = await live.live_room("alice")
    publisher = Publisher("VP8")
    async with aiohttp.ClientSession() as http:
        try:
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            await publisher.wait_for(lambda: publisher.pc.connectionState == "connected")
            status, video = await live.call("GET", f"/api/rooms/{room}/video")
            assert status == 200 and video["publishing"]
            await asyncio.sleep(2 * SEGMENT_MS / 1000)  # an H.264 show would be recording
            status, replay = await live.call("GET", f"/api/rooms/{room}/replay", "alice",
                                             "creator")
            assert status == 200 and replay["state"] == "none"
            assert not exists(tmp_path / "replays" / room)
        finally:
            await publisher.close()
