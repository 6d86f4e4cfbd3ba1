"""Fixtures of the fault suite: a Valkey of the test's own (so it can be killed, restarted on
the same port and paused without touching the session's server) and an HTTP session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.faults.procs import RestartableValkey


@pytest.fixture
def own_valkey(tmp_path: Path) -> Iterator[RestartableValkey]:
    server = RestartableValkey(tmp_path / "valkey")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
        yield session
