"""Bad input gets its documented error or close code; the server keeps serving everyone else."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.conftest import LiveApp, token
from tests.helpers import Viewer, open_ws


async def _pair(live: LiveApp) -> tuple[str, Viewer, Viewer]:
    room = await live.live_room()
    bad = await Viewer.connect(live.base, room, token("mallory"))
    good = await Viewer.connect(live.base, room, token("bob"))
    await bad.wait_welcome()
    await good.wait_welcome()
    return room, bad, good


async def _still_serving(live: LiveApp, room: str, good: Viewer) -> None:
    """Someone else can still chat and be heard."""
    n = len(good.of_type("chat"))
    other = await Viewer.connect(live.base, room, token("carol"))
    await other.wait_welcome()
    assert (await other.request("chat", text="still here"))["type"] == "reply"
    await good.wait_for(lambda: len(good.of_type("chat")) > n)
    await other.close()


@pytest.mark.parametrize(("frame", "code"), [
    ("{not json", "invalid_json"),
    ("[1, 2, 3]", "invalid_json"),
    ('"just a string"', "invalid_json"),
    ('{"id": 1}', "missing_field"),
    ('{"id": 1, "op": 42}', "invalid_field"),
    ('{"id": 1, "op": "dance"}', "unknown_op"),
    ('{"id": 1, "op": "chat"}', "missing_field"),
    ('{"id": 1, "op": "chat", "text": 5}', "invalid_field"),
    ('{"id": 1, "op": "chat", "text": "   "}', "message_empty"),
    ('{"id": 1, "op": "chat", "text": "' + "x" * 201 + '"}', "message_too_long"),
    ('{"id": 1, "op": "heart", "count": 0}', "invalid_field"),
    ('{"id": 1, "op": "heart", "count": 51}', "invalid_field"),
    ('{"id": 1, "op": "heart", "count": "5"}', "invalid_field"),
    ('{"id": 1, "op": "heart", "count": true}', "invalid_field"),
    ('{"id": 1, "op": "report", "seq": -1, "reason": "x"}', "invalid_field"),
    ('{"id": 1, "op": "history", "limit": 1000}', "invalid_field"),
    ('{"id": 1, "op": "auth", "token": "x"}', "invalid_field"),
])
async def test_malformed_requests_get_coded_errors(live: LiveApp, frame: str, code: str) -> None:
    room, bad, good = await _pair(live)
    await bad.ws.send_str(frame)
    error = await bad.wait_for(lambda: [f for f in bad.frames if f.get("type") == "error"])
    assert error[0]["error"]["code"] == code, error
    assert (await bad.request("ping"))["type"] == "pong"  # the connection survives
    await _still_serving(live, room, good)
    await bad.close()
    await good.close()


async def test_error_echoes_the_request_id(live: LiveApp) -> None:
    _room, bad, good = await _pair(live)
    reply = await bad.request("dance")
    assert reply["id"] == f"r{bad._next_id}" and reply["error"]["code"] == "unknown_op"
    await bad.close()
    await good.close()


async def test_oversized_frame_closes_with_1009(live: LiveApp) -> None:
    room, bad, good = await _pair(live)
    await bad.ws.send_str('{"op": "chat", "text": "' + "x" * 10000 + '"}')
    assert await bad.wait_closed() == 1009
    await _still_serving(live, room, good)
    await good.close()


async def test_binary_frame_closes_with_1003(live: LiveApp) -> None:
    room, bad, good = await _pair(live)
    await bad.ws.send_bytes(b"\x00\x01binary")
    assert await bad.wait_closed() == 1003
    await _still_serving(live, room, good)
    await good.close()


async def test_flood_closes_with_4029(live_app_factory: Any) -> None:
    live = await live_app_factory(ws={"max_frames_per_s": 20})
    room, bad, good = await _pair(live)
    for _ in range(60):
        if bad.closed:
            break
        await bad.ws.send_str('{"op": "ping"}')
    assert await bad.wait_closed() == 4029
    await _still_serving(live, room, good)
    await good.close()


async def test_chat_rate_limit_is_a_token_bucket(live_app_factory: Any) -> None:
    live = await live_app_factory(chat={"burst": 3, "rate_per_s": 0.5})
    room, bad, good = await _pair(live)
    answers = [await bad.request("chat", text=f"m{i}") for i in range(5)]
    assert [a["type"] for a in answers] == ["reply"] * 3 + ["error"] * 2
    assert answers[3]["error"]["code"] == "rate_limited"
    assert 0 < answers[3]["error"]["retry_after_ms"] <= 2000
    await good.wait_for(lambda: len(good.of_type("chat")) == 3)
    # the limit is per user: someone else may still talk
    await _still_serving(live, room, good)
    await bad.close()
    await good.close()


async def test_auth_frame_path_and_timeout(live_app_factory: Any) -> None:
    live = await live_app_factory(ws={"auth_timeout_ms": 300})
    room = await live.live_room()
    url = live.base.replace("http", "ws") + f"/ws/rooms/{room}"
    async with aiohttp.ClientSession() as http:
        ws = await open_ws(http, url)
        viewer = Viewer(ws)
        await ws.send_str(f'{{"op": "auth", "token": "{token("bob")}"}}')
        welcome = await viewer.wait_welcome()
        assert welcome["user"]["id"] == "bob"
        await viewer.close()

        silent = Viewer(await open_ws(http, url))
        assert await silent.wait_closed() == 4000
        await silent.close()

        wrong_first = Viewer(await open_ws(http, url))
        await wrong_first.ws.send_str('{"op": "chat", "text": "hi"}')
        assert await wrong_first.wait_closed() == 4001
        await wrong_first.close()

        guest = Viewer(await open_ws(http, url))
        await guest.ws.send_str('{"op": "auth", "token": null}')
        assert (await guest.wait_welcome())["user"] is None
        await guest.close()


async def test_unknown_room_closes_with_4004(live: LiveApp) -> None:
    viewer = await Viewer.connect(live.base, "r_nope", token("bob"))
    assert await viewer.wait_closed() == 4004
    assert viewer.frames[0]["error"]["code"] == "not_found"
    await viewer.close()


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("POST", "/api/rooms", "{broken", 400, "invalid_json"),
    ("POST", "/api/rooms", "[1]", 400, "invalid_json"),
    ("POST", "/api/rooms", '{"title": ""}', 400, "invalid_field"),
    ("POST", "/api/rooms", '{"title": 7}', 400, "invalid_field"),
    ("POST", "/api/rooms", '{"title": "ok", "scheduled_at": -5}', 400, "invalid_field"),
    ("POST", "/api/rooms", '{"title": "' + "x" * 70000 + '"}', 413, "payload_too_large"),
    ("POST", "/api/payments/webhook", "x" * 70000, 413, "payload_too_large"),
    ("PUT", "/api/rooms/r_any/pinned", "{}", 400, "missing_field"),
    ("GET", "/api/nothing-here", None, 404, "not_found"),
    ("GET", "/api/rooms?limit=abc", None, 400, "invalid_field"),
])
async def test_http_bad_input(live: LiveApp, method: str, path: str, body: str | None,
                              status: int, code: str) -> None:
    headers = {**live.headers("alice", "creator"), "Content-Type": "application/json"}
    async with live.client.request(method, path, data=body, headers=headers) as resp:
        answer = await resp.json(content_type=None)
        assert (resp.status, answer["error"]["code"]) == (status, code), answer
    _, rooms = await live.call("GET", "/api/rooms?state=mine", "alice", "creator")
    assert rooms["rooms"] == []  # nothing was created by any of them
