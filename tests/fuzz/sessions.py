"""One fuzzed websocket session, end to end: connect with a token of some kind (in the query or
a first ``auth`` frame), send a run of inputs in one write, wait until every request has its
answer, then end the session (properly, by breaking the protocol, or by vanishing) and check
what the server said at each step."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from hypothesis import strategies as st

from live_server.errors import CloseCode, codes
from tests.fuzz.strategies import MAX_FRAME, TEXT, Ending, Message, endings, messages, requests
from tests.fuzz.world import TOKEN_KINDS, World, token_of
from tests.fuzz.wsraw import Frame, RawSocket

CODES = codes()
END_ID = "fuzz-end"
# A join may be refused with these (docs/PROTOCOL.md, "Websocket close codes"): a bad or
# expired token, banned, no such room, no guests; 1000 for a bad ``since``/``epoch``.
JOIN_REFUSALS = {CloseCode.UNAUTHORIZED, CloseCode.BANNED, CloseCode.ROOM_NOT_FOUND,
                 CloseCode.GUESTS_NOT_ALLOWED, CloseCode.NORMAL}
# A session that was open may be cut by what other sessions did (a ban) or by the store.
CUT_SHORT = {CloseCode.BANNED, CloseCode.RESYNC}
T = TypeVar("T")


@dataclasses.dataclass
class Tally:
    inputs: int = 0  # messages and frames the server read and handled
    sessions: int = 0
    requests: int = 0
    errors: int = 0
    internal: int = 0
    refused_joins: int = 0
    endings: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Spec:
    kind: str  # a token kind (world.TOKEN_KINDS)
    auth: str  # "query", "frame" or "fuzzed" (a generated first frame)
    room: str  # "room", "other_room" or "missing"
    first: bytes  # the auth frame's text, for "frame" and "fuzzed"
    messages: tuple[Message, ...]
    ending: Ending


def _auth_text(kind: str) -> bytes:
    token = token_of(kind)
    return orjson.dumps({"op": "auth", **({"token": token} if token else {})})


@st.composite
def specs(draw: st.DrawFn, values: dict[str, st.SearchStrategy[Any]],
          message: st.SearchStrategy[Message], min_messages: int, max_messages: int) -> Spec:
    # mostly tokens that get in (a refused join carries one input); each kind still comes often
    kind = draw(st.sampled_from([*TOKEN_KINDS, "viewer", "room_creator", "ops"]))
    auth = draw(st.sampled_from(["query", "query", "query", "frame", "fuzzed"]))
    first = (draw(requests(values, ["auth"])) if auth == "fuzzed"
             else _auth_text(kind) if auth == "frame" else b"")
    if len(first) > MAX_FRAME:  # a first frame too big is the oversized ending's case
        first = _auth_text(kind)
    room = draw(st.sampled_from(["room"] * 6 + ["other_room", "other_room", "missing"]))
    runs = draw(st.lists(message, min_size=min_messages, max_size=max_messages))
    return Spec(kind, auth, room, first, tuple(runs), draw(endings()))


def any_specs(values: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Spec]:
    return specs(values, messages(values), 20, 50)


def _check_answer(answer: dict[str, Any], tally: Tally) -> None:
    tally.requests += 1
    if answer["type"] == "error":
        tally.errors += 1
        code = answer["error"]["code"]
        if code == "internal":
            tally.internal += 1
        assert code != "internal", answer
        assert code in CODES, answer
        assert answer["error"]["message"], answer


def _sent_id(payload: bytes) -> Any:
    """The id the server must echo for a request text: its ``id`` when it is a JSON object."""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return value.get("id") if isinstance(value, dict) else None


async def run(world: World, spec: Spec, tally: Tally,
              refused_only: bool = False) -> None:
    """One session. ``refused_only``: every request of it must be refused (an error answer)."""
    live = world.live
    room = {"room": world.room, "other_room": world.other_room,
            "missing": "r0000000000missing"}[spec.room]
    token = token_of(spec.kind)
    query = ({"token": token} if token else {"guest": "1"}) if spec.auth == "query" else {}
    sock = await RawSocket.connect(live.client.host, int(live.client.port or 0), room, query)
    tally.sessions += 1
    try:
        if spec.auth != "query":
            sock.send(Frame(TEXT, spec.first, mask=b"\x01\x02\x03\x04").encode())
        tally.inputs += 1
        await sock.wait_for(lambda: _welcome(sock) or sock.close_code is not None)
        assert not sock.bad_frames, sock.bad_frames
        if not _welcome(sock):
            await _refused(sock, spec, tally)
            return
        assert spec.auth == "fuzzed" or spec.room != "missing", sock.texts
        assert spec.kind not in ("expired", "wrong_secret") or spec.auth == "fuzzed"
        await _requests(sock, spec, tally, refused_only)
        if sock.close_code is None:
            await _end(sock, spec.ending, tally)
        assert not sock.bad_frames, sock.bad_frames
    finally:
        await sock.close()


def _welcome(sock: RawSocket) -> bool:
    return any(t.get("type") == "welcome" for t in sock.texts)


async def _refused(sock: RawSocket, spec: Spec, tally: Tally) -> None:
    """A refused join: an error frame (id null) then the close code that goes with it."""
    tally.refused_joins += 1
    code = sock.close_code
    errors = [t for t in sock.texts if t.get("type") == "error"]
    assert code in JOIN_REFUSALS, (code, sock.texts)
    assert len(errors) == 1 and errors[0]["id"] is None, sock.texts
    _check_answer(errors[0], tally)
    if spec.auth != "fuzzed":
        expected = {"expired": (CloseCode.UNAUTHORIZED, "token_expired"),
                    "wrong_secret": (CloseCode.UNAUTHORIZED, "unauthorized")}.get(spec.kind)
        if spec.room == "missing" and expected is None:
            expected = (CloseCode.ROOM_NOT_FOUND, "not_found")
        if expected is not None:
            assert (code, errors[0]["error"]["code"]) == expected, sock.texts
    sock.send(Frame(0x8, b"\x03\xe8").encode())  # answer the close: the server may let go now
    await sock.wait_ended()


async def _requests(sock: RawSocket, spec: Spec, tally: Tally, refused_only: bool) -> None:
    """Send every message in one write, then a final ping; each request must get exactly one
    answer, in order, echoing its id."""
    end = orjson.dumps({"op": "ping", "id": END_ID})
    sock.send(b"".join(m.wire() for m in spec.messages)
              + Frame(TEXT, end, mask=b"\x00\x00\x00\x00").encode())
    await sock.wait_for(lambda: any(a.get("id") == END_ID for a in sock.answers()))
    answers = sock.answers()
    sent = [m.payload for m in spec.messages if m.request]
    if sock.close_code is not None:  # cut short by another session (a ban) or a resync
        assert sock.close_code in CUT_SHORT, (sock.close_code, sock.texts)
        assert len(answers) <= len(sent) + 1
    else:
        assert len(answers) == len(sent) + 1, (len(answers), len(sent), answers[-3:])
        assert answers[-1]["type"] == "pong", answers[-1]
    tally.inputs += sum(1 for m in spec.messages for _ in m.frames if not m.request)
    for payload, answer in zip(sent, answers, strict=False):
        tally.inputs += 1
        _check_answer(answer, tally)
        assert orjson.dumps(answer["id"]) == orjson.dumps(_sent_id(payload)), (payload, answer)
        if refused_only:
            assert answer["type"] == "error", (json.loads(payload), answer)


async def _end(sock: RawSocket, ending: Ending, tally: Tally) -> None:
    tally.endings[ending.name] = tally.endings.get(ending.name, 0) + 1
    tally.inputs += 1
    sock.send(ending.data)
    if ending.code is None:  # the client vanishes (perhaps mid-frame): nothing to check here
        return
    await sock.wait_for(lambda: sock.close_code is not None)
    assert sock.close_code == ending.code, (ending.name, sock.close_code, ending.code)
    sock.send(Frame(0x8, b"", mask=b"\x00\x00\x00\x00").encode())
    await sock.wait_ended()


async def run_all(world: World, batch: list[Spec], tally: Tally,
                  refused_only: bool = False) -> None:
    """A batch of sessions at the same time, as a room's viewers would be."""
    await asyncio.gather(*(run(world, spec, tally, refused_only) for spec in batch))


def on_loop(loop: asyncio.AbstractEventLoop) -> Callable[[Awaitable[T]], T]:
    """Run a coroutine on the test's event loop (where the server lives) from the thread that
    Hypothesis drives, and wait for it."""
    def call(coro: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await coro
        return asyncio.run_coroutine_threadsafe(wrapped(), loop).result(timeout=120)
    return call

