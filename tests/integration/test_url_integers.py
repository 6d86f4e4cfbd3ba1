"""Integers in a URL (query or path) over real HTTP: ASCII digits in range, nothing else, and a
refusal is ``invalid_field`` naming the field, never an internal error."""

from __future__ import annotations

import pytest

from tests.conftest import LiveApp


@pytest.mark.parametrize("path", ["/api/rooms?limit={}", "/api/rooms/{room}/history?before={}"])
@pytest.mark.parametrize("text", ["%C2%B2", "%D9%A3", "%203%20", "3%0A", "+3", "-3", "1e3",
                                  "3.0", "0x1f", "1_0", "", "9" * 21])
async def test_integers_in_a_url_are_ascii_digits_in_range(live: LiveApp, path: str,
                                                           text: str) -> None:
    """Only ASCII digits in range pass: "²" passed ``str.isdigit`` and then broke ``int`` (500
    internal, from a guest's query), and spaces or other scripts' digits were taken as numbers."""
    room = await live.live_room()
    field = "limit" if "limit" in path else "before"
    url = path.replace("{room}", room).format(text)
    async with live.client.get(url, headers=live.headers("bob")) as resp:
        answer = await resp.json(content_type=None)
    assert (resp.status, answer["error"]["code"]) == (400, "invalid_field"), answer
    assert f"'{field}'" in answer["error"]["message"], answer
    async with live.client.get(path.replace("{room}", room).format("007"),
                               headers=live.headers("bob")) as resp:
        assert resp.status == 200, await resp.text()


@pytest.mark.parametrize("text", ["%C2%B2", "%D9%A3", "%203", "-1", "1.0"])
async def test_an_integer_in_a_path_is_ascii_digits(live: LiveApp, text: str) -> None:
    room = await live.live_room()  # alice's room: she may delete its messages
    async with live.client.delete(f"/api/rooms/{room}/messages/{text}",
                                  headers=live.headers("alice", "creator")) as resp:
        answer = await resp.json(content_type=None)
    assert (resp.status, answer["error"]["code"]) == (400, "invalid_field"), answer
    assert "'seq'" in answer["error"]["message"], answer
