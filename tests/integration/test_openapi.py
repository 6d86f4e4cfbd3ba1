"""The generated OpenAPI document: valid OpenAPI 3.1, every route the application serves is in it
(and nothing it does not serve), every websocket op is listed; /api/docs serves the vendored
viewer."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from openapi_spec_validator import validate

from live_server.app import create_app
from live_server.commands.table import HTTP, WS_OPS
from live_server.errors import codes
from live_server.web.misc import STATIC_DIR
from live_server.web.openapi import REDOC
from tests.conftest import LiveApp

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _shape(path: str) -> str:
    """A path template with its parameter names (and patterns) left out."""
    return re.sub(r"{[^}]*}", "{}", path)


def app_routes(app: web.Application) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("prefix", "").rstrip("/") + "/{}" if "prefix" in info else (
            route.resource.canonical if route.resource is not None else "")
        found.add((route.method.lower(), _shape(path)))
    return found


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, _shape(path)) for path, ops in doc["paths"].items()
            for method in ops if method in METHODS}


async def test_document_is_valid_openapi_3_1(live: LiveApp) -> None:
    async with live.client.get("/api/openapi.json") as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


async def test_every_route_is_documented_and_every_documented_route_served(
        live: LiveApp) -> None:
    _status, doc = await live.call("GET", "/api/openapi.json")
    served = app_routes(create_app(live.settings))
    listed = documented(doc)
    # aiohttp answers HEAD for every GET by itself: a HEAD is covered by its GET
    missing = {(m, p) for m, p in served - listed if not (m == "head" and ("get", p) in listed)}
    assert missing == set(), "served but not in the OpenAPI document"
    assert listed - served == set(), "documented but not served"


async def test_each_table_route_says_its_fields_who_and_errors(live: LiveApp) -> None:
    _status, doc = await live.call("GET", "/api/openapi.json")
    for command in HTTP:
        assert command.http is not None
        op = doc["paths"][command.http.path][command.http.method.lower()]
        assert op["operationId"] == command.name
        assert op["description"].startswith("Who:")
        answered = " ".join(r["description"] for s, r in op["responses"].items() if s >= "400")
        for cls in command.errors:
            assert f"`{cls.code}`" in answered, (command.name, cls.code)
        assert "`invalid_field`" in answered and "`internal`" in answered
    mute = doc["paths"]["/api/rooms/{room_id}/mutes"]["post"]
    body = mute["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["user_id", "duration_s"]
    assert body["additionalProperties"] is False
    assert body["properties"]["duration_s"]["maximum"] == 30 * 86400
    assert body["properties"]["reason"]["maxLength"] == 200
    history = doc["paths"]["/api/rooms/{room_id}/history"]["get"]
    limit = next(p for p in history["parameters"] if p["name"] == "limit")
    assert limit["in"] == "query" and limit["schema"]["maximum"] == (
        live.settings.history.page_limit)
    assert set(doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"][
        "code"]["enum"]) == set(codes())


async def test_websocket_ops_are_all_listed(live: LiveApp) -> None:
    _status, doc = await live.call("GET", "/api/openapi.json")
    ops = doc["x-websocket-ops"]
    assert set(ops) == set(WS_OPS)
    assert ops["chat"]["fields"]["required"] == ["text"]
    assert "rate_limited" in ops["chat"]["errors"] and "forbidden" in ops["chat"]["errors"]
    assert ops["buy"]["http"] == "POST /api/rooms/{room_id}/buy"
    for op in WS_OPS:
        assert f"| `{op}` |" in doc["info"]["description"]


async def test_docs_page_serves_the_vendored_viewer_under_its_policy(live: LiveApp) -> None:
    async with live.client.get("/api/docs") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        page = await resp.text()
        policy = resp.headers["Content-Security-Policy"]
    assert f'<script src="{REDOC}">' in page and 'spec-url="/api/openapi.json"' in page
    assert "http" not in page.replace('"/api/openapi.json"', "")  # nothing from elsewhere
    assert "script-src 'self';" in policy and "default-src 'none'" in policy
    script = STATIC_DIR / REDOC.removeprefix("/static/")
    assert script.is_file() and (script.parent / "LICENSE").is_file()
    async with live.client.get(REDOC) as resp:
        assert resp.status == 200
