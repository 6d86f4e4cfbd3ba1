"""aiortc peers for the media tests: a publisher that encodes a synthetic picture (the client
side encodes, as a browser or OBS would) and viewers that decode what they receive. They gather
ICE candidates on 127.0.0.1 only (aioice alone would use every other address of the machine),
as the test servers do (``media.ice_addresses``): the tests' media never leaves loopback."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import av
from aiortc import (
    AudioStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError
from multidict import CIMultiDict

from live_server.media import aiortc_hooks, ice
from tests.conftest import token
from tests.helpers import WAIT_S

WIDTH, HEIGHT = 320, 240
# aiortc falls back to a public STUN server when none is given: tests use none at all
NO_ICE_SERVERS = RTCConfiguration(iceServers=[])
LOOPBACK = ice.HostAddresses(("127.0.0.1",))


async def local_offer(pc: RTCPeerConnection) -> str:
    """``pc``'s offer with its candidates, gathered on loopback only."""
    with aiortc_hooks.host_candidates(LOOPBACK):
        await pc.setLocalDescription(await pc.createOffer())
    return str(pc.localDescription.sdp)


async def until(changed: asyncio.Event, predicate: Callable[[], bool],
                timeout: float = WAIT_S) -> None:
    """Wait until ``predicate`` holds, looking again each time a peer sets ``changed`` (its
    state, tracks or frames moved), at most ``timeout`` seconds."""
    async def check() -> None:
        while not predicate():
            changed.clear()
            await changed.wait()
    await asyncio.wait_for(check(), timeout)


class MovingPicture(VideoStreamTrack):
    """A moving gradient, so every frame differs and the encoder produces real inter frames."""

    def __init__(self, width: int = WIDTH, height: int = HEIGHT) -> None:
        super().__init__()
        self.width, self.height = width, height
        size = width * height
        self._luma = bytes((i * 7 + (i // width) * 3) & 0xFF for i in range(2 * size))
        self._chroma = bytes([128]) * (size // 4)
        self.sent = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        offset = (self.sent * 5) % (self.width * self.height)
        frame.planes[0].update(self._luma[offset:offset + self.width * self.height])
        frame.planes[1].update(self._chroma)
        frame.planes[2].update(self._chroma)
        frame.pts, frame.time_base = pts, time_base
        self.sent += 1
        return frame


def candidate_addresses(sdp: str) -> list[str]:
    """The address of every candidate (host, srflx, relay) an SDP carries."""
    # a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>
    return [line.split(" ")[4] for line in sdp.split("\r\n") if line.startswith("a=candidate:")]


def _prefer(transceiver: Any, kind: str, codec: str) -> None:
    caps = RTCRtpSender.getCapabilities(kind).codecs
    wanted = [c for c in caps if c.mimeType.lower() == f"{kind}/{codec}".lower()]
    transceiver.setCodecPreferences(wanted)


async def post_sdp(http: aiohttp.ClientSession, url: str, sdp: str,
                   token: str | None = None) -> tuple[int, CIMultiDict[str], str]:
    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with http.post(url, data=sdp, headers=headers) as resp:
        return resp.status, CIMultiDict(resp.headers), await resp.text()


class Publisher:
    """A WHIP client publishing one video track in ``codec`` (and Opus audio if asked)."""

    def __init__(self, codec: str = "VP8", audio: bool = False) -> None:
        self.pc = RTCPeerConnection(configuration=NO_ICE_SERVERS)
        self.track = MovingPicture()
        transceiver = self.pc.addTransceiver(self.track, direction="sendonly")
        _prefer(transceiver, "video", codec)
        # what the publisher's own stats would show (a browser's pliCount/firCount)
        self.keyframe_requests = 0
        self._changed = asyncio.Event()
        self.pc.on("connectionstatechange", self._changed.set)
        sender = transceiver.sender
        make_keyframe = sender._send_keyframe

        def on_keyframe_request() -> None:
            self.keyframe_requests += 1
            self._changed.set()
            make_keyframe()
        sender._send_keyframe = on_keyframe_request
        if audio:
            sound = self.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
            _prefer(sound, "audio", "opus")
        self.location: str | None = None
        self.headers: CIMultiDict[str] = CIMultiDict()

    async def offer(self) -> str:
        return await local_offer(self.pc)

    @property
    def ended(self) -> bool:
        """The server closed (or lost) the connection."""
        return self.pc.connectionState in ("closed", "failed")

    async def publish(self, http: aiohttp.ClientSession, url: str, token: str) -> int:
        status, headers, body = await post_sdp(http, url, await self.offer(), token)
        self.headers = headers
        if status == 201:
            self.location = headers["Location"]
            await self.pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
        return status

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
        await until(self._changed, predicate, timeout)

    async def close(self) -> None:
        await self.pc.close()


class Viewer:
    """A WHEP client that decodes every video frame it receives and records its size (and
    counts decoded audio frames when it asks for audio)."""

    def __init__(self, audio: bool = False) -> None:
        self.pc = RTCPeerConnection(configuration=NO_ICE_SERVERS)
        self.pc.addTransceiver("video", direction="recvonly")
        if audio:
            self.pc.addTransceiver("audio", direction="recvonly")
        self.sizes: list[tuple[int, int]] = []
        self.audio_frames = 0
        self._changed = asyncio.Event()
        self.location: str | None = None
        self.status = 0
        self.headers: CIMultiDict[str] = CIMultiDict()

        self._readers: list[asyncio.Task[None]] = []

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            self._readers.append(asyncio.ensure_future(self._read(track)))

        @self.pc.on("connectionstatechange")
        def on_state() -> None:
            self._changed.set()

    async def _read(self, track: Any) -> None:
        try:
            while True:
                frame = await track.recv()
                if track.kind == "audio":
                    self.audio_frames += 1
                else:
                    self.sizes.append((frame.width, frame.height))
                self._changed.set()
        except MediaStreamError:
            pass

    @property
    def ended(self) -> bool:
        """The server closed (or lost) the connection."""
        return self.pc.connectionState in ("closed", "failed")

    @property
    def decoded(self) -> int:
        return len(self.sizes)

    async def watch(self, http: aiohttp.ClientSession, url: str,
                    token: str | None = None) -> int:
        self.status, self.headers, body = await post_sdp(
            http, url, await local_offer(self.pc), token)
        if self.status == 201:
            self.location = self.headers["Location"]
            await self.pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
        return self.status

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
        await until(self._changed, predicate, timeout)

    async def request_keyframe(self) -> None:
        """Send a PLI, as a viewer's decoder does after losing a picture."""
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == "video":
                for source in transceiver.receiver.getSynchronizationSources():
                    await transceiver.receiver._send_rtcp_pli(source.source)

    async def close(self) -> None:
        await self.pc.close()
        for reader in self._readers:
            reader.cancel()




def app_of(live: Any) -> Any:
    """The in-process aiohttp app behind the ``live`` fixture."""
    app = getattr(live, "app", None)
    return app if app is not None else live.client.app


@dataclasses.dataclass
class OnAir:
    """A room whose creator publishes over WHIP, a WHEP viewer that has not watched yet, and the
    HTTP session they use."""

    room: str
    publisher: Publisher
    viewer: Viewer
    http: aiohttp.ClientSession
    whep: str

    async def watch(self) -> None:
        assert await self.viewer.watch(self.http, self.whep) == 201


@contextlib.asynccontextmanager
async def on_air(live: Any, codec: str = "VP8") -> AsyncIterator[OnAir]:
    """A live room of alice's with her publisher on air (both peers closed at the end)."""
    room = await live.live_room("alice")
    publisher, viewer = Publisher(codec), Viewer()
    async with aiohttp.ClientSession() as http:
        try:
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            yield OnAir(room, publisher, viewer, http, f"{live.base}/api/rooms/{room}/whep")
        finally:
            await viewer.close()
            await publisher.close()

