"""A viewer that stays in the room through faults, as a well-behaved client does: when its
socket closes it reconnects with ``since`` and ``epoch`` from what it saw. It keeps every event
of every connection, so a test can tell a lost or repeated guaranteed event from a delivered one,
and it can chat (only a reply with a seq counts as acknowledged)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp

from tests.conftest import token
from tests.helpers import Viewer

RECONNECT_PAUSE_S = 0.1
MAX_CONNECTS = 300   # with the pause: about 30 s of trying at most
CONNECT_WAIT_S = 5.0


class Follower:
    def __init__(self, urls: list[str], room: str, user: str) -> None:
        self.urls = urls
        self.room = room
        self.user = user
        self.viewer: Viewer | None = None
        self.first_seq: int | None = None  # the position of the first welcome
        self.last_seq: int | None = None
        self.epoch: str | None = None
        self.connects = 0
        self.rejoins = 0        # reconnections after a socket closed under it
        self.snapshots = 0      # rejoins that got a snapshot instead of a recovery
        # ...each one's position, and where its connection's events start in ``events()``
        self.snapshot_marks: list[tuple[int, int]] = []
        self.close_codes: list[int | None] = []
        self._past: list[dict[str, Any]] = []
        self._stop = asyncio.Event()
        self._joined = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def joined(self, timeout: float = 15) -> None:
        await asyncio.wait_for(self._joined.wait(), timeout)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    def events(self) -> list[dict[str, Any]]:
        current = self.viewer.events if self.viewer is not None else []
        return self._past + current

    def received(self) -> Counter[int]:
        """How many times each sequenced event arrived, over every connection."""
        return Counter(e["seq"] for e in self.events() if "seq" in e)

    def chat_texts(self) -> list[str]:
        return [e["data"]["text"] for e in self.events() if e.get("type") == "chat"]

    async def say(self, text: str) -> int | None:
        """The chat's seq when the server acknowledged it, else None (never retried: a chat
        has no idempotency key, so a retry could say it twice)."""
        viewer = self.viewer
        if viewer is None or not self._joined.is_set():
            return None
        try:
            reply = await viewer.request("chat", text=text)
        except (AssertionError, TimeoutError, ConnectionError, aiohttp.ClientError):
            return None  # the socket closed under it, or no answer
        return int(reply["data"]["seq"]) if reply["type"] == "reply" else None

    async def sees(self, text: str, timeout: float) -> bool:
        """Whether ``text`` reaches this viewer (through whichever connection) in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while text not in self.chat_texts():
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as session:
            await self._follow(session)

    async def _follow(self, session: aiohttp.ClientSession) -> None:
        for _ in range(MAX_CONNECTS):
            if self._stop.is_set():
                return
            viewer = await self._connect(session)
            if viewer is None:
                await asyncio.sleep(RECONNECT_PAUSE_S)
                continue
            self.viewer = viewer
            self._joined.set()
            stopping = asyncio.ensure_future(self._stop.wait())
            closing = asyncio.ensure_future(viewer.wait_closed(timeout=3600))
            await asyncio.wait({stopping, closing}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            closing.cancel()
            self._joined.clear()
            self._keep(viewer)
            await viewer.close()
            if self._stop.is_set():
                return
            self.close_codes.append(viewer.close_code)
            self.rejoins += 1

    async def _connect(self, session: aiohttp.ClientSession) -> Viewer | None:
        url = self.urls[self.connects % len(self.urls)]
        self.connects += 1
        try:
            viewer = await Viewer.connect(url, self.room, token(self.user), since=self.last_seq,
                                          epoch=self.epoch if self.last_seq is not None else None,
                                          session=session)
        except (aiohttp.ClientError, OSError):
            return None
        try:
            welcome = await viewer.wait_for(lambda: viewer.welcome, timeout=CONNECT_WAIT_S)
        except (AssertionError, TimeoutError):  # refused while the store is away
            await viewer.close()
            return None
        if self.first_seq is None:
            self.first_seq = int(welcome["seq"])
        elif not welcome["recovered"]:
            self.snapshots += 1
            self.snapshot_marks.append((int(welcome["seq"]), len(self._past)))
        self.epoch = str(welcome["epoch"])
        if self.last_seq is None or not welcome["recovered"]:
            self.last_seq = int(welcome["seq"])
        return viewer

    def _keep(self, viewer: Viewer) -> None:
        """Move a finished connection's events into the past; the position moves on."""
        self._past.extend(viewer.events)
        seqs = viewer.seqs()
        if seqs:
            self.last_seq = max(seqs[-1], self.last_seq or 0)
        self.viewer = None


async def everyone_hears(followers: list[Follower], what: str, timeout: float = 15) -> int:
    """No frozen viewer: a new chat message, acknowledged, reaches every follower (connected or
    reconnected) within ``timeout``. Its seq, the last one the test made."""
    speaker = followers[0]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seq, text = None, ""
    for attempt in range(100):  # a new text each time: a lost reply may hide a sent message
        text = f"{what} ({attempt})"
        seq = await speaker.say(text)
        if seq is not None or loop.time() >= deadline:
            break
        await asyncio.sleep(0.2)
    assert seq is not None, f"{speaker.user} could not chat after the fault"
    heard = await asyncio.gather(*(f.sees(text, max(1.0, deadline - loop.time()))
                                   for f in followers))
    frozen = [f.user for f, ok in zip(followers, heard, strict=True) if not ok]
    assert not frozen, f"frozen viewers: {frozen}"
    return seq
