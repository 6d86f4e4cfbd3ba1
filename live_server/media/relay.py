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

Simulcast (a publisher sending several layers of its video, ``media/simulcast.py``): each layer
has its own frame numbers, parameter sets, timestamp continuity and keyframe requests
(``VideoLayer``, one ``KeyframeGate`` each), and each video viewer follows one layer. A viewer
moved to another layer (its choice, or ``media/layers.py`` on its RTCP) keeps receiving the
old layer until a keyframe of the new one arrives, and only the new layer is asked for one, so
one viewer's switch never costs the others a keyframe. The HLS feed (and the thumbnail) follow
the largest layer. A single-stream publisher is layer 0 and nothing else changes.
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
    picture_size,
    vp8_is_keyframe,
)
from live_server.media.layers import (
    Chooser,
    LayerStatus,
    named_rank,
    nearest_active,
    rank_names,
)

log = logging.getLogger(__name__)

# the gap put between two publishers' timestamps: one 30 fps video frame, one 20 ms Opus packet
TS_STEP = {"video": 3000, "audio": 960}
# a layer that sent no frame for this long is not arriving (paused by the publisher)
LAYER_ACTIVE_S = 2.0
# a simulcast publisher's layers are ranked by size once each sent a keyframe, or after this
# long from its first frame (a layer may be paused from the start)
RANK_SETTLE_S = 1.0


@dataclasses.dataclass(slots=True)
class RelayStats:
    """Counters the relay reports to (prometheus in the app, plain ints in tests)."""

    forwarded: Callable[[int], None] = lambda n: None
    forwarded_bytes: Callable[[int], None] = lambda n: None  # encoded payload, before RTP
    dropped: Callable[[int], None] = lambda n: None
    keyframe_requests: Callable[[], None] = lambda: None
    layer_switches: Callable[[str], None] = lambda cause: None  # "down" | "up" | "chosen"


class ViewerTrack(MediaStreamTrack):
    """One viewer's track of one kind: a bounded queue of the room's encoded frames, read by
    that viewer's RTP sender (which packetizes them, never encodes)."""

    def __init__(self, relay: RoomRelay, kind: str, max_frames: int,
                 mode: str = "auto") -> None:
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
        # simulcast: the layer received, the one switched to at its next keyframe, and how
        # the layer is chosen (media/layers.py)
        self.chooser = Chooser(mode)
        self.layer = relay.initial_layer(mode) if kind == "video" else 0
        self.target: int | None = None
        self.switches = 0
        self.loss: float | None = None  # the last receiver report's fraction lost

    def offer(self, frame: EncodedFrame) -> bool:
        """Queue one frame (called by the relay for every frame of this kind, and of the
        layer this viewer receives or is switching to)."""
        if frame.layer != self.layer:
            if frame.layer != self.target or not frame.keyframe:
                return False  # the next layer's frames count from its keyframe on
            self._relay.switched(self)
            self.need_keyframe = False
        if self.need_keyframe and not (frame.keyframe and self._relay.settled):
            self.dropped += 1
            return False
        if len(self._queue) >= self._max:
            if self.kind == "video":
                self.dropped += len(self._queue) + (0 if frame.keyframe else 1)
                self._queue.clear()
                if not frame.keyframe:
                    self.need_keyframe = True
                    self.request_keyframe()
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

    def request_keyframe(self) -> None:
        """This viewer needs a keyframe (it joined, fell behind, or its decoder asked with
        PLI/FIR): of the layer it is switching to, else of its own; no other layer is asked."""
        self._relay.request_keyframe(self.layer if self.target is None else self.target)

    def feedback(self, loss: float | None = None, remb: int | None = None) -> None:
        """The viewer's RTCP about this track (a receiver report's fraction lost, or a REMB):
        the chooser may move it to another layer."""
        if loss is not None:
            self.loss = loss
        if self.kind == "video":
            self._relay.choose(self, loss, remb)

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
        # simulcast: video follows the largest layer, switching at a keyframe of it; the
        # layers share a timeline only to within a few ms, so after a switch timestamps are
        # shifted where needed to keep increasing
        self.layer = relay.top_layer if kind == "video" else 0
        self.target: int | None = None
        self._shift = 0
        self._last_ts: int | None = None

    def offer(self, frame: EncodedFrame) -> None:
        if self.closed:
            return
        if frame.layer != self.layer:
            if frame.layer != self.target or not frame.keyframe:
                return
            self.layer, self.target = frame.layer, None
            self._need_keyframe = False
            if self._last_ts is not None and frame.timestamp + self._shift <= self._last_ts:
                self._shift = self._last_ts + 1 - frame.timestamp
        if self._shift:
            frame = dataclasses.replace(frame, timestamp=frame.timestamp + self._shift)
        if self._need_keyframe and not (frame.keyframe and self._relay.settled):
            self.dropped += 1
            return
        if self._queue.qsize() >= self._max:
            self.dropped += self._queue.qsize()
            while not self._queue.empty():
                self._queue.get_nowait()
            if self.kind == "video" and not frame.keyframe:
                self._need_keyframe = True
                self._relay.request_keyframe(self.layer if self.target is None
                                             else self.target)
                return
        self._need_keyframe = False
        self._last_ts = frame.timestamp
        self._queue.put_nowait(frame)

    def follow(self, layer: int) -> None:
        """Continue with ``layer`` from its next keyframe (the largest layer changed)."""
        self.target = None if layer == self.layer else layer

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


class KeyframeGate:
    """Keyframe requests to one publisher stream (a layer), coalesced: at most one per
    ``min_s``, and one more at the end of the window when any came in meanwhile, so no request
    is lost, only merged."""

    def __init__(self, room_id: str, min_s: float, counted: Callable[[], None]) -> None:
        self.room_id = room_id
        self.min_s = min_s
        self.sender: Callable[[], Awaitable[int]] | None = None
        self.sent = 0
        self._counted = counted
        self._last = -1e9
        self._pending: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def request(self) -> None:
        if self.sender is None:
            return
        now = time.monotonic()
        wait = self._last + self.min_s - now
        if wait <= 0:
            self._send(now)
        elif self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(wait, self._deferred)

    def cancel(self) -> None:
        """The publisher left: stop asking it."""
        self.sender = None
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def _deferred(self) -> None:
        self._pending = None
        self._send(time.monotonic())

    def _send(self, now: float) -> None:
        sender = self.sender
        if sender is None:
            return
        self._last = now
        self.sent += 1
        self._counted()
        task = asyncio.get_running_loop().create_task(self._run(sender))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, sender: Callable[[], Awaitable[int]]) -> None:
        try:
            await sender()
        except Exception:  # a dying connection: the next request will tell
            log.debug("keyframe request failed in room %s", self.room_id, exc_info=True)


@dataclasses.dataclass(slots=True)
class VideoLayer:
    """One layer of the publisher's video (a single-stream publisher has one): its size, read
    from its keyframes, and the rate it arrives at."""

    index: int
    name: str = ""  # the publisher's name for it: its RID or SSRC ("" for a single stream)
    width: int = 0
    height: int = 0
    frames_in: int = 0
    keyframes_in: int = 0
    bitrate: int = 0  # bits per second of encoded payload, measured over about a second
    last_frame_s: float = -1e9
    _window_s: float = -1.0
    _window_bytes: int = 0

    def arrived(self, size: int, now: float) -> None:
        self.frames_in += 1
        self.last_frame_s = now
        if self._window_s < 0 or now - self._window_s > 5:
            self._window_s, self._window_bytes = now, 0
        self._window_bytes += size
        elapsed = now - self._window_s
        if elapsed >= 1.0:
            rate = int(self._window_bytes * 8 / elapsed)
            self.bitrate = rate if not self.bitrate else (self.bitrate + rate) // 2
            self._window_s, self._window_bytes = now, 0

    def active(self, now: float) -> bool:
        return now - self.last_frame_s < LAYER_ACTIVE_S


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
        # video viewers by the layer they receive or are switching to
        self._watching: dict[int, set[ViewerTrack]] = {0: set()}
        self._subs: dict[str, set[EncodedSubscription]] = {"audio": set(), "video": set()}
        self._params: dict[int, H264ParameterSets] = {}
        self.layers: list[VideoLayer] = [VideoLayer(0)]
        self.ranking: list[int] = [0]  # layer indices, the largest picture first
        # the ranking is final (every layer's size known, or RANK_SETTLE_S passed): until
        # then nobody starts, so nobody starts on a layer that turns out not to be theirs
        self.settled = True
        self._first_video_s: float | None = None
        self._placed: list[int] = [0]  # the ranking viewers and feeds were last placed by
        self._gates: list[KeyframeGate] = [self._gate()]
        # a replacing publisher's clock starts at 0 again: shift it to continue the last one;
        # a simulcast publisher's layers are shifted onto one timeline
        self._ts_offset: dict[tuple[str, int], int] = {}
        self._ts_last: dict[str, int] = {}
        self._latest: dict[str, tuple[int, float]] = {}  # this publisher's last (ts, time)
        self._numbers: dict[tuple[str, int], int] = {}  # last frame number per stream
        self.frames_in = 0
        self.keyframes_in = 0
        # the newest video keyframe (decodable on its own): the room's thumbnail is made from it
        self.latest_keyframe: EncodedFrame | None = None

    def _gate(self) -> KeyframeGate:
        return KeyframeGate(self.room_id, self.keyframe_min_s, self.stats.keyframe_requests)

    # publisher side --------------------------------------------------------------------------

    def set_source(self, kind: str, codec: str, clock_rate: int) -> None:
        self.sources[kind] = SourceInfo(kind, codec, clock_rate)

    def set_layers(self, names: list[str]) -> None:
        """The new publisher's video layers in its order (one unnamed layer for a single
        stream). The same layers as the last publisher's (a reconnecting encoder) keep their
        sizes, so viewers stay where they were; other layers are ranked afresh from their
        keyframes, and viewers of a layer the new publisher does not send start on its
        first."""
        count = max(1, len(names))
        named = [names[i] if i < len(names) else "" for i in range(count)]
        for gate in self._gates:
            gate.cancel()
        self._gates = [self._gate() for _ in range(count)]
        self._params = {}
        for index in range(count):
            self._watching.setdefault(index, set())
        self._first_video_s = None
        if [layer.name for layer in self.layers] == named:
            for layer in self.layers:
                layer.last_frame_s, layer.bitrate = -1e9, 0
            return
        self.layers = [VideoLayer(i, named[i]) for i in range(count)]
        self.ranking = list(range(count))
        self._placed = list(self.ranking)
        self.settled = count == 1
        for track in list(self._viewers["video"]):
            if track.layer >= count or (track.target is not None and track.target >= count):
                self._move(track, 0)
                track.target = None
        for sub in self._subs["video"]:
            if sub.layer >= count:
                sub.layer, sub.target = 0, None

    def set_keyframe_sender(self, sender: Callable[[], Awaitable[int]] | None,
                            layer: int = 0) -> None:
        """How to ask the publisher for a keyframe of ``layer`` (None: no publisher)."""
        self._gates[layer].sender = sender

    def push(self, kind: str, codec: str, clock_rate: int, timestamp: int, data: bytes,
             layer: int = 0) -> None:
        """One reassembled frame from the publisher (of one layer of its video): classify it
        once, offer it to everyone receiving that layer."""
        stream = (kind, layer)
        now = time.monotonic()
        offset = self._ts_offset.get(stream)
        if offset is None:  # the first frame of this stream of this publisher
            latest = self._latest.get(kind)
            if latest is not None:
                # another layer of the same picture already runs: share its timeline (each
                # stream's clock starts anywhere), placed by arrival time
                offset = (latest[0] + round((now - latest[1]) * (clock_rate or 1))
                          - timestamp)
            else:
                last = self._ts_last.get(kind)
                offset = 0 if last is None else last + TS_STEP[kind] - timestamp
            self._ts_offset[stream] = offset
        timestamp += offset
        self._ts_last[kind] = timestamp
        self._latest[kind] = (timestamp, now)
        name = codec.lower()
        if name == "h264":
            params = self._params.get(layer)
            if params is None:
                params = self._params[layer] = H264ParameterSets()
            data, key = params.complete(data)
        elif name == "vp8":
            key = vp8_is_keyframe(data)
        else:
            key = True
        self._numbers[stream] = number = self._numbers.get(stream, -1) + 1
        frame = EncodedFrame(kind=kind, codec=codec, data=data, timestamp=timestamp,
                             clock_rate=clock_rate or AUDIO_CLOCK_RATE, keyframe=key,
                             number=number, layer=layer)
        self.frames_in += 1
        if kind == "video":
            receivers = self._video_layer(layer, frame, now)
        else:
            receivers = self._viewers[kind]
        accepted = dropped = 0
        for viewer in receivers:
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

    def _video_layer(self, index: int, frame: EncodedFrame, now: float) -> set[ViewerTrack]:
        """Account for one video frame of layer ``index``; the viewers it goes to."""
        if index >= len(self.layers):  # a layer set_layers did not announce: ignored
            return set()
        layer = self.layers[index]
        layer.arrived(len(frame.data), now)
        if not self.settled:
            if self._first_video_s is None:
                self._first_video_s = now
            if now - self._first_video_s >= RANK_SETTLE_S:
                self.settled = True
                self._rank()
        if frame.keyframe:
            self.keyframes_in += 1
            layer.keyframes_in += 1
            size = picture_size(frame.codec, frame.data)
            if size is not None and size != (layer.width, layer.height):
                layer.width, layer.height = size
                self.settled = self.settled or all(x.width for x in self.layers)
                self._rank()
            if index == self.ranking[0]:
                self.latest_keyframe = frame
        return self._watching.get(index) or set()

    # layers ----------------------------------------------------------------------------------

    def has_layers(self) -> bool:
        """The publisher sends simulcast (viewers have layers to choose from)."""
        return len(self.layers) > 1

    @property
    def top_layer(self) -> int:
        """The layer with the largest picture (HLS and the thumbnail use it)."""
        return self.ranking[0]

    def _rank(self) -> None:
        """Order the layers by picture size (a size not known yet counts as smallest; ties in
        the publisher's order). When the order changes, a viewer that chose a size gets that
        size, an ``auto`` one keeps its place (the largest stays the largest), and the encoded
        feeds follow the largest."""
        self.ranking = sorted(range(len(self.layers)),
                              key=lambda i: (-self.layers[i].width * self.layers[i].height, i))
        old = self._placed
        if not self.settled or self.ranking == old:
            return  # nobody has started yet while unsettled (see ``settled``)
        self._placed = list(self.ranking)
        for track in list(self._viewers["video"]):
            wanted = track.layer if track.target is None else track.target
            if track.chooser.mode != "auto":
                place = named_rank(track.chooser.mode, len(self.ranking))
            else:
                place = old.index(wanted) if wanted in old else 0
            self.want(track, self.ranking[place])
        top = self.ranking[0]
        for sub in self._subs["video"]:
            sub.follow(top)
            if sub.target is not None:
                self.request_keyframe(top)

    def layer_statuses(self) -> list[LayerStatus]:
        """The layers from the largest down, as the chooser sees them."""
        now = time.monotonic()
        return [LayerStatus(i, self.layers[i].bitrate, self.layers[i].active(now))
                for i in self.ranking]

    def layer_names(self) -> dict[int, str]:
        """Each layer's name for viewers: ``h``, ``m``, ``l`` by size (``layers.rank_names``)."""
        return dict(zip(self.ranking, rank_names(len(self.ranking)), strict=True))

    def initial_layer(self, mode: str) -> int:
        """The layer a new viewer starts on: the named one, or in ``auto`` the largest that
        arrives (the chooser moves a viewer down when its network says so)."""
        statuses = self.layer_statuses()
        if len(statuses) < 2:
            return self.ranking[0]
        rank = named_rank("h" if mode == "auto" else mode, len(statuses))
        return statuses[nearest_active(statuses, rank)].index

    def choose(self, track: ViewerTrack, loss: float | None = None,
               remb: int | None = None) -> None:
        """Apply the track's chooser to its RTCP (or to a new choice: no argument)."""
        if len(self.layers) < 2 or track not in self._viewers["video"]:
            return
        current = track.layer if track.target is None else track.target
        wanted = track.chooser.decide(int(time.monotonic() * 1000), self.layer_statuses(),
                                      current, loss, remb)
        if wanted != current:
            cause = "chosen" if track.chooser.mode != "auto" else (
                "down" if self.ranking.index(wanted) > self.ranking.index(current) else "up")
            self.want(track, wanted)
            track.chooser.moved(int(time.monotonic() * 1000))
            self.stats.layer_switches(cause)
            log.debug("room %s: a viewer moves from layer %d to %d (%s)", self.room_id,
                      current, wanted, cause)

    def choose_mode(self, track: ViewerTrack, mode: str) -> None:
        """The viewer's own choice (``auto``, ``h``, ``m``, ``l``), applied at once."""
        track.chooser.set_mode(mode)
        if track not in self._viewers["video"]:
            self.want(track, self.initial_layer(mode))
        else:
            self.choose(track)

    def want(self, track: ViewerTrack, layer: int) -> None:
        """Move ``track`` to ``layer`` at that layer's next keyframe (asked of that layer
        only); a track whose sender has not started yet moves at once."""
        if layer >= len(self.layers) or track.kind != "video":
            return
        if track not in self._viewers["video"]:
            track.layer, track.target = layer, None
            return
        if track.target is not None and track.target != track.layer:
            self._watching[track.target].discard(track)
        if layer == track.layer:
            track.target = None
            return
        track.target = layer
        self._watching[layer].add(track)
        self.request_keyframe(layer)

    def switched(self, track: ViewerTrack) -> None:
        """``track`` reached a keyframe of its target layer: it receives that layer now."""
        if track.target is None:
            return
        self._watching[track.layer].discard(track)
        track.layer, track.target = track.target, None
        track.switches += 1

    def _move(self, track: ViewerTrack, layer: int) -> None:
        for watchers in self._watching.values():
            watchers.discard(track)
        track.layer = layer
        if track in self._viewers["video"]:
            self._watching[layer].add(track)

    # viewer side -----------------------------------------------------------------------------

    def viewer_track(self, kind: str, mode: str = "auto") -> ViewerTrack:
        return ViewerTrack(self, kind, self.queue_frames, mode)

    def attach(self, track: ViewerTrack) -> None:
        self._viewers[track.kind].add(track)
        if track.kind == "video":
            self._watching[track.layer].add(track)
            if track.target is not None:
                self._watching[track.target].add(track)
            track.chooser.moved(int(time.monotonic() * 1000))
            track.request_keyframe()

    def detach(self, track: ViewerTrack) -> None:
        self._viewers[track.kind].discard(track)
        if track.kind == "video":
            for watchers in self._watching.values():
                watchers.discard(track)

    @property
    def viewer_count(self) -> int:
        """Viewers receiving media (a viewer has one track per kind)."""
        return max(len(self._viewers["video"]), len(self._viewers["audio"]))

    def video_viewers(self) -> list[ViewerTrack]:
        return list(self._viewers["video"])

    def subscribe_encoded(self, kind: str, max_frames: int | None = None) -> EncodedSubscription:
        """A feed of this room's encoded ``kind`` frames (see ``EncodedSubscription``)."""
        sub = EncodedSubscription(self, kind, max_frames or self.queue_frames)
        self._subs[kind].add(sub)
        if kind == "video":
            self.request_keyframe(sub.layer)
        return sub

    def unsubscribe(self, sub: EncodedSubscription) -> None:
        self._subs[sub.kind].discard(sub)

    # keyframe requests -----------------------------------------------------------------------

    def request_keyframe(self, layer: int | None = None) -> None:
        """Ask the publisher for a keyframe of ``layer`` (default: the largest), coalesced to
        one per ``keyframe_min_ms`` and layer."""
        index = self.top_layer if layer is None else layer
        if index < len(self._gates):
            self._gates[index].request()

    @property
    def keyframe_requests_sent(self) -> int:
        return sum(gate.sent for gate in self._gates)

    # end -------------------------------------------------------------------------------------

    def end_publisher(self) -> None:
        """The publisher left: stop asking it for keyframes; viewers keep their tracks (a
        reconnecting publisher with the same codecs resumes them at its first keyframe)."""
        for gate in self._gates:
            gate.cancel()
        self._ts_offset.clear()
        self._latest.clear()
        self._params = {}
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
        for watchers in self._watching.values():
            watchers.clear()
