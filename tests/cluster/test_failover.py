"""Failover on the cluster: the client library moving a room's channel by itself, and a master
SIGKILLed in the middle of a show."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from redis.asyncio.cluster import RedisCluster

from live_server.store.core import cluster_url
from live_server.store.keys import Keys
from tests.cluster_support import ValkeyCluster
from tests.conftest import ROOT
from tests.faults import books
from tests.faults.followers import Follower, everyone_hears
from tests.faults.harness import run_on
from tests.faults.scale import Scale
from tests.faults.show import CREATOR, FAST_ENV, Answer, Show
from tests.integration.test_pubsub_resubscribed import (
    test_an_event_missed_while_subscribed_again_reaches_the_viewer,
)

__all__ = ["test_a_master_killed_mid_show",
           "test_an_event_missed_while_subscribed_again_reaches_the_viewer"]


# A master SIGKILLed mid-show -------------------------------------------------------------------

NODE_TIMEOUT_MS = 1500  # a master silent this long is failed over (plus about a second)
# the replica cut off (its link closed, the replica frozen so that it cannot reconnect) this
# long before its master dies, as a replica behind on a busy or distant link would be: what
# its master acknowledged meanwhile it never receives
LAG_S = 0.5
# short: one failover of the room's master in a 6 s show; full: three, alternating the room's
# master and the creator's wallet bucket's, each killed node started again as a replica. The
# wallets are spread over WALLET_BUCKETS slots, so grabs are credited on other masters than
# the creator's launches
WALLET_BUCKETS = 3
SHORT = Scale(servers=1, buyers=6, grabbers=6, chatters=3, watchers=2, show_s=6.0,
              faults_at=(1.5,), down_s=0.0, stalls_s=(), max_orders=200, launches=12,
              pace_s=0.05)
FULL = Scale(servers=2, buyers=20, grabbers=20, chatters=8, watchers=12, show_s=40.0,
             faults_at=(5.0, 17.0, 29.0), down_s=0.0, stalls_s=(), max_orders=240,
             launches=80, pace_s=0.15)


@dataclass
class Failovers:
    killed: list[str] = field(default_factory=list)      # which slot's master, and its port
    taken_over_s: list[float] = field(default_factory=list)  # kill → a replica is master
    replica_back_s: list[float] = field(default_factory=list)  # kill → the shard has a replica


@dataclass
class ReplyTimes:
    """How long answered buys and grabs took, per attempt (retries are separate samples), and
    when: before the first kill the figures are the cost of a write, after it the failover's."""

    ms: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # kind → (at, ms)
    first_kill: float = float("inf")  # loop time

    def line(self, kind: str) -> str:
        samples = self.ms.get(kind, [])
        before = sorted(ms for at, ms in samples if at < self.first_kill)
        every = sorted(ms for _at, ms in samples)
        if not every:
            return f"{kind}: none"

        def at(got: list[float], q: float) -> str:
            return f"{got[min(len(got) - 1, int(q * len(got)))]:.1f}" if got else "-"
        return (f"{kind} before the kill n={len(before)} p50 {at(before, 0.5)} ms p99 "
                f"{at(before, 0.99)} ms; whole show n={len(every)} p50 {at(every, 0.5)} ms "
                f"p99 {at(every, 0.99)} ms max {every[-1]:.1f} ms")


def timed(show: Show, times: ReplyTimes) -> None:
    """Every answered buy and grab of the show timed (the clients measure, the server is not
    touched)."""
    call = show.call

    async def timed_call(method: str, path: str, user: str, role: Any = "viewer",
                         body: Any = None, timeout_s: float = 10) -> Answer:
        start = time.perf_counter()
        sent_at = asyncio.get_running_loop().time()
        answer = await call(method, path, user, role, body, timeout_s)
        kind = "buy" if path.endswith("/buy") else "grab" if path.endswith("/grab") else ""
        if kind and answer.ok:
            times.ms.setdefault(kind, []).append(
                (sent_at, (time.perf_counter() - start) * 1000))
        return answer
    show.call = timed_call  # type: ignore[method-assign]


async def since_last_snapshot(followers: list[Follower], store: Any, keys: Keys, room: str,
                              up_to: int) -> books.Figure:
    """Every event the room's history holds after a viewer's last welcome (its first, or the
    snapshot it was given when the stream went back and got a new epoch) up to ``up_to``
    reached that viewer. ``books.guaranteed`` counts by seq from the first welcome: after a
    rollback the new epoch reuses seqs, and what a snapshot covered counts there as lost or
    repeated."""
    rows = await store.xrange(keys.room(room).events, "-", "+")
    stream = {int(row_id.decode().split("-")[0]) for row_id, _f in rows}
    owed = lost = 0
    for f in followers:
        assert f.first_seq is not None, f"{f.user} never joined"
        since, start = f.snapshot_marks[-1] if f.snapshot_marks else (f.first_seq, 0)
        got = {e["seq"] for e in f.events()[start:] if "seq" in e}
        due = {s for s in stream if since < s <= up_to}
        owed += len(due)
        lost += len(due - got)
    return books.Figure("events since welcome", owed, lost, 0)


async def audit_line(env: dict[str, str]) -> str:
    """``python -m live_server audit`` as an operator runs it: its last line."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "live_server", "audit", env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    lines = out.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"no output (exit {proc.returncode})"


@pytest.mark.system
@pytest.mark.parametrize("ack", [0, 1], ids=["ack0", "ack1"])
@pytest.mark.parametrize("scale", [pytest.param(SHORT, id="short"),
                                   pytest.param(FULL, id="full",
                                                marks=pytest.mark.faults_full)])
async def test_a_master_killed_mid_show(server_factory: Any, scale: Scale, ack: int) -> None:
    """Buyers (retrying with their idempotency keys), a creator launching red packets,
    grabbers and chatting viewers on the cluster; the master of the room's slot (then of the
    money slot, in the full run) is SIGKILLed while its replica lags ``LAG_S`` behind, and the
    replica takes over. Printed: what was
    acknowledged, lost and duplicated. With ``store.ack_replicas`` = 1 nothing acknowledged
    about orders and money may be lost; in both modes no viewer stays frozen and no event the
    room's history holds is missing for a viewer since its last welcome (room events that were
    not replicated are lost in both modes: the stream goes back, gets a new epoch, and its
    viewers a snapshot). Without acknowledgement a loss is reported, not asserted: what was
    acknowledged during the lag depends on timing."""
    loop = asyncio.get_running_loop()
    cluster = ValkeyCluster(masters=3, replicas=1, node_timeout_ms=NODE_TIMEOUT_MS)
    await loop.run_in_executor(None, cluster.start)
    store: Any = None
    try:
        env = FAST_ENV | {"LIVE_STORE_ACK_REPLICAS": str(ack),
                          "LIVE_MONEY_WALLET_BUCKETS": str(WALLET_BUCKETS)}
        servers = [await server_factory(redis_url=cluster.url, env=env)
                   for _ in range(scale.servers)]
        keys = Keys(servers[0].key_prefix, WALLET_BUCKETS)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as http:
            run = await run_on([s.url for s in servers], http, scale)
            times = ReplyTimes()
            timed(run.show, times)
            slots = [("room", keys.room(run.show.room).events),
                     ("money", keys.wallet(CREATOR).balances)]
            done = Failovers()

            async def fail_over(start: float) -> None:
                for n, at in enumerate(scale.faults_at):
                    await asyncio.sleep(max(0.0, start + at - loop.time()))
                    times.first_kill = min(times.first_kill, loop.time())
                    which, key = slots[n % 2]
                    victim = await loop.run_in_executor(None, cluster.master_of, key)
                    replica = await loop.run_in_executor(None, cluster.replica_of, victim)
                    cluster.freeze(replica)
                    cluster.cut_replication(victim)
                    await asyncio.sleep(LAG_S)
                    killed_at = loop.time()
                    cluster.kill(victim)
                    cluster.thaw(replica)
                    done.killed.append(f"{which}:{victim}")
                    await loop.run_in_executor(None, cluster.wait_failover, victim)
                    done.taken_over_s.append(loop.time() - killed_at)
                    cluster.restart(victim)  # back as the new master's replica
                    await loop.run_in_executor(None, cluster.wait_replica, victim)
                    done.replica_back_s.append(loop.time() - killed_at)

            await run.act(fail_over)
            assert len(done.replica_back_s) == len(scale.faults_at), done
            last = await everyone_hears(run.followers, "after the failover")  # none frozen
            for f in run.followers:
                await f.stop()
            store = RedisCluster.from_url(cluster_url(cluster.url) or "")
            show, acks = run.show, run.acks
            ordered, problems = await books.orders(show, acks)
            money = [*await books.packets_and_grabs(show, acks, store, keys),
                     await books.ledger(acks, store, keys)]
            delivered = [await books.chats(show, acks),
                         await books.guaranteed(run.followers, store, keys, show.room, last),
                         await since_last_snapshot(run.followers, store, keys, show.room, last)]
            audit = await audit_line(servers[0].env)
        figures = [ordered, *money, *delivered]
        rejoins = sum(f.rejoins for f in run.followers)
        snapshots = sum(f.snapshots for f in run.followers)
        report = books.table(
            f"cluster failover, store.ack_replicas={ack}, {scale.servers} server process(es): "
            f"killed {', '.join(done.killed)} (its replica {LAG_S} s behind); a replica took "
            f"over after {', '.join(f'{s:.1f}' for s in done.taken_over_s)} s, the shard had a "
            f"replica again after {', '.join(f'{s:.1f}' for s in done.replica_back_s)} s; "
            f"{acks.retried} requests retried, {acks.unanswered} unanswered at the deadline, "
            f"refused {acks.refused}; viewers rejoined {rejoins}x ({snapshots} by snapshot: the "
            f"room's stream went back and got a new epoch); {audit}", figures)
        print(f"\n{report}\n  reply times: {times.line('buy')}\n               {times.line('grab')}"
              + (f"\n  units: {problems}" if problems else ""))
        assert acks.orders and acks.grabs and acks.chats, "the show did not happen"
        # every event of the history reached every viewer since its last welcome
        assert not delivered[2].lost, report
        if ack:
            assert not any(f.lost or f.duplicated for f in [ordered, *money]), report
            assert not problems, problems
            assert " 0 mismatches" in audit, audit
    finally:
        if store is not None:
            await store.aclose()
        await loop.run_in_executor(None, cluster.stop)
