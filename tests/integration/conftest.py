"""The websocket tests of this suite run over every way a room socket is reached: a fresh
connection (the front door reads the upgrade) and a keep-alive connection that carried HTTP
first (aiohttp reads the upgrade). A test takes part when it (or a helper function of its module
that it calls) uses ``tests.helpers.Viewer`` or ``tests.helpers.open_ws``, under whatever name
its module imported them (they are recognised by identity); tests that speak only HTTP run
once, and so do tests that choose their path themselves (a ``path`` parameter).

A test that opens a websocket with aiohttp's ``ws_connect`` directly would run on a fresh
connection only, whatever its parameter says: collecting it fails, unless its module says why
one path is enough in ``WS_PATH_INDEPENDENT`` (a scenario that only uses the socket on the way
to something else, too costly to run twice)."""

from __future__ import annotations

import inspect
import types
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import FRESH, WS_PATHS, Viewer, open_ws

PATH_FOLLOWERS: tuple[object, ...] = (Viewer, open_ws)


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _reached(fn: Any, module: types.ModuleType) -> set[str]:
    """The global and attribute names used by ``fn`` and by the functions of its own module
    that it calls, however deep."""
    found: set[str] = set()
    seen: set[Any] = set()
    todo = [fn]
    while todo:
        f = todo.pop()
        seen.add(f)
        names = _names(f.__code__)
        found |= names
        todo += [obj for obj in (getattr(module, n, None) for n in names)
                 if inspect.isfunction(obj) and obj.__module__ == module.__name__
                 and obj not in seen]
    return found


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module
    if "ws_path" not in metafunc.fixturenames or "path" in metafunc.fixturenames:
        return
    names = _reached(metafunc.function, module)
    if any(getattr(module, n, None) is f for n in names for f in PATH_FOLLOWERS):
        metafunc.parametrize("ws_path", WS_PATHS, indirect=True)
    if "ws_connect" in names and not getattr(module, "WS_PATH_INDEPENDENT", ""):
        pytest.fail(f"{metafunc.definition.nodeid}: a websocket by aiohttp's ws_connect "
                    "runs on a fresh connection only; open it with tests.helpers.open_ws "
                    "(or say why one path is enough in WS_PATH_INDEPENDENT)", pytrace=False)


@pytest.fixture(autouse=True)
def ws_path(request: pytest.FixtureRequest) -> Iterator[str]:
    path: str = getattr(request, "param", FRESH)
    Viewer.path = path
    try:
        yield path
    finally:
        Viewer.path = FRESH
