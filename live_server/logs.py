"""Logging for every process: one line per record, JSON (the production default) or readable text
(``LIVE_LOG_FORMAT=json|text``), with the request, room and connection ids of where it was
logged, secrets scrubbed, and failures of one kind rate limited.

The code logs through the standard library (``logging.getLogger(__name__)``, ids as ``extra``
or bound to the context with ``bind``); structlog renders every record, ours and the libraries',
so there is one format. Why a rate limit: during a Valkey outage every request fails the same
way, and a traceback per request wrote 6 MB in 3 s. A failure kind (logger, message template,
exception type) is logged whole the first time, then held back: one line per ``WINDOW_S`` says
how many were held (``suppressed``). A line about one entity (a room's stream rolled back, an
order paid late, a schedule item parked: ``extra=about(room_id=...)``) is its own kind per
entity, so that the line about room B is not held back because room A's came first; the same
line about the same entity is still held back. A malformed HTTP request is the client's fault,
not ours: it is one INFO line without a traceback, under the same limit."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

import orjson
import structlog
from aiohttp.http_exceptions import HttpProcessingError

from live_server import config

FORMATS = ("json", "text")
WINDOW_S = 10.0  # a failure kind is written at most once per window after its first line
MAX_KINDS = 2_000  # kinds remembered at once (forgotten together past this)

# What must never reach a log: tokens in query strings, bearer credentials, anything like a JWT.
_SECRETS = (
    (re.compile(r"(?i)([?&;](?:token|access_token|auth|jwt|secret|password|sig|key)=)[^&\s\"']+"),
     r"\1[redacted]"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), r"\1[redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[redacted]"),
)


def scrub_text(text: str) -> str:
    """``text`` without the secrets it may carry (a URL's token, a bearer header, a JWT)."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _scrub(_logger: Any, _method: str, event: structlog.typing.EventDict
           ) -> structlog.typing.EventDict:
    for name, value in event.items():
        if isinstance(value, str):
            event[name] = scrub_text(value)
    return event


def _pid(_logger: Any, _method: str, event: structlog.typing.EventDict
         ) -> structlog.typing.EventDict:
    event["pid"] = os.getpid()
    return event


FIRST = ("timestamp", "level", "logger", "message")  # then the ids and the rest
ABOUT = "limit_about"  # record attribute: the ids of the entity a line is about (not written)


def about(**ids: str) -> dict[str, object]:
    """``extra`` for a line about one entity (``about(room_id=room.id)``): the ids are fields of
    the line and part of its rate-limit kind. Only for lines that are rare for each entity
    (a rollback, a parked item, a late payment): a failure that every request of a room can
    hit keeps its ids as plain ``extra``, so that an outage is still one line per window."""
    return {**ids, ABOUT: tuple(ids.values())}


def _unmark(_logger: Any, _method: str, event: structlog.typing.EventDict
            ) -> structlog.typing.EventDict:
    event.pop(ABOUT, None)
    return event


def _dumps(obj: Any, **_kw: Any) -> str:
    ordered = {k: obj[k] for k in FIRST if k in obj}
    ordered.update(obj)
    return orjson.dumps(ordered, default=repr).decode()


def formatter(fmt: str) -> logging.Formatter:
    """The formatter of ``fmt`` ("json" or "text") for records of any logger."""
    pre_chain: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _unmark,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor
    if fmt == "json":
        tail: list[structlog.typing.Processor] = [
            _pid, structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message")]
        renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    else:
        tail = [structlog.processors.format_exc_info]
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback)
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail, _scrub,
                    renderer])


@dataclasses.dataclass(slots=True)
class _Kind:
    since: float  # when its last line was written
    held: int = 0  # lines held back since


class RateLimit(logging.Filter):
    """Per failure kind (logger, template, exception type, and the ids of :func:`about`): the
    first record whole, then at most one line per ``window_s`` with the count held back
    (``suppressed``) and no traceback. WARNING and above, and the records marked
    ``rate_limited`` (malformed requests), are limited; the rest pass."""

    def __init__(self, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window_s = window_s
        self.clock = clock
        self._kinds: dict[tuple[str, ...], _Kind] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING and not getattr(record, "rate_limited", False):
            return True
        exc = record.exc_info[0].__qualname__ if record.exc_info and record.exc_info[0] else ""
        key = (record.name, str(record.msg), exc, *getattr(record, ABOUT, ()))
        now = self.clock()
        kind = self._kinds.get(key)
        if kind is None or (kind.held == 0 and now - kind.since >= self.window_s):
            if kind is None and len(self._kinds) >= MAX_KINDS:
                self._kinds.clear()
            self._kinds[key] = _Kind(since=now)
            return True  # the first of a burst: whole, with its traceback
        if now - kind.since < self.window_s:
            kind.held += 1
            return False
        record.suppressed = kind.held
        record.exc_info, record.exc_text = None, None
        kind.since, kind.held = now, 0
        return True


class ClientErrors(logging.Filter):
    """aiohttp logs a request it could not parse as an ERROR with a traceback: the client's
    malformed bytes become one INFO line naming what was wrong, rate limited."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        record.msg = "malformed HTTP request from %s: %s"
        record.args = (record.args[0] if isinstance(record.args, tuple) and record.args
                       else "?", f"{type(exc).__name__} {exc.code}: {exc.message}"[:200])
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.exc_info, record.exc_text = None, None
        record.rate_limited = True
        return logging.getLogger(record.name).isEnabledFor(logging.INFO)


def chosen_format(env: Mapping[str, str]) -> str:
    """``LIVE_LOG_FORMAT`` if set, else JSON in production and text elsewhere."""
    fmt = env.get("LIVE_LOG_FORMAT", "").strip().lower()
    if fmt:
        return fmt
    try:
        production = config.load(env=env).production
    except Exception:  # a bad configuration is reported by the command itself
        production = env.get("LIVE_SERVER_ENV") == "production"
    return "json" if production else "text"


def setup(env: Mapping[str, str] | None = None, stream: TextIO | None = None) -> None:
    """Configure this process's logging once, from the environment (``LIVE_LOG_FORMAT``,
    ``LIVE_LOG_LEVEL``): one handler on the root logger, to stderr."""
    env = os.environ if env is None else env
    fmt = chosen_format(env)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(fmt if fmt in FORMATS else "json"))
    handler.addFilter(RateLimit())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(env.get("LIVE_LOG_LEVEL", "INFO").upper())
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientErrors) for f in server.filters):
        server.addFilter(ClientErrors())
    if fmt not in FORMATS:
        logging.getLogger(__name__).warning("LIVE_LOG_FORMAT=%s is not one of %s: json",
                                            fmt, "|".join(FORMATS))


@contextmanager
def bind(**ids: str | None) -> Iterator[None]:
    """Every line logged inside carries ``ids`` (those not None), e.g. a request's id."""
    with structlog.contextvars.bound_contextvars(
            **{k: v for k, v in ids.items() if v is not None}):
        yield
