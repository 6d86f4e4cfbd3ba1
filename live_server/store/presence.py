"""Who is here: per-tick counter reports, joins (unique viewers), and the process registry."""

from __future__ import annotations

import dataclasses
import time

import orjson

from live_server import events
from live_server.protocol import Json
from live_server.store.core import StoreCore


@dataclasses.dataclass(slots=True)
class TickReport:
    """What one process saw in one room during one tick."""

    online: int
    hearts: int = 0
    joins: int = 0
    join_names: list[str] = dataclasses.field(default_factory=list)
    # user id → (score delta, display name)
    fans: dict[str, tuple[int, str]] = dataclasses.field(default_factory=dict)
    # user id → hearts they sent (intimacy toward the room's creator, after the flush)
    heart_users: dict[str, int] = dataclasses.field(default_factory=dict)


class PresenceStore:
    def __init__(self, core: StoreCore, *, process_ttl_ms: int) -> None:
        self.core = core
        self.keys = core.keys
        self.ttl_ms = process_ttl_ms

    async def tick(self, process_id: str, tick_id: int, now: int,
                   reports: dict[str, TickReport]) -> int:
        """One script call per room (with its ``joins`` notice where someone joined), all
        pipelined into one round trip, no transaction: rooms live on different cluster slots.
        Each call is idempotent by ``tick_id`` (increasing per process), so after a failure
        the caller retries the same reports with the same id and no room counts them twice.
        Returns how many rooms had counted this tick already (retries)."""
        if not reports:
            return 0
        async with self.core.client.pipeline(transaction=False) as pipe:
            for room_id, rep in reports.items():
                k = self.keys.room(room_id)
                fan_args: list[str | int] = []
                for uid, (score, name) in rep.fans.items():
                    fan_args += [uid, score, name]
                joins = events.joins(rep.joins, rep.join_names, now).body if rep.joins else ""
                self.core.scripts.queue(
                    pipe, "tick", [k.stats, k.online, k.online_seen, k.unique, k.fans, k.names,
                                   self.keys.report(room_id).minutes, k.ticks],
                    [k.channel, process_id, now, self.ttl_ms, rep.online, rep.hearts,
                     tick_id, joins, len(rep.fans), *fan_args])
            start = time.perf_counter()
            replies = await self.core.scripts.execute(pipe)
            self.core.timed("tick", start)
        return sum(1 for reply in replies if reply and reply[0] == b"counted")

    async def joined(self, room_id: str, visitor_id: str, user_id: str | None, name: str) -> None:
        k = self.keys.room(room_id)
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.pfadd(k.unique, visitor_id)
            if user_id is not None:
                pipe.hset(k.names, user_id, name)
            await pipe.execute()

    async def register_process(self, process_id: str, info: Json) -> None:
        await self.core.client.hset(self.keys.processes, process_id, orjson.dumps(info))

    async def unregister_process(self, process_id: str) -> None:
        await self.core.client.hdel(self.keys.processes, process_id)

    async def process_count(self) -> int:
        """How many processes are registered (the recently dead too, until forgotten): what
        the clocks that share per-bucket schedules divide them by."""
        return int(await self.core.client.hlen(self.keys.processes))

    async def processes(self, now: int, include_stale: bool = False) -> list[Json]:
        """The live processes' heartbeat records; with ``include_stale`` also those not seen
        for ``process_ttl_ms`` (up to 10 times that, then they are forgotten): the alerts."""
        raw = await self.core.client.hgetall(self.keys.processes)
        alive: list[Json] = []
        stale: list[Json] = []
        for proc, info in raw.items():
            record = orjson.loads(info)
            (alive if int(record.get("seen_at", 0)) >= now - self.ttl_ms else stale).append(
                record)
            if int(record.get("seen_at", 0)) < now - 10 * self.ttl_ms:
                await self.core.client.hdel(self.keys.processes, proc)
        return sorted(alive + stale if include_stale else alive, key=lambda r: str(r["id"]))
