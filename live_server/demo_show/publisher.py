"""The demo publisher: a WHIP client inside the server process that sends the clip in a loop.

Why over WHIP and not straight into the relay: the demo then shows the real path a creator's
broadcast takes (admission, the media home, ``video_started``, the relay, HLS), and breaks when
that path breaks. The clip's packets are sent as they are (aiortc packetizes a packet without
encoding it), so the show costs a little packetizing, not an encoder. Its ICE candidates are on
loopback only: the show never leaves the machine.

It retries with a growing pause when a publish is refused or its connection drops (the creator
ended the room, Valkey was away), and stops with the server: ``stop()`` ends the WHIP session
and closes the peer connection. It gives way to a real broadcast: someone trying the studio as
the demo creator replaces the show (WHIP's rule), and the show waits until the room has no
publisher before it comes back, rather than taking the room back from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from yarl import URL

from live_server.demo_show.clip import (
    AUDIO_FRAME,
    AUDIO_RATE,
    Clip,
    ClipPacket,
    ensure_clip,
    load_clip,
)
from live_server.media import aiortc_hooks, ice

log = logging.getLogger(__name__)

VIDEO_CLOCK = 90_000
#: pauses between attempts after a failure (the last one repeats)
RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)
#: a publish that stayed on air this long was a success: the next failure starts the pauses over
STEADY_S = 30.0
#: how often the show looks whether the broadcast that replaced it has ended
FREE_POLL_S = 2.0
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=15)


class LoopTrack(MediaStreamTrack):
    """One kind of the clip's packets in a loop, paced in real time, with timestamps that keep
    counting up across loops (a receiver sees one endless stream)."""

    def __init__(self, kind: str, packets: tuple[ClipPacket, ...], period_s: float,
                 step: int, clock: int) -> None:
        super().__init__()
        self.kind = kind
        self._packets = packets
        self._period = period_s
        self._step = step
        self._time_base = fractions.Fraction(1, clock)
        self._n = 0
        self._start: float | None = None
        self.sent = 0

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._n * self._period
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > 0.5:  # the process was stalled: resume the schedule, do not burst
            self._start = now - self._n * self._period
        packet = av.Packet(self._packets[self._n % len(self._packets)].data)
        packet.pts = packet.dts = self._n * self._step
        packet.time_base = self._time_base
        self._n += 1
        self.sent += 1
        return packet


def clip_tracks(clip: Clip) -> tuple[LoopTrack, LoopTrack]:
    """(video, audio) tracks of the clip."""
    video = LoopTrack("video", clip.video, 1 / clip.fps, VIDEO_CLOCK // clip.fps, VIDEO_CLOCK)
    audio = LoopTrack("audio", clip.audio, AUDIO_FRAME / AUDIO_RATE, AUDIO_FRAME, AUDIO_RATE)
    return video, audio


class PublishRefused(Exception):
    """The WHIP endpoint did not answer 201."""


class DemoPublisher:
    """Publishes the clip into ``room_id`` at ``base_url`` (this server) until stopped.
    ``token`` makes a fresh creator token for each attempt (a show outlives a token)."""

    def __init__(self, base_url: str, room_id: str, token: Callable[[], str],
                 var_dir: str | Path, loopback: str = "127.0.0.1") -> None:
        self.whip = f"{base_url}/api/rooms/{room_id}/whip"
        self.room_id = room_id
        self._token = token
        self._var_dir = var_dir
        self._addresses = ice.HostAddresses((loopback,))
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pc: RTCPeerConnection | None = None
        #: publishes that reached 201 (a test's and an operator's view of the retries)
        self.published = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="demo-publisher")

    async def stop(self) -> None:
        """End the show: the WHIP session deleted, the peer connection closed, the task done."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        try:
            clip = await asyncio.to_thread(lambda: load_clip(ensure_clip(self._var_dir)))
        except (OSError, ValueError, av.FFmpegError) as exc:
            log.error("demo show: no clip (%s); the demo room stays without video", exc)
            return
        failures = 0
        async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as http:
            while not self._stopping.is_set():
                began = time.monotonic()
                try:
                    if not await self._wait_room_free(http):
                        break
                    await self._publish_once(http, clip)
                except (PublishRefused, aiohttp.ClientError, OSError, TimeoutError) as exc:
                    log.warning("demo show: publishing into %s failed: %s", self.room_id, exc)
                except Exception:  # a demo must not take the server down: log, try again
                    log.exception("demo show: publishing into %s failed", self.room_id)
                if self._stopping.is_set():
                    break
                failures = 0 if time.monotonic() - began > STEADY_S else failures + 1
                pause = RETRY_S[min(max(failures - 1, 0), len(RETRY_S) - 1)]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), pause)

    async def _wait_room_free(self, http: aiohttp.ClientSession) -> bool:
        """Until nobody publishes into the room (False: we are stopping meanwhile)."""
        waiting = False
        while not self._stopping.is_set():
            async with http.get(self.whip.removesuffix("/whip") + "/video") as resp:
                if resp.status != 200:
                    raise PublishRefused(f"{resp.status} {(await resp.text())[:200]}")
                video = await resp.json()
            if not video.get("publishing"):
                return True
            if not waiting:
                log.info("demo show: another broadcast is on air in %s; waiting until it ends",
                         self.room_id)
                waiting = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), FREE_POLL_S)
        return False

    async def _room_video(self, http: aiohttp.ClientSession) -> str:
        """The room's video as the show sees it: "ours" (a publisher in the clip's H.264),
        "theirs" (a publisher in other codecs: a real broadcast replaced the show), "none" (no
        publisher: our session ended on the server's side, or is not registered yet), or
        "unknown" (no answer: the connection's own state decides)."""
        try:
            async with http.get(self.whip.removesuffix("/whip") + "/video") as resp:
                if resp.status != 200:
                    return "unknown"
                video = await resp.json()
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return "unknown"
        if not video.get("publishing"):
            return "none"
        codecs = video.get("codecs") or {}
        return "ours" if str(codecs.get("video", "")).upper() == "H264" else "theirs"

    async def _publish_once(self, http: aiohttp.ClientSession, clip: Clip) -> None:
        """One WHIP session: offer, answer, on air until the connection ends or we stop."""
        pc = RTCPeerConnection(configuration=RTCConfiguration(iceServers=[]))
        changed = asyncio.Event()
        pc.on("connectionstatechange", changed.set)
        location: str | None = None
        try:
            for track, codec in zip(clip_tracks(clip), ("video/H264", "audio/opus"), strict=True):
                transceiver = pc.addTransceiver(track, direction="sendonly")
                kind = track.kind
                transceiver.setCodecPreferences([
                    c for c in RTCRtpSender.getCapabilities(kind).codecs
                    if c.mimeType.lower() == codec.lower()])
            with aiortc_hooks.host_candidates(self._addresses):
                await pc.setLocalDescription(await pc.createOffer())
            headers = {"Content-Type": "application/sdp",
                       "Authorization": f"Bearer {self._token()}"}
            async with http.post(self.whip, data=pc.localDescription.sdp,
                                 headers=headers) as resp:
                body = await resp.text()
                if resp.status != 201:
                    raise PublishRefused(f"{resp.status} {body[:200]}")
                location = str(resp.url.join(URL(resp.headers["Location"])))
            await pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
            self.published += 1
            log.info("demo show: on air in room %s", self.room_id)
            seen = False  # the room's video state has shown our session once
            while pc.connectionState not in ("failed", "closed") \
                    and not self._stopping.is_set():
                changed.clear()
                stop = asyncio.ensure_future(self._stopping.wait())
                change = asyncio.ensure_future(changed.wait())
                done, _ = await asyncio.wait((stop, change), timeout=FREE_POLL_S,
                                             return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                change.cancel()
                # Replaced by a real broadcast, the server ends our session; its close can be
                # lost (UDP), and ICE consent would notice only after about 30 s. The room's
                # video state says so at once when the newcomer's codecs are not the clip's.
                if not done:
                    state = await self._room_video(http)
                    if state == "theirs" or (state == "none" and seen):
                        break
                    seen = seen or state == "ours"
            if not self._stopping.is_set():
                log.warning("demo show: the connection %s", pc.connectionState)
        finally:
            # the DELETE first: closing first would end the session on the server's side
            # (connection closed) before the DELETE arrives, which then finds nothing
            if location is not None and pc.connectionState != "closed":
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with http.delete(location, timeout=aiohttp.ClientTimeout(total=3),
                                           headers={"Authorization":
                                                    f"Bearer {self._token()}"}):
                        pass
            await pc.close()
