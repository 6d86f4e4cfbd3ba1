"""The log format and its rate limit (live_server/logs.py), through the standard library's
logging as the code uses it: lines are JSON with the ids of where they were logged, secrets
never reach them, one failure kind is written once per window, and a malformed request is one
INFO line without a traceback."""

from __future__ import annotations

import ast
import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.http_exceptions import BadHttpMessage

from live_server import logs
from live_server.auth import mint


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def out(clock: Clock) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of our own with the production handler (JSON, rate limited) on it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("json"))
    handler.addFilter(logs.RateLimit(window_s=10.0, clock=clock))
    logger = logging.getLogger("live_server.test_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def fail(logger: logging.Logger, exc: BaseException, **extra: Any) -> None:
    try:
        raise exc
    except BaseException:
        logger.error("unhandled error on %s %s", "GET", "/api/rooms/r1", exc_info=True,
                     extra=extra)


def test_a_line_is_json_with_the_ids_of_its_context(
        out: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = out
    with logs.bind(request_id="req-1", room_id="r1", conn_id=None):
        logger.info("joined", extra={"conn_id": "c9"})
    logger.info("after")
    first, second = lines(stream)
    assert list(first)[:4] == ["timestamp", "level", "logger", "message"]
    assert first["message"] == "joined" and first["level"] == "info"
    assert (first["request_id"], first["room_id"], first["conn_id"]) == ("req-1", "r1", "c9")
    assert isinstance(first["pid"], int) and first["timestamp"].endswith("Z")
    assert "request_id" not in second and "room_id" not in second


def test_one_failure_kind_is_written_once_per_window(
        out: tuple[logging.Logger, io.StringIO], clock: Clock) -> None:
    logger, stream = out
    for _ in range(1000):
        fail(logger, ConnectionError("Valkey is down"))
        clock.now += 0.003  # 1000 failures in 3 s
    fail(logger, KeyError("other"))  # another kind has its own first line
    written = lines(stream)
    assert len(written) == 2
    assert "ConnectionError: Valkey is down" in written[0]["exception"]
    assert "KeyError" in written[1]["exception"]
    clock.now += 10
    fail(logger, ConnectionError("Valkey is down"))
    summary = lines(stream)[2]
    assert summary["suppressed"] == 999 and "exception" not in summary
    clock.now += 60  # quiet for a while: the next burst starts whole again
    fail(logger, ConnectionError("Valkey is down"))
    assert "exception" in lines(stream)[3] and len(lines(stream)) == 4


@pytest.fixture
def process_log(clock: Clock) -> Iterator[io.StringIO]:
    """The process's own logging as ``logs.setup`` makes it (JSON, the rate limit on the root
    logger's handler), writing into a buffer, on the test's clock."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    server_filters = logging.getLogger("aiohttp.server").filters[:]
    stream = io.StringIO()
    logs.setup({"LIVE_LOG_FORMAT": "json"}, stream)
    for limit in root.handlers[0].filters:
        assert isinstance(limit, logs.RateLimit)
        limit.clock = clock
    yield stream
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    logging.getLogger("aiohttp.server").filters[:] = server_filters


def test_lines_about_rooms_orders_and_items_are_limited_per_one(
        process_log: io.StringIO, clock: Clock) -> None:
    """A rollback in three rooms, two late payments and two parked items in one window: each is
    written, naming its room, order or item. The same line about the same room is still held
    back, and a failure every request can hit stays one line whatever room it names."""
    node = logging.getLogger("live_server.realtime.node")
    orders = logging.getLogger("live_server.services.orders")
    clocks = logging.getLogger("live_server.services.periodic")
    session = logging.getLogger("live_server.web.session")
    for room in ("r1", "r2", "r3", "r1"):
        node.warning("room %s: %s after a pub/sub outage", room, "rollback",
                     extra=logs.about(room_id=room))
    for order in ("o1", "o2"):
        orders.warning("late payment %s for order %s: recorded as paid_late, to refund",
                       "pay-1", order, extra=logs.about(order_id=order))
    for item in ("garbage", "o.r1.bad"):
        clocks.error("%s: item parked after %d failures", "shelf-scheduler", 5,
                     extra={"clock": "shelf-scheduler",
                            **logs.about(schedule="orders:due", item=item)})
    for i in range(300):  # the store is down: every request of every room fails alike
        try:
            raise ConnectionError("Valkey is down")
        except ConnectionError:
            session.warning("store unavailable", exc_info=True,
                            extra={"room_id": f"room-{i % 30}", "conn_id": f"c{i}"})
    written = lines(process_log)
    assert [r.get("room_id") for r in written if r["logger"] == node.name] == ["r1", "r2", "r3"]
    assert [r["order_id"] for r in written if r["logger"] == orders.name] == ["o1", "o2"]
    assert [r["item"] for r in written if r["logger"] == clocks.name] == ["garbage", "o.r1.bad"]
    assert [r["room_id"] for r in written if r["logger"] == session.name] == ["room-0"]
    assert all(logs.ABOUT not in r for r in written)
    clock.now += 10
    node.warning("room %s: %s after a pub/sub outage", "r1", "rollback",
                 extra=logs.about(room_id="r1"))
    again = lines(process_log)[len(written):]
    assert [(r["room_id"], r["suppressed"]) for r in again] == [("r1", 1)]


def test_info_lines_are_not_limited(out: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = out
    for i in range(50):
        logger.info("room %s started", i)
    assert len(lines(stream)) == 50


def test_secrets_never_reach_the_log(out: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = out
    jwt = mint("x" * 40, "vic", "viewer", ttl_s=60)
    logger.info("upgrade GET /ws/rooms/r1?since=3&token=%s", jwt)
    logger.warning("header Authorization: Bearer %s", jwt, extra={"url": f"/x?token={jwt}"})
    fail(logger, ValueError(f"bad token {jwt}"))
    text = stream.getvalue()
    assert jwt not in text and jwt.split(".")[1] not in text
    first, second, third = lines(stream)
    assert first["message"] == "upgrade GET /ws/rooms/r1?since=3&token=[redacted]"
    assert second["message"] == "header Authorization: Bearer [redacted]"
    assert second["url"] == "/x?token=[redacted]"
    assert "bad token [redacted]" in third["exception"]


def test_a_malformed_request_is_one_info_line_without_traceback(
        monkeypatch: pytest.MonkeyPatch) -> None:
    server = logging.getLogger("aiohttp.server")
    monkeypatch.setattr(server, "level", logging.INFO)
    try:
        raise BadHttpMessage("Invalid header value char")
    except BadHttpMessage:
        record = server.makeRecord(
            "aiohttp.server", logging.ERROR, __file__, 1, "Error handling request from %s",
            ("10.0.0.7",), exc_info=sys.exc_info())
    assert logs.ClientErrors().filter(record)
    assert record.levelno == logging.INFO and record.exc_info is None
    assert record.getMessage() == ("malformed HTTP request from 10.0.0.7: BadHttpMessage 400: "
                                   "Invalid header value char")
    limit = logs.RateLimit(window_s=10.0, clock=Clock())
    assert limit.filter(record) and not limit.filter(record)  # limited like a failure


def test_the_format_is_json_in_production_and_text_elsewhere() -> None:
    assert logs.chosen_format({"LIVE_LOG_FORMAT": "text", "LIVE_SERVER_ENV": "production"}) \
        == "text"
    assert logs.chosen_format({"LIVE_SERVER_ENV": "production"}) == "json"
    assert logs.chosen_format({"LIVE_SERVER_ENV": "development"}) == "text"
    assert logs.chosen_format({}) == "text"


def test_the_text_format_is_one_readable_line() -> None:
    record = logging.LogRecord("live_server.app", logging.WARNING, __file__, 1,
                               "worker %d exited", (42,), None)
    record.room_id = "r1"
    line = logs.formatter("text").format(record)
    assert "worker 42 exited" in line and "room_id=r1" in line and "\n" not in line


def _extra_names(call: ast.Call) -> list[str]:
    """The field names a log call's ``extra`` gives: a dict literal's string keys and the
    keywords of ``about(...)``, also when spread into the dict."""
    names: list[str] = []
    for kw in call.keywords:
        if kw.arg != "extra":
            continue
        for node in ast.walk(kw.value):
            if isinstance(node, ast.Dict):
                names += [k.value for k in node.keys
                          if isinstance(k, ast.Constant) and isinstance(k.value, str)]
            elif isinstance(node, ast.Call):
                names += [k.arg for k in node.keywords if k.arg is not None]
    return names


def test_no_extra_field_overwrites_a_log_record_attribute() -> None:
    """The standard library raises KeyError inside the log call for an ``extra`` named like a
    LogRecord attribute (``message``, ``name``, ...): the line is lost, and whatever followed
    the call in an except branch (a failure's count) never runs."""
    probe = logging.LogRecord("n", logging.INFO, __file__, 1, "m", None, None)
    reserved = set(vars(probe)) | {"message", "asctime", "taskName"}
    package = Path(logs.__file__).parent
    clashes = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                clashes += [f"{path.relative_to(package)}:{node.lineno} {name}"
                            for name in _extra_names(node) if name in reserved]
    assert clashes == []
