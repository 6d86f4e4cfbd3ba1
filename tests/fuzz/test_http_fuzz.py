"""schemathesis against the server's own OpenAPI document (generated from the command table),
with every token kind: no answer is a 5xx, every 4xx carries the documented error body
``{"error": {"code", "message"}}`` with a code from ``live_server.errors.codes()``, one that the
document lists for that route and status, and a refused request changes nothing stored.

The stored state is compared (``world.fingerprint``) around a sample of the requests: runs of
``CHECK_RUN`` consecutive requests, one run in ``CHECK_EVERY``, so that one fingerprint is both
the "after" of a request and the "before" of the next (a fingerprint costs about what a request
does; comparing around every request would double the run).

Path parameters are sometimes replaced by ids that exist (the world's room, product, order,
packet), so generated bodies also reach the services behind the lookups."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from live_server.errors import codes
from live_server.store.embedded import EmbeddedValkey
from tests.conftest import LiveApp
from tests.fuzz.sessions import on_loop
from tests.fuzz.world import TOKEN_KINDS, World, build_world, changes, fingerprint, token_of

CODES = codes()
EXAMPLES_PER_OPERATION = 80
CHECK_RUN, CHECK_EVERY = 8, 16  # the state is compared around 1 request in 16
FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                max_examples=EXAMPLES_PER_OPERATION,
                suppress_health_check=list(HealthCheck))
# Not fuzzed from the document, each for a reason:
EXCLUDED = (
    # WHIP/WHEP take SDP offers (application/sdp), which the document cannot describe as a
    # schema; every answer starts a WebRTC peer. Their bodies are tested with real peers
    # (tests/integration/test_media_offers.py, test_media_whip_whep.py).
    r"/whip", r"/whep",
    # HLS playlists and segments, live and replays, are files (a HEAD has no body to check);
    # tests/integration/test_hls_http.py, test_llhls.py and test_replays.py cover them
    r"^/hls/", r"^/replays/",
    # pages, static files and the Redoc page answer HTML or files, not the JSON API
    r"^/$", r"^/watch/", r"^/studio$", r"^/ops$", r"^/shows$", r"^/charity/", r"^/static/",
    r"^/api/docs$",
    # a websocket upgrade: fuzzed frame by frame in test_ws_fuzz.py
    r"^/ws/",
)


@dataclasses.dataclass
class Tally:
    operations: int = 0
    requests: int = 0
    by_class: dict[str, int] = dataclasses.field(default_factory=dict)
    server_errors: list[str] = dataclasses.field(default_factory=list)
    undocumented: set[str] = dataclasses.field(default_factory=set)
    checked: int = 0  # refused requests with the stored state compared around them
    changed: list[str] = dataclasses.field(default_factory=list)


class StateCheck:
    """Sends each request, and for the sampled ones compares the stored state before and after
    it; a refused (4xx) request that changed anything is recorded in ``tally.changed``."""

    def __init__(self, world: World, tally: Tally, call: Callable[[Any], Any]) -> None:
        self.world, self.tally, self.call = world, tally, call
        self.sent = 0
        self.before: dict[str, Any] | None = None

    def send(self, what: str, request: Callable[[], requests.Response]) -> requests.Response:
        sampled = self.sent // CHECK_RUN % CHECK_EVERY == 0
        self.sent += 1
        if not sampled:
            self.before = None
            return request()
        if self.before is None:
            self.before = self.call(fingerprint(self.world.live))
        response = request()
        after: dict[str, Any] = self.call(fingerprint(self.world.live))
        if 400 <= response.status_code < 500:
            self.tally.checked += 1
            changed = changes(self.before, after)
            if changed:
                self.tally.changed.append(f"{what} → {response.status_code} "
                                          f"{response.text[:200]}: {changed}"[:2000])
        self.before = after
        return response


def _real_ids(world: World) -> dict[str, str]:
    return {"room_id": world.room, "product_id": world.product, "order_id": world.order,
            "packet_id": world.packet, "creator_id": "alice", "user_id": "eve",
            "seq": str(world.chat_seq)}


def _documented(operation: Any) -> set[tuple[int, str]]:
    """The (status, code) pairs the document lists for an operation (each error response's
    description names its codes)."""
    out: set[tuple[int, str]] = set()
    for status, response in operation.definition.raw.get("responses", {}).items():
        if status.isdigit():
            out |= {(int(status), code) for code in re.findall(r"`(\w+)`",
                                                               response.get("description", ""))}
    return out


def _check(response: requests.Response, tally: Tally, what: str,
           documented: set[tuple[int, str]]) -> None:
    status = response.status_code
    tally.requests += 1
    tally.by_class[f"{status // 100}xx"] = tally.by_class.get(f"{status // 100}xx", 0) + 1
    if status >= 500:
        tally.server_errors.append(f"{what} → {status}: {response.text[:200]}")
    assert status < 500, (what, status, response.text[:500])
    if 400 <= status < 500:
        try:
            body = response.json()
        except ValueError:
            raise AssertionError(f"{what} → {status}: not a JSON error: "
                                 f"{response.headers.get('Content-Type')} "
                                 f"{response.text[:200]!r}") from None
        assert isinstance(body, dict) and set(body) == {"error"}, (what, status, body)
        error = body["error"]
        assert error["code"] in CODES, (what, status, body)
        assert isinstance(error["message"], str) and error["message"], (what, status, body)
        if (status, error["code"]) not in documented:
            tally.undocumented.add(f"{what} {status} {error['code']}")


def fuzz_operations(world: World, tally: Tally, check: StateCheck) -> None:
    """Every operation of the document but the excluded ones, ``EXAMPLES_PER_OPERATION``
    generated requests each, from a thread (the server runs on the test's event loop)."""
    base = world.live.base
    schema = schemathesis.openapi.from_url(base + "/api/openapi.json")
    for pattern in EXCLUDED:
        schema = schema.exclude(path_regex=pattern)
    real = _real_ids(world)
    tokens = {kind: token_of(kind) for kind in TOKEN_KINDS}
    session = requests.Session()
    for result in schema.get_all_operations():
        tally.operations += 1
        _fuzz_operation(result.ok(), base, real, tokens, session, tally, check)
    session.close()


def _fuzz_operation(operation: Any, base: str, real: dict[str, str],
                    tokens: dict[str, str | None], session: requests.Session,
                    tally: Tally, check: StateCheck) -> None:
    what = f"{operation.method.upper()} {operation.path}"
    documented = _documented(operation)
    # valid requests by the document, and requests it says are invalid
    cases = st.one_of(operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
                      operation.as_strategy(schemathesis.GenerationMode.NEGATIVE))

    @FUZZ
    @given(case=cases, kind=st.sampled_from(TOKEN_KINDS),
           use_real=st.booleans())
    def one(case: Any, kind: str, use_real: bool) -> None:
        if use_real and case.path_parameters:
            case.path_parameters = {name: real.get(name, value)
                                    for name, value in case.path_parameters.items()}
        token = tokens[kind]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = check.send(what, lambda: case.call(base_url=base, headers=headers,
                                                      session=session, timeout=15))
        _check(response, tally, what, documented)

    one()


async def test_openapi_operations_with_every_token_kind(
        live_app_factory: Callable[..., Awaitable[LiveApp]],
        record_property: Callable[[str, Any], None], tmp_path: Path) -> None:
    # a Valkey of its own: a fingerprint scans every key, and the shared one holds every
    # earlier test's keys too
    valkey = EmbeddedValkey(tmp_path / "valkey", appendonly=False)
    valkey.start()
    try:
        await _fuzz(await live_app_factory(store={"url": valkey.url}), record_property)
    finally:
        valkey.stop()


async def _fuzz(live: LiveApp, record_property: Callable[[str, Any], None]) -> None:
    world = await build_world(live)
    tally = Tally()
    loop = asyncio.get_running_loop()
    check = StateCheck(world, tally, on_loop(loop))
    started = time.monotonic()
    await loop.run_in_executor(None, fuzz_operations, world, tally, check)
    status, health = await world.live.call("GET", "/healthz")
    assert status == 200, health
    classes = ", ".join(f"{k} {v:,}" for k, v in sorted(tally.by_class.items()))
    record_property("fuzz", f"fuzz http (schemathesis): {tally.requests:,} requests over "
                    f"{tally.operations} operations ({classes}), {len(tally.server_errors)} "
                    f"5xx, {len(tally.undocumented)} undocumented codes, "
                    f"{tally.checked:,} refused with the state compared, "
                    f"{len(tally.changed)} changed it, {time.monotonic() - started:.1f} s")
    assert tally.server_errors == []
    assert tally.changed == [], "\n".join(tally.changed)
    # the document is generated from the command table: it lists every code a route answers
    assert sorted(tally.undocumented) == []
    assert tally.operations >= 60
