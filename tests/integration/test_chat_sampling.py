"""A room over ``chat.sample_above_viewers`` with real sockets: a viewer receives at most
``chat.sample_per_second`` ordinary chat messages a second, always the creator's and their own,
and the history and ``since`` recovery still hold the whole chat."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import LiveApp, token
from tests.helpers import Viewer

PER_S = 2


async def _huge(live_app_factory: Any) -> LiveApp:
    live: LiveApp = await live_app_factory(
        chat={"sample_above_viewers": 3, "sample_per_second": PER_S, "burst": 100,
              "rate_per_s": 100},
        ws={"max_frames_per_s": 1000})
    return live


async def test_a_huge_room_gets_a_sample_and_the_history_is_whole(live_app_factory: Any) -> None:
    live = await _huge(live_app_factory)
    room = await live.live_room()
    creator = await Viewer.connect(live.base, room, token("alice", "creator"))
    watcher = await Viewer.connect(live.base, room, token("dave"))
    chatters = [await Viewer.connect(live.base, room, token(f"v{i}")) for i in range(3)]
    for v in (creator, watcher, *chatters):
        await v.wait_welcome()
    start_seq = max(watcher.seqs(), default=0)

    async def talk(v: Viewer, name: str) -> None:
        for n in range(15):
            reply = await v.request("chat", text=f"{name} {n}")
            assert reply["type"] == "reply", reply

    await asyncio.gather(*(talk(v, f"v{i}") for i, v in enumerate(chatters)))
    await asyncio.sleep(0.3)  # a tick or more: the creator's messages go in a later flush
    for n in range(3):
        assert (await creator.request("chat", text=f"creator {n}"))["type"] == "reply"
    await watcher.wait_for(lambda: sum(t.startswith("creator") for t in watcher.chat_texts())
                           >= 3)
    await asyncio.sleep(0.5)

    # the watcher: every creator message, and no more of the others than the budget allows
    texts = watcher.chat_texts()
    assert [t for t in texts if t.startswith("creator")] == [f"creator {n}" for n in range(3)]
    ordinary = [t for t in texts if not t.startswith("creator")]
    assert ordinary, texts  # a sample, not silence (the per-second budget itself is tested
    # against a given clock in tests/unit/test_sampling.py)
    assert watcher.seqs() == sorted(set(watcher.seqs()))
    # each chatter sees every one of their own messages, in order
    for i, v in enumerate(chatters):
        await v.wait_for(lambda v=v, i=i: sum(t.startswith(f"v{i} ") for t in v.chat_texts())
                         >= 15)
        assert [t for t in v.chat_texts() if t.startswith(f"v{i} ")] == [
            f"v{i} {n}" for n in range(15)]
        assert v.seqs() == sorted(set(v.seqs()))
    metrics = await live.client.get("/metrics")
    body = await metrics.text()
    sampled = [line for line in body.splitlines()
               if line.startswith("live_chat_sampled_out_total ")]
    # one process, one sample: each of the 45 ordinary messages was either in the live view
    # the watcher got or counted as left out, and some were left out
    assert sampled and int(float(sampled[0].split()[1])) == 45 - len(ordinary) > 0

    # the history is whole: sampling is delivery only
    status, page = await live.call("GET", f"/api/rooms/{room}/history")
    assert status == 200, page
    history = [e["data"]["text"] for e in page["events"]]
    assert len(history) == 48
    assert sorted(history) == sorted([f"v{i} {n}" for i in range(3) for n in range(15)]
                                     + [f"creator {n}" for n in range(3)])

    # and so is a recovery with `since`
    await watcher.close()
    back = await Viewer.connect(live.base, room, token("dave"), since=start_seq)
    welcome = await back.wait_welcome()
    assert welcome["recovered"] is True
    await back.wait_for(lambda: len(back.of_type("chat")) >= 48)
    assert sorted(back.chat_texts()) == sorted(history)
    for v in (back, creator, *chatters):
        await v.close()


async def test_a_room_under_the_threshold_gets_every_message(live_app_factory: Any) -> None:
    live = await _huge(live_app_factory)
    room = await live.live_room()
    watcher = await Viewer.connect(live.base, room, token("dave"))
    chatter = await Viewer.connect(live.base, room, token("bob"))
    await watcher.wait_welcome()
    await chatter.wait_welcome()
    for n in range(20):
        assert (await chatter.request("chat", text=f"m {n}"))["type"] == "reply"
    await watcher.wait_for(lambda: len(watcher.chat_texts()) >= 20)
    assert watcher.chat_texts() == [f"m {n}" for n in range(20)]
    await watcher.close()
    await chatter.close()
