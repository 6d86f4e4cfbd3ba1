"""What one entry of the command table is, and how a request's fields are bound to it.

A :class:`Command` is plain data (name, fields, who may run it, the errors it may answer, its
websocket op and/or HTTP route) plus ``run``: a small async function from a :class:`Call` to
the answer, calling one service. Both transports bind the same way: who first
(:meth:`Command.allow`, the token-only rules), then unknown fields (``invalid_field`` naming the
first), then each field in order (``missing_field`` / ``invalid_field`` naming it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from live_server.auth import Identity
from live_server.commands.access import ANYONE, Access, Standing, acts, check_standing
from live_server.commands.fields import ABSENT, Field
from live_server.config import Settings
from live_server.domain.rooms import Room
from live_server.errors import InvalidField, LiveError
from live_server.protocol import Json

if TYPE_CHECKING:
    from live_server.container import Services


class RoomSession(Protocol):
    """The websocket session a command runs in: its room, and its own snapshot read."""

    room: Room

    async def snapshot(self, visit: bool = False) -> tuple[Json, int]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    """One run of a command: the services, who asks, the room (the socket's, or the path's
    ``room_id``; empty when neither), the bound fields."""

    services: Services
    who: Identity
    room_id: str
    args: Json
    req_id: Any = None
    session: RoomSession | None = None


Run = Callable[[Call], Awaitable[Json | bytes]]


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    """The command over HTTP. Path parameters other than ``room_id`` fill the fields of the same
    name; the other fields come from the query (GET) or the JSON body (anything else).
    ``created``: the answer's boolean that makes the status 201 rather than 200."""

    method: str
    path: str
    status: int = 200
    created: str | None = None

    def status_of(self, answer: Json) -> int:
        if self.created is not None:
            return 201 if answer.get(self.created) else 200
        return self.status


@dataclasses.dataclass(frozen=True, slots=True)
class Command:
    name: str
    summary: str
    run: Run
    access: Access = ANYONE
    fields: tuple[Field, ...] = ()
    errors: tuple[type[LiveError], ...] = ()
    op: str | None = None  # the websocket op, if the room socket takes it
    http: Route | None = None
    reply: str = ""  # what a success answers, for the documents
    names: frozenset[str] = dataclasses.field(init=False, default=frozenset())
    acts: bool = dataclasses.field(init=False, default=True)  # a suspension stops it

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", frozenset(f.name for f in self.fields))
        reads_only = self.op is None and self.http is not None and self.http.method == "GET"
        object.__setattr__(self, "acts", acts(self.access, reads_only))

    def allow(self, who: Identity, standing: Standing | None = None) -> None:
        """The token-only part of who may run it, then the caller's platform standing (a
        suspended user is refused what acts); call before :meth:`bind`."""
        if self.access.check is not None:
            self.access.check(who)
        if self.acts:
            check_standing(who, standing)

    def bind(self, msg: Json, settings: Settings, envelope: Iterable[str] = ()) -> Json:
        """The checked arguments of a request ``msg``; ``envelope`` names keys that are not
        fields (the websocket's ``op`` and ``id``)."""
        return bind_fields(self.fields, msg, settings, envelope, self.names)


def bind_fields(fields: tuple[Field, ...], msg: Json, settings: Settings,
                envelope: Iterable[str] = (), names: frozenset[str] | None = None) -> Json:
    """The one binding rule, for the table's commands and the few bodies outside it (the
    payment webhook): unknown fields first (``invalid_field`` naming the first), then each
    field in order (``missing_field`` / ``invalid_field`` naming it)."""
    known = names if names is not None else frozenset(f.name for f in fields)
    for key in msg:
        if key not in known and key not in envelope:
            raise InvalidField(f"unknown field '{str(key)[:40]}'")
    args: Json = {}
    for field in fields:
        value = field.read(msg, settings)
        if value is not ABSENT:
            args[field.name] = value
    return args
