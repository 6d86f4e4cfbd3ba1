"""Show reminders (预约) without I/O: who may subscribe to which room, the message a show start
publishes to every process, and the pages the subscriber list is cut into.

A reminder is kept only for a scheduled room: once a room is live or ended there is nothing to
be reminded of, so asking then is refused with ``invalid_state`` (cancelling stays allowed in
every state, so a client can always clean up). Every process hears one message per show start
on one global channel and intersects its own connected users with the room's subscribers, so a
start costs one publish however many subscribers the room has.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import orjson

from live_server.errors import InvalidState

# users asked about per SMISMEMBER (a process's connected users, against one room's set)
MEMBER_CHUNK = 1000
# subscriber ids per ``show.starting`` webhook delivery
WEBHOOK_PAGE = 1000
WEBHOOK_EVENT = "show.starting"
MINE_LIMIT = 200  # the newest reminders GET /api/me/reminders lists


def check_can_subscribe(state: str) -> None:
    """Only a scheduled show can be waited for."""
    if state != "scheduled":
        raise InvalidState(f"the room is {state}: only a scheduled show has reminders",
                           state=state)


class StartMessage(NamedTuple):
    """What the global channel carries when a room goes live: the room, and the encoded
    ``show_starting`` notice every process writes as it is to its subscribers' sockets."""

    room_id: str
    notice: bytes

    def encode(self) -> bytes:
        return b'{"room_id":' + orjson.dumps(self.room_id) + b',"notice":' + self.notice + b"}"

    @classmethod
    def decode(cls, raw: bytes) -> StartMessage:
        """Raises ValueError on anything but what :meth:`encode` wrote."""
        data = orjson.loads(raw)
        if not isinstance(data, dict) or not isinstance(data.get("room_id"), str) \
                or not isinstance(data.get("notice"), dict):
            raise ValueError("not a show start message")
        return cls(data["room_id"], orjson.dumps(data["notice"]))


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """``items`` in slices of at most ``size`` (none for an empty list)."""
    if size < 1:
        raise ValueError("size must be positive")
    for start in range(0, len(items), size):
        yield items[start:start + size]
