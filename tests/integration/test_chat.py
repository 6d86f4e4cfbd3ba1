"""Chat end to end through the real app and a real Valkey: delivery, order, snapshot, history."""

from __future__ import annotations

from typing import Any

from tests.conftest import LiveApp, token
from tests.helpers import Viewer


async def test_chat_reaches_every_viewer_once_in_order(live: LiveApp) -> None:
    room = await live.live_room()
    viewers = [await Viewer.connect(live.base, room, token(f"v{i}")) for i in range(5)]
    for v in viewers:
        await v.wait_welcome()
    sender = viewers[0]
    for i in range(5):
        reply = await sender.request("chat", text=f"  message {i}  ")
        assert reply["type"] == "reply", reply
    for v in viewers:
        await v.wait_for(lambda v=v: len(v.of_type("chat")) >= 5)
        assert v.chat_texts() == [f"message {i}" for i in range(5)]  # trimmed, in order
        seqs = [e["seq"] for e in v.of_type("chat")]
        assert seqs == sorted(set(seqs))
        assert all(e["data"]["user"] == {"id": "v0", "name": "V0", "role": "viewer",
                                                "level": 0, "fan_club": False}
                   for e in v.of_type("chat"))
    for v in viewers:
        await v.close()


async def test_snapshot_on_join_has_recent_chat_counters_and_announcement(live: LiveApp) -> None:
    room = await live.live_room()
    status, _ = await live.call("PUT", f"/api/rooms/{room}/announcement", "alice", "creator",
                                json={"text": "Flash sale at 8"})
    assert status == 200
    first = await Viewer.connect(live.base, room, token("bob"))
    await first.wait_welcome()
    await first.request("chat", text="hello")
    await first.request("heart", count=7)
    await first.wait_for(lambda: (first.last_counters() or {}).get("hearts") == 7)
    late = await Viewer.connect(live.base, room, token("carol"))
    welcome = await late.wait_welcome()
    snap = welcome["snapshot"]
    assert welcome["recovered"] is False
    assert snap["room"]["state"] == "live"
    assert snap["announcement"]["text"] == "Flash sale at 8"
    assert [m["data"]["text"] for m in snap["recent_chat"]] == ["hello"]
    assert snap["counters"]["hearts"] == 7
    assert snap["counters"]["chat"] == 1
    assert snap["top_fans"][0]["user_id"] == "bob"
    assert snap["me"] == {"muted_until": None, "moderator": False}
    assert welcome["seq"] >= snap["recent_chat"][-1]["seq"]
    await first.close()
    await late.close()


async def test_history_pages_backwards(live_app_factory: Any) -> None:
    live = await live_app_factory(chat={"burst": 50, "rate_per_s": 50},
                                  ws={"max_frames_per_s": 1000})
    room = await live.live_room(creator="alice")
    alice = await Viewer.connect(live.base, room, token("alice", "creator"))
    await alice.wait_welcome()
    for i in range(12):
        assert (await alice.request("chat", text=f"m{i}"))["type"] == "reply"
    status, page = await live.call("GET", f"/api/rooms/{room}/history?limit=5")
    assert status == 200
    texts = [e["data"]["text"] for e in page["events"]]
    assert texts == ["m7", "m8", "m9", "m10", "m11"]
    before = page["events"][0]["seq"]
    reply = await alice.request("history", before=before, limit=5)
    assert [e["data"]["text"] for e in reply["data"]["events"]] == ["m2", "m3", "m4", "m5", "m6"]
    await alice.close()


async def test_guest_watches_but_cannot_write(live: LiveApp) -> None:
    room = await live.live_room()
    guest = await Viewer.connect(live.base, room, guest=True)
    welcome = await guest.wait_welcome()
    assert welcome["user"] is None
    for op, fields in (("chat", {"text": "hi"}), ("heart", {"count": 1}),
                       ("report", {"seq": 1, "reason": "x"})):
        reply = await guest.request(op, **fields)
        assert reply["type"] == "error" and reply["error"]["code"] == "forbidden", reply
    await guest.close()


async def test_guests_refused_where_room_requires_login(live: LiveApp) -> None:
    room = await live.live_room(allow_guests=False)
    guest = await Viewer.connect(live.base, room, guest=True)
    assert await guest.wait_closed() == 4030
    assert guest.frames[0]["error"]["code"] == "guests_not_allowed"
    await guest.close()
