"""WHIP and WHEP sessions: one server-side ``RTCPeerConnection`` each, wired to the room's
relay through ``aiortc_hooks`` (the publisher's receivers feed the relay; each viewer's
senders read a ``ViewerTrack`` and packetize without encoding).

The answer carries all the server's candidates; a client may send its own later (trickle ICE
over ``PATCH``, ``trickle``). A session whose connection is not up ``idle_ms`` after the answer
is closed, and so is one whose connection fails or closes."""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import Awaitable, Callable

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription
from aiortc.exceptions import InvalidAccessError, InvalidStateError, OperationError
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.sdp import candidate_from_sdp

from live_server.errors import BadSdp, OfferNotAcceptable
from live_server.media import aiortc_hooks, simulcast, trickle
from live_server.media.relay import RoomRelay, ViewerTrack
from live_server.media.sdp import Track

log = logging.getLogger(__name__)

RTX = RTCRtpCodecCapability(mimeType="video/rtx", clockRate=90000)

Callback = Callable[["MediaSession"], Awaitable[None]]

#: end reasons that are failures (ICE or DTLS failed, or ICE never came up): one WARNING each
FAILURES = {"disconnected": "the connection failed", "ice_timeout": "ICE did not connect in time"}


def _preferences(track: Track) -> list[RTCRtpCodecCapability]:
    """Exactly the track's codec (and RTX for video retransmissions)."""
    prefs = [aiortc_hooks.capability(track.codec)]
    if track.kind == "video":
        prefs.append(RTX)
    return prefs


class MediaSession:
    """One WHIP (``role == "publisher"``) or WHEP (``"viewer"``) session."""

    def __init__(self, room_id: str, role: str, config: RTCConfiguration, idle_ms: int,
                 *, on_connected: Callback | None = None, on_end: Callback | None = None,
                 on_media: Callback | None = None, user_id: str | None = None,
                 host_addresses: aiortc_hooks.AddressChooser | None = None) -> None:
        self.id = secrets.token_urlsafe(18)  # the resource URL's secret part
        self.room_id = room_id
        self.role = role
        self.user_id = user_id
        self.etag = f'"{secrets.token_hex(8)}"'
        self.pc = RTCPeerConnection(configuration=config)
        self.tracks: list[Track] = []
        self.connected = False
        self.closed = False
        self.replaced = False
        self.announced = False  # video_started was sent for this room (by a predecessor)
        self.end_reason = ""
        self.remote_ice = ("", "")  # the offer's ice-ufrag and ice-pwd (a restart changes them)
        self._idle_ms = idle_ms
        self._host_addresses = host_addresses  # media.ice_addresses (None: every address)
        self._idle: asyncio.TimerHandle | None = None
        self._on_connected = on_connected
        self._on_end = on_end
        self._on_media = on_media  # once, at the publisher's first frame (media flows)
        self.media_seen = False
        self._tasks: set[asyncio.Task[None]] = set()
        # a simulcast publisher's receivers (media/simulcast.py), and a viewer's video track
        self._layers: aiortc_hooks.Simulcast | None = None
        self.video_track: ViewerTrack | None = None
        self.relay: RoomRelay | None = None
        self.pc.on("connectionstatechange", self._state_changed)

    @property
    def codecs(self) -> dict[str, str]:
        return {t.kind: t.codec_name for t in self.tracks}

    @property
    def formats(self) -> dict[str, str]:
        """Each kind's codec with its parameters: viewers negotiated exactly these."""
        return {t.kind: t.describe() for t in self.tracks}

    async def answer_publisher(self, offer: str, tracks: list[Track], relay: RoomRelay,
                               layers: simulcast.SimulcastOffer | None = None) -> str:
        """Receive the offered tracks into ``relay`` (every layer of a simulcast video, each
        reassembled on its own); the SDP answer."""
        self.tracks = tracks
        self.relay = relay
        relay.set_layers(layers.names if layers is not None else [])
        video: RTCRtpTransceiver | None = None
        for track in tracks:
            transceiver = self.pc.addTransceiver(track.kind, direction="recvonly")
            transceiver.setCodecPreferences(_preferences(track))
            if track.kind == "video" and layers is not None:
                video = transceiver
                state = self._layers = aiortc_hooks.receive_simulcast(
                    transceiver.receiver, layers, functools.partial(self._push_layer, relay))
                for layer in range(layers.count):
                    relay.set_keyframe_sender(
                        functools.partial(state.request_keyframe, layer), layer)
                continue
            aiortc_hooks.tap_receiver(transceiver.receiver,
                                      functools.partial(self._push, relay, track.kind))
            if track.kind == "video":
                relay.set_keyframe_sender(
                    functools.partial(aiortc_hooks.send_pli, transceiver.receiver))
        if video is None or layers is None:
            return await self._answer(offer)
        answer = await self._answer(offer, functools.partial(
            aiortc_hooks.accept_rid_extensions, video, layers))
        return simulcast.with_answer_lines(answer, layers)

    def _push(self, relay: RoomRelay, kind: str, codec: str, clock_rate: int, timestamp: int,
              data: bytes) -> None:
        self._push_layer(relay, 0, codec, clock_rate, timestamp, data, kind)

    def _push_layer(self, relay: RoomRelay, layer: int, codec: str, clock_rate: int,
                    timestamp: int, data: bytes, kind: str = "video") -> None:
        # a replaced or closing publisher's last frames must not mix into the new stream
        if not self.replaced and not self.closed:
            relay.push(kind, codec, clock_rate, timestamp, data, layer)
            if not self.media_seen:
                self.media_seen = True
                if self._on_media is not None:
                    self._spawn(self._on_media(self))

    async def answer_viewer(self, offer: str, tracks: list[Track], relay: RoomRelay,
                            layer: str = "auto") -> str:
        """Send the room's tracks to this viewer, forwarded as they are (video: the simulcast
        layer ``layer`` names, or in ``auto`` the one the viewer's network carries); the SDP
        answer."""
        self.tracks = tracks
        self.relay = relay
        for track in tracks:
            source = relay.viewer_track(track.kind, layer)
            transceiver = self.pc.addTransceiver(source, direction="sendonly")
            transceiver.setCodecPreferences(_preferences(track))
            if track.kind == "video":
                self.video_track = source
            aiortc_hooks.passthrough_sender(
                transceiver.sender, track.codec_name, source.request_keyframe,
                source.feedback if track.kind == "video" else None,
                relay.has_layers)
        return await self._answer(offer)

    async def trickle(self, frag: trickle.SdpFrag) -> None:
        """Add the client's late candidates (and its end-of-candidates) to the connection."""
        try:
            for found in frag.candidates:
                candidate = candidate_from_sdp(found.sdp.partition(":")[2])
                candidate.sdpMid = found.mid
                if found.mid is None:
                    candidate.sdpMLineIndex = found.mline_index
                await self.pc.addIceCandidate(candidate)
            if frag.end:
                await self.pc.addIceCandidate(None)
        except ValueError as exc:  # a number that is not one (aiortc ignores candidates
            # after end-of-candidates, as a repeated fragment is harmless)
            raise BadSdp(f"cannot add these candidates: {exc}") from None

    async def _answer(self, offer: str, before_answer: Callable[[], None] | None = None) -> str:
        self.remote_ice = trickle.credentials(offer)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            if before_answer is not None:
                before_answer()
            with aiortc_hooks.host_candidates(self._host_addresses):
                await self.pc.setLocalDescription(await self.pc.createAnswer())
        except (ValueError, InvalidAccessError, InvalidStateError, OperationError) as exc:
            # what sdp.py does not check, aiortc refuses here: still the offer's fault
            raise OfferNotAcceptable(f"cannot negotiate this offer: {exc}") from None
        self._idle = asyncio.get_running_loop().call_later(self._idle_ms / 1000,
                                                           self._idle_check)
        return str(self.pc.localDescription.sdp)

    def _idle_check(self) -> None:
        self._idle = None
        if not self.connected and not self.closed:
            self._spawn(self.close("ice_timeout"))

    def _state_changed(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and not self.connected and not self.closed:
            self.connected = True
            if self._on_connected is not None:
                self._spawn(self._on_connected(self))
        elif state in ("failed", "closed") and not self.closed:
            self._spawn(self.close("disconnected" if state == "failed" else "closed"))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _log_failure(self, reason: str) -> None:
        """One WARNING per failed session, with what tells why: the states of its ICE and DTLS
        transports and the candidate pair it used, if any. The session id is the secret part
        of the session URL (whoever holds it may DELETE the session): only its first
        characters are logged, enough to match a client's Location."""
        ice_state, dtls_state, pair = aiortc_hooks.transport_states(self.pc)
        log.warning("%s session %s... of room %s failed: %s (ice=%s dtls=%s pair=%s)",
                    self.role, self.id[:6], self.room_id, FAILURES[reason], ice_state,
                    dtls_state, pair or "none")

    async def close(self, reason: str = "closed") -> None:
        """Close the peer connection (idempotent) and tell the owner once."""
        if self.closed:
            return
        self.closed = True
        self.end_reason = reason
        if reason in FAILURES:
            self._log_failure(reason)
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        try:
            await self.pc.close()
        except Exception:  # a half-open connection must still count as closed
            log.warning("closing %s session %s failed", self.role, self.id, exc_info=True)
        if self._layers is not None:
            await self._layers.stop()
        if self._on_end is not None:
            await self._on_end(self)
