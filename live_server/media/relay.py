"""The forwarding relay of one room: the publisher's encoded frames go, unchanged, to every
viewer's bounded queue and to encoded-frame subscribers (the HLS writer). No aiortc here
except ``MediaStreamTrack``, the base class the senders read from.

Rules (docs/ARCHITECTURE.md, "Media"):

* a video viewer starts at a keyframe: a new viewer drops frames until the next one, and the
  relay asks the publisher for one when the viewer starts reading;
* a viewer whose queue is full (``queue_frames``) loses its queue and waits for the next
  keyframe again, instead of growing memory or being sent a broken picture;
* keyframe requests (new viewers, lagging viewers, viewers' PLI/FIR) reach the publisher at
  most once per ``keyframe_min_ms``; one more is sent at the end of the window when any came in
  meanwhile, so no request is lost, only merged;
* a viewer's sender may take frames straight from ``push`` (``ViewerTrack.direct``, set by
  ``aiortc_hooks.Forwarding`` once it runs): sending a frame never waits (UDP), so waking one
  task per viewer per frame only to send costs CPU and buys nothing; the queue still serves
  frames offered while earlier ones wait in it, so order holds.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from live_server.media.frames import (
    AUDIO_CLOCK_RATE,
    EncodedFrame,
    H264ParameterSets,
    vp8_is_keyframe,
)

log = logging.getLogger(__name__)

# the gap put between two publishers' timestamps: one 30 fps video frame, one 20 ms Opus packet
TS_STEP = {"video": 3000, "audio": 960}


@dataclasses.dataclass(slots=True)
class RelayStats:
    """Counters the relay reports to (prometheus in the app, plain ints in tests)."""

    forwarded: Callable[[int], None] = lambda n: None
    forwarded_bytes: Callable[[int], None] = lambda n: None  # encoded payload, before RTP
    dropped: Callable[[int], None] = lambda n: None
    keyframe_requests: Callable[[], None] = lambda: None


class ViewerTrack(MediaStreamTrack):
    """One viewer's track of one kind: a bounded queue of the room's encoded frames, read by
    that viewer's RTP sender (which packetizes them, never encodes)."""

    def __init__(self, relay: RoomRelay, kind: str, max_frames: int) -> None:
        super().__init__()
        self.kind = kind
        self._relay = relay
        self._max = max_frames
        self._queue: collections.deque[EncodedFrame] = collections.deque()
        self._wake: asyncio.Future[None] | None = None
        self._attached = False
        self.need_keyframe = kind == "video"
        self.forwarded = 0
        self.dropped = 0
        # the sender's synchronous path: frames bypass the queue while it is empty
        self.direct: Callable[[EncodedFrame], None] | None = None

    def offer(self, frame: EncodedFrame) -> bool:
        """Queue one frame (called by the relay for every frame of this kind)."""
        if self.need_keyframe and not frame.keyframe:
            self.dropped += 1
            return False
        if len(self._queue) >= self._max:
            if self.kind == "video":
                self.dropped += len(self._queue) + (0 if frame.keyframe else 1)
                self._queue.clear()
                if not frame.keyframe:
                    self.need_keyframe = True
                    self._relay.request_keyframe()
                    return False
            else:
                self._queue.popleft()
                self.dropped += 1
        self.need_keyframe = False
        self.forwarded += 1
        if self.direct is not None and not self._queue:
            self.direct(frame)
            return True
        self._queue.append(frame)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
        return True

    # aiortc's senders accept anything that is not an av.Frame and hand it to their
    # encoder's pack(); ours is aiortc_hooks.Packetizer, which takes EncodedFrame
    async def recv(self) -> EncodedFrame:  # type: ignore[override]
        if not self._attached:
            # the viewer's sender is running: from now on frames are worth queueing
            self._attached = True
            self._relay.attach(self)
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._wake = asyncio.get_running_loop().create_future()
            await self._wake
        return self._queue.popleft()

    def end(self) -> None:
        """No more frames (publisher gone or viewer closed): the sender's loop finishes."""
        self.direct = None
        self._queue.clear()
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
        super().stop()

    def stop(self) -> None:
        self._relay.detach(self)
        self.end()


class EncodedSubscription:
    """A bounded feed of the room's encoded frames of one kind, for consumers in this process
    (the HLS writer). Iterate it; it ends when the publisher stops or ``close()`` is called.
    Video starts at a keyframe, and after an overflow resumes at the next keyframe (every item
    is decodable given the ones before it)."""

    def __init__(self, relay: RoomRelay, kind: str, max_frames: int) -> None:
        self.kind = kind
        self._relay = relay
        self._queue: asyncio.Queue[EncodedFrame | None] = asyncio.Queue()
        self._max = max_frames
        self._need_keyframe = kind == "video"
        self.dropped = 0
        self.closed = False

    def offer(self, frame: EncodedFrame) -> None:
        if self.closed:
            return
        if self._need_keyframe and not frame.keyframe:
            self.dropped += 1
            return
        if self._queue.qsize() >= self._max:
            self.dropped += self._queue.qsize()
            while not self._queue.empty():
                self._queue.get_nowait()
            if self.kind == "video" and not frame.keyframe:
                self._need_keyframe = True
                self._relay.request_keyframe()
                return
        self._need_keyframe = False
        self._queue.put_nowait(frame)

    def restart(self) -> None:
        """A new publisher: continue at its first keyframe."""
        self._need_keyframe = self.kind == "video"

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._relay.unsubscribe(self)
            self._queue.put_nowait(None)

    async def get(self) -> EncodedFrame | None:
        """The next frame, or None once the feed has ended."""
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[EncodedFrame]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[EncodedFrame]:
        while True:
            frame = await self._queue.get()
            if frame is None:
                return
            yield frame


@dataclasses.dataclass(frozen=True, slots=True)
class SourceInfo:
    """What the publisher sends of one kind."""

    kind: str
    codec: str          # "VP8" | "H264" | "opus"
    clock_rate: int


class RoomRelay:
    """Forwarding state of one room in this process. The publisher session feeds it with
    ``push``; viewer sessions take ``ViewerTrack``s from ``viewer_track``."""

    def __init__(self, room_id: str, *, queue_frames: int, keyframe_min_ms: int,
                 stats: RelayStats | None = None) -> None:
        self.room_id = room_id
        self.queue_frames = queue_frames
        self.keyframe_min_s = keyframe_min_ms / 1000
        self.stats = stats or RelayStats()
        self.sources: dict[str, SourceInfo] = {}
        self._viewers: dict[str, set[ViewerTrack]] = {"audio": set(), "video": set()}
        self._subs: dict[str, set[EncodedSubscription]] = {"audio": set(), "video": set()}
        self._params = H264ParameterSets()
        self._keyframe_sender: Callable[[], Awaitable[int]] | None = None
        self._last_request = -1e9
        self._pending_request: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # a replacing publisher's clock starts at 0 again: shift it to continue the last one
        self._ts_offset: dict[str, int] = {}
        self._ts_last: dict[str, int] = {}
        self._numbers: dict[str, int] = {}  # last frame number per kind (never reset)
        self.frames_in = 0
        self.keyframes_in = 0
        self.keyframe_requests_sent = 0
        # the newest video keyframe (decodable on its own): the room's thumbnail is made from it
        self.latest_keyframe: EncodedFrame | None = None

    # publisher side --------------------------------------------------------------------------

    def set_source(self, kind: str, codec: str, clock_rate: int) -> None:
        self.sources[kind] = SourceInfo(kind, codec, clock_rate)

    def set_keyframe_sender(self, sender: Callable[[], Awaitable[int]] | None) -> None:
        """How to ask the publisher for a keyframe (None: no publisher)."""
        self._keyframe_sender = sender

    def push(self, kind: str, codec: str, clock_rate: int, timestamp: int, data: bytes) -> None:
        """One reassembled frame from the publisher: classify it once, offer it to everyone."""
        offset = self._ts_offset.get(kind)
        if offset is None:  # first frame of this publisher
            last = self._ts_last.get(kind)
            offset = 0 if last is None else last + TS_STEP[kind] - timestamp
            self._ts_offset[kind] = offset
        timestamp += offset
        self._ts_last[kind] = timestamp
        name = codec.lower()
        if name == "h264":
            data, key = self._params.complete(data)
        elif name == "vp8":
            key = vp8_is_keyframe(data)
        else:
            key = True
        self._numbers[kind] = number = self._numbers.get(kind, -1) + 1
        frame = EncodedFrame(kind=kind, codec=codec, data=data, timestamp=timestamp,
                             clock_rate=clock_rate or AUDIO_CLOCK_RATE, keyframe=key,
                             number=number)
        self.frames_in += 1
        if key and kind == "video":
            self.keyframes_in += 1
            self.latest_keyframe = frame
        accepted = dropped = 0
        for viewer in self._viewers[kind]:
            before = viewer.dropped
            if viewer.offer(frame):
                accepted += 1
            dropped += viewer.dropped - before
        for sub in self._subs[kind]:
            sub.offer(frame)
        if accepted:
            self.stats.forwarded(accepted)
            self.stats.forwarded_bytes(accepted * len(data))
        if dropped:
            self.stats.dropped(dropped)

    # viewer side -----------------------------------------------------------------------------

    def viewer_track(self, kind: str) -> ViewerTrack:
        return ViewerTrack(self, kind, self.queue_frames)

    def attach(self, track: ViewerTrack) -> None:
        self._viewers[track.kind].add(track)
        if track.kind == "video":
            self.request_keyframe()

    def detach(self, track: ViewerTrack) -> None:
        self._viewers[track.kind].discard(track)

    @property
    def viewer_count(self) -> int:
        """Viewers receiving media (a viewer has one track per kind)."""
        return max(len(self._viewers["video"]), len(self._viewers["audio"]))

    def subscribe_encoded(self, kind: str, max_frames: int | None = None) -> EncodedSubscription:
        """A feed of this room's encoded ``kind`` frames (see ``EncodedSubscription``)."""
        sub = EncodedSubscription(self, kind, max_frames or self.queue_frames)
        self._subs[kind].add(sub)
        if kind == "video":
            self.request_keyframe()
        return sub

    def unsubscribe(self, sub: EncodedSubscription) -> None:
        self._subs[sub.kind].discard(sub)

    # keyframe requests -----------------------------------------------------------------------

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, coalesced to one per ``keyframe_min_ms``."""
        if self._keyframe_sender is None:
            return
        now = time.monotonic()
        wait = self._last_request + self.keyframe_min_s - now
        if wait <= 0:
            self._send_keyframe_request(now)
        elif self._pending_request is None:
            loop = asyncio.get_running_loop()
            self._pending_request = loop.call_later(wait, self._deferred_request)

    def _deferred_request(self) -> None:
        self._pending_request = None
        self._send_keyframe_request(time.monotonic())

    def _send_keyframe_request(self, now: float) -> None:
        sender = self._keyframe_sender
        if sender is None:
            return
        self._last_request = now
        self.keyframe_requests_sent += 1
        self.stats.keyframe_requests()
        task = asyncio.get_running_loop().create_task(self._run_request(sender))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_request(self, sender: Callable[[], Awaitable[int]]) -> None:
        try:
            await sender()
        except Exception:  # a dying connection: the next request will tell
            log.debug("keyframe request failed in room %s", self.room_id, exc_info=True)

    # end -------------------------------------------------------------------------------------

    def end_publisher(self) -> None:
        """The publisher left: stop asking it for keyframes; viewers keep their tracks (a
        reconnecting publisher with the same codecs resumes them at its first keyframe)."""
        self._keyframe_sender = None
        self._ts_offset.clear()
        if self._pending_request is not None:
            self._pending_request.cancel()
            self._pending_request = None
        self._params = H264ParameterSets()
        for viewer in self._viewers["video"]:
            viewer.need_keyframe = True
        for sub in self._subs["video"]:
            sub.restart()

    def close(self) -> None:
        """The room's video is over in this process: end every viewer track and feed."""
        self.end_publisher()
        self.sources.clear()
        self.latest_keyframe = None
        for kind in ("audio", "video"):
            for viewer in list(self._viewers[kind]):
                viewer.end()
            self._viewers[kind].clear()
            for sub in list(self._subs[kind]):
                sub.close()
