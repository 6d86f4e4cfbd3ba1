"""Rooms routed to hosts by their id (docs/CAPACITY.md scenario B, "Routing decides the cost"):
HAProxy hashes the room id in the path on a consistent-hash ring, so each room's viewers and its
publisher's WHIP requests land on one host, and when a host dies only its own rooms move, each
as a whole to one other host, recovering what they missed. Three server processes, each in a
network namespace of its own, one Valkey Cluster (tests/multihost/hosts.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio.cluster import RedisCluster

from live_server.store.core import cluster_url
from live_server.store.keys import Keys
from tests.conftest import token
from tests.faults.show import FAST_ENV
from tests.multihost.conftest import HOSTS
from tests.multihost.hosts import ROOM_HASH, Hosts, deployment, until
from tests.multihost.test_hosts import TimedFollower

pytestmark = [pytest.mark.multihost, pytest.mark.system]

VIEWERS = 3  # per room
MIN_ROOMS = 6
MAX_ROOMS = 20  # more rooms made until two hosts serve some (a random id lands anywhere)


async def request(http: aiohttp.ClientSession, url: str, method: str, path: str,
                  user: str, role: Any = "viewer", body: Any = None) -> tuple[int, Any, str]:
    """(status, body, the host HAProxy sent it to) over a new connection each time."""
    headers = {"Authorization": f"Bearer {token(user, role)}"}
    async with http.request(method, url + path, json=body, headers=headers) as resp:
        answer = await resp.json(content_type=None) if resp.content_type.endswith("json") \
            else await resp.text()
        return resp.status, answer, resp.headers.get("X-Served-By", "")


async def live_room(http: aiohttp.ClientSession, url: str, creator: str) -> str:
    status, room, _ = await request(http, url, "POST", "/api/rooms", creator, "creator",
                                    {"title": "Routed"})
    assert status == 201, room
    status, room, _ = await request(http, url, "POST", f"/api/rooms/{room['id']}/start",
                                    creator, "creator")
    assert status == 200, room
    return str(room["id"])


async def served_by(http: aiohttp.ClientSession, url: str, room: str) -> set[str]:
    """The hosts that answered the room's own paths: its page data and a WHIP offer (refused
    for its body, which is enough to see where it went)."""
    hosts = set()
    status, _, host = await request(http, url, "GET", f"/api/rooms/{room}", "probe")
    assert status == 200
    hosts.add(host)
    status, _, host = await request(http, url, "POST", f"/api/rooms/{room}/whip", "probe",
                                    "viewer")
    assert status in (400, 403, 415), status
    hosts.add(host)
    return hosts


async def test_rooms_routed_by_their_id_stay_whole(hosts: Hosts, tmp_path: Path) -> None:
    store: Any = None
    followers: dict[str, list[TimedFollower]] = {}
    connector = aiohttp.TCPConnector(force_close=True)  # each request routed afresh
    async with deployment(hosts, tmp_path, FAST_ENV, replicas=0, balance=ROOM_HASH) as up, \
            aiohttp.ClientSession(connector=connector) as http:
        servers, balancer, loop = up.servers, up.balancer, asyncio.get_running_loop()
        cluster, prefix = up.cluster, up.prefix
        try:
            home: dict[str, str] = {}  # room → the one host that answers its paths
            while len(home) < MIN_ROOMS or len(set(home.values())) < 2:
                assert len(home) < MAX_ROOMS, f"every room on one host: {home}"
                room = await live_room(http, balancer.url, f"c{len(home)}")
                answered = await served_by(http, balancer.url, room)
                assert len(answered) == 1, (room, answered)  # page and WHIP: one host
                home[room] = answered.pop()

            for room in home:
                followers[room] = [TimedFollower([balancer.url], room, f"v{n}")
                                   for n in range(VIEWERS)]
                for f in followers[room]:
                    f.start()
            for group in followers.values():
                for f in group:
                    await f.joined()
            store = RedisCluster.from_url(cluster_url(cluster.url) or "")
            keys = Keys(prefix)

            async def processes(room: str) -> dict[bytes, bytes] | None:
                """The room's online count per process, once its viewers are all counted."""
                found: dict[bytes, bytes] = await store.hgetall(keys.room(room).online)
                counted = sum(int(v) for v in found.values())
                return found if counted == VIEWERS and len(found) == 1 else None

            # every room is served by exactly one process, its viewers all there
            for room in home:
                await until(f"room {room}'s viewers not on one process", lambda r=room:
                            processes(r))

            victim_name = home[next(iter(home))]
            victim = servers[int(victim_name.removeprefix("h"))]
            moved_rooms = [r for r, h in home.items() if h == victim_name]
            kept_rooms = [r for r, h in home.items() if h != victim_name]
            victim.kill()

            async def down() -> bool:
                stats = await loop.run_in_executor(None, balancer.stats)
                return stats[victim_name]["status"].startswith("DOWN")
            await until("HAProxy never saw the killed host down", down)

            # each of its rooms moved as a whole to one other host, recovering what it missed
            for room in moved_rooms:
                await until(f"room {room} did not come back whole", lambda r=room:
                            processes(r))
                answered = await served_by(http, balancer.url, room)
                assert len(answered) == 1 and victim_name not in answered, answered
                for f in followers[room]:
                    await until(f"{f.user} of {room} never recovered",
                                lambda f=f: _recovered(f))
                    assert f.rejoins == 1 and f.snapshots == 0, (f.user, f.close_codes)
            # the other rooms did not move
            for room in kept_rooms:
                assert await served_by(http, balancer.url, room) == {home[room]}
                assert all(f.rejoins == 0 for f in followers[room]), room
        finally:
            for group in followers.values():
                for f in group:
                    await f.stop()
            if store is not None:
                await store.aclose()
    spread = {h: sum(1 for r in home.values() if r == h) for h in sorted(set(home.values()))}
    print(f"\n  {len(home)} rooms routed by id over {HOSTS} hosts {spread}; host "
          f"{victim_name} killed: its {len(moved_rooms)} room(s) moved whole to one host "
          f"each, the other {len(kept_rooms)} stayed")


async def _recovered(follower: TimedFollower) -> bool:
    return len(follower.welcomed_at) == 1
