"""docs/ARCHITECTURE.md's "Where each operation is handled" table is the application's: every
websocket op and every HTTP route, with the module that handles it. A newcomer reads one table;
this test keeps it true (on a mismatch it prints the table as it must be)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from live_server.app import create_app
from live_server.commands.table import COMMANDS
from live_server.config import load
from live_server.web.http_only import ENDPOINTS

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "ARCHITECTURE.md"
START = "<!-- route map: start -->"
END = "<!-- route map: end -->"


def _file(obj: object) -> str:
    path = Path(inspect.getfile(obj)).resolve()  # type: ignore[arg-type]
    return "/".join(path.parts[path.parts.index("live_server") + 1:])


def _shape(method: str, path: str) -> tuple[str, str]:
    """A route's method and path with parameter names and patterns left out; aiohttp answers a
    HEAD with the GET's handler."""
    return ("GET" if method == "HEAD" else method), re.sub(r"{[^}]*}", "{}", path)


def _served() -> dict[tuple[str, str], str]:
    """Every route the application serves (by shape) → the module of its handler."""
    app = create_app(load(env={}))
    found: dict[tuple[str, str], str] = {}
    for route in app.router.routes():
        resource = route.resource
        assert resource is not None
        info = resource.get_info()
        if "prefix" in info:  # the static directory
            found[_shape(route.method, info["prefix"] + "/{path}")] = "static files"
        else:
            found[_shape(route.method, resource.canonical)] = f"`{_file(route.handler)}`"
    return found


def expected_rows() -> list[str]:
    served = _served()
    rows = []
    for c in COMMANDS:
        route = f"`{c.http.method} {c.http.path}`" if c.http is not None else ""
        op = f"`{c.op}`" if c.op is not None else ""
        rows.append(f"| {op} | {route} | {c.access.name} | `{_file(c.run)}` |")
    table_routes = {(c.http.method, c.http.path) for c in COMMANDS if c.http is not None}
    for e in ENDPOINTS:
        if (e.method, e.path) in table_routes:
            continue
        handler = served.get(_shape(e.method, e.path), "?")
        rows.append(f"|  | `{e.method} {e.path}` | {e.who} | {handler} |")
    return rows


def documented_rows() -> list[str]:
    text = ARCHITECTURE.read_text()
    section = text[text.index(START) + len(START):text.index(END)]
    return [line for line in section.splitlines() if line.startswith("| ")
            and not line.startswith("| websocket op") and not line.startswith("| ---")]


def test_the_route_map_is_the_applications() -> None:
    expected = expected_rows()
    assert all(not row.endswith("| ? |") for row in expected), "declared but not served"
    assert documented_rows() == expected, "\n" + "\n".join(expected)


def test_every_served_route_is_in_the_map() -> None:
    listed = {_shape(c.http.method, c.http.path) for c in COMMANDS if c.http is not None}
    listed |= {_shape(e.method, e.path) for e in ENDPOINTS}
    assert set(_served()) - listed == set()
