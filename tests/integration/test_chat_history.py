"""Chat picked out of a room's history by the event type stored beside each entry (``t``), not
by matching JSON text: history, the join snapshot, delete and report find chat messages, refuse
other seqs, and still read entries written before the type field existed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis

from live_server.store.keys import Keys
from tests.conftest import LiveApp, token
from tests.helpers import Viewer


@pytest.fixture
async def admin(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(valkey_url)
    try:
        yield client
    finally:
        await client.aclose()


async def _snapshot_texts(live: LiveApp, room: str, user: str) -> list[str]:
    viewer = await Viewer.connect(live.base, room, token(user))
    welcome = await viewer.wait_welcome()
    await viewer.close()
    return [m["data"]["text"] for m in welcome["snapshot"]["recent_chat"]]


async def _history_texts(live: LiveApp, room: str) -> list[str]:
    status, page = await live.call("GET", f"/api/rooms/{room}/history")
    assert status == 200, page
    return [e["data"]["text"] for e in page["events"]]


async def _append_legacy(admin: aioredis.Redis, live: LiveApp, room: str, event: bytes) -> int:
    """Write an entry as the server did before the type field: the JSON alone, in ``e``."""
    k = Keys(live.settings.store.key_prefix).room(room)
    seq = int(await admin.incr(k.seq))
    await admin.xadd(k.events, {"e": event.replace(b"{", b'{"seq": %d, ' % seq, 1)},
                     id=f"{seq}-1")
    return seq


async def test_every_stored_entry_carries_its_type(live: LiveApp, admin: aioredis.Redis) -> None:
    room = await live.live_room()
    bob = await Viewer.connect(live.base, room, token("bob"))
    await bob.wait_welcome()
    await bob.request("chat", text="hello")
    status, _ = await live.call("PUT", f"/api/rooms/{room}/slow-mode", "alice", "creator",
                                json={"seconds": 0})
    assert status == 200
    await bob.close()
    k = Keys(live.settings.store.key_prefix).room(room)
    entries = await admin.xrange(k.events)
    kinds = [fields[b"t"].decode() for _id, fields in entries]
    assert kinds == ["room_state", "chat", "slow_mode"]
    for _id, fields in entries:
        assert orjson.loads(fields[b"e"])["type"] == fields[b"t"].decode()


async def test_chat_found_and_other_seqs_refused(live: LiveApp) -> None:
    room = await live.live_room()
    bob = await Viewer.connect(live.base, room, token("bob"))
    await bob.wait_welcome()
    first = (await bob.request("chat", text="one"))["data"]["seq"]
    status, _ = await live.call("PUT", f"/api/rooms/{room}/announcement", "alice", "creator",
                                json={"text": "sale at 8"})
    assert status == 200
    second = (await bob.request("chat", text="two"))["data"]["seq"]
    await bob.close()
    announcement = first + 1
    assert await _history_texts(live, room) == ["one", "two"]
    assert await _snapshot_texts(live, room, "carol") == ["one", "two"]

    status, refused = await live.call("DELETE", f"/api/rooms/{room}/messages/{announcement}",
                                      "alice", "creator")
    assert status == 404 and refused["error"]["code"] == "not_found"
    status, refused = await live.call("POST", f"/api/rooms/{room}/reports", "carol",
                                      json={"seq": announcement, "reason": "spam"})
    assert status == 404 and refused["error"]["code"] == "not_found"

    status, reply = await live.call("DELETE", f"/api/rooms/{room}/messages/{first}", "alice",
                                    "creator")
    assert status == 200, reply
    assert await _history_texts(live, room) == ["two"]
    assert await _snapshot_texts(live, room, "dave") == ["two"]
    status, reported = await live.call("POST", f"/api/rooms/{room}/reports", "carol",
                                       json={"seq": second, "reason": "spam"})
    assert status == 201, reported


async def test_entries_without_a_type_field_are_read_from_their_json(
        live: LiveApp, admin: aioredis.Redis) -> None:
    """An older entry: keys in another order, spaces after the separators, and a non-chat event
    whose data holds the text a substring match would have taken for chat."""
    room = await live.live_room()
    old_chat = await _append_legacy(admin, live, room, orjson.dumps({
        "data": {"user": {"id": "bob", "name": "Bob", "role": "viewer"}, "text": "from before",
                 "masked": False},
        "ts": 1, "type": "chat"}, option=orjson.OPT_INDENT_2))
    trap = await _append_legacy(admin, live, room, b'{"type":"room_updated","ts":1,'
                                b'"data":{"notice":"x","echo":{"type":"chat","text":"not chat"}}}')
    assert await _history_texts(live, room) == ["from before"]
    assert await _snapshot_texts(live, room, "carol") == ["from before"]

    status, refused = await live.call("DELETE", f"/api/rooms/{room}/messages/{trap}", "alice",
                                      "creator")
    assert status == 404 and refused["error"]["code"] == "not_found"
    status, refused = await live.call("POST", f"/api/rooms/{room}/reports", "carol",
                                      json={"seq": trap, "reason": "spam"})
    assert status == 404
    status, reported = await live.call("POST", f"/api/rooms/{room}/reports", "carol",
                                       json={"seq": old_chat, "reason": "spam"})
    assert status == 201, reported
    status, reply = await live.call("DELETE", f"/api/rooms/{room}/messages/{old_chat}", "alice",
                                    "creator")
    assert status == 200, reply
    assert await _history_texts(live, room) == []
    assert await _snapshot_texts(live, room, "dave") == []
