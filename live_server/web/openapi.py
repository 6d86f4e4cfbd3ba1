"""The OpenAPI 3.1 document, generated from the command table (``live_server/commands``) and the
declarations of the HTTP-only endpoints (``web/http_only.py``), served at
``GET /api/openapi.json``; and ``GET /api/docs``, the vendored Redoc reading it.

Bounds that come from the configuration (``chat.max_length``, ``shelf.max_quantity``, ...) are
this deployment's, so the document says what this server accepts. The websocket ops are under
the top-level ``x-websocket-ops`` (and as a table in the description, for readers).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from aiohttp import web

from live_server.commands.command import Command
from live_server.commands.fields import Field
from live_server.commands.table import HTTP, WS_OPS
from live_server.config import Settings
from live_server.errors import (
    Internal,
    InvalidField,
    InvalidJson,
    LiveError,
    MissingField,
    PayloadTooLarge,
    RequestTimeout,
    TokenExpired,
    Unauthorized,
    codes,
)
from live_server.protocol import Json, dumps
from live_server.web.http import services
from live_server.web.http_only import ENDPOINTS, JSON, Endpoint

VERSION = "0.1.0"
REDOC = "/static/vendor/redoc-2.5.4/redoc.standalone.js"
PATH_PARAM = re.compile(r"{(\w+)}")
ERROR_REF = {"$ref": "#/components/schemas/Error"}
BEARER: list[Json] = [{"bearer": []}]
OPTIONAL_BEARER: list[Json] = [{}, {"bearer": []}]
TOKEN_ERRORS: tuple[type[LiveError], ...] = (Unauthorized, TokenExpired)

INTRO = """The HTTP API and the room websocket of a live-commerce server. Conventions, roles and
every rule are in docs/PROTOCOL.md; this document is generated from the server's command table,
so its fields, bounds and error codes are the ones this server checks.

Every error answers `{"error": {"code", "message", ...}}`. Unknown fields (body, query) are
`invalid_field`, absent required ones `missing_field`; the `message` names the field. A token,
where sent, is checked everywhere (a bad one is `401`, never a guest).
"""


def _object(fields: Iterable[Field], settings: Settings) -> Json:
    fields = tuple(fields)
    out: Json = {"type": "object", "additionalProperties": False,
                 "properties": {f.name: f.schema(settings) for f in fields}}
    required = [f.name for f in fields if f.required]
    if required:
        out["required"] = required
    return out


def _param(name: str, where: str, field: Field | None, settings: Settings) -> Json:
    schema = field.schema(settings) if field is not None else {"type": "string"}
    out: Json = {"name": name, "in": where, "schema": schema,
                 "required": where == "path" or (field is not None and field.required)}
    if field is not None and field.doc:
        out["description"] = field.doc
    return out


def _errors(classes: Iterable[type[LiveError]]) -> dict[str, Json]:
    """Error responses, one per status, each listing its codes."""
    by_status: dict[int, list[str]] = {}
    for cls in classes:
        found = by_status.setdefault(cls.status, [])
        if cls.code not in found:
            found.append(cls.code)
    return {str(status): {"description": ", ".join(f"`{c}`" for c in found),
                          "content": {JSON: {"schema": ERROR_REF}}}
            for status, found in sorted(by_status.items())}


def field_errors(fields: tuple[Field, ...]) -> tuple[type[LiveError], ...]:
    """Unknown fields are always refusable; absent ones only where one is required."""
    return (InvalidField, MissingField) if any(f.required for f in fields) else (InvalidField,)


def ws_errors(command: Command) -> list[str]:
    classes: tuple[type[LiveError], ...] = (
        *command.access.errors, *field_errors(command.fields), *command.errors, Internal)
    return list(dict.fromkeys(cls.code for cls in classes))


def _command_operation(command: Command, settings: Settings) -> Json:
    route = command.http
    assert route is not None
    in_path = PATH_PARAM.findall(route.path)
    by_name = {f.name: f for f in command.fields}
    params = [_param(n, "path", by_name.get(n), settings) for n in in_path]
    rest = tuple(f for f in command.fields if f.name not in in_path)
    op: Json = {"operationId": command.name, "summary": command.summary,
                "description": f"Who: {command.access.doc}." + (
                    f" Also the websocket op `{command.op}`." if command.op else ""),
                "tags": [command.run.__module__.rsplit(".", 1)[-1]],
                "security": OPTIONAL_BEARER if command.access.check is None
                and not command.access.errors else BEARER}
    errors: tuple[type[LiveError], ...] = (*TOKEN_ERRORS, *command.access.errors,
                                           *field_errors(rest), *command.errors)
    if route.method == "GET":
        params += [_param(f.name, "query", f, settings) for f in rest]
    else:
        op["requestBody"] = {"required": any(f.required for f in rest),
                             "content": {JSON: {"schema": _object(rest, settings)}}}
        errors += (InvalidJson, PayloadTooLarge, RequestTimeout)
    if params:
        op["parameters"] = params
    ok = {"description": command.reply or "done", "content": {JSON: {"schema": {
        "type": "object"}}}}
    statuses = (200, 201) if route.created else (route.status,)
    op["responses"] = {**{str(s): ok for s in statuses}, **_errors((*errors, Internal))}
    return op


def _endpoint_operation(ep: Endpoint, settings: Settings) -> Json:
    op: Json = {"operationId": f"{ep.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', ep.path.lower())}"
                .rstrip("_"), "summary": ep.summary, "description": f"Who: {ep.who}.",
                "tags": [ep.tag], "security": OPTIONAL_BEARER if ep.token else [{}]}
    params = [_param(n, "path", None, settings) for n in PATH_PARAM.findall(ep.path)]
    params += [_param(f.name, "query", f, settings) for f in ep.query]
    if params:
        op["parameters"] = params
    errors = (*(TOKEN_ERRORS if ep.token else ()), *ep.errors)
    if isinstance(ep.body, str):
        op["requestBody"] = {"required": True, "content": {ep.body: {"schema": {
            "type": "string"}}}}
    elif ep.body is not None:
        op["requestBody"] = {"required": True,
                             "content": {JSON: {"schema": _object(ep.body, settings)}}}
        errors += (*field_errors(ep.body), InvalidJson, PayloadTooLarge, RequestTimeout)
    ok: Json = {"description": ep.answer or "done"}
    if ep.answer and ep.method != "HEAD" and ep.status not in (101, 204):
        ok["content"] = {ep.content_type: {"schema": {"type": "object"} if ep.content_type ==
                                           JSON else {"type": "string"}}}
    op["responses"] = {str(ep.status): ok, **_errors((*errors, Internal))}
    return op


def _ws_table() -> str:
    rows = ["| op | who | fields | answers | errors |", "| --- | --- | --- | --- | --- |"]
    for name, command in WS_OPS.items():
        fields = ", ".join(f"`{f.name}`" + ("" if f.required else "?") for f in command.fields)
        errors = ", ".join(f"`{c}`" for c in ws_errors(command))
        rows.append(f"| `{name}` | {command.access.doc} | {fields or '—'} | "
                    f"{command.reply or '`{}`'} | {errors} |")
    return "\n".join(rows)


def _ws_ops(settings: Settings) -> Json:
    return {name: {"summary": c.summary, "who": c.access.doc, "reply": c.reply,
                   "fields": _object(c.fields, settings), "errors": ws_errors(c),
                   **({"http": f"{c.http.method} {c.http.path}"} if c.http else {})}
            for name, c in WS_OPS.items()}


@functools.lru_cache(maxsize=8)
def document(settings: Settings) -> Json:
    """The OpenAPI 3.1 document for a server running with ``settings``."""
    paths: dict[str, Json] = {}
    for command in HTTP:
        assert command.http is not None
        paths.setdefault(command.http.path, {})[command.http.method.lower()] = \
            _command_operation(command, settings)
    for ep in ENDPOINTS:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _endpoint_operation(ep, settings)
    all_codes = codes()
    return {
        "openapi": "3.1.0",
        "info": {"title": "live_server", "version": VERSION,
                 "description": INTRO + "\n## The room websocket\n\n`GET /ws/rooms/{room_id}` "
                 "(see docs/PROTOCOL.md). A request frame is `{\"op\", \"id\", ...fields}`; "
                 "`id` is echoed in the `reply` / `error`. A frame without `op` is "
                 "`missing_field`, an unknown op `unknown_op`, a frame that is not a JSON "
                 "object `invalid_json`.\n\n" + _ws_table() + "\n"},
        "tags": sorted(({"name": t} for t in {
            tag for p in paths.values() for op in p.values() for tag in op["tags"]}),
            key=lambda t: t["name"]),
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "bearerFormat": "JWT"}},
            "schemas": {"Error": {
                "type": "object", "required": ["error"],
                "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string", "enum": sorted(all_codes)},
                                   "message": {"type": "string"}}}}}},
        },
        "x-websocket-ops": _ws_ops(settings),
    }


routes = web.RouteTableDef()

DOCS_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>live_server API</title>
</head>
<body>
<redoc spec-url="/api/openapi.json"></redoc>
<script src="{REDOC}"></script>
</body>
</html>
"""
# Redoc injects its styles (styled-components) and runs its search index in a blob: worker;
# nothing else is loaded from anywhere but this origin.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
            "worker-src 'self' blob:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


@routes.get("/api/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=dumps(document(services(request).settings)),
                        content_type="application/json")


@routes.get("/api/docs")
async def docs(request: web.Request) -> web.Response:
    return web.Response(text=DOCS_PAGE, content_type="text/html", headers={
        "Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache"})
