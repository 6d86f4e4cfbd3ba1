"""Reading CPU time and resident memory of the server, Valkey and the generator itself.

Why several sources: a figure like "server CPU per 1,000 deliveries" is only honest when it is
read from the measured processes, not estimated. When the generator started the server it knows
the pids and reads them with psutil (every process of the server's tree, so `--workers N` counts
all N). Otherwise the pids can be given (`--server-pids`, `--valkey-pid`), or the server's
Prometheus `/metrics` (`process_cpu_seconds_total`, `process_resident_memory_bytes`) is scraped —
which, behind one port shared by several processes, reads whichever process answers, so it is
exact only for one server process. Valkey can also be read through `INFO` (`used_cpu_sys`,
`used_cpu_user`, `used_memory_rss`).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import redis.asyncio as aioredis

from loadtest.untyped import load

psutil = load("psutil")


@dataclass
class Sample:
    """CPU seconds (user + system) and RSS bytes per process at one instant."""

    t: float
    cpu: dict[str, float] = field(default_factory=dict)
    rss: dict[str, int] = field(default_factory=dict)

    @property
    def rss_total(self) -> int:
        return sum(self.rss.values())


class Probe(Protocol):
    source: str

    async def sample(self) -> Sample: ...


class NullProbe:
    """Nothing to read (remote server without pids or metrics)."""

    source = "none"

    async def sample(self) -> Sample:
        return Sample(time.time())


class PsutilProbe:
    """Processes by pid; with `tree`, their descendants too (minus any Valkey/Redis child)."""

    def __init__(self, pids: list[int], *, tree: bool = True, source: str = "psutil") -> None:
        self.pids = list(pids)
        self.tree = tree
        self.source = source
        self._procs: dict[int, Any] = {}

    def _current(self) -> list[Any]:
        out: list[Any] = []
        for pid in self.pids:
            try:
                root = self._procs.get(pid) or psutil.Process(pid)
            except psutil.Error:
                continue
            self._procs[pid] = root
            out.append(root)
            if self.tree:
                with contextlib.suppress(psutil.Error):
                    for child in root.children(recursive=True):
                        with contextlib.suppress(psutil.Error):
                            name = child.name()
                            if "valkey" in name or "redis" in name:
                                continue
                            out.append(self._procs.setdefault(child.pid, child))
        return out

    async def sample(self) -> Sample:
        s = Sample(time.time())
        for p in self._current():
            try:
                with p.oneshot():
                    ct = p.cpu_times()
                    s.cpu[str(p.pid)] = ct.user + ct.system
                    s.rss[str(p.pid)] = p.memory_info().rss
            except psutil.Error:
                continue
        return s


async def fetch_metrics(url: str, timeout_s: float) -> str | None:
    """The Prometheus text at `url` (a server's `/metrics`), None when it cannot be read."""
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp,
        ):
            return await resp.text()
    except (aiohttp.ClientError, TimeoutError):
        return None


def parse_metrics(text: str) -> tuple[float | None, int | None]:
    """(process_cpu_seconds_total, process_resident_memory_bytes) from Prometheus text."""
    cpu: float | None = None
    rss: int | None = None
    for line in text.splitlines():
        if line.startswith("process_cpu_seconds_total"):
            cpu = float(line.split()[-1])
        elif line.startswith("process_resident_memory_bytes"):
            rss = int(float(line.split()[-1]))
    return cpu, rss


class MetricsProbe:
    """The server's own `/metrics`: exact for one server process."""

    source = "metrics"

    def __init__(self, base_url: str) -> None:
        self.url = base_url.rstrip("/") + "/metrics"

    async def sample(self) -> Sample:
        s = Sample(time.time())
        text = await fetch_metrics(self.url, 3.0)
        if text is None:
            return s
        cpu, rss = parse_metrics(text)
        if cpu is not None:
            s.cpu["metrics"] = cpu
        if rss is not None:
            s.rss["metrics"] = rss
        return s


class ValkeyInfoProbe:
    """Valkey's own accounting through `INFO`, for a Valkey whose pid is not at hand."""

    source = "valkey-info"

    def __init__(self, url: str) -> None:
        self.url = url

    async def sample(self) -> Sample:
        s = Sample(time.time())
        client = aioredis.from_url(self.url)
        try:
            cpu = await client.info("cpu")
            mem = await client.info("memory")
        except (OSError, aioredis.RedisError):
            return s
        finally:
            await client.aclose()
        s.cpu["valkey"] = float(cpu.get("used_cpu_sys", 0.0)) + float(cpu.get("used_cpu_user", 0.0))
        s.rss["valkey"] = int(mem.get("used_memory_rss", 0))
        return s


def cpu_delta(a: Sample, b: Sample) -> float:
    """CPU seconds spent between two samples, over the processes present in both."""
    return sum(b.cpu[k] - a.cpu[k] for k in b.cpu if k in a.cpu)
