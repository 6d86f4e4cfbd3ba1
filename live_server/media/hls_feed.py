"""Glue between a room's relay and its HLS recorder: two encoded subscriptions (video, and
audio when the publisher sends Opus) drained into an :class:`HlsRecorder` by one task.

:class:`HlsFeeds` attaches to the media service's ``on_video_started``/``on_video_stopped``
listeners: a publisher's H.264 video starts its room's feed on the media home, and its leaving
ends the playlist and, a little later, deletes the files. Only H.264 is written: HLS players do
not take VP8.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from live_server.config import HlsSettings
from live_server.media.frames import EncodedFrame
from live_server.media.hls import HlsRecorder, clock_sequence
from live_server.media.relay import EncodedSubscription, RoomRelay
from live_server.protocol import now_ms

log = logging.getLogger(__name__)

# Frames a subscription may hold before it drops to the next keyframe: several seconds, as the
# writer only stalls if the disk does.
_QUEUE_FRAMES = 300


class HlsFeed:
    """One room's HLS writer fed from its relay. Create with :meth:`start`."""

    def __init__(self, relay: RoomRelay, recorder: HlsRecorder, video: EncodedSubscription,
                 audio: EncodedSubscription | None) -> None:
        self.relay = relay
        self.codecs = _codecs(relay)
        self.recorder = recorder
        self._video = video
        self._audio = audio
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def start(cls, relay: RoomRelay, settings: HlsSettings,
              on_playlist: Callable[[Path], None] | None = None,
              after: int = 0) -> HlsFeed | None:
        """Start writing the room's HLS rendition (Low-Latency HLS with ``hls.low_latency``;
        ``on_playlist`` hears of each playlist write); None when HLS is off or the publisher's
        video is not H.264 (or not known yet: call once ``relay.sources`` has the video).
        Its media sequence numbers begin at ``after`` (the room's previous broadcast in this
        process) or at the clock's floor, whichever is higher (see :func:`clock_sequence`)."""
        video = relay.sources.get("video")
        if not settings.enabled or video is None or video.codec.lower() != "h264":
            return None
        first_seq = max(after, clock_sequence(settings.segment_ms, now_ms()))
        recorder = HlsRecorder(relay.room_id, Path(settings.dir), settings.segment_ms,
                               settings.window, audio=sends_opus(relay),
                               request_keyframe=relay.request_keyframe,
                               part_ms=settings.part_ms if settings.low_latency else None,
                               on_playlist=on_playlist, first_seq=first_seq)
        return cls.feeding(relay, recorder)

    @classmethod
    def feeding(cls, relay: RoomRelay, recorder: HlsRecorder) -> HlsFeed:
        """Drain the relay's H.264 (and Opus, if it sends any) into ``recorder``: the live
        rendition, or a replay's part (``media/replay.py``) with the same remux."""
        with_audio = sends_opus(relay)
        feed = cls(relay, recorder, relay.subscribe_encoded("video", _QUEUE_FRAMES),
                   relay.subscribe_encoded("audio", _QUEUE_FRAMES) if with_audio else None)
        feed._task = asyncio.create_task(feed._run(), name=f"hls:{relay.room_id}")
        return feed

    async def _run(self) -> None:
        loops = [self._drain(self._video)]
        if self._audio is not None:
            loops.append(self._drain(self._audio))
        try:
            await asyncio.gather(*loops)
        except Exception:  # a bug here must not take the publisher's session down
            log.exception("hls %s: feed failed", self.recorder.room_id)

    async def _drain(self, sub: EncodedSubscription) -> None:
        """Write one kind's frames. After each frame the task yields, so with a backlog the
        video and audio drains take turns instead of one emptying its queue first: the
        recorder places audio against the video it has been fed so far (the two RTP clocks are
        unrelated), so they must reach it in about the order they arrived."""
        recorder = self.recorder
        frame: EncodedFrame
        async for frame in sub:
            codec = frame.codec.lower()
            if codec == "h264":
                recorder.feed_video(frame.data, frame.timestamp, frame.keyframe)
            elif codec == "opus":
                recorder.feed_audio(frame.data, frame.timestamp)
            await asyncio.sleep(0)

    def serves(self, relay: RoomRelay) -> bool:
        """Still the right feed for this relay: the same one, sending the same codecs (a
        replacing publisher keeps the room's relay and its feeds continue)."""
        return relay is self.relay and _codecs(relay) == self.codecs

    async def stop(self, remove: bool) -> None:
        """End the feed: what is queued is written, then the playlist is ended
        (``remove=False``) or the room's HLS folder deleted (``remove=True``)."""
        self._unsubscribe()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=2)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        self.recorder.close(remove=remove)

    def release(self) -> None:
        """Stop at once and leave the files: the room's video moved to another process, which
        writes the same folder."""
        self._halt()
        self.recorder.release()

    def discard(self) -> None:
        """Stop at once and delete the room's files (a new broadcast replaces this one, or the
        process shuts down). Synchronous, for listeners."""
        self._halt()
        self.recorder.close(remove=True)

    def _unsubscribe(self) -> None:
        self._video.close()
        if self._audio is not None:
            self._audio.close()

    def _halt(self) -> None:
        """Stop feeding at once, dropping what is queued."""
        self._unsubscribe()
        if self._task is not None:
            self._task.cancel()


def sends_opus(relay: RoomRelay) -> bool:
    audio = relay.sources.get("audio")
    return audio is not None and audio.codec.lower() == "opus"


def _codecs(relay: RoomRelay) -> tuple[str | None, str | None]:
    video, audio = relay.sources.get("video"), relay.sources.get("audio")
    return (video.codec.lower() if video else None, audio.codec.lower() if audio else None)


class MediaEvents(Protocol):
    """What :class:`HlsFeeds` needs of the media service: its publisher listeners."""

    on_video_started: list[Callable[[str, RoomRelay], None]]
    on_video_stopped: list[Callable[[str], None]]

    def moved_away(self, room_id: str) -> bool: ...


class HlsFeeds:
    """The HLS writers of this process's rooms, driven by the media service's listeners.

    A publisher connecting here starts its room's feed (when it sends H.264). Leaving ends the
    playlist (``#EXT-X-ENDLIST``: players reach the end) and the room's folder is deleted
    ``linger_s`` later, unless the room broadcasts again meanwhile, which starts from a clean
    folder at once. The room ending ends its publisher, so it takes the same path.
    """

    def __init__(self, settings: HlsSettings, linger_s: float | None = None,
                 on_playlist: Callable[[Path], None] | None = None) -> None:
        self.settings = settings
        self.on_playlist = on_playlist
        # by default two playlists' worth: a player at the live edge has played to the end
        self.linger_s = (2 * settings.window * settings.segment_ms / 1000
                         if linger_s is None else linger_s)
        self.feeds: dict[str, HlsFeed] = {}
        self._ending: dict[str, asyncio.Task[None]] = {}
        self._events: MediaEvents | None = None
        self._closed = False

    def attach(self, events: MediaEvents) -> None:
        self._events = events
        events.on_video_started.append(self.started)
        events.on_video_stopped.append(self.stopped)

    def started(self, room_id: str, relay: RoomRelay) -> None:
        if self._closed:
            return
        current = self.feeds.get(room_id)
        if current is not None and room_id not in self._ending and current.serves(relay):
            return  # a publisher replaced its own session: the same playlist carries on
        after = self._forget(room_id)
        feed = HlsFeed.start(relay, self.settings, self.on_playlist, after)
        if feed is not None:
            self.feeds[room_id] = feed
            log.info("hls %s: writing", room_id)

    def stopped(self, room_id: str) -> None:
        feed = self.feeds.get(room_id)
        if self._closed or feed is None or room_id in self._ending:
            return
        if self._events is not None and self._events.moved_away(room_id):
            # another process took the publisher over and writes the (shared) folder now: no
            # ENDLIST over its playlist, no deletion of its segments
            del self.feeds[room_id]
            feed.release()
            return
        self._ending[room_id] = asyncio.create_task(self._end(room_id, feed),
                                                    name=f"hls-end:{room_id}")

    async def _end(self, room_id: str, feed: HlsFeed) -> None:
        try:
            await feed.stop(remove=False)
            await asyncio.sleep(self.linger_s)
            feed.recorder.close(remove=True)
        finally:
            if self.feeds.get(room_id) is feed:
                del self.feeds[room_id]
            if self._ending.get(room_id) is asyncio.current_task():
                del self._ending[room_id]

    def _forget(self, room_id: str) -> int:
        """Drop what is left of an earlier broadcast of the room, files included; where the
        next broadcast's sequence numbers begin (0 without an earlier one)."""
        ending = self._ending.pop(room_id, None)
        if ending is not None:
            ending.cancel()
        old = self.feeds.pop(room_id, None)
        if old is None:
            return 0
        old.discard()
        return old.recorder.sequence_after

    async def close(self) -> None:
        """At shutdown: detach, stop every feed and delete its files (the room's media home
        moves to whichever process its publisher reconnects to)."""
        self._closed = True
        if self._events is not None:
            self._events.on_video_started.remove(self.started)
            self._events.on_video_stopped.remove(self.stopped)
        tasks = list(self._ending.values())
        for room_id in list(self.feeds) + list(self._ending):
            self._forget(room_id)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
