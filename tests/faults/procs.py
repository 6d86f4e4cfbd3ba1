"""The processes a fault test breaks: a Valkey it can kill and start again on the same port from
its own AOF, the embedded Valkey a server runs for itself, and the workers of a ``serve
--workers N`` supervisor."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil  # type: ignore[import-untyped, unused-ignore]
import redis.asyncio as aioredis

from live_server.store.embedded import EmbeddedValkey
from tests.conftest import ROOT, ServerProcess


class RestartableValkey:
    """An external Valkey with ``appendfsync always``: every write it acknowledged is on disk
    before the reply, so a SIGKILL may lose only writes nobody was told about."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.server = EmbeddedValkey(data_dir, appendfsync="always")
        self.port = self.server.port
        self.kills = 0

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        self.server.start()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last flush."""
        proc = self.server.proc
        assert proc is not None, "not running"
        proc.kill()
        proc.wait()
        self.server.proc = None
        self.kills += 1

    def restart(self) -> None:
        """A new server on the same port, loading what the killed one had written."""
        self.server = EmbeddedValkey(self.data_dir, appendfsync="always", port=self.port)
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def admin(self) -> aioredis.Redis:
        """A client of its own, for the test's reads and for CLIENT PAUSE."""
        return aioredis.from_url(self.url, socket_timeout=10)


def workers_of(supervisor: int) -> list[int]:
    """The worker processes a supervisor started (its children)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        return sorted(child.pid for child in psutil.Process(supervisor).children())
    return []


def embedded_valkey_of(server: int) -> tuple[int, int] | None:
    """The valkey-server a ``serve`` process without a store URL runs for itself (its child)
    and the port it listens on; None while none is alive and listening (valkey-server rewrites
    its command line, so the port is read from its socket)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        for child in psutil.Process(server).children():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                if (child.status() == psutil.STATUS_ZOMBIE
                        or not any(n in child.name() for n in ("valkey", "redis"))):
                    continue
                for conn in child.net_connections(kind="tcp"):
                    if conn.status == psutil.CONN_LISTEN:
                        return child.pid, int(conn.laddr.port)
    return None


def holder_of(workers: list[int], local_port: int) -> int | None:
    """The worker that holds the server side of a client connection from ``local_port``."""
    for pid in workers:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            for conn in psutil.Process(pid).net_connections(kind="tcp"):
                if conn.raddr and conn.raddr.port == local_port:
                    return pid
    return None


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    with contextlib.suppress(psutil.NoSuchProcess):
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    return False


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def serve_again(server: ServerProcess, workers: int) -> ServerProcess:
    """Start the same service again, on the same port with the same settings, as an operator's
    service manager would after its supervisor died (readiness is the caller's to await)."""
    log_path = server.log_path.with_name(server.log_path.stem + "-again.log")
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "live_server", "serve", "--host", "127.0.0.1",
             "--port", str(server.port), "--workers", str(workers)],
            env=server.env, stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT)
    return dataclasses.replace(server, proc=proc, log_path=log_path)
