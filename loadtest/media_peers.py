"""The generator's WebRTC clients: a WHIP publisher of a looped clip and WHEP viewers that count.

Why these and not the browser's view of things: the benchmark needs hundreds of viewers on a
machine it shares with the server, so a viewer does the whole protocol (WHEP POST, ICE, DTLS,
SRTP, RTCP feedback, NACKs, the jitter buffer that reassembles frames) but never decodes: its
receiver is tapped (`media_hooks.tap_receiver`) and every complete frame is counted, keyframes
noted with their arrival time. The publisher never encodes: it loops a pre-encoded clip
(`media_clip.LoopTrack`). Both speak only the public protocol (RFC 9725 WHIP and WHEP over
HTTP, `docs/PROTOCOL.md`): POST `application/sdp` with a bearer token, follow `307` to the
room's media home, `DELETE` the `Location` at the end.

No ICE servers are configured, ever: aiortc would otherwise use a public STUN server. Against
a server on 127.0.0.1 (a one-machine run, `--spawn-server`) the peers gather on 127.0.0.1 only
(`media_hooks.gather_on`; aioice alone would leave loopback out and use the machine's other
addresses), so the run's media never leaves loopback; against another host, on every address.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)

from loadtest.media_clip import Clip, LoopTrack
from loadtest.media_hooks import addresses_for, gather_on, on_keyframe_request, tap_receiver

SDP = "application/sdp"
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=20)


class SignalError(RuntimeError):
    """A WHIP/WHEP POST did not answer 201."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail[:200]}")
        self.status = status


def no_ice_servers() -> Any:
    """An `RTCConfiguration` without ICE servers (aiortc's default is a public STUN server)."""
    return RTCConfiguration(iceServers=[])


def prefer_codec(transceiver: Any, codec: str) -> None:
    """Offer only `codec` (h264 or vp8) on a video transceiver, so ours and the peer both send
    what the publisher sends and no viewer can end up with another codec."""
    caps = RTCRtpSender.getCapabilities("video").codecs
    wanted = [c for c in caps if c.mimeType.lower() == f"video/{codec}".lower()]
    if not wanted:
        raise ValueError(f"aiortc offers no video/{codec}")
    transceiver.setCodecPreferences(wanted)


async def post_sdp(
    http: aiohttp.ClientSession, url: str, sdp: str, token: str | None, hops: int = 3
) -> tuple[str, str]:
    """POST an offer, following up to `hops` redirects (307 to the room's media home);
    (answer SDP, absolute Location). Raises `SignalError` for anything but 201."""
    headers = {"Content-Type": SDP}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    for _ in range(hops + 1):
        async with http.post(url, data=sdp, headers=headers, allow_redirects=False,
                             timeout=HTTP_TIMEOUT) as resp:
            body = await resp.text()
            if resp.status in (307, 308) and "Location" in resp.headers:
                url = urllib.parse.urljoin(url, resp.headers["Location"])
                continue
            if resp.status != 201:
                retry = resp.headers.get("Retry-After")
                raise SignalError(resp.status, body + (f" (Retry-After {retry})" if retry else ""))
            location = urllib.parse.urljoin(url, resp.headers.get("Location", ""))
            return body, location
    raise SignalError(307, "too many redirects")


async def local_offer(pc: Any, url: str) -> str:
    """``pc``'s offer with its candidates, gathered where a peer of ``url`` should."""
    with gather_on(addresses_for(urllib.parse.urlsplit(url).hostname or "")):
        await pc.setLocalDescription(await pc.createOffer())
    return str(pc.localDescription.sdp)


async def delete_session(http: aiohttp.ClientSession, location: str, token: str | None) -> None:
    """End a WHIP/WHEP session (best effort: the server may have ended it already)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with http.delete(location, headers=headers,
                               timeout=aiohttp.ClientTimeout(total=5)):
            pass


async def _wait_state(pc: Any, changed: asyncio.Event, want: str, limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while pc.connectionState != want:
        if pc.connectionState in ("failed", "closed"):
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), left)
    return True


class Publisher:
    """A WHIP client publishing the clip on one sendonly video transceiver."""

    def __init__(self, clip: Clip, track: LoopTrack | None = None) -> None:
        self.clip = clip
        self.pc = RTCPeerConnection(configuration=no_ice_servers())
        self.track = track or LoopTrack(clip)
        transceiver = self.pc.addTransceiver(self.track, direction="sendonly")
        prefer_codec(transceiver, clip.codec)
        on_keyframe_request(transceiver.sender, self.track.request_keyframe)
        self.location: str | None = None
        self.token: str | None = None
        self._changed = asyncio.Event()
        self.pc.on("connectionstatechange", self._changed.set)

    async def publish(self, http: aiohttp.ClientSession, url: str, token: str,
                      limit_s: float = 20.0) -> None:
        """POST the offer, apply the answer, wait (bounded) until media flows."""
        self.token = token
        answer, self.location = await post_sdp(http, url, await local_offer(self.pc, url), token)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        if not await _wait_state(self.pc, self._changed, "connected", limit_s):
            raise SignalError(0, f"publisher ICE/DTLS not connected ({self.pc.connectionState})")

    @property
    def home(self) -> str | None:
        """scheme://host:port of the process holding the session (from its Location)."""
        if not self.location:
            return None
        parts = urllib.parse.urlsplit(self.location)
        return f"{parts.scheme}://{parts.netloc}"

    async def close(self, http: aiohttp.ClientSession | None = None) -> None:
        if http is not None and self.location:
            await delete_session(http, self.location, self.token)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pc.close(), 10)


@dataclass
class ViewerStats:
    """What one viewer saw; times in ms from its WHEP POST."""

    index: int
    status: str = "new"  # new, posting, connected, failed, closed
    fail_reason: str | None = None
    answer_ms: float | None = None
    connect_ms: float | None = None
    first_frame_ms: float | None = None
    first_keyframe_ms: float | None = None
    frames: int = 0
    keyframes: int = 0
    bytes: int = 0
    codec: str | None = None

    def wire(self) -> dict[str, Any]:
        return {
            "index": self.index, "status": self.status, "fail_reason": self.fail_reason,
            "answer_ms": self.answer_ms, "connect_ms": self.connect_ms,
            "first_frame_ms": self.first_frame_ms, "first_keyframe_ms": self.first_keyframe_ms,
            "frames": self.frames, "keyframes": self.keyframes, "bytes": self.bytes,
            "codec": self.codec,
        }


class Viewer:
    """A WHEP client with one recvonly video transceiver whose frames are counted, not
    decoded. `on_frame(nbytes)` lets the owner add frames to a shared tally as they come."""

    def __init__(self, index: int, codec: str, on_frame: Any = None,
                 on_connected: Any = None) -> None:
        self.stats = ViewerStats(index)
        self.pc = RTCPeerConnection(configuration=no_ice_servers())
        transceiver = self.pc.addTransceiver("video", direction="recvonly")
        prefer_codec(transceiver, codec)
        tap_receiver(transceiver.receiver, self._frame)
        self._on_frame = on_frame
        self._on_connected = on_connected
        self.location: str | None = None
        self.token: str | None = None
        self._t0 = 0.0
        self._changed = asyncio.Event()
        self.pc.on("connectionstatechange", self._state)

    def _state(self) -> None:
        self._changed.set()
        if self.pc.connectionState == "connected" and self.stats.connect_ms is None:
            self.stats.connect_ms = round(1000 * (time.monotonic() - self._t0), 2)

    def _frame(self, codec: str, data: bytes, keyframe: bool, at: float) -> None:
        s = self.stats
        s.frames += 1
        s.bytes += len(data)
        if s.first_frame_ms is None:
            s.first_frame_ms = round(1000 * (at - self._t0), 2)
            s.codec = codec
        if keyframe:
            s.keyframes += 1
            if s.first_keyframe_ms is None:
                s.first_keyframe_ms = round(1000 * (at - self._t0), 2)
                self._changed.set()
        if self._on_frame is not None:
            self._on_frame(len(data))

    async def watch(self, http: aiohttp.ClientSession, url: str, token: str | None,
                    limit_s: float) -> bool:
        """WHEP POST, answer, ICE+DTLS up within `limit_s`; True when connected."""
        s = self.stats
        self.token = token
        self._t0 = time.monotonic()
        s.status = "posting"
        try:
            answer, self.location = await post_sdp(http, url, await local_offer(self.pc, url),
                                                   token)
            s.answer_ms = round(1000 * (time.monotonic() - self._t0), 2)
            await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            left = max(0.1, limit_s - (time.monotonic() - self._t0))
            if not await _wait_state(self.pc, self._changed, "connected", left):
                s.status, s.fail_reason = "failed", f"ice_{self.pc.connectionState}"
                return False
        except SignalError as exc:
            s.status, s.fail_reason = "failed", f"http_{exc.status}"
            return False
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            s.status, s.fail_reason = "failed", type(exc).__name__
            return False
        s.status = "connected"
        if self._on_connected is not None:
            self._on_connected(s.connect_ms)
        return True

    async def wait_keyframe(self, limit_s: float) -> bool:
        """Wait (bounded) for the first complete keyframe."""
        deadline = time.monotonic() + limit_s
        while self.stats.first_keyframe_ms is None:
            left = deadline - time.monotonic()
            if left <= 0 or self.pc.connectionState in ("failed", "closed"):
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
        return True

    async def transport_bytes(self) -> int:
        """Bytes this viewer's transport received (DTLS + SRTP + SRTCP datagrams, without
        IP/UDP headers), from the public `getStats()` (`RTCTransportStats.bytesReceived`)."""
        try:
            report = await self.pc.getStats()
        except Exception:
            return 0
        total = 0
        for stat in report.values():
            if type(stat).__name__ == "RTCTransportStats":
                total += int(getattr(stat, "bytesReceived", 0) or 0)
        return total

    async def close(self, http: aiohttp.ClientSession | None = None) -> None:
        if http is not None and self.location:
            await delete_session(http, self.location, self.token)
        if self.stats.status == "connected":
            self.stats.status = "closed"
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pc.close(), 10)


__all__ = [
    "Publisher",
    "SignalError",
    "Viewer",
    "ViewerStats",
    "delete_session",
    "no_ice_servers",
    "post_sdp",
    "prefer_codec",
]
