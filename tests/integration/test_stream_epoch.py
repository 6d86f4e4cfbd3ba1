"""A room's event stream has an epoch: sequence numbers count within it. A reconnecting client
sends ``since`` with the epoch of its ``welcome``; a store that comes back without its last
writes (power loss under ``appendfsync everysec``, a restore, a lagging replica) reuses seqs,
and the processes that followed the room notice it, give the stream a new epoch and make their
viewers resynchronise instead of silently dropping the new events as old ones. Where no process
followed it (every process restarted too), the first client that comes back from beyond the
stream's end in the same epoch shows the loss, with the same outcome."""

from __future__ import annotations

import asyncio
import shutil
import signal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from live_server.errors import CloseCode
from live_server.store.embedded import EmbeddedValkey
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, ServerProcess, token
from tests.helpers import WAIT_S, Viewer, open_ws

FAST = {"chat": {"burst": 100, "rate_per_s": 100}, "ws": {"max_frames_per_s": 1000}}


async def _chat(viewer: Viewer, *texts: str) -> None:
    for text in texts:
        assert (await viewer.request("chat", text=text))["type"] == "reply"


async def test_welcome_carries_the_epoch_and_since_counts_within_it(
        live_app_factory: Any) -> None:
    live: LiveApp = await live_app_factory(**FAST)
    room = await live.live_room()
    talker = await Viewer.connect(live.base, room, token("alice", "creator"))
    welcome = await talker.wait_welcome()
    epoch = welcome["epoch"]
    assert isinstance(epoch, str) and epoch  # a new room's stream has one from the start
    await _chat(talker, "one")
    await talker.wait_for(lambda: talker.of_type("chat"))
    seq = talker.seqs()[-1]
    await _chat(talker, "two")

    same = await Viewer.connect(live.base, room, token("bob"), since=seq, epoch=epoch)
    w = await same.wait_welcome()
    assert w["recovered"] is True and w["epoch"] == epoch
    await same.wait_for(lambda: same.chat_texts() == ["two"])

    other = await Viewer.connect(live.base, room, token("carol"), since=seq, epoch="0ther")
    w = await other.wait_welcome()
    assert w["recovered"] is False and w["epoch"] == epoch  # another stream: a snapshot
    assert [e["data"]["text"] for e in w["snapshot"]["recent_chat"]] == ["one", "two"]
    for v in (talker, same, other):
        await v.close()


@pytest.mark.parametrize(("query", "frame"), [
    ("18446744073709551616", None),        # 2^64
    ("9007199254740993", None),            # 2^53 + 1
    ("1e300", None),
    ("1.9", None),
    (" 3 ", None),
    ("-1", None),
    ("+3", None),
    ("\u0663", None),                     # an Arabic-Indic three
    ("true", None),
    (None, "18446744073709551616"),        # the raw JSON of the auth frame's since
    (None, "1e300"),
    (None, "1.9"),
    (None, "true"),
    (None, '"3"'),
    (None, "-1"),
])
async def test_a_since_that_is_not_an_integer_in_range_is_invalid_field(
        live: LiveApp, query: str | None, frame: str | None) -> None:
    room = await live.live_room()
    url = live.base.replace("http", "ws", 1) + f"/ws/rooms/{room}"
    if query is not None:
        ws = await open_ws(live.client.session, url,
                           params={"token": token("bob"), "since": query})
    else:
        ws = await open_ws(live.client.session, url)
        await ws.send_str(f'{{"op": "auth", "token": "{token("bob")}", "since": {frame}}}')
    msg = await ws.receive(timeout=WAIT_S)
    error = orjson.loads(msg.data)
    assert error["type"] == "error" and error["error"]["code"] == "invalid_field"
    assert "since" in error["error"]["message"]
    await ws.receive(timeout=WAIT_S)
    assert ws.close_code == CloseCode.NORMAL  # a client's mistake, not an internal error
    await ws.close()


async def test_the_stream_check_after_an_outage(live: LiveApp) -> None:
    """What a process finds after pub/sub was down: the events it missed, a gap older than the
    history, or a stream that went back."""
    room = await live.live_room()
    talker = await Viewer.connect(live.base, room, token("alice", "creator"))
    await talker.wait_welcome()
    await _chat(talker, "a", "b", "c")
    await talker.wait_for(lambda: len(talker.of_type("chat")) == 3)
    app = live.client.server.app
    assert app is not None
    store = app[SERVICES].room_store
    seqs = talker.seqs()
    raws = {e["seq"]: orjson.dumps(e) for e in talker.events if "seq" in e}
    last = (seqs[-1], raws[seqs[-1]])
    state, events, current = await store.resume(room, seqs[0], (seqs[0], raws[seqs[0]]))
    assert (state, current) == ("ok", seqs[-1])
    assert [orjson.loads(e)["data"]["text"] for e in events] == ["b", "c"]
    assert (await store.resume(room, seqs[-1], last))[0] == "ok"
    # the store is behind what was delivered: it lost writes
    assert (await store.resume(room, seqs[-1] + 5, last))[0] == "rollback"
    # the seq is there, but it holds another event: lost writes, the seq used again
    other = (seqs[-1], raws[seqs[-1]].replace(b'"c"', b'"x"'))
    assert (await store.resume(room, seqs[-1], other))[0] == "rollback"
    await talker.close()


async def test_a_store_that_lost_its_last_writes_makes_viewers_resync(
        live_app_factory: Any, tmp_path: Path) -> None:
    data = tmp_path / "valkey"
    data.mkdir()
    server = EmbeddedValkey(data, appendfsync="always")
    server.start()
    try:
        live: LiveApp = await live_app_factory(store={"url": server.url}, **FAST)
        room = await live.live_room()
        creator = await Viewer.connect(live.base, room, token("alice", "creator"))
        viewer = await Viewer.connect(live.base, room, token("bob"))
        epoch = (await viewer.wait_welcome())["epoch"]
        await creator.wait_welcome()
        saved = await _keep_copy_lose(creator, (viewer,), data, tmp_path)
        last_seen = viewer.seqs()[-1]

        # the store dies and comes back from the older file: its last writes are gone
        server = _restore(server, data, saved)

        # the process notices when pub/sub comes back, and its viewers resynchronise
        assert await viewer.wait_closed() == CloseCode.RESYNC
        await viewer.close()
        back = await Viewer.connect(live.base, room, token("bob"), since=last_seen, epoch=epoch)
        welcome = await back.wait_welcome()
        assert welcome["recovered"] is False and welcome["epoch"] != epoch
        assert [e["data"]["text"] for e in welcome["snapshot"]["recent_chat"]] == [
            "kept 1", "kept 2"]
        # new events reuse the lost seqs; the resynchronised viewer gets them all the same
        await creator.wait_closed()
        await creator.close()
        again = await Viewer.connect(live.base, room, token("alice", "creator"))
        await again.wait_welcome()
        await _chat(again, "after")
        await back.wait_for(lambda: back.chat_texts() == ["after"])
        assert back.seqs()[-1] <= last_seen  # a reused seq, delivered, not dropped
        await back.close()
        await again.close()
    finally:
        server.stop()


async def _keep_copy_lose(creator: Viewer, viewers: tuple[Viewer, ...], data: Path,
                          tmp_path: Path) -> Path:
    """Two chats the store will keep, a copy of its append-only file, then three it will lose
    when it comes back from that copy; every viewer has seen all five. Returns the copy."""
    await _chat(creator, "kept 1", "kept 2")
    for viewer in viewers:
        await viewer.wait_for(lambda v=viewer: len(v.of_type("chat")) == 2)
    await asyncio.sleep(0.3)  # let the tick's writes land before the copy
    saved = tmp_path / "older-aof"
    shutil.copytree(data / "appendonlydir", saved)
    await _chat(creator, "lost 1", "lost 2", "lost 3")
    for viewer in viewers:
        await viewer.wait_for(lambda v=viewer: len(v.of_type("chat")) == 5)
    return saved


def _restore(server: EmbeddedValkey, data: Path, saved: Path) -> EmbeddedValkey:
    """The store dies and comes back, on its port, from the older append-only file ``saved``."""
    port = server.port
    assert server.proc is not None
    server.proc.kill()
    server.proc.wait()
    server.proc = None
    shutil.rmtree(data / "appendonlydir")
    shutil.copytree(saved, data / "appendonlydir")
    again = EmbeddedValkey(data, appendfsync="always", port=port)
    again.start()
    return again


async def _live_room(server: ServerProcess) -> str:
    headers = {"Authorization": f"Bearer {token('alice', 'creator')}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(server.url + "/api/rooms", json={"title": "Restore"},
                             headers=headers) as resp:
            assert resp.status == 201
            room = str((await resp.json())["id"])
        async with http.post(server.url + f"/api/rooms/{room}/start", headers=headers) as resp:
            assert resp.status == 200
    return room


@pytest.mark.system
async def test_a_restore_with_every_process_restarted_shows_when_a_client_comes_back(
        server_factory: Any, tmp_path: Path) -> None:
    """No process followed the room through the loss, so none can notice it when pub/sub comes
    back: the client that returns from a seq the store no longer reaches shows it instead."""
    data = tmp_path / "valkey"
    data.mkdir()
    store = EmbeddedValkey(data, appendfsync="always")
    store.start()
    env = {"LIVE_CHAT_BURST": "100", "LIVE_CHAT_RATE_PER_S": "100"}
    try:
        before = await server_factory(redis_url=store.url, env=env)
        room = await _live_room(before)
        creator = await Viewer.connect(before.url, room, token("alice", "creator"))
        bob = await Viewer.connect(before.url, room, token("bob"))
        carol = await Viewer.connect(before.url, room, token("carol"))
        epoch = (await bob.wait_welcome())["epoch"]
        await creator.wait_welcome()
        await carol.wait_welcome()
        saved = await _keep_copy_lose(creator, (bob, carol), data, tmp_path)
        last_seen = bob.seqs()[-1]
        assert carol.seqs()[-1] == last_seen

        # a restore, and every server process restarted: nothing remembers the room's stream
        for viewer in (creator, bob, carol):
            await viewer.close()
        assert before.stop(signal.SIGTERM) == 0
        store = _restore(store, data, saved)
        after = await server_factory(redis_url=store.url, env=env)

        # a client that saw exactly what the store kept is recovered, in the same epoch
        fresh = await Viewer.connect(after.url, room, guest=True)
        kept = (await fresh.wait_welcome())["seq"]
        assert kept < last_seen  # the store lost writes
        racer = await Viewer.connect(after.url, room, token("dave"), since=kept, epoch=epoch)
        welcome = await racer.wait_welcome()
        assert welcome["recovered"] is True and welcome["epoch"] == epoch

        # a client from beyond the stream's end in the same epoch: the stream gets a new epoch
        # and the client a snapshot of what the store has
        bob = await Viewer.connect(after.url, room, token("bob"), since=last_seen, epoch=epoch)
        welcome = await bob.wait_welcome()
        assert welcome["recovered"] is False and welcome["epoch"] != epoch
        assert welcome["seq"] == kept
        assert [e["data"]["text"] for e in welcome["snapshot"]["recent_chat"]] == [
            "kept 1", "kept 2"]
        new_epoch = welcome["epoch"]

        # new events reuse the lost seqs and pass the old position; the resynchronised client,
        # and the one that raced, get every one of them
        creator = await Viewer.connect(after.url, room, token("alice", "creator"))
        await creator.wait_welcome()
        news = ["new 1", "new 2", "new 3", "new 4"]
        await _chat(creator, *news)
        for viewer in (bob, racer):
            await viewer.wait_for(lambda v=viewer: v.chat_texts() == news)
        assert bob.seqs()[0] <= last_seen < bob.seqs()[-1]

        # a client that comes back later with the old position, now inside the new stream's
        # seqs, is not recovered from it (it would miss new 1 to new 3): a snapshot
        carol = await Viewer.connect(after.url, room, token("carol"), since=last_seen,
                                     epoch=epoch)
        welcome = await carol.wait_welcome()
        assert welcome["recovered"] is False and welcome["epoch"] == new_epoch
        assert [e["data"]["text"] for e in welcome["snapshot"]["recent_chat"]] == [
            "kept 1", "kept 2", *news]
        for viewer in (fresh, racer, bob, creator, carol):
            await viewer.close()
    finally:
        store.stop()
