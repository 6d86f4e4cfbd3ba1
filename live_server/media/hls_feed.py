"""Glue between a room's relay and its HLS recorder: two encoded subscriptions (video, and
audio when the publisher sends Opus) drained into an :class:`HlsRecorder` by one task.

The media service starts a feed when a publisher's H.264 video is known on the media home and
stops it when the publisher leaves (``remove=False``: players reach the end of the playlist) or
the room ends (``remove=True``). Only H.264 is written: HLS players do not take VP8.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from live_server.config import HlsSettings
from live_server.media.frames import EncodedFrame
from live_server.media.hls import HlsRecorder
from live_server.media.relay import EncodedSubscription, RoomRelay

log = logging.getLogger(__name__)

# Frames a subscription may hold before it drops to the next keyframe: several seconds, as the
# writer only stalls if the disk does.
_QUEUE_FRAMES = 300


class HlsFeed:
    """One room's HLS writer fed from its relay. Create with :meth:`start`."""

    def __init__(self, recorder: HlsRecorder, video: EncodedSubscription,
                 audio: EncodedSubscription | None) -> None:
        self.recorder = recorder
        self._video = video
        self._audio = audio
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def start(cls, relay: RoomRelay, settings: HlsSettings) -> HlsFeed | None:
        """Start writing the room's HLS rendition; None when HLS is off or the publisher's
        video is not H.264 (or not known yet: call once ``relay.sources`` has the video)."""
        video = relay.sources.get("video")
        if not settings.enabled or video is None or video.codec.lower() != "h264":
            return None
        audio = relay.sources.get("audio")
        with_audio = audio is not None and audio.codec.lower() == "opus"
        recorder = HlsRecorder(relay.room_id, Path(settings.dir), settings.segment_ms,
                               settings.window, audio=with_audio,
                               request_keyframe=relay.request_keyframe)
        feed = cls(recorder, relay.subscribe_encoded("video", _QUEUE_FRAMES),
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
            if frame.kind == "video":
                recorder.feed_video(frame.data, frame.timestamp, frame.keyframe)
            else:
                recorder.feed_audio(frame.data, frame.timestamp)
            await asyncio.sleep(0)

    async def stop(self, remove: bool) -> None:
        """End the feed: what is queued is written, then the playlist is ended
        (``remove=False``) or the room's HLS folder deleted (``remove=True``)."""
        self._video.close()
        if self._audio is not None:
            self._audio.close()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=2)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        self.recorder.close(remove=remove)
