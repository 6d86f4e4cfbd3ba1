"""A live room's stream thumbnail: a small JPEG of a recent picture, for the ops console.

The relay forwards video without decoding it, so a thumbnail is the one place a picture is
decoded, and only when someone asks:

* **Where the picture comes from.** On the room's media home, the relay's latest keyframe (H.264
  with its SPS/PPS in front, or VP8): a keyframe decodes on its own. Any other process of the
  same machine reads the room's HLS output instead (the first picture of the newest segment:
  segments start at IDR pictures), as the folder is shared by every worker. A process with
  neither (another machine, HLS off, a VP8 broadcast) has no picture to give: ``None``, which
  the handler answers as 404 ``not_found`` (no redirect: the picture is a few seconds old
  anyway, and the console simply shows its placeholder).
* **Cost.** One decode per room at most every ``min_age_s`` (a request meanwhile gets the
  cached JPEG; a source that has not changed since is not decoded again), one decode at a time
  per process, off the event loop (``asyncio.to_thread``), and at most ``max_rooms`` JPEGs kept.
* **Size.** Fits ``BOX`` × ``BOX * 9 / 16`` keeping the picture's aspect (160×90 for landscape,
  90×160 for portrait video), even sides for the JPEG encoder.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import fractions
import logging
import time
from pathlib import Path
from typing import Protocol

import av

from live_server.auth import Identity, require_ops
from live_server.config import HlsSettings
from live_server.media.hls import PLAYLIST, SEGMENT_RE, InvalidRoomId, room_dir
from live_server.media.relay import RoomRelay
from live_server.store.rooms import RoomStore

log = logging.getLogger(__name__)

BOX = 160  # the long side of a thumbnail, in pixels
MIN_AGE_S = 5.0  # a room's picture is decoded again at most this often
MAX_ROOMS = 256  # thumbnails kept per process (the least recently made go first)


class Relays(Protocol):
    """What the thumbnails need of the media service: the room's relay in this process."""

    def relay(self, room_id: str) -> RoomRelay | None: ...


@dataclasses.dataclass(slots=True)
class _Entry:
    source: tuple[object, ...]  # what it was made from (frame number, or segment name)
    made_at: float  # monotonic seconds
    jpeg: bytes


def fit(width: int, height: int, box: int = BOX) -> tuple[int, int]:
    """The thumbnail's size: the long side ``box`` (landscape) or the tall side ``box``
    (portrait), the other side keeping the aspect, both even and at least 2."""
    if width >= height:
        w, h = box, round(box * height / max(width, 1))
    else:
        w, h = round(box * width / max(height, 1)), box
    return max(2, w - w % 2), max(2, h - h % 2)


def encode_jpeg(frame: av.VideoFrame) -> bytes:
    """Scale a decoded picture to its thumbnail size and encode it as a baseline JPEG."""
    width, height = fit(frame.width, frame.height)
    small = frame.reformat(width=width, height=height, format="yuvj420p")
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = width, height
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = fractions.Fraction(1, 25)
    packets = [*encoder.encode(small), *encoder.encode(None)]
    return b"".join(bytes(p) for p in packets)


def decode_keyframe(codec: str, data: bytes) -> av.VideoFrame | None:
    """Decode one keyframe (an H.264 access unit with its parameter sets, or a VP8 frame)."""
    decoder = av.CodecContext.create("h264" if codec.lower() == "h264" else "vp8", "r")
    frames = [*decoder.decode(av.Packet(data)), *decoder.decode(None)]
    return frames[0] if frames else None


def decode_segment(path: Path) -> av.VideoFrame | None:
    """The first picture of an MPEG-TS segment (the recorder starts each at an IDR picture)."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            return None
        for frame in container.decode(video=0):
            return frame
    return None


def _newest_segment(folder: Path) -> Path | None:
    """The last segment the room's playlist lists (the playlist is replaced atomically)."""
    try:
        lines = (folder / PLAYLIST).read_text().splitlines()
    except OSError:
        return None
    names = [line for line in lines if SEGMENT_RE.fullmatch(line)]
    return folder / names[-1] if names else None


class Thumbnails:
    """This process's thumbnails of live rooms (see the module's docstring)."""

    def __init__(self, relays: Relays, rooms: RoomStore, hls: HlsSettings, *,
                 min_age_s: float = MIN_AGE_S, max_rooms: int = MAX_ROOMS) -> None:
        self.relays = relays
        self.rooms = rooms
        self.hls = hls
        self.min_age_s = min_age_s
        self.max_rooms = max_rooms
        self._cache: collections.OrderedDict[str, _Entry] = collections.OrderedDict()
        self._busy: dict[str, asyncio.Future[bytes | None]] = {}
        self._decoding = asyncio.Semaphore(1)
        self.decoded = 0  # pictures decoded so far (tests check the cache holds)

    async def for_ops(self, who: Identity, room_id: str) -> bytes | None:
        """The room's thumbnail for ops (``None``: no picture here); an unknown room is
        ``not_found``."""
        require_ops(who)
        await self.rooms.require(room_id)
        return await self.jpeg(room_id)

    async def jpeg(self, room_id: str) -> bytes | None:
        entry = self._cache.get(room_id)
        if entry is not None and time.monotonic() - entry.made_at < self.min_age_s:
            return entry.jpeg
        pending = self._busy.get(room_id)
        if pending is not None:  # someone is making it: share the answer
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._busy[room_id] = future
        jpeg = None
        try:
            jpeg = await self._make(room_id, entry)
        except Exception:  # a picture that does not decode is no picture
            log.warning("thumbnail of room %s failed", room_id, exc_info=True)
        finally:
            future.set_result(jpeg)
            del self._busy[room_id]
        return jpeg

    def has_picture(self, room_id: str) -> bool:
        """Whether this process can give the room's thumbnail now (a picture made, a keyframe
        in the relay, or an HLS segment on disk): the ops console asks for one only then, so a
        broadcast that has not sent its first keyframe yet is not a failed request."""
        if room_id in self._cache:
            return True
        relay = self.relays.relay(room_id)
        if relay is not None and relay.latest_keyframe is not None:
            return True
        return self._segment(room_id) is not None

    async def _make(self, room_id: str, entry: _Entry | None) -> bytes | None:
        relay = self.relays.relay(room_id)
        frame = relay.latest_keyframe if relay is not None else None
        segment = None if frame is not None else self._segment(room_id)
        if frame is not None:
            source: tuple[object, ...] = ("relay", id(relay), frame.number)
        elif segment is not None:
            source = ("hls", segment.name)
        else:
            self._cache.pop(room_id, None)
            return None
        if entry is not None and entry.source == source:
            entry.made_at = time.monotonic()  # nothing newer to decode
            return entry.jpeg
        async with self._decoding:
            if frame is not None:
                jpeg = await asyncio.to_thread(_from_keyframe, frame.codec, frame.data)
            else:
                assert segment is not None
                jpeg = await asyncio.to_thread(_from_segment, segment)
        self.decoded += 1
        if jpeg is None:
            return None
        self._cache[room_id] = _Entry(source, time.monotonic(), jpeg)
        self._cache.move_to_end(room_id)
        while len(self._cache) > self.max_rooms:
            self._cache.popitem(last=False)
        return jpeg

    def _segment(self, room_id: str) -> Path | None:
        if not self.hls.enabled:
            return None
        try:
            return _newest_segment(room_dir(Path(self.hls.dir), room_id))
        except InvalidRoomId:
            return None


def _from_keyframe(codec: str, data: bytes) -> bytes | None:
    frame = decode_keyframe(codec, data)
    return encode_jpeg(frame) if frame is not None else None


def _from_segment(path: Path) -> bytes | None:
    try:
        frame = decode_segment(path)
    except FileNotFoundError:  # left the window meanwhile
        return None
    return encode_jpeg(frame) if frame is not None else None
