"""The coordinator's side of the generator processes: start, command, collect, stop.

Why `spawn` and not `fork`: the coordinator runs an event loop and may hold sockets to the
server; a forked child would inherit both. Spawned children start clean and import only the
loadtest package. Every wait here has a timeout, and processes that do not exit in time are
terminated, then killed, by their own pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing as mp
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from loadtest.worker import WorkerPlan, worker_main


class WorkerError(RuntimeError):
    """A generator process failed a command or did not answer in time."""


class WorkerPool:
    def __init__(self, plans: list[WorkerPlan]) -> None:
        self.plans = plans
        self.ctx = mp.get_context("spawn")
        self.procs: list[BaseProcess] = []
        self.conns: list[Connection] = []
        self.latest: list[dict[str, Any] | None] = [None] * len(plans)
        self.finals: list[dict[str, Any] | None] = [None] * len(plans)
        self.pids: list[int] = []
        self._acks: dict[int, dict[int, dict[str, Any]]] = {}
        self._waiters: dict[int, asyncio.Future[None]] = {}
        self._ready: set[int] = set()
        self._cid = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.errors: list[str] = []

    async def start(self, limit_s: float = 60.0) -> None:
        """Start one process per plan and wait until each says it is ready."""
        self._loop = asyncio.get_running_loop()
        for plan in self.plans:
            parent, child = self.ctx.Pipe(duplex=True)
            proc = self.ctx.Process(
                target=worker_main, args=(child, plan), name=f"loadgen-{plan.index}", daemon=True
            )
            proc.start()
            child.close()
            self.procs.append(proc)
            self.conns.append(parent)
            self._loop.add_reader(parent.fileno(), self._readable, plan.index)
        deadline = time.monotonic() + limit_s
        while len(self._ready) < len(self.plans):
            if time.monotonic() > deadline:
                raise WorkerError("generator processes did not start in time")
            if any(p.exitcode is not None for p in self.procs):
                raise WorkerError("a generator process died at start")
            await asyncio.sleep(0.05)
        self.pids = [p.pid for p in self.procs if p.pid is not None]

    def _readable(self, index: int) -> None:
        conn = self.conns[index]
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            assert self._loop is not None
            self._loop.remove_reader(conn.fileno())
            return
        kind = msg.get("kind")
        if kind == "ready":
            self._ready.add(index)
        elif kind == "progress":
            self.latest[index] = msg["tally"]
        elif kind == "ack":
            cid = int(msg.get("cid") or 0)
            self._acks.setdefault(cid, {})[index] = msg
            if "error" in msg:
                self.errors.append(f"worker {index}: {msg['error']}")
            fut = self._waiters.get(cid)
            if fut is not None and not fut.done() and len(self._acks[cid]) == len(self.plans):
                fut.set_result(None)
        elif kind == "final":
            self.finals[index] = msg
            self.latest[index] = msg["tally"]

    def _send_all(self, cmd: dict[str, Any]) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError, ValueError):
                conn.send(cmd)

    def cast(self, action: str, **args: Any) -> int:
        """Send a command to every process without waiting; returns its command id."""
        cid = next(self._cid)
        self._send_all({**args, "action": action, "cid": cid})
        return cid

    async def call(
        self,
        action: str,
        limit_s: float,
        per_worker: list[dict[str, Any]] | None = None,
        **args: Any,
    ) -> list[dict[str, Any]]:
        """Send a command to every process and wait (bounded) for all answers."""
        assert self._loop is not None
        cid = next(self._cid)
        fut: asyncio.Future[None] = self._loop.create_future()
        self._waiters[cid] = fut
        for i, conn in enumerate(self.conns):
            extra = per_worker[i] if per_worker else {}
            with contextlib.suppress(OSError, ValueError):
                conn.send({**args, **extra, "action": action, "cid": cid})
        try:
            await asyncio.wait_for(fut, limit_s)
        except TimeoutError as exc:
            raise WorkerError(f"{action}: not every generator answered in {limit_s}s") from exc
        finally:
            self._waiters.pop(cid, None)
        acks = self._acks.pop(cid, {})
        results = []
        for i in range(len(self.plans)):
            a = acks.get(i, {})
            if "error" in a:
                raise WorkerError(f"{action} failed in process {i}: {a['error']}")
            results.append(a.get("result") or {})
        return results

    async def stop(self, limit_s: float = 15.0) -> None:
        """Ask every process to stop and send its final figures; then reap them by pid."""
        self.cast("stop")
        deadline = time.monotonic() + limit_s
        while any(f is None for f in self.finals) and time.monotonic() < deadline:
            if all(p.exitcode is not None for p in self.procs) and not any(
                c.poll() for c in self.conns
            ):
                break
            await asyncio.sleep(0.05)
        for proc in self.procs:
            proc.join(timeout=max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=3)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=3)
        assert self._loop is not None
        for conn in self.conns:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(conn.fileno())
            conn.close()
