"""The HLS HTTP routes over a real aiohttp server, serving what a real recorder wrote from real
H.264: content types, cache headers, CORS, 404s that are not cached, and no way out of the
HLS folder."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from live_server import config
from live_server.media.hls import PLAYLIST, HlsRecorder
from live_server.metrics import Metrics
from live_server.web import hls
from live_server.web.keys import SERVICES
from live_server.web.media import MEDIA
from tests.unit.test_hls_recorder import FPS, HEIGHT, STEP, WIDTH, encode

Client = TestClient[Any, Any]


@pytest.fixture(scope="module")
def units() -> list[Any]:
    return encode(7)


async def make_client(aiohttp_client: Callable[..., Awaitable[Client]], root: Path,
                      enabled: bool = True) -> Client:
    """Just the HLS routes, and the one thing they read from the services: the settings."""
    settings = config.load(env={}, overrides={"hls": {"dir": str(root), "enabled": enabled}})
    app = web.Application()
    app[SERVICES] = SimpleNamespace(settings=settings)  # type: ignore[assignment]
    app.add_routes(hls.routes)
    return await aiohttp_client(app)


@pytest.fixture
def recorder(tmp_path: Path, units: list[Any]) -> HlsRecorder:
    rec = HlsRecorder("r_http", tmp_path / "hls", segment_ms=2000, window=6)
    for au in units:
        rec.feed_video(au.data, 5000 + au.index * STEP, au.keyframe)
    return rec


async def test_playlist_and_segments_are_served(
        aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path,
        recorder: HlsRecorder) -> None:
    client = await make_client(aiohttp_client, tmp_path / "hls")
    resp = await client.get("/hls/r_http/index.m3u8")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert resp.headers["Cache-Control"] == "public, max-age=1"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    text = await resp.text()
    assert text == recorder.playlist_path.read_text()
    assert "#EXT-X-ENDLIST" not in text
    names = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert names == [s.name for s in recorder.segments] and len(names) == 3
    for name in names:
        resp = await client.get(f"/hls/r_http/{name}")
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "video/mp2t"
        assert resp.headers["Cache-Control"] == "public, max-age=86400, immutable"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        body = await resp.read()
        assert body == (recorder.dir / name).read_bytes()
        with av.open(io.BytesIO(body), format="mpegts") as container:
            frames = list(container.decode(video=0))
        assert len(frames) == 2 * FPS
        assert frames[0].key_frame and (frames[0].width, frames[0].height) == (WIDTH, HEIGHT)
    head = await client.head(f"/hls/r_http/{names[0]}")
    assert head.status == 200
    assert int(head.headers["Content-Length"]) == (recorder.dir / names[0]).stat().st_size

    recorder.close(remove=False)
    resp = await client.get("/hls/r_http/index.m3u8")
    assert "#EXT-X-ENDLIST" in await resp.text()
    recorder.close(remove=True)  # the room ended: everything goes
    assert (await client.get("/hls/r_http/index.m3u8")).status == 404
    assert (await client.get(f"/hls/r_http/{names[0]}")).status == 404
    assert not recorder.dir.exists()


async def test_missing_things_are_404_and_not_cached(
        aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path,
        recorder: HlsRecorder) -> None:
    client = await make_client(aiohttp_client, tmp_path / "hls")
    live = recorder.segments[0].name
    prefix = live.split("-")[0]
    for path in ["/hls/r_nobody/index.m3u8", "/hls/r_nobody/" + live,
                 f"/hls/r_http/{prefix}-99.ts", "/hls/r_http/00000000-0.ts"]:
        resp = await client.get(path)
        assert resp.status == 404, path
        assert resp.headers["Cache-Control"] == "no-store", path
        assert resp.headers["Access-Control-Allow-Origin"] == "*", path
        assert (await resp.json())["error"]["code"] == "not_found"
    recorder.close(remove=True)
    for path in ["/hls/r_http/index.m3u8", "/hls/r_http/" + live]:
        assert (await client.get(path)).status == 404


async def test_no_way_out_of_the_hls_folder(
        aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path,
        recorder: HlsRecorder) -> None:
    (tmp_path / "secret.txt").write_text("TOPSECRET")
    (tmp_path / "hls" / "secret.ts").write_text("TOPSECRET")
    (recorder.dir / "0.ts").write_text("not written by the recorder")
    client = await make_client(aiohttp_client, tmp_path / "hls")
    for raw in [
        "/hls/..%2Fsecret.txt/index.m3u8",
        "/hls/r_http/..%2F..%2Fsecret.txt",
        "/hls/r_http/%2e%2e%2fsecret.ts",
        "/hls/%2e%2e/secret.ts",
        "/hls/r_http/.index.m3u8.tmp",
        f"/hls/r_http/.{recorder.segments[0].name}.part",
        "/hls/r_http/0.ts",
        "/hls/r_http/index.m3u8%00",
        "/hls/r%20http/index.m3u8",
    ]:
        resp = await client.get(raw)
        assert resp.status in (400, 404), raw
        body = await resp.read()
        assert b"TOPSECRET" not in body and b"not written" not in body, raw
        if resp.status == 400:
            assert resp.headers["Cache-Control"] == "no-store", raw
    # plain ".." is resolved by the URL parser before routing, and lands on no route
    resp = await client.get("/hls/r_http/../../secret.txt")
    assert resp.status == 404
    assert b"TOPSECRET" not in await resp.read()


async def test_off_means_404(aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path,
                             recorder: HlsRecorder) -> None:
    client = await make_client(aiohttp_client, tmp_path / "hls", enabled=False)
    resp = await client.get("/hls/r_http/index.m3u8")
    assert resp.status == 404
    assert (recorder.dir / PLAYLIST).exists()


async def test_cors_preflight(aiohttp_client: Callable[..., Awaitable[Client]],
                              tmp_path: Path) -> None:
    client = await make_client(aiohttp_client, tmp_path / "hls")
    resp = await client.options("/hls/r_http/index.m3u8", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "range"})
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in resp.headers["Access-Control-Allow-Methods"]
    assert "Range" in resp.headers["Access-Control-Allow-Headers"]


async def test_hls_ctx_attaches_to_the_media_listeners(
        aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path) -> None:
    """What ``app.py`` registers: the feeds follow the media service's publishers for as long
    as the app runs."""
    settings = config.load(env={}, overrides={"hls": {"dir": str(tmp_path)}})
    events = SimpleNamespace(on_video_started=[], on_video_stopped=[])
    app = web.Application()
    app[SERVICES] = SimpleNamespace(settings=settings,  # type: ignore[assignment]
                                    metrics=Metrics())
    app[MEDIA] = events  # type: ignore[assignment]
    app.cleanup_ctx.append(hls.hls_ctx())
    client = await aiohttp_client(app)
    assert len(events.on_video_started) == 1 and len(events.on_video_stopped) == 1
    await client.close()
    assert events.on_video_started == [] and events.on_video_stopped == []
