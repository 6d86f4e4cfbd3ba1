"""What a scenario is: a plug-in that drives phases and adds its own figures to a common report.

Why a small base class: every scenario (join storm, chat, hearts, a whole show, and later flash
sales, red packets, WebRTC) shares the same machinery — viewers spread over generator processes,
server and Valkey probes, a timeline, one report format — and differs only in what it asks the
viewers to do and which figures prove it worked. A scenario therefore declares its options, how
many tracers and talkers it needs, the server settings it needs when the generator starts the
server, drives the run through `Run`, and judges the result.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any, ClassVar

from loadtest.stats import Histogram

if TYPE_CHECKING:
    from loadtest.run import Run


class Scenario:
    """Base of every scenario; subclasses set the class attributes and override the hooks."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    #: Which client count is "a delivery" for CPU per 1,000 deliveries: chats, events or frames.
    deliveries: ClassVar[str] = "chats"
    #: Dialects (servers) this scenario can run against: "live" (ours), "sio" (the peer).
    dialects: ClassVar[tuple[str, ...]] = ("live",)
    #: Default viewers and duration when the command line does not say.
    default_viewers: ClassVar[int] = 200
    default_duration: ClassVar[float] = 10.0

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        #: What `drive` hands to `judge` (read-backs, ids): kept out of `params`, which the
        #: report prints, so a run that fails before `judge` does not dump them there.
        self.state: dict[str, Any] = {}

    @property
    def owes_every_message(self) -> bool:
        """Whether every accepted chat message is owed to every tracer (not where the server
        samples a huge room's chat on purpose): the run checks loss and seq gaps only then."""
        return True

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add this scenario's own options."""

    def talkers(self, viewers: int) -> int:
        """How many of the viewers send requests (chat, hearts)."""
        return 0

    def server_env(self) -> dict[str, str]:
        """`LIVE_*` settings the scenario needs when the generator starts our server."""
        return {}

    def time_budget(self, duration: float, viewers: int, ramp: float) -> float:
        """Upper bound of the scenario's run time in seconds (the hard deadline adds margin)."""
        connect = viewers / ramp if ramp > 0 else viewers / 2000.0
        return connect + duration + 30.0

    async def drive(self, run: Run) -> None:
        """Send the phases to the viewers; set marks `idle`, `connected`, `measure_start/end`."""
        raise NotImplementedError

    async def judge(self, run: Run) -> None:
        """Add scenario figures (`run.figures`) and checks (`run.check`)."""


def requests_of(tally: dict[str, Any], op: str) -> tuple[int, int, dict[str, int]]:
    """(sent, accepted, refusals by error code) of the talkers' `op` requests in a tally."""
    sent = int((tally.get("sent") or {}).get(op, 0))
    accepted = int((tally.get("accepted") or {}).get(op, 0))
    rejected = {k.split(":", 1)[1]: v for k, v in (tally.get("rejected") or {}).items()
                if k.startswith(f"{op}:")}
    return sent, accepted, rejected


def reply_percentiles(tally: dict[str, Any]) -> tuple[float | None, float | None]:
    """p50 and p99 of the request-to-reply times in a tally (ms), None without replies."""
    reply = Histogram.from_wire(tally.get("reply_ms") or {})
    if not reply.count:
        return None, None
    return round(reply.percentile(50), 2), round(reply.percentile(99), 2)


async def mark_idle(run: Run) -> None:
    """Phase `idle`, half a second for the server to settle, then the mark `idle` (before any
    viewer: the baseline of memory per viewer)."""
    run.set_phase("idle")
    await asyncio.sleep(0.5)
    await run.mark("idle")


async def connect_all(run: Run) -> None:
    """Mark idle, connect every viewer at --ramp, settle, mark connected."""
    await mark_idle(run)
    run.set_phase("connect")
    await run.call(
        "connect",
        run.opts.connect_timeout + run.viewers / max(run.opts.ramp, 1.0) + 30.0,
        rate=run.opts.ramp,
    )
    await asyncio.sleep(1.0)
    await run.mark("connected", conns=True)
