"""Several hosts behind a real load balancer: three server processes, each in a network
namespace of its own with its own address (tests/multihost/hosts.py), one Valkey Cluster, and
HAProxy in front balancing round robin without stickiness. A room has viewers on every host;
one host's server is SIGKILLed mid-show; its viewers reconnect through HAProxy to the others
with ``since`` and ``epoch`` and recover every guaranteed event, while buyers, grabbers, a
creator launching red packets and chatting viewers go on."""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio.cluster import RedisCluster

from live_server.protocol import GUARANTEED_EVENTS
from live_server.store.core import cluster_url
from live_server.store.keys import Keys
from tests.faults.followers import Follower
from tests.faults.harness import Run
from tests.faults.scale import Scale
from tests.faults.show import CREATOR, FAST_ENV, Show
from tests.multihost.conftest import HOSTS
from tests.multihost.hosts import WAIT_S, Hosts, HostServer, deployment, until

pytestmark = [pytest.mark.multihost, pytest.mark.system]

# a 6 s show, one host killed 2 s in; 4 viewers per host (round robin over 12 connections)
SHORT = Scale(servers=HOSTS, buyers=6, grabbers=6, chatters=3, watchers=9, show_s=6.0,
              faults_at=(2.0,), down_s=0.0, stalls_s=(), max_orders=200, launches=12,
              pace_s=0.05)
FULL = Scale(servers=HOSTS, buyers=20, grabbers=20, chatters=8, watchers=28, show_s=40.0,
             faults_at=(10.0,), down_s=0.0, stalls_s=(), max_orders=240, launches=80,
             pace_s=0.15)
# a viewer whose host died waits this long before it reconnects (as a client backs off), so
# that the creator's announcements made meanwhile must come back by recovery
AWAY_S = 1.5
ANNOUNCEMENTS = 3  # sent by the creator while the killed host's viewers are away


class TimedFollower(Follower):
    """A follower that waits ``AWAY_S`` after its socket closed before it reconnects, and
    notes for each reconnection when its socket closed, when it tried again, when the new
    welcome came and the connection that recovered it."""

    def __init__(self, urls: list[str], room: str, user: str) -> None:
        super().__init__(urls, room, user)
        self.closed_at: list[float] = []
        self.tried_at: list[float] = []
        self.welcomed_at: list[float] = []
        self.recoveries: list[Any] = []  # the Viewer of each reconnection

    async def _connect(self, session: aiohttp.ClientSession) -> Any:
        if len(self.tried_at) < len(self.closed_at):
            await asyncio.sleep(AWAY_S)
            self.tried_at.append(asyncio.get_running_loop().time())
        viewer = await super()._connect(session)
        if viewer is not None and self.closed_at and len(self.welcomed_at) < len(self.closed_at):
            self.welcomed_at.append(asyncio.get_running_loop().time())
            self.recoveries.append(viewer)
        return viewer

    def _keep(self, viewer: Any) -> None:
        if not self._stop.is_set():
            self.closed_at.append(asyncio.get_running_loop().time())
        super()._keep(viewer)

    def recovered(self) -> list[dict[str, Any]]:
        """The missed events each reconnection's welcome was followed by (one ``events``
        frame right after a ``recovered`` welcome)."""
        got: list[dict[str, Any]] = []
        for viewer in self.recoveries:
            frames = viewer.frames
            if (len(frames) > 1 and frames[0].get("recovered")
                    and frames[1].get("type") == "events"):
                got += frames[1]["events"]
        return got


async def open_sockets(http: aiohttp.ClientSession, server: HostServer) -> int:
    """The host's open room websockets, as its /metrics says (asked at the host's own
    address, not through the balancer)."""
    async with http.get(server.url + "/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith("live_ws_connections "):
            return int(float(line.split()[1]))
    raise AssertionError("no live_ws_connections in /metrics")


@pytest.mark.parametrize("scale", [pytest.param(SHORT, id="short"),
                                   pytest.param(FULL, id="full",
                                                marks=pytest.mark.faults_full)])
async def test_a_host_killed_mid_show(hosts: Hosts, tmp_path: Path, scale: Scale) -> None:
    """Every host has viewers of the room; one host's server is SIGKILLed; each of its viewers
    comes back through HAProxy on another host with ``since``/``epoch``, recovered (no
    snapshot), and over all its connections got every guaranteed event of the room once. The
    books (orders, red packets, grabs, ledger, chat) match what was acknowledged and the audit
    is clean. Printed: viewers per host before and after, reconnect time p50/max, events
    recovered."""
    loop = asyncio.get_running_loop()
    store: Any = None
    async with deployment(hosts, tmp_path, FAST_ENV) as up, aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200)) as http:
        servers, balancer, cluster, prefix = up.servers, up.balancer, up.cluster, up.prefix
        try:
            show = Show(http, [balancer.url])
            await show.setup(sale_stock=scale.buyers * scale.max_orders)
            run = Run(show, scale)
            run.followers = [TimedFollower([balancer.url], show.room, f"f{i}")
                             for i in range(scale.chatters + scale.watchers)]
            for f in run.followers:
                f.start()
            for f in run.followers:
                await f.joined()

            async def counts() -> list[int]:
                return [await open_sockets(http, s) for s in servers if s.proc.poll() is None]

            async def everyone_counted() -> list[int] | None:
                got = await counts()
                return got if sum(got) == len(run.followers) else None
            before = await until("the hosts never counted every viewer", everyone_counted)
            assert all(n > 0 for n in before), f"a host without viewers of the room: {before}"

            victim = servers[0]
            announced: list[str] = []

            async def kill_a_host(start: float) -> None:
                await asyncio.sleep(max(0.0, start + scale.faults_at[0] - loop.time()))
                victim.kill()
                for k in range(ANNOUNCEMENTS):
                    await asyncio.sleep(AWAY_S / (2 * ANNOUNCEMENTS))
                    text = f"while host 0 is gone ({k})"
                    answer = await show.until_answered(
                        "PUT", f"/api/rooms/{show.room}/announcement", CREATOR, "creator",
                        {"text": text}, deadline=loop.time() + WAIT_S)
                    assert answer.ok, answer
                    announced.append(text)

            await run.act(kill_a_host)
            after = await until("the survivors never counted every viewer", everyone_counted)
            store = RedisCluster.from_url(cluster_url(cluster.url) or "")
            # the books, no frozen viewer, no snapshot after a reconnection, audit clean
            await run.check(f"{HOSTS} hosts behind HAProxy, host 0 SIGKILLed "
                            f"{scale.faults_at[0]} s into a {scale.show_s} s show",
                            store, prefix, victim.env)
            keys = Keys(prefix)
            rows = await store.xrange(keys.room(show.room).events, "-", "+")
            kinds = {int(row_id.decode().split("-")[0]): fields[b"t"].decode()
                     for row_id, fields in rows}

        finally:
            if store is not None:
                await store.aclose()

    followers: list[TimedFollower] = [f for f in run.followers
                                      if isinstance(f, TimedFollower)]
    moved = [f for f in followers if f.rejoins]
    # each viewer of the killed host, and only those, came back once
    assert len(moved) == before[0], (before, [f.rejoins for f in followers])
    assert all(f.rejoins == 1 and len(f.welcomed_at) == 1 for f in moved), [
        (f.user, f.rejoins, f.close_codes) for f in moved]
    problems = []
    for f in followers:
        assert f.first_seq is not None
        due = {s for s, kind in kinds.items()
               if kind in GUARANTEED_EVENTS and s > f.first_seq}
        got = f.received()
        missing = sorted(due - set(got))
        twice = sorted(s for s in due if got[s] > 1)
        if missing or twice:
            problems.append(f"{f.user}: missing {missing}, twice {twice}")
    assert not problems, problems
    guaranteed = [s for s, kind in kinds.items() if kind in GUARANTEED_EVENTS]
    assert guaranteed, "no guaranteed event in the show"
    waits = sorted((w - c) * 1000 for f in moved
                   for c, w in zip(f.closed_at, f.welcomed_at, strict=True))
    # each came back with what it missed while away: the announcements made then among it
    for f in moved:
        texts = {e["data"]["text"] for e in f.recovered() if e.get("type") == "announcement"}
        assert texts & set(announced), (f.user, announced, f.recovered())
    recovered = [e for f in moved for e in f.recovered()]
    guaranteed_recovered = [e for e in recovered if e.get("type") in GUARANTEED_EVENTS]
    tries = sorted((w - t) * 1000 for f in moved
                   for t, w in zip(f.tried_at, f.welcomed_at, strict=True))
    print(f"\n  viewers per host before the kill {before}, after {after} (host 0 gone); "
          f"{len(moved)} viewers moved, each away {AWAY_S} s (its back-off) then reconnected "
          f"through HAProxy in p50 {statistics.median(tries):.0f} ms max {tries[-1]:.0f} "
          f"ms (socket closed → recovered welcome p50 {statistics.median(waits):.0f} ms "
          f"max {waits[-1]:.0f} ms); events recovered "
          f"{len(recovered)} ({len(guaranteed_recovered)} guaranteed); guaranteed events "
          f"in the show {len(guaranteed)}, each delivered once to every viewer")

