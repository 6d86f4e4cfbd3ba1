"""One websocket connection as the fan-out sees it: a transport to write bytes to, and who it is.

Writes are synchronous ``transport.write`` calls of whole frames (the hub's batches, replies and
pings; the room socket's pongs and close frames), so frames never interleave, whichever code read
the socket's upgrade.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Callable
from typing import Protocol


class Transport(Protocol):
    def write(self, data: bytes) -> None: ...
    def is_closing(self) -> bool: ...
    def get_write_buffer_size(self) -> int: ...
    def abort(self) -> None: ...
    def close(self) -> None: ...


def new_conn_id() -> str:
    return "c_" + secrets.token_urlsafe(8)


@dataclasses.dataclass(eq=False, slots=True)
class Conn:
    room_id: str
    transport: Transport
    user_id: str | None
    name: str
    role: str | None
    id: str = dataclasses.field(default_factory=new_conn_id)
    closed: bool = False
    close_code: int | None = None
    # events that arrived while the connection was joining: (seq or None, raw event)
    held: list[tuple[int | None, bytes]] = dataclasses.field(default_factory=list)
    # set by the gateway so the hub can ask the handler to close the websocket properly
    on_kick: Callable[[int, str], None] | None = None
    # loop time anything (a frame, a pong) last came from the client
    seen_at: float = dataclasses.field(default_factory=lambda: asyncio.get_running_loop().time())
    # set when a close was asked for from outside (ban, shutdown); done when the socket is gone
    closing_task: asyncio.Future[None] | None = None

    @property
    def visitor_id(self) -> str:
        """Counts unique viewers: the user, or this connection for a guest."""
        return self.user_id if self.user_id is not None else f"guest:{self.id}"
