"""What the simulated clients say, per server: our room protocol, or Socket.IO for the peer.

Why a dialect object: the same light sink, talker and tracer clients measure both our server
and the Socket.IO peer, so the comparison differs only in the words on the wire. Each dialect
answers four questions cheaply, without decoding JSON on the sink's hot path: which path to
open, what to send before the room is joined, how many events (and chat events) a frame holds,
and how to frame a request / read its answer. Only tracers call `decode`.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import orjson

WAIT: Final = 0
JOINED: Final = 1
FAILED: Final = 2


@dataclass
class Decoded:
    """A tracer's view of one frame, in our protocol's terms whatever the dialect."""

    kind: str  # "welcome" | "events" | "error" | "reply" | "other"
    seq: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None


@dataclass
class Reply:
    """The answer to a request a talker sent: `data` or `error`."""

    rid: int
    data: dict[str, Any] | None
    error: dict[str, Any] | None


class Dialect(Protocol):
    name: str

    def path(self, room: str, token: str | None) -> str: ...

    def before_join(self, payload: bytes, room: str, token: str | None) -> tuple[int, str | None]:
        """(state, text to send) for a frame received before the room was joined."""
        ...

    def keepalive(self, payload: bytes) -> str | None:
        """The answer to an application-level ping frame, or None when it is not one."""
        ...

    def count(self, payload: bytes) -> tuple[int, int]:
        """(events, chat events) in a frame, without decoding it."""
        ...

    def request(self, rid: int, op: str, fields: dict[str, Any]) -> str: ...

    def reply(self, payload: bytes) -> Reply | None:
        """The parsed answer when `payload` answers a request, else None (cheap prefix test)."""
        ...

    def decode(self, payload: bytes) -> Decoded: ...


# Our server writes `type` first in every frame, so the live dialect reads a frame's type from its
# first bytes: `{"type":"` (compact, as orjson and the fan-out write it) or `{"type": "` (spaced,
# as Python's json writes it). A frame laid out any other way is decoded: the answer does not
# depend on key order, only its cost does. (Finding `"type":` anywhere is not enough: in an
# events frame whose own `type` came last, the first one found would be an event's.)
def _type_first(kind: bytes) -> tuple[bytes, bytes]:
    return b'{"type":"' + kind + b'"', b'{"type": "' + kind + b'"'


_ANY_FIRST: Final = (b'{"type":"', b'{"type": "')
_WELCOME: Final = _type_first(b"welcome")
_ERROR: Final = _type_first(b"error")
_ANSWER: Final = _type_first(b"reply") + _ERROR
_EVENTS_COMPACT, _EVENTS_SPACED = _type_first(b"events")


def _object(payload: bytes) -> dict[str, Any]:
    """A frame decoded, or {} when it is not a JSON object."""
    try:
        msg = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return {}
    return msg if isinstance(msg, dict) else {}


class LiveDialect:
    """Our server: `/ws/rooms/{id}?token=`, every frame a JSON object with a `type`."""

    name = "live"

    def path(self, room: str, token: str | None) -> str:
        q = {"token": token} if token else {"guest": "1"}
        return f"/ws/rooms/{urllib.parse.quote(room)}?{urllib.parse.urlencode(q)}"

    def before_join(self, payload: bytes, room: str, token: str | None) -> tuple[int, str | None]:
        if payload.startswith(_WELCOME):
            return JOINED, None
        if payload.startswith(_ERROR):
            return FAILED, None
        if payload.startswith(_ANY_FIRST):
            return WAIT, None
        kind = _object(payload).get("type")
        return (JOINED if kind == "welcome" else FAILED if kind == "error" else WAIT), None

    def keepalive(self, payload: bytes) -> str | None:
        return None

    def count(self, payload: bytes) -> tuple[int, int]:
        # Inside JSON strings every quote is escaped, so the markers below only match real keys;
        # the frame's own `"type":` is one of them.
        if payload.startswith(_EVENTS_COMPACT):
            return payload.count(b'"type":"') - 1, payload.count(b'"type":"chat"')
        if payload.startswith(_EVENTS_SPACED):
            return payload.count(b'"type": "') - 1, payload.count(b'"type": "chat"')
        if payload.startswith(_ANY_FIRST):
            return 0, 0
        msg = _object(payload)
        evs = msg.get("events")
        if msg.get("type") != "events" or not isinstance(evs, list):
            return 0, 0
        kinds = [e.get("type") for e in evs if isinstance(e, dict)]
        return len(kinds), kinds.count("chat")

    def request(self, rid: int, op: str, fields: dict[str, Any]) -> str:
        return orjson.dumps({"op": op, "id": rid, **fields}).decode()

    def reply(self, payload: bytes) -> Reply | None:
        if payload.startswith(_ANSWER):
            msg = orjson.loads(payload)
        elif payload.startswith(_ANY_FIRST):
            return None
        else:
            msg = _object(payload)
            if msg.get("type") not in ("reply", "error"):
                return None
        rid = msg.get("id")
        if not isinstance(rid, int):
            rid = -1
        if msg.get("type") == "reply":
            data = msg.get("data")
            return Reply(rid, data if isinstance(data, dict) else {}, None)
        err = msg.get("error")
        return Reply(rid, None, err if isinstance(err, dict) else {"code": "unknown"})

    def decode(self, payload: bytes) -> Decoded:
        msg = orjson.loads(payload)
        kind = msg.get("type")
        if kind == "welcome":
            seq = msg.get("seq")
            return Decoded("welcome", seq=seq if isinstance(seq, int) else None)
        if kind == "events":
            evs = msg.get("events")
            return Decoded("events", events=evs if isinstance(evs, list) else [])
        if kind == "error":
            err = msg.get("error")
            return Decoded("error", error=err if isinstance(err, dict) else {})
        if kind == "reply":
            return Decoded("reply")
        return Decoded("other")


class SocketIODialect:
    """The Socket.IO peer: Engine.IO v4 over a websocket, namespace `/`, events `42[...]`.

    Join: the server opens with `0{...}`; we send `40{"room","token"}`; the peer answers `40{sid}`
    and then `42["welcome",{"seq"}]`. Keepalive: engine.io ping `2` is answered with pong `3`.
    Requests carry an ack id (`42<id>["chat",{...}]`) answered by `43<id>[{...}]`.
    """

    name = "sio"

    def path(self, room: str, token: str | None) -> str:
        return "/socket.io/?EIO=4&transport=websocket"

    def before_join(self, payload: bytes, room: str, token: str | None) -> tuple[int, str | None]:
        if payload.startswith(b"0{"):
            auth = orjson.dumps({"room": room, "token": token}).decode()
            return WAIT, "40" + auth
        if payload.startswith(b'42["welcome"'):
            return JOINED, None
        if payload.startswith((b"44", b"41")):
            return FAILED, None
        return WAIT, None

    def keepalive(self, payload: bytes) -> str | None:
        return "3" if payload == b"2" else None

    def count(self, payload: bytes) -> tuple[int, int]:
        if payload.startswith(b'42["chat"'):
            return 1, 1
        if payload.startswith(b"42["):
            return 1, 0
        return 0, 0

    def request(self, rid: int, op: str, fields: dict[str, Any]) -> str:
        return f"42{rid}" + orjson.dumps([op, fields]).decode()

    def reply(self, payload: bytes) -> Reply | None:
        if not payload.startswith(b"43"):
            return None
        i = 2
        while i < len(payload) and 48 <= payload[i] <= 57:
            i += 1
        rid = int(payload[2:i]) if i > 2 else -1
        args = orjson.loads(payload[i:])
        data = args[0] if isinstance(args, list) and args and isinstance(args[0], dict) else {}
        err = data.get("error")
        if isinstance(err, dict):
            return Reply(rid, None, err)
        return Reply(rid, data, None)

    def decode(self, payload: bytes) -> Decoded:
        if not payload.startswith(b"42["):
            return Decoded("other")
        args = orjson.loads(payload[2:])
        if not isinstance(args, list) or len(args) < 2 or not isinstance(args[1], dict):
            return Decoded("other")
        name, body = args[0], args[1]
        if name == "welcome":
            seq = body.get("seq")
            return Decoded("welcome", seq=seq if isinstance(seq, int) else None)
        if name == "chat":
            return Decoded("events", events=[{"type": "chat", **body}])
        if name == "error":
            return Decoded("error", error=body)
        return Decoded("other")


DIALECTS: dict[str, Dialect] = {"live": LiveDialect(), "sio": SocketIODialect()}
