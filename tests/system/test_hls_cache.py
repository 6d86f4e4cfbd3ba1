"""HLS behind a cache: nginx from Debian as a caching reverse proxy (the CDN stand-in,
``loadtest/hls_cache.py``, the configuration OPERATIONS.md shows) in front of a real server
whose room has a real H.264 publisher (aiortc over WHIP, loopback).

Two hundred Low-Latency HLS clients follow the live edge through the cache at once, as hls.js
does in low-latency mode: the playlist, the newest complete segment, then for each next part a
blocking reload (``_HLS_msn``/``_HLS_part``) and the part. Every client gets valid playlists
(m3u8) and MPEG-TS parts, and the origin, counting its own answers
(``live_hls_requests_total``), serves a small fraction of what the clients asked: the cache
keeps what the origin's ``Cache-Control`` allows and collapses a crowd's identical requests.

Then the room broadcasts again a few seconds later (the publisher left and came back): clients
tuning in through the same cache get the new broadcast's parts, never a cached answer of the old
one (a blocking reload's answer is kept six target durations under its URL)."""

from __future__ import annotations

import asyncio
import collections
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import av
import m3u8
import pytest

from loadtest.hls_cache import CacheProxy, start_cache
from tests.conftest import ServerProcess, token
from tests.helpers import WAIT_S
from tests.integration.media_peers import Publisher

pytestmark = pytest.mark.system

CLIENTS = 200
PARTS = 6  # each client follows this many parts (about 2 s at the default 333 ms)
TS_PACKET = 188


@pytest.fixture
async def cache_in_front(tmp_path: Path) -> AsyncIterator[list[CacheProxy]]:
    """Caches started by the test, stopped by pid at its end."""
    started: list[CacheProxy] = []
    yield started
    for cache in started:
        await asyncio.to_thread(cache.stop)


async def live_room(server: ServerProcess, creator: str) -> str:
    headers = {"Authorization": f"Bearer {token(creator, 'creator')}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/rooms", json={"title": "Cached"},
                             headers=headers) as resp:
            room = await resp.json()
        async with http.post(f"{server.url}/api/rooms/{room['id']}/start",
                             headers=headers) as resp:
            assert resp.status == 200
    return str(room["id"])


async def publish(server: ServerProcess, room: str, creator: str) -> Publisher:
    publisher = Publisher("H264")
    async with aiohttp.ClientSession() as http:
        status = await publisher.publish(http, f"{server.url}/api/rooms/{room}/whip",
                                         token(creator, "creator"))
    assert status == 201
    return publisher


async def playlist_when(url: str, ok: Any) -> m3u8.M3U8:
    """The origin's playlist once ``ok`` holds for it (a hang guard, not a timing assertion)."""
    async with aiohttp.ClientSession() as http, asyncio.timeout(WAIT_S):
        while True:
            async with http.get(url) as resp:
                if resp.status == 200:
                    playlist = m3u8.loads(await resp.text())
                    if ok(playlist):
                        return playlist
            await asyncio.sleep(0.1)


def parts_of(playlist: m3u8.M3U8) -> list[tuple[int, int, str]]:
    """(media sequence number, index in its segment, URI) of every listed part, in order."""
    out = []
    for segment in playlist.segments:
        for i, part in enumerate(segment.parts):
            out.append((int(segment.media_sequence), i, str(part.uri)))
    return out


def epoch_of(name: str) -> str:
    """The recorder's random prefix of a segment's or part's name: one per broadcast."""
    return name.split("-", 1)[0]


async def origin_requests(server: ServerProcess) -> dict[str, float]:
    """The origin's own count of its HLS answers, by kind and status."""
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/metrics") as resp:
        text = await resp.text()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line.startswith("live_hls_requests_total{")}


@dataclass
class Follower:
    """One low-latency client, through the cache: what it asked and what it got."""

    base: str  # .../hls/<room>/
    requests: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    cache: collections.Counter[str] = field(default_factory=collections.Counter)
    playlists: list[m3u8.M3U8] = field(default_factory=list)
    parts: list[tuple[str, bytes]] = field(default_factory=list)
    segment: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # Cache-Control by kind

    async def get(self, http: aiohttp.ClientSession, path: str, kind: str) -> tuple[int, bytes]:
        self.requests += 1
        async with http.get(self.base + path) as resp:
            body = await resp.read()
            self.statuses[resp.status] += 1
            self.cache[resp.headers.get("X-Cache-Status", "none")] += 1
            self.headers.setdefault(kind, resp.headers.get("Cache-Control", ""))
            return resp.status, body

    async def playlist(self, http: aiohttp.ClientSession, query: str = "") -> m3u8.M3U8:
        status, body = await self.get(http, "index.m3u8" + query,
                                      "blocking" if query else "playlist")
        assert status == 200, (query, status, body[:200])
        playlist = m3u8.loads(body.decode("ascii"))
        self.playlists.append(playlist)
        return playlist

    async def follow(self, http: aiohttp.ClientSession, parts: int) -> None:
        playlist = await self.playlist(http)
        complete = [s for s in playlist.segments if s.uri]
        status, self.segment = await self.get(http, complete[-1].uri, "segment")
        assert status == 200
        msn, index, uri = parts_of(playlist)[-1]  # the live edge
        while True:
            status, body = await self.get(http, uri, "part")
            assert status == 200, (uri, status)
            self.parts.append((uri, body))
            if len(self.parts) == parts:
                return
            later = [p for p in parts_of(playlist) if p[:2] > (msn, index)]
            while not later:
                playlist = await self.playlist(http, f"?_HLS_msn={msn}&_HLS_part={index + 1}")
                later = [p for p in parts_of(playlist) if p[:2] > (msn, index)]
            msn, index, uri = later[0]


def valid_ts(body: bytes) -> bool:
    """Whole MPEG-TS packets, each starting with the sync byte."""
    return (len(body) > 0 and len(body) % TS_PACKET == 0
            and all(body[i] == 0x47 for i in range(0, len(body), TS_PACKET)))


def video_frames(body: bytes) -> int:
    """Pictures decoded from a segment (it starts with an IDR picture)."""
    with av.open(io.BytesIO(body), format="mpegts") as container:
        return sum(1 for _ in container.decode(video=0))


def video_packets(body: bytes) -> int:
    """H.264 access units in a part (a part may start between keyframes: demuxed, not
    decoded on its own)."""
    with av.open(io.BytesIO(body), format="mpegts") as container:
        assert container.streams.video[0].codec_context.name == "h264"
        return sum(1 for packet in container.demux(video=0) if packet.size)


async def followers_through(cache: CacheProxy, room: str, count: int,
                            parts: int) -> list[Follower]:
    base = f"{cache.url}/hls/{room}/"
    followers = [Follower(base) for _ in range(count)]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=30)) as http:
        async with asyncio.timeout(4 * WAIT_S):  # a hang guard, not a timing assertion
            await asyncio.gather(*(f.follow(http, parts) for f in followers))
    return followers


async def test_two_hundred_players_through_nginx_cost_the_origin_a_few_requests(
        server_factory: Any, cache_in_front: list[CacheProxy], tmp_path: Path) -> None:
    server = await server_factory(env={"LIVE_HLS_DIR": str(tmp_path / "hls")})
    room = await live_room(server, "hc_creator")
    publisher = await publish(server, room, "hc_creator")
    try:
        # enough of the broadcast for a player to tune in (a complete segment and parts)
        await playlist_when(f"{server.url}/hls/{room}/index.m3u8",
                            lambda p: any(s.uri for s in p.segments) and parts_of(p))
        cache = await asyncio.to_thread(start_cache, server.url, tmp_path / "nginx")
        cache_in_front.append(cache)
        before = await origin_requests(server)
        followers = await followers_through(cache, room, CLIENTS, PARTS)
        after = await origin_requests(server)
    finally:
        await publisher.close()

    for f in followers:
        assert f.statuses == {200: f.requests}
        assert len(f.parts) == PARTS
        for playlist in f.playlists:  # every playlist a valid low-latency one
            assert playlist.server_control.can_block_reload == "YES"
            assert playlist.part_inf.part_target > 0 and parts_of(playlist)
        assert all(valid_ts(body) for _, body in f.parts) and valid_ts(f.segment)
        # consecutive parts of one broadcast: nothing skipped, nothing from elsewhere
        names = [uri for uri, _ in f.parts]
        numbers = [int(uri.rsplit("-p", 1)[1].removesuffix(".ts")) for uri in names]
        assert numbers == list(range(numbers[0], numbers[0] + PARTS))
        assert len({epoch_of(n) for n in names}) == 1
    # the bytes are video: a segment decodes to pictures, a part holds H.264 access units
    assert video_frames(followers[0].segment) > 0
    assert video_packets(followers[-1].parts[-1][1]) > 0
    # the origin's headers came through the cache as it sent them
    headers = followers[0].headers
    assert headers["part"] == headers["segment"] == "public, max-age=86400, immutable"
    assert headers["playlist"] == "public, max-age=1"
    assert headers["blocking"] == "public, max-age=12"  # six target durations of 2 s

    asked = sum(f.requests for f in followers)
    served = sum(after.values()) - sum(before.values())
    hits = sum(f.cache["HIT"] for f in followers)
    assert served > 0 and hits > asked / 2
    assert served * 10 <= asked, (served, asked, after)
    # what reached the origin, by nginx's own count too
    await asyncio.sleep(1.5)  # nginx flushes its access log every second
    assert cache.cache_statuses()["origin"] == served


async def test_a_new_broadcast_is_not_hidden_by_the_old_one_in_the_cache(
        server_factory: Any, cache_in_front: list[CacheProxy], tmp_path: Path) -> None:
    """The room's publisher leaves and a new broadcast begins within the six target durations
    a cache keeps a blocking reload's answer: players tuning in to the new one through the same
    cache follow its parts, with its playlists."""
    server = await server_factory(env={"LIVE_HLS_DIR": str(tmp_path / "hls")})
    room = await live_room(server, "hc_again")
    origin = f"{server.url}/hls/{room}/index.m3u8"
    cache = await asyncio.to_thread(start_cache, server.url, tmp_path / "nginx")
    cache_in_front.append(cache)
    publisher = await publish(server, room, "hc_again")
    try:
        first = await playlist_when(origin, lambda p: any(s.uri for s in p.segments)
                                    and parts_of(p))
        old = epoch_of(parts_of(first)[0][2])
        earlier = await followers_through(cache, room, 20, PARTS)
        assert all(len(f.parts) == PARTS for f in earlier)
    finally:
        await publisher.close()
    await playlist_when(origin, lambda p: p.is_endlist)  # the publisher is gone
    publisher = await publish(server, room, "hc_again")
    try:
        second = await playlist_when(origin, lambda p: not p.is_endlist
                                     and any(s.uri for s in p.segments) and parts_of(p))
        new = epoch_of(parts_of(second)[0][2])
        assert new != old
        later = await followers_through(cache, room, 20, PARTS)
    finally:
        await publisher.close()
    for f in later:
        assert f.statuses == {200: f.requests}
        assert {epoch_of(uri) for uri, _ in f.parts} == {new}
        for playlist in f.playlists:
            assert not playlist.is_endlist
            assert {epoch_of(uri) for _, _, uri in parts_of(playlist)} == {new}
