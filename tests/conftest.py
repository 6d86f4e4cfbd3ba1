"""Fixtures shared by every test: a real valkey-server for the session, settings isolated by a
key prefix per test, in-process apps (aiohttp test server) and real server subprocesses."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from live_server import config
from live_server.app import create_app
from live_server.auth import Role, mint
from live_server.store.embedded import EmbeddedValkey, free_port
from live_server.web.front import LiveRunner

ROOT = Path(__file__).resolve().parent.parent
TEST_SECRET = "test-secret-" + "x" * 40
WALLET_BUCKETS = int(os.environ.get("LIVE_TEST_WALLET_BUCKETS", "1"))


@pytest.fixture(scope="session")
def valkey_server() -> Iterator[EmbeddedValkey]:
    with tempfile.TemporaryDirectory(prefix="live-valkey-") as tmp:
        server = EmbeddedValkey(tmp, appendonly=False)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def valkey_url(valkey_server: EmbeddedValkey) -> str:
    return valkey_server.url


def make_settings(valkey_url: str, **sections: dict[str, Any]) -> config.Settings:
    """Test settings: real Valkey, a fresh key prefix, quick ticks, known secret."""
    base: dict[str, dict[str, Any]] = {
        "store": {"url": valkey_url, "key_prefix": "t" + secrets.token_hex(4)},
        "server": {"env": "test", "process_heartbeat_ms": 300, "process_ttl_ms": 1200},
        "auth": {"secret": TEST_SECRET},
        "ws": {"heartbeat_s": 5},
        # every test client connects from 127.0.0.1: room for the tests that open hundreds
        "http": {"max_connections_per_ip": 1000},
        # every test's HLS under the system temp folder, never the checkout's var/
        "hls": {"dir": str(Path(tempfile.gettempdir()) / "live-test-hls" / secrets.token_hex(4))},
        "replays": {"dir": str(Path(tempfile.gettempdir()) / "live-test-replays"
                               / secrets.token_hex(4))},
        # WebRTC on loopback only: no test binds a socket on the machine's other interfaces
        "media": {"ice_addresses": ["127.0.0.1"]},
        # LIVE_TEST_WALLET_BUCKETS=3 runs any test with its wallets over 3 slots (README)
        "money": {"wallet_buckets": WALLET_BUCKETS},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return config.load(env={}, overrides=base)


@pytest.fixture
def settings_factory(valkey_url: str) -> Callable[..., config.Settings]:
    def factory(**sections: dict[str, Any]) -> config.Settings:
        return make_settings(valkey_url, **sections)
    return factory


def token(user: str, role: Role = "viewer", *, name: str | None = None, ttl_s: int = 3600,
          secret: str = TEST_SECRET) -> str:
    return mint(secret, user, role, name=name or user.capitalize(), ttl_s=ttl_s)


@dataclass
class LiveApp:
    """An in-process server and helpers to talk to it as various users."""

    client: TestClient[Any, Any]
    settings: config.Settings

    @property
    def base(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    def headers(self, user: str | None, role: Role = "viewer") -> dict[str, str]:
        if user is None:
            return {}
        return {"Authorization": f"Bearer {token(user, role)}"}

    async def call(self, method: str, path: str, user: str | None = None,
                   role: Role = "viewer", json: Any = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        hdrs = {**self.headers(user, role), **(headers or {})}
        async with self.client.request(method, path, json=json, headers=hdrs) as resp:
            data = await resp.json(content_type=None)
            return resp.status, data

    async def live_room(self, creator: str = "alice", **fields: Any) -> str:
        status, room = await self.call("POST", "/api/rooms", creator, "creator",
                                       json={"title": "Show", **fields})
        assert status == 201, room
        status, room = await self.call("POST", f"/api/rooms/{room['id']}/start", creator,
                                       "creator")
        assert status == 200, room
        return str(room["id"])


class LiveTestServer(TestServer):
    """aiohttp's test server with the server's own runner, so sockets meet the same front door
    (and room sockets) as in production."""

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        return LiveRunner(self.app, **kwargs)


@pytest.fixture
async def live_app_factory(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    settings_factory: Callable[..., config.Settings],
) -> Callable[..., Awaitable[LiveApp]]:
    async def factory(**sections: dict[str, Any]) -> LiveApp:
        settings = settings_factory(**sections)
        client = await aiohttp_client(LiveTestServer(create_app(settings), host="127.0.0.1"))
        return LiveApp(client=client, settings=settings)
    return factory


@pytest.fixture
async def live(live_app_factory: Callable[..., Awaitable[LiveApp]]) -> LiveApp:
    return await live_app_factory()


# Real server processes --------------------------------------------------------------------

@dataclass
class ServerProcess:
    port: int
    proc: subprocess.Popen[bytes]
    secret: str
    key_prefix: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


async def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30,
                     workers: int = 1) -> None:
    """Until the server is ready, and with several workers until each of them has answered (a
    new connection each time: SO_REUSEPORT spreads connections, and a worker that starts later
    would otherwise miss the test's first connections)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen: set[str] = set()
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        while loop.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                async with http.get(url + "/readyz") as resp:
                    if resp.status == 200:
                        async with http.get(url + "/healthz") as health:
                            seen.add(str((await health.json())["process"]))
                        if len(seen) >= workers:
                            return
                        await asyncio.sleep(0.02)
                        continue
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"server did not become ready ({len(seen)} of {workers} workers seen)")


@pytest.fixture
async def server_factory(valkey_url: str,
                         tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[ServerProcess]]]:
    started: list[ServerProcess] = []
    prefix = "p" + secrets.token_hex(4)

    async def factory(workers: int = 1, env: dict[str, str] | None = None,
                      key_prefix: str | None = None, redis_url: str | None = valkey_url,
                      args: list[str] | None = None, cwd: Path | None = None) -> ServerProcess:
        port = free_port()
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith("LIVE_") and k != "REDIS_URL"}
        full_env.update({
            "LIVE_AUTH_SECRET": TEST_SECRET, "LIVE_STORE_KEY_PREFIX": key_prefix or prefix,
            "LIVE_SERVER_ENV": "test", "LIVE_SERVER_PROCESS_HEARTBEAT_MS": "300",
            "LIVE_SERVER_PROCESS_TTL_MS": "1200", "PYTHONUNBUFFERED": "1",
            "LIVE_HTTP_MAX_CONNECTIONS_PER_IP": "1000",  # every test client is 127.0.0.1
            "LIVE_MEDIA_ICE_ADDRESSES": "127.0.0.1",  # WebRTC on loopback only
        })
        if redis_url:
            full_env["REDIS_URL"] = redis_url
        full_env.update(env or {})
        log_path = tmp_path / f"server-{port}.log"
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "live_server", "serve", "--host", "127.0.0.1",
                 "--port", str(port), "--workers", str(workers), *(args or [])],
                env=full_env, stdout=log_file, stderr=subprocess.STDOUT, cwd=cwd or ROOT,
            )
        server = ServerProcess(port=port, proc=proc, secret=TEST_SECRET,
                               key_prefix=key_prefix or prefix, log_path=log_path, env=full_env)
        started.append(server)
        try:
            await wait_ready(server.url, proc, workers=workers)
        except RuntimeError as exc:
            server.stop()
            raise RuntimeError(f"{exc}\n{server.log()}") from None
        return server

    yield factory
    for server in started:
        server.stop()


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Frames as parameters are named by their argument, not their bytes: a client frame carries
    a random mask, so ids made from its bytes differ between processes, and pytest-xdist's
    workers must collect the same ids (pytest numbers the repeats: frame0, frame1, ...)."""
    if isinstance(val, bytes | bytearray):
        return argname
    return None


# The run's summary sections. They live here, not in tests/fuzz or tests/browser: with test
# workers (pytest-xdist) the process that prints the summary loads only this conftest, and the
# workers' reports reach it with their user properties.
_FUZZ_LINES: list[str] = []
_STARTED = time.time()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Each fuzz test records what it sent and found (``record_property("fuzz", ...)``)."""
    if report.when == "call":
        _FUZZ_LINES.extend(str(value) for name, value in report.user_properties
                           if name == "fuzz")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fuzz suite's counts, and where this run's browser screenshots are (a folder kept
    between runs: each test replaces its own subfolder)."""
    if _FUZZ_LINES:
        terminalreporter.section("fuzz")
        for line in _FUZZ_LINES:
            terminalreporter.write_line(line)
    from tests.browser.harness import ARTIFACTS as artifacts  # playwright only when printing
    shots = [p for p in artifacts.rglob("*.png") if p.stat().st_mtime >= _STARTED - 1] \
        if artifacts.is_dir() else []
    if shots:
        terminalreporter.write_sep("-", "browser screenshots")
        terminalreporter.write_line(f"{len(shots)} screenshots of the browser tests' steps in "
                                    f"{artifacts}")
