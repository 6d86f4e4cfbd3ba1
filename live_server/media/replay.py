"""Recording shows for their replays, on the process holding the room's publisher.

Each broadcast with H.264 video (a WHIP session, or several that replace one another on the same
relay) becomes one *part* of the show's replay: an :class:`HlsRecorder` (the live rendition's
remux, no video re-encode) that never slides its window, so the part's folder
``<replays.dir>/<room>/<n>/`` keeps every segment and its ``index.m3u8`` lists them all. The
part ends when the publisher leaves (the show ending ends it too), moves to another process
(which starts the next part there) or the process shuts down. ``domain/replays.py`` joins the
parts into one VOD playlist.

While a part is written, a small loop reads the room's pin every ``replays.pin_poll_ms`` (the
chapters' precision; a pin is a rare, human-paced event, and reading it here keeps the shelf's
scripts unaware of replays) and refreshes the part's claim to be recording, so a crashed
process's part stops counting as recording on its own. VP8 publishers are not recorded: HLS
players do not take VP8.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from pathlib import Path

from live_server.config import HlsSettings, ReplaysSettings
from live_server.domain.replays import PinMark
from live_server.media.hls import HlsRecorder
from live_server.media.hls_feed import HlsFeed, MediaEvents, sends_opus
from live_server.media.relay import RoomRelay
from live_server.protocol import now_ms
from live_server.services.replays import ReplayService

log = logging.getLogger(__name__)

_EVERY_SEGMENT = 1 << 40  # a window no show reaches: a part keeps all its segments


class PartRecorder(HlsRecorder):
    """An HLS recorder that notes the wall-clock time of the first picture it wrote: the
    part's place in the show, which chapters are measured against."""

    started_ms: int | None = None

    def feed_video(self, data: bytes, rtp_timestamp: int, keyframe: bool) -> None:
        dropped = self.dropped
        super().feed_video(data, rtp_timestamp, keyframe)
        if self.started_ms is None and data and self.dropped == dropped:
            self.started_ms = now_ms()


@dataclasses.dataclass(slots=True)
class _Part:
    room_id: str
    n: int
    feed: HlsFeed
    recorder: PartRecorder
    poller: asyncio.Task[None] | None = None
    pinned: str | None = None


class ReplayFeeds:
    """This process's recordings, driven by the media service's publisher listeners (like
    :class:`HlsFeeds`, on their own subscriptions, so either can stop without the other)."""

    def __init__(self, replays: ReplayService, settings: ReplaysSettings,
                 hls: HlsSettings) -> None:
        self.replays = replays
        self.settings = settings
        self.segment_ms = hls.segment_ms
        self.root = Path(settings.dir)
        self.parts: dict[str, _Part] = {}
        self._starting: dict[str, RoomRelay] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._events: MediaEvents | None = None
        self._closed = False

    def attach(self, events: MediaEvents) -> None:
        self._events = events
        events.on_video_started.append(self.started)
        events.on_video_stopped.append(self.stopped)

    def started(self, room_id: str, relay: RoomRelay) -> None:
        if self._closed:
            return
        current = self.parts.get(room_id)
        if current is not None and current.feed.serves(relay):
            return  # a publisher replaced its own session: the same part carries on
        if current is not None:
            self._spawn(self._end(self.parts.pop(room_id)))
        video = relay.sources.get("video")
        if video is None or video.codec.lower() != "h264":
            self._starting.pop(room_id, None)
            return
        self._starting[room_id] = relay
        self._spawn(self._begin(room_id, relay))

    def stopped(self, room_id: str) -> None:
        self._starting.pop(room_id, None)
        part = self.parts.pop(room_id, None)
        if part is not None:
            self._spawn(self._end(part))

    def _spawn(self, work: object) -> None:
        assert asyncio.iscoroutine(work)
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _begin(self, room_id: str, relay: RoomRelay) -> None:
        try:
            n = await self.replays.begin(room_id)
        except Exception:
            log.warning("replay %s: could not begin a part", room_id, exc_info=True)
            self._starting.pop(room_id, None)
            return
        if n is None:
            self._starting.pop(room_id, None)
            return
        if self._starting.get(room_id) is not relay or self._closed:
            now = now_ms()  # the publisher left meanwhile: an empty part, closed at once
            await self.replays.end(room_id, n, now, now)
            return
        del self._starting[room_id]
        recorder = PartRecorder(str(n), self.root / room_id, self.segment_ms, _EVERY_SEGMENT,
                                audio=sends_opus(relay), request_keyframe=relay.request_keyframe)
        part = _Part(room_id, n, HlsFeed.feeding(relay, recorder), recorder)
        part.poller = asyncio.create_task(self._watch(part), name=f"replay-pin:{room_id}")
        self.parts[room_id] = part
        log.info("replay %s: recording part %d", room_id, n)

    async def _watch(self, part: _Part) -> None:
        """Vouch for the part and note each change of the pin, until the part ends."""
        while True:
            try:
                await self.replays.vouch(part.room_id, part.n)
                pid, title = await self.replays.pinned(part.room_id)
                if pid != part.pinned and (pid or part.pinned is not None):
                    await self.replays.pin_seen(part.room_id, PinMark(now_ms(), pid, title))
                part.pinned = pid
            except Exception:  # Valkey away for a moment: the next turn tries again
                log.debug("replay %s: pin read failed", part.room_id, exc_info=True)
            await asyncio.sleep(self.settings.pin_poll_ms / 1000)

    async def _end(self, part: _Part) -> None:
        if part.poller is not None:
            part.poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await part.poller
        await part.feed.stop(remove=False)
        ended = now_ms()
        started = part.recorder.started_ms or ended
        try:
            await self.replays.end(part.room_id, part.n, started, ended)
        except Exception:
            log.warning("replay %s: could not end part %d", part.room_id, part.n,
                        exc_info=True)
        log.info("replay %s: part %d ended", part.room_id, part.n)

    async def close(self) -> None:
        """At shutdown: every part ends with what it has (the publisher reconnects to some
        process, which records the next part)."""
        self._closed = True
        if self._events is not None:
            self._events.on_video_started.remove(self.started)
            self._events.on_video_stopped.remove(self.stopped)
        self._starting.clear()
        for room_id in list(self.parts):
            self._spawn(self._end(self.parts.pop(room_id)))
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
