"""Reconnect with the last sequence number: exactly the missed events, or a snapshot."""

from __future__ import annotations

from typing import Any

from tests.conftest import token
from tests.helpers import Viewer


async def test_reconnect_gets_exactly_the_missed_events_in_order(live_app_factory: Any) -> None:
    live = await live_app_factory(chat={"burst": 100, "rate_per_s": 100},
                                  ws={"max_frames_per_s": 1000})
    room = await live.live_room()
    creator = await Viewer.connect(live.base, room, token("alice", "creator"))
    await creator.wait_welcome()
    viewer = await Viewer.connect(live.base, room, token("bob"))
    await viewer.request("chat", text="before")
    await viewer.wait_for(lambda: viewer.of_type("chat"))
    last_seq = viewer.seqs()[-1]
    await viewer.close()

    for i in range(50):
        assert (await creator.request("chat", text=f"missed {i}"))["type"] == "reply"

    back = await Viewer.connect(live.base, room, token("bob"), since=last_seq)
    welcome = await back.wait_welcome()
    assert welcome["recovered"] is True and welcome["snapshot"] is None
    await back.wait_for(lambda: len(back.of_type("chat")) >= 50)
    assert back.chat_texts() == [f"missed {i}" for i in range(50)]
    assert back.seqs() == list(range(last_seq + 1, last_seq + 51))

    # and live events continue after the recovered ones, without a gap or a repeat
    await creator.request("chat", text="live again")
    await back.wait_for(lambda: len(back.of_type("chat")) >= 51)
    assert back.seqs() == list(range(last_seq + 1, last_seq + 52))
    await back.close()
    await creator.close()


async def test_gap_beyond_retention_gives_snapshot(live_app_factory: Any) -> None:
    live = await live_app_factory(chat={"burst": 100, "rate_per_s": 100},
                                  ws={"max_frames_per_s": 1000},
                                  history={"max_events": 20})
    room = await live.live_room()
    creator = await Viewer.connect(live.base, room, token("alice", "creator"))
    welcome = await creator.wait_welcome()
    old_seq = welcome["seq"]
    for i in range(50):
        assert (await creator.request("chat", text=f"m{i}"))["type"] == "reply"

    back = await Viewer.connect(live.base, room, token("bob"), since=old_seq)
    welcome = await back.wait_welcome()
    assert welcome["recovered"] is False
    snap = welcome["snapshot"]
    assert snap is not None and snap["room"]["id"] == room
    assert welcome["seq"] == old_seq + 50
    assert snap["recent_chat"][-1]["data"]["text"] == "m49"
    await back.close()

    future = await Viewer.connect(live.base, room, token("carol"), since=old_seq + 1000)
    welcome = await future.wait_welcome()
    assert welcome["recovered"] is False and welcome["snapshot"] is not None
    await future.close()
    await creator.close()


async def test_reconnect_with_nothing_missed(live: Any) -> None:
    room = await live.live_room()
    viewer = await Viewer.connect(live.base, room, token("bob"))
    welcome = await viewer.wait_welcome()
    await viewer.close()
    back = await Viewer.connect(live.base, room, token("bob"), since=welcome["seq"])
    again = await back.wait_welcome()
    assert again["recovered"] is True and again["seq"] == welcome["seq"]
    await back.request("chat", text="after")
    await back.wait_for(lambda: back.of_type("chat"))
    assert back.seqs() == [welcome["seq"] + 1]
    await back.close()
