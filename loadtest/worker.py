"""One generator process: a swarm of simulated viewers driven by commands from the coordinator.

Why processes and commands: one Python process tops out at one core, so viewers are spread over
`--procs` processes. Each runs its own event loop and obeys small commands (`connect`, `send`,
`leave`, `snapshot`, `close`, `stop`) sent over a pipe, so the coordinator can line up phases
across processes and take aligned snapshots. Every action is bounded in count and time, and the
whole process stops by itself at its plan's deadline even if the coordinator vanished.

Scenarios that need new client behaviour (buying in a flash sale, grabbing a red packet) add an
action with `@action("name")` in their own module; the worker imports the scenario module so the
registration happens in this process too.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import os
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from loadtest.clients import OPEN, Sink, Talker, Tally, Tracer, open_client
from loadtest.dialects import DIALECTS
from loadtest.pacing import paced
from loadtest.tokens import TokenSource

ROLE_CLASSES: dict[str, type[Sink]] = {"sink": Sink, "talker": Talker, "tracer": Tracer}


@dataclass
class WorkerPlan:
    """Everything a generator process needs; picklable, built by the coordinator."""

    index: int
    scenario_module: str
    dialect: str
    host: str
    port: int
    room: str
    tokens: TokenSource
    #: (global viewer index, role) for the viewers this process owns; tracers and talkers first.
    viewers: list[tuple[int, str]]
    connect_timeout: float
    #: Wall-clock time (time.time()) at which the process stops whatever happens.
    deadline: float
    report_interval: float = 1.0


@dataclass
class Slot:
    """One simulated viewer: its identity, role and current connection (if any)."""

    index: int
    role: str
    token: str | None
    client: Sink | None = None
    connecting: bool = False


Action = Callable[["Swarm", dict[str, Any]], Awaitable[Any]]
ACTIONS: dict[str, Action] = {}


def action(name: str) -> Callable[[Action], Action]:
    """Register a worker action under `name` (scenario plug-ins use this)."""

    def deco(fn: Action) -> Action:
        ACTIONS[name] = fn
        return fn

    return deco


class Swarm:
    """The viewers of this process and the state actions share."""

    def __init__(self, plan: WorkerPlan, conn: Connection) -> None:
        self.plan = plan
        self.conn = conn
        self.tally = Tally()
        self.dialect = DIALECTS[plan.dialect]
        self.slots = [
            Slot(i, role, plan.tokens.viewer(i))
            for i, role in plan.viewers
        ]
        self.tasks: set[asyncio.Task[Any]] = set()
        self.tracer_final: list[dict[str, Any]] = []
        self.chat_counter = itertools.count(1)

    # -- helpers for actions ---------------------------------------------------------------
    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def open_slots(self, role: str | None = None) -> list[Slot]:
        return [
            s
            for s in self.slots
            if s.client is not None
            and s.client.state == OPEN
            and (role is None or s.role == role)
        ]

    def talkers(self) -> list[Talker]:
        return [s.client for s in self.open_slots("talker") if isinstance(s.client, Talker)]

    async def connect_slot(self, slot: Slot) -> None:
        slot.connecting = True
        try:
            cls = ROLE_CLASSES[slot.role]
            client = await open_client(
                cls,
                self.tally,
                self.dialect,
                self.plan.host,
                self.plan.port,
                self.plan.room,
                slot.token,
                self.plan.connect_timeout,
            )
            slot.client = client
        finally:
            slot.connecting = False

    def monotonic_deadline(self, duration: float | None = None) -> float:
        hard = time.monotonic() + max(0.0, self.plan.deadline - time.time())
        if duration is None:
            return hard
        return min(hard, time.monotonic() + duration)

    def send(self, msg: dict[str, Any]) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(msg)

    def tally_wire(self) -> dict[str, Any]:
        t = self.tally
        return {
            "attempts": t.attempts,
            "joined": t.joined,
            "connected": t.connected,
            "failed": t.failed,
            "fail_reasons": dict(t.fail_reasons),
            "closes": dict(t.closes),
            "frames": t.frames,
            "bytes": t.bytes,
            "events": t.events,
            "chats": t.chats,
            "pings": t.pings,
            "sent": dict(t.sent),
            "accepted": dict(t.accepted),
            "rejected": dict(t.rejected),
            "hearts_accepted": t.hearts_accepted,
            "seq_gaps": t.seq_gaps,
            "seq_dups": t.seq_dups,
            "seq_reorders": t.seq_reorders,
            "tracer_chats": t.tracer_chats,
            "counters_events": t.counters_events,
            "counters_max_per_frame": t.counters_max_per_frame,
            "counters_min_gap_ms": t.counters_min_gap_ms,
            "last_hearts": t.last_hearts,
            "protocol_errors": t.protocol_errors,
            "first_attempt_t": t.first_attempt_t,
            "last_join_t": t.last_join_t,
            "connect_ms": t.connect_ms.to_wire(),
            "chat_ms": t.chat_ms.to_wire(),
            "reply_ms": t.reply_ms.to_wire(),
            "t": time.time(),
        }


# -- the standard actions ---------------------------------------------------------------------


@action("connect")
async def _connect(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Connect up to `count` idle viewers (default all) at `rate`/s; wait for them to join."""
    idle = [s for s in sw.slots if s.client is None and not s.connecting]
    roles = args.get("roles")
    if roles:
        idle = [s for s in idle if s.role in roles]
    count = min(len(idle), int(args.get("count", len(idle))))
    rate = float(args.get("rate", 0.0))
    deadline = sw.monotonic_deadline(args.get("duration"))
    pending: list[asyncio.Task[Any]] = []
    async for batch in paced(count, rate, deadline):
        for i in batch:
            pending.append(sw.spawn(sw.connect_slot(idle[i])))
    if pending:
        await asyncio.wait(pending, timeout=sw.plan.connect_timeout + 1.0)
    return {"connected": sw.tally.connected}


@action("leave")
async def _leave(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Close `count` open sinks (never tracers or talkers) at `rate`/s; they may rejoin later."""
    slots = sw.open_slots("sink")
    count = min(len(slots), int(args.get("count", len(slots))))
    deadline = sw.monotonic_deadline(args.get("duration"))
    left = 0
    async for batch in paced(count, float(args.get("rate", 0.0)), deadline):
        for i in batch:
            slot = slots[i]
            if slot.client is not None:
                slot.client.close()
                slot.client = None
                left += 1
    return {"left": left}


def chat_text(sw: Swarm) -> str:
    """Chat text that carries its own send time: `t=<ms> n=<counter> w=<process>`."""
    return f"t={int(time.time() * 1000)} n={next(sw.chat_counter)} w={sw.plan.index}"


@action("send")
async def _send(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Talkers send `op` requests round-robin at `rate`/s for `duration` s (at most `count`).

    `op` "chat" gets a timestamped text; any other op sends `fields` as given (hearts send
    `{"count": n}` and count n toward the accepted total).
    """
    op = str(args["op"])
    rate = float(args["rate"])
    duration = float(args["duration"])
    count = int(args.get("count", max(1, round(rate * duration))))
    fields = dict(args.get("fields", {}))
    weight = int(fields.get("count", 1)) if op == "heart" else 1
    talkers = sw.talkers()
    if not talkers:
        return {"sent": 0}
    # The count bounds the loop; the extra second lets the last items of a slow start go out.
    deadline = sw.monotonic_deadline(duration + 1.0)
    sent = 0
    rr = 0
    async for batch in paced(count, rate, deadline):
        for _ in batch:
            for _try in range(len(talkers)):
                t = talkers[rr % len(talkers)]
                rr += 1
                body = {"text": chat_text(sw)} if op == "chat" else fields
                if t.request(op, body, weight):
                    sent += 1
                    break
    return {"sent": sent}


@action("snapshot")
async def _snapshot(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    return sw.tally_wire()


@action("wait_replies")
async def _wait_replies(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Wait (bounded) until every talker has its answers, so accepted totals are final."""
    deadline = time.monotonic() + float(args.get("wait_s", 5.0))
    while time.monotonic() < deadline:
        if not any(isinstance(s.client, Talker) and s.client.pending for s in sw.slots):
            break
        await asyncio.sleep(0.05)
    left = sum(
        len(s.client.pending) for s in sw.slots if isinstance(s.client, Talker)
    )
    return {"unanswered": left}


def tracer_details(sw: Swarm) -> list[dict[str, Any]]:
    out = []
    for s in sw.slots:
        c = s.client
        if isinstance(c, Tracer):
            missing = c.missing_seqs()
            sw.tally.seq_gaps += missing
            out.append(
                {
                    "index": s.index,
                    "open": c.state == OPEN,
                    "close_code": c.close_code,
                    "seqs": list(c.chat_seqs),
                    "counters_seen": c.counters_seen,
                    "first_counters_ts": c.first_counters_ts,
                    "last_counters_ts": c.last_counters_ts,
                    "joined_at_ms": c.joined_at_ms,
                    "welcome_seq": c.welcome_seq,
                    "missing_seqs": missing,
                }
            )
    return out


@action("close")
async def _close(sw: Swarm, args: dict[str, Any]) -> dict[str, Any]:
    """Record the tracers' final state, then close every client (1000) and wait, bounded."""
    sw.tracer_final = tracer_details(sw)
    clients = [s.client for s in sw.slots if s.client is not None]
    for c in clients:
        c.close()
    if clients:
        await asyncio.wait([c.done for c in clients], timeout=float(args.get("wait_s", 5.0)))
    for c in clients:
        if not c.done.done():
            c.abort()
    for s in sw.slots:
        s.client = None
    return {"closed": len(clients)}


# -- process entry ----------------------------------------------------------------------------


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _serve(plan: WorkerPlan, conn: Connection) -> None:
    if plan.scenario_module:
        importlib.import_module(plan.scenario_module)
    sw = Swarm(plan, conn)
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def readable() -> None:
        try:
            inbox.put_nowait(conn.recv())
        except (EOFError, OSError):
            loop.remove_reader(conn.fileno())
            inbox.put_nowait(None)

    loop.add_reader(conn.fileno(), readable)

    async def run(cmd: dict[str, Any]) -> None:
        name = str(cmd.get("action"))
        fn = ACTIONS.get(name)
        try:
            if fn is None:
                raise ValueError(f"unknown action {name!r}")
            result = await fn(sw, cmd)
            sw.send({"kind": "ack", "cid": cmd.get("cid"), "result": result})
        except Exception as exc:  # report, never die silently
            sw.send({"kind": "ack", "cid": cmd.get("cid"), "error": repr(exc)})

    async def report() -> None:
        while True:
            await asyncio.sleep(plan.report_interval)
            sw.send({"kind": "progress", "worker": plan.index, "tally": sw.tally_wire()})

    reporter = asyncio.ensure_future(report())
    sw.send({"kind": "ready", "worker": plan.index, "pid": os.getpid()})
    hard_stop = max(0.0, plan.deadline - time.time())
    try:
        async with asyncio.timeout(hard_stop):
            while True:
                cmd = await inbox.get()
                if cmd is None:
                    break
                if cmd.get("action") == "stop":
                    sw.send({"kind": "ack", "cid": cmd.get("cid"), "result": {}})
                    break
                sw.spawn(run(cmd))
    except TimeoutError:
        pass
    finally:
        reporter.cancel()
        with contextlib.suppress(Exception):
            loop.remove_reader(conn.fileno())
    for s in sw.slots:
        if s.client is not None:
            s.client.abort()
    if not sw.tracer_final:
        sw.tracer_final = tracer_details(sw)
    sw.send(
        {
            "kind": "final",
            "worker": plan.index,
            "tally": sw.tally_wire(),
            "accepted_chat_seqs": list(sw.tally.accepted_chat_seqs),
            "tracers": sw.tracer_final,
        }
    )


def worker_main(conn: Connection, plan: WorkerPlan) -> None:
    """Entry point of a generator process (multiprocessing target)."""
    _raise_fd_limit()
    try:
        import uvloop

        uvloop.run(_serve(plan, conn))
    except ImportError:
        asyncio.run(_serve(plan, conn))
    finally:
        conn.close()
