"""Odd names under ``/static/``: a name the file system cannot hold is a missing file (404),
never a 500 with a traceback in the log; nothing outside the static folder is served."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import LiveApp

ODD_NAMES = [
    "a" * 300,  # one component over NAME_MAX (255)
    "js/" + "c" * 256,
    ("b" * 200 + "/") * 30 + "x.js",  # the whole path over PATH_MAX (4096)
    "a/" * 3000 + "x",
    "%00",  # NUL
    "a%00b.js",
    "js/room-socket.js%00.png",
    "%2e%2e/pyproject.toml",  # out of the folder
    "..%2f..%2fpyproject.toml",
    "js/%2e%2e/%2e%2e/pyproject.toml",
    "%2fetc%2fpasswd",
]


@pytest.mark.parametrize("name", ODD_NAMES, ids=lambda n: n[:24])
async def test_odd_static_names_are_not_found(live: LiveApp, name: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    for method in ("GET", "HEAD"):
        async with live.client.request(method, "/static/" + name) as resp:
            assert resp.status in (400, 403, 404), (method, resp.status)
            text = await resp.text()
        assert "[project]" not in text and "root:" not in text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


async def test_static_files_are_still_served(live: LiveApp) -> None:
    async with live.client.get("/static/js/room-socket.js") as resp:
        assert resp.status == 200
        assert "WebSocket" in await resp.text()
