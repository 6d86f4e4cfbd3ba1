"""The websocket tests of this suite run over every way a room socket is reached: a fresh
connection (the front door reads the upgrade) and a keep-alive connection that carried HTTP
first (aiohttp reads the upgrade). A test takes part when it (or a helper function of its module
that it calls) uses ``tests.helpers.Viewer``; tests that speak only HTTP run once, and so do
tests that choose their path themselves (a ``path`` parameter)."""

from __future__ import annotations

import inspect
import types
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import FRESH, WS_PATHS, Viewer


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _uses_viewer(fn: Any, module: types.ModuleType, seen: set[Any]) -> bool:
    seen.add(fn)
    names = _names(fn.__code__)
    if "Viewer" in names:
        return True
    return any(
        _uses_viewer(obj, module, seen) for obj in (getattr(module, n, None) for n in names)
        if inspect.isfunction(obj) and obj.__module__ == module.__name__ and obj not in seen)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module
    if ("ws_path" in metafunc.fixturenames and "path" not in metafunc.fixturenames
            and getattr(module, "Viewer", None) is Viewer
            and _uses_viewer(metafunc.function, module, set())):
        metafunc.parametrize("ws_path", WS_PATHS, indirect=True)


@pytest.fixture(autouse=True)
def ws_path(request: pytest.FixtureRequest) -> Iterator[str]:
    path: str = getattr(request, "param", FRESH)
    Viewer.path = path
    try:
        yield path
    finally:
        Viewer.path = FRESH
