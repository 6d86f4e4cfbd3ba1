"""Low-Latency HLS over a real aiohttp server with the app's own HLS context, serving what a
real recorder writes from real H.264 while the test feeds it frame by frame: blocking reloads
return when the part appears and not before, a part too far ahead is a 400, a wait that is not
satisfied in three target durations is a 503, the per-process cap refuses with 503 and
Retry-After and counts it, the preload-hinted part blocks until written, delta updates skip.

The recorder here does not nudge the server's waits (it is not the app's feed), so every wait
below is answered by watching the playlist file: what a process that is not the room's media
home does."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import av
import m3u8
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client import generate_latest

from live_server import config
from live_server.media.hls import HlsRecorder
from live_server.media.llhls import Position, position
from live_server.metrics import Metrics
from live_server.web import hls
from live_server.web.keys import SERVICES
from live_server.web.media import MEDIA
from tests.conftest import token
from tests.integration.media_peers import Publisher
from tests.unit.test_hls_recorder import FPS, STEP, AccessUnit, encode

Client = TestClient[Any, Any]
ROOM = "r_ll"


@pytest.fixture(scope="module")
def units() -> list[AccessUnit]:
    return encode(10)


class Source:
    """The publisher's side: feeds the recorder one frame at a time."""

    def __init__(self, rec: HlsRecorder, units: list[AccessUnit]) -> None:
        self.rec = rec
        self._units: Iterator[AccessUnit] = iter(units)

    def frames(self, n: int) -> None:
        for _ in range(n):
            au = next(self._units)
            self.rec.feed_video(au.data, 9000 + au.index * STEP, au.keyframe)

    def text(self) -> str:
        return self.rec.playlist_path.read_text()


async def make_app(aiohttp_client: Callable[..., Awaitable[Client]], root: Path,
                   **hls_settings: Any) -> tuple[Client, Metrics]:
    settings = config.load(env={}, overrides={"hls": {"dir": str(root), **hls_settings}})
    metrics = Metrics()
    app = web.Application()
    app[SERVICES] = SimpleNamespace(settings=settings,  # type: ignore[assignment]
                                    metrics=metrics)
    app[MEDIA] = SimpleNamespace(on_video_started=[],  # type: ignore[assignment]
                                 on_video_stopped=[])
    app.add_routes(hls.routes)
    app.on_response_prepare.append(hls.count_request)  # as create_app does
    app.cleanup_ctx.append(hls.hls_ctx())
    return await aiohttp_client(app), metrics


@pytest.fixture
async def served(aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path,
                 units: list[AccessUnit]) -> AsyncIterator[tuple[Client, Source, Metrics]]:
    client, metrics = await make_app(aiohttp_client, tmp_path / "hls", segment_ms=1000)
    source = Source(HlsRecorder(ROOM, tmp_path / "hls", segment_ms=1000, window=12,
                                part_ms=333), units)
    source.frames(2 * FPS + 1)  # segments 0 and 1, segment 2 begun (no part of it yet)
    yield client, source, metrics


async def feed_until_done(source: Source, request: asyncio.Task[Any]) -> int:
    """Feed frames (in real time's order, faster) until the request is answered; how many."""
    fed = 0
    while not request.done():
        source.frames(1)
        fed += 1
        await asyncio.sleep(0.005)
    return fed


async def test_a_blocking_reload_returns_when_the_part_appears_not_before(
        served: tuple[Client, Source, Metrics]) -> None:
    client, source, metrics = served
    pos = position(source.text())
    assert (pos.next_msn, pos.open_parts) == (2, 0)
    url = f"/hls/{ROOM}/index.m3u8?_HLS_msn=2&_HLS_part=1"
    request = asyncio.create_task(client.get(url))
    await asyncio.sleep(0.3)
    assert not request.done()  # part 2.1 does not exist yet
    fed = await feed_until_done(source, request)
    resp = await request
    assert resp.status == 200
    # part 2.0 is 9 frames, part 2.1 9 more: answered once it was written, within the poll
    assert 18 <= fed <= 18 + 10
    text = await resp.text()
    playlist = m3u8.loads(text)
    assert [p.uri for p in playlist.segments[-1].parts][:2] == [
        p.uri for p in m3u8.loads(source.text()).segments[-1].parts][:2]
    assert len(playlist.segments[-1].parts) >= 2
    assert resp.headers["Cache-Control"] == "public, max-age=6"
    assert resp.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    # a request the playlist already satisfies is answered at once
    resp = await client.get(f"/hls/{ROOM}/index.m3u8?_HLS_msn=1")
    assert resp.status == 200
    assert 'live_hls_blocking_total{result="answered"} 1.0' in generate_latest(
        metrics.registry).decode()


async def test_a_whole_segment_and_a_part_past_the_last_one(
        served: tuple[Client, Source, Metrics]) -> None:
    client, source, _ = served
    # _HLS_msn alone: until segment 2 is complete
    assert (await blocked(client, source, "_HLS_msn=2")).next_msn == 3
    # a part index past segment 2's last part is part 0 of segment 3, not there yet
    pos = await blocked(client, source, "_HLS_msn=2&_HLS_part=9")
    assert (pos.next_msn, pos.open_parts, pos.last_parts) == (3, 1, 4)


async def blocked(client: Client, source: Source, query: str) -> Position:
    """A blocking reload that is still waiting after 0.2 s, answered 200 once frames come."""
    resp = await answered_once_fed(client, source, f"/hls/{ROOM}/index.m3u8?{query}")
    return position(await resp.text())


async def answered_once_fed(client: Client, source: Source, path: str) -> Any:
    """GET ``path``: still waiting after 0.2 s, answered 200 once frames come."""
    request = asyncio.create_task(client.get(path))
    await asyncio.sleep(0.2)
    assert not request.done()
    await feed_until_done(source, request)
    resp = await request
    assert resp.status == 200
    return resp


async def test_bad_and_far_requests_are_refused_at_once(
        served: tuple[Client, Source, Metrics]) -> None:
    client, _, metrics = served
    for query in ("_HLS_part=1", "_HLS_msn=x", "_HLS_msn=-1", "_HLS_msn=5&_HLS_part=0"):
        resp = await asyncio.wait_for(client.get(f"/hls/{ROOM}/index.m3u8?{query}"), 1)
        assert resp.status == 400, query
        assert resp.headers["Cache-Control"] == "no-store"
        assert (await resp.json())["error"]["code"] == "bad_request"
    assert 'live_hls_blocking_total{result="too_far"} 1.0' in generate_latest(
        metrics.registry).decode()


async def test_a_wait_is_bounded_by_three_target_durations(
        served: tuple[Client, Source, Metrics]) -> None:
    client, _, metrics = served
    started = asyncio.get_running_loop().time()
    resp = await client.get(f"/hls/{ROOM}/index.m3u8?_HLS_msn=3")  # nobody feeds meanwhile
    waited = asyncio.get_running_loop().time() - started
    assert resp.status == 503
    assert 2.9 <= waited < 4.5  # target duration 1 s
    assert resp.headers["Retry-After"] == "1"
    assert (await resp.json())["error"]["code"] == "hls_not_yet"
    assert 'live_hls_blocking_total{result="timed_out"} 1.0' in generate_latest(
        metrics.registry).decode()


async def test_the_cap_on_waiting_requests_refuses_with_retry_after(
        aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path,
        units: list[AccessUnit]) -> None:
    client, metrics = await make_app(aiohttp_client, tmp_path / "hls", segment_ms=1000,
                                     max_blocking=2)
    source = Source(HlsRecorder(ROOM, tmp_path / "hls", segment_ms=1000, window=6,
                                part_ms=333), units)
    source.frames(FPS + 1)
    waiting = [asyncio.create_task(client.get(f"/hls/{ROOM}/index.m3u8?_HLS_msn=1&_HLS_part=2"))
               for _ in range(2)]
    await asyncio.sleep(0.2)
    exposition = generate_latest(metrics.registry).decode()
    assert "live_hls_blocking_waiting 2.0" in exposition
    resp = await client.get(f"/hls/{ROOM}/index.m3u8?_HLS_msn=1&_HLS_part=2")
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "1"
    assert (await resp.json())["error"]["code"] == "hls_busy"
    await feed_until_done(source, asyncio.gather(*waiting))
    assert [r.status for r in await asyncio.gather(*waiting)] == [200, 200]
    exposition = generate_latest(metrics.registry).decode()
    assert 'live_hls_blocking_total{result="busy"} 1.0' in exposition
    assert "live_hls_blocking_waiting 0.0" in exposition


async def test_the_preload_hinted_part_blocks_until_written_then_decodes(
        served: tuple[Client, Source, Metrics]) -> None:
    client, source, _ = served
    hint = m3u8.loads(source.text()).preload_hint.uri
    resp = await answered_once_fed(client, source, f"/hls/{ROOM}/{hint}")
    assert resp.headers["Content-Type"] == "video/mp2t"
    assert resp.headers["Cache-Control"] == "public, max-age=86400, immutable"
    body = await resp.read()
    with av.open(io.BytesIO(body), format="mpegts") as container:
        frames = list(container.decode(video=0))
    assert frames and frames[0].key_frame  # the first part of segment 2 starts at an IDR
    # a part name that is neither written nor hinted is a 404 at once
    later = hint.replace("-p", "-p9")
    resp = await asyncio.wait_for(client.get(f"/hls/{ROOM}/{later}"), 1)
    assert resp.status == 404


async def test_delta_updates_and_plain_requests(
        served: tuple[Client, Source, Metrics]) -> None:
    client, source, _ = served
    source.frames(6 * FPS)  # about 8 s listed: more than the 6 s skip boundary
    resp = await client.get(f"/hls/{ROOM}/index.m3u8?_HLS_skip=YES")
    assert resp.status == 200
    text = await resp.text()
    update = m3u8.loads(text)
    assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=" in text and update.version == 9
    full = m3u8.loads(source.text())
    kept = [s.uri for s in update.segments]
    assert kept and kept == [s.uri for s in full.segments][-len(kept):]
    assert len(kept) < len(full.segments)
    resp = await client.get(f"/hls/{ROOM}/index.m3u8")
    assert await resp.text() == source.text()
    assert resp.headers["Cache-Control"] == "public, max-age=1"


async def test_a_blocking_request_the_ended_playlist_answers_is_cached_as_a_plain_one(
        served: tuple[Client, Source, Metrics]) -> None:
    """A playlist with #EXT-X-ENDLIST ignores delivery directives (RFC 8216bis), so its answer
    is the plain playlist's and is cached as briefly: under a blocking reload's URL it would
    otherwise be kept six target durations, and a broadcast starting again meanwhile could
    never be tuned into at that URL."""
    client, source, _ = served
    waiting = asyncio.create_task(client.get(f"/hls/{ROOM}/index.m3u8?_HLS_msn=2&_HLS_part=1"))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    source.rec.close(remove=False)  # the publisher left: the playlist ends
    resp = await asyncio.wait_for(waiting, 5)
    assert resp.status == 200 and "#EXT-X-ENDLIST" in await resp.text()
    assert resp.headers["Cache-Control"] == "public, max-age=1"
    resp = await asyncio.wait_for(client.get(f"/hls/{ROOM}/index.m3u8?_HLS_msn=4"), 1)
    assert resp.status == 200 and "#EXT-X-ENDLIST" in await resp.text()
    assert resp.headers["Cache-Control"] == "public, max-age=1"


async def test_a_classic_playlist_is_cached_for_half_a_target_duration(
        aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path,
        units: list[AccessUnit]) -> None:
    """Without low latency the playlist changes once a segment: half a target duration
    (whole seconds, at least 1) bounds how stale a cache makes it, as for any HLS origin."""
    client, _ = await make_app(aiohttp_client, tmp_path / "hls", low_latency=False,
                               segment_ms=6000)
    source = Source(HlsRecorder(ROOM, tmp_path / "hls", segment_ms=6000, window=6), units)
    source.frames(7 * FPS)
    resp = await client.get(f"/hls/{ROOM}/index.m3u8")
    assert resp.status == 200 and "#EXT-X-TARGETDURATION:6" in await resp.text()
    assert resp.headers["Cache-Control"] == "public, max-age=3"


async def test_every_answer_is_counted_by_kind_and_status(
        served: tuple[Client, Source, Metrics]) -> None:
    """live_hls_requests_total{kind,status}: what the origin served, for comparing with what
    the players asked a cache in front of it (its final status: a revalidation's 304
    included)."""
    client, _, metrics = served
    resp = await client.get(f"/hls/{ROOM}/index.m3u8")
    playlist = m3u8.loads(await resp.text())
    etag = resp.headers["ETag"]
    resp = await client.get(f"/hls/{ROOM}/index.m3u8", headers={"If-None-Match": etag})
    assert resp.status == 304
    assert (await client.get(f"/hls/{ROOM}/index.m3u8?_HLS_msn=1")).status == 200
    assert (await client.get(f"/hls/{ROOM}/{playlist.segments[0].uri}")).status == 200
    assert (await client.get(f"/hls/{ROOM}/{playlist.segments[-1].parts[0].uri}")).status == 200
    assert (await client.get(f"/hls/{ROOM}/0123abcd-7.ts")).status == 404
    assert (await client.get(f"/hls/{ROOM}/index.m3u8?_HLS_msn=9")).status == 400
    exposition = generate_latest(metrics.registry).decode()
    counted = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
               for line in exposition.splitlines() if line.startswith("live_hls_requests_total")}
    assert counted == {
        'live_hls_requests_total{kind="playlist",status="200"}': 1.0,
        'live_hls_requests_total{kind="playlist",status="304"}': 1.0,
        'live_hls_requests_total{kind="playlist_blocking",status="200"}': 1.0,
        'live_hls_requests_total{kind="playlist_blocking",status="400"}': 1.0,
        'live_hls_requests_total{kind="segment",status="200"}': 1.0,
        'live_hls_requests_total{kind="segment",status="404"}': 1.0,
        'live_hls_requests_total{kind="part",status="200"}': 1.0,
    }


async def test_with_low_latency_off_the_directives_are_ignored(
        aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path,
        units: list[AccessUnit]) -> None:
    client, _ = await make_app(aiohttp_client, tmp_path / "hls", low_latency=False)
    source = Source(HlsRecorder(ROOM, tmp_path / "hls", segment_ms=1000, window=6), units)
    source.frames(3 * FPS)
    resp = await asyncio.wait_for(
        client.get(f"/hls/{ROOM}/index.m3u8?_HLS_msn=40&_HLS_part=0&_HLS_skip=YES"), 1)
    assert resp.status == 200
    assert await resp.text() == source.text()
    assert "#EXT-X-PART" not in source.text()


@pytest.mark.system
async def test_blocking_reloads_on_either_of_two_processes(server_factory: Any,
                                                           tmp_path: Path) -> None:
    """Two worker processes on one port, a real H.264 publisher on one of them (the media
    home, which writes the room's folder): blocking reloads over fresh connections land on
    either worker (SO_REUSEPORT) and each is answered once its part exists, with that part. The
    home's own metrics show that not all of them were its own."""
    server = await server_factory(workers=2, env={"LIVE_HLS_DIR": str(tmp_path / "hls")})
    creator = token("ll_creator", "creator")
    asks = 10
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {creator}"}
        async with http.post(f"{server.url}/api/rooms", json={"title": "LL"},
                             headers=headers) as resp:
            room = (await resp.json())["id"]
        async with http.post(f"{server.url}/api/rooms/{room}/start", headers=headers) as resp:
            assert resp.status == 200
        publisher = Publisher("H264")
        try:
            assert await publisher.publish(http, f"{server.url}/api/rooms/{room}/whip",
                                           creator) == 201
            assert publisher.location is not None
            home = publisher.location.split("/api/")[0]
            url = f"{server.url}/hls/{room}/index.m3u8"
            pos = None
            for _ in range(100):
                async with http.get(url) as resp:
                    if resp.status == 200:
                        pos = position(await resp.text())
                        if pos.open_parts or pos.next_msn:
                            break
                await asyncio.sleep(0.1)
            assert pos is not None and pos.low_latency
            for _ in range(asks):
                async with http.get(url) as resp:
                    now = position(await resp.text())
                want = (now.next_msn, now.open_parts)  # the next part: not written yet
                assert not now.has(*want)
                async with aiohttp.ClientSession(  # a new connection: either worker
                        connector=aiohttp.TCPConnector(force_close=True)) as fresh:
                    async with fresh.get(f"{url}?_HLS_msn={want[0]}&_HLS_part={want[1]}",
                                         timeout=aiohttp.ClientTimeout(total=10)) as resp:
                        assert resp.status == 200
                        assert position(await resp.text()).has(*want)
            async with http.get(f"{home}/metrics") as resp:
                metrics = await resp.text()
            answered_home = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                                if line.startswith('live_hls_blocking_total{result="answered"}'))
            assert answered_home < asks  # the other worker answered some, from the files
        finally:
            await publisher.close()
