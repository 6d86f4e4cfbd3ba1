"""Every use of aiortc internals, in one place (aiortc is pinned: ``AIORTC_VERSION``).

aiortc's public API decodes every received frame and encodes every sent one. The relay needs
neither, so it hooks the two points where encoded media already exists:

Receiving (the publisher's ``RTCRtpReceiver``)
    ``RTCRtpReceiver._handle_rtp_packet`` depayloads RTP, reassembles frames in its jitter
    buffer and hands ``(codec, JitterFrame)`` to ``self.__decoder_queue.put(...)``; a thread
    running ``decoder_worker(loop, input_q, output_q, decode_error)`` takes them with
    ``input_q.get()`` and decodes. ``tap_receiver`` replaces that queue (the name-mangled
    ``_RTCRtpReceiver__decoder_queue``) before ``receive()`` starts the thread: frames go to
    the relay instead, and the thread's ``get()`` only ever returns the stop marker ``None``, so
    it never creates a decoder. ``JitterFrame.data`` / ``.timestamp`` carry the frame.
    Keyframe requests go out with ``RTCRtpReceiver._send_rtcp_pli(media_ssrc)``.
    The transport's router calls ``receiver._handle_rtp_packet(packet, arrival_time_ms=...)``
    for every SSRC whose payload type matches the receiver, so a simulcast publisher's layers
    would all reach one jitter buffer: ``tap_receiver`` also shadows that method with an
    instance attribute that lets one media stream through (``simulcast.StreamPin``), telling
    retransmissions apart by the receiver's codec table ``_RTCRtpReceiver__codecs``.

Receiving simulcast (``receive_simulcast``, ``media/simulcast.py``)
    aiortc reads neither ``a=rid`` nor ``a=simulcast`` and keeps one jitter buffer per
    receiver. ``accept_rid_extensions`` adds the offer's ``rtp-stream-id`` and
    ``repaired-rtp-stream-id`` to ``RTCRtpTransceiver._headerExtensions`` between
    ``setRemoteDescription`` (which narrows that list to what aiortc knows) and
    ``createAnswer``: the answer then carries their ``a=extmap`` lines and the receiver's
    parameters configure the transport's ``_rtp_header_extensions_map``, so
    ``RtpPacket.extensions.rtp_stream_id`` / ``.repaired_rtp_stream_id`` are read (aiortc's
    ``HeaderExtensionsMap`` knows both URIs). The router still sends every layer's packets to
    the section's receiver; its ``_handle_rtp_packet`` is shadowed by a demultiplexer that
    gives each layer a receiver of its own: layer 0 the transceiver's, each other layer an
    extra ``RTCRtpReceiver`` on the same DTLS transport, created at its first packet with the
    same codecs, RTCP SSRC (``_set_rtcp_ssrc``) and, shared, the first receiver's
    ``_RTCRtpReceiver__remote_bitrate_estimator`` (so one REMB covers every layer, as the
    publisher's bandwidth estimation expects). ``receive()`` registers it with the transport's
    ``_rtp_router`` (``register_receiver``), which would then hold two receivers for the
    payload type and drop unknown SSRCs, so it is unregistered at once
    (``_rtp_router.unregister_receiver``); its ``_track`` is a ``RemoteStreamTrack`` only
    because ``receive()`` hands its queue to the (idle) decoder thread. A layer's
    retransmission SSRC is told to its receiver in ``_RTCRtpReceiver__rtx_ssrc`` (aiortc fills
    it only from ``a=ssrc`` lines). Keyframe requests for one layer go out as a PLI with that
    layer's SSRC (``_send_rtcp_pli``). ``RtpRouter.route_rtcp`` gives the sender reports and
    BYEs of every layer's SSRC to the first receiver (its ``ssrc_table`` maps them all there),
    so its ``_handle_rtcp_packet`` is shadowed too: another layer's go to that layer's receiver
    (whose receiver reports then carry the round-trip fields, and whose BYE stops only it). The
    extra receivers are stopped with the session (``Simulcast.stop``).

Sending (each viewer's ``RTCRtpSender``)
    ``RTCRtpSender._next_encoded_frame`` reads the track and, for anything that is not an
    ``av.Frame``, calls ``self.__encoder.pack(data) -> (payloads, timestamp)`` instead of
    encoding; it creates ``self.__encoder`` with ``get_encoder(codec)`` only when it is None.
    ``passthrough_sender`` presets ``_RTCRtpSender__encoder`` with a ``Packetizer`` (no codec
    context at all: aiortc's Opus encoder would open libopus in its constructor) that packs the
    relay's ``EncodedFrame`` objects, once per frame for all viewers, using aiortc's own RTP
    packetizers
    (``Vp8Encoder._packetize(buffer, picture_id)``, ``H264Encoder._split_bitstream`` and
    ``H264Encoder._packetize``). A viewer's PLI/FIR makes ``_handle_rtcp_packet`` call
    ``self._send_keyframe()``; an instance attribute of that name forwards it to the relay.
    ``_handle_rtcp_packet`` itself is shadowed by one that runs it and then hands the receiver
    reports' fraction lost and REMB bitrates about this sender's SSRC to the viewer's track
    (the simulcast layer chooser); aiortc only keeps them in its stats.
    ``send()`` starts ``self._run_rtp(parameters.codecs[0])``, which builds an ``RtpPacket`` per
    packet and awaits ``RTCDtlsTransport._send_rtp`` → ``RTCIceTransport._send`` (aioice
    ``Connection.send`` → ``sendto`` → ``StunProtocol.send_data``) for each: most of a viewer's
    cost (issue #15, loadtest/RESULTS.md "webrtc density"). ``passthrough_sender`` shadows
    ``_run_rtp`` with ``Forwarding.run``, which reads the same track and encoder, writes each
    frame's packets with ``fanout.RtpOut`` (the header-extension block serialized once by
    aiortc's ``RtpPacket.serialize`` with the sender's ``__rtp_header_extensions_map`` and
    ``__mid``, then only abs-send-time changes), protects them with the DTLS transport's
    ``_tx_srtp`` and sends them to the remote address of aioice's nominated pair
    (``Connection._nominated[1]``: ``.protocol.transport``, ``.remote_addr``, which
    ``send_data`` uses) through ``datagrams.DatagramSender`` (UDP GSO on a duplicate of that
    transport's socket), then keeps the counters aiortc's RTCP sender reports and ``getStats``
    read (``__ntp_timestamp``, ``__rtp_timestamp``, ``__octet_count``, ``__packet_count``; the
    DTLS transport's ``__tx_bytes``, ``__tx_packets``) and, at the end, what ``stop()`` waits
    for (``__rtp_exited``). NACKs reach ``self._retransmit(seq)``, shadowed to answer from
    ``RtpOut``'s history (RTX with the sender's ``__rtx_payload_type`` and ``_rtx_ssrc``).

Negotiation
    ``rtcpeerconnection.find_common_codecs`` and ``codecs.CODECS`` tell which of an offer's
    codecs aiortc would accept, so the answer can be narrowed to one codec per kind with the
    public ``RTCRtpTransceiver.setCodecPreferences``.

Gathering (aioice, aiortc's ICE)
    ``aioice.ice.Connection.gather_candidates`` binds one UDP socket per address returned by the
    module function ``get_host_addresses(use_ipv4, use_ipv6)`` (every address of every
    interface but 127.0.0.1, ::1 and link-local) and has no setting to choose them.
    ``host_candidates`` replaces that module function, once, with one that asks the chooser set
    for the current context (``media.ice_addresses``) and otherwise behaves as aioice's own.
    aiortc gathers inside ``setLocalDescription`` in tasks that ``asyncio.gather`` creates there,
    which copy the caller's context, so the choice reaches exactly the connections whose
    descriptions are set inside the ``with`` block.

``tests/integration/test_media_hooks.py`` checks every name, signature and source line used
here against the installed aiortc, and fails loudly when an upgrade changes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import queue
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aioice.ice
import aiortc
import pylibsrtp
from aiortc.codecs import CODECS, is_rtx
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcpeerconnection import find_common_codecs
from aiortc.rtcrtpparameters import (
    RTCRtpCodecCapability,
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpReceiveParameters,
)
from aiortc.rtcrtpreceiver import RemoteStreamTrack, RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender, random_sequence_number
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.rtp import (
    RTCP_PSFB,
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    HeaderExtensionsMap,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpSrPacket,
    RtpPacket,
    unpack_remb_fci,
)
from aiortc.utils import random32

from live_server.media.datagrams import DatagramSender
from live_server.media.fanout import ABS_SEND_TIME_PROBE, ExtensionBlock, RtpOut, ntp_now
from live_server.media.frames import EncodedFrame
from live_server.media.simulcast import Layers, SimulcastOffer, StreamPin

AIORTC_VERSION = "1.16.0"

log = logging.getLogger(__name__)

# (codec name, clock rate, RTP timestamp, encoded bytes) for each reassembled frame
FrameSink = Callable[[str, int, int, bytes], None]
# the same, with the simulcast layer first
LayerSink = Callable[[int, str, int, int, bytes], None]
# a viewer's RTCP about its video: (fraction lost, REMB bits per second), one of them None
Feedback = Callable[[float | None, int | None], None]


_PINS: weakref.WeakKeyDictionary[RTCRtpReceiver, StreamPin] = weakref.WeakKeyDictionary()
_SIMULCAST: weakref.WeakKeyDictionary[RTCRtpReceiver, Simulcast] = weakref.WeakKeyDictionary()


class UnsupportedAiortc(RuntimeError):
    """The installed aiortc is not the version whose internals this module was written for."""


def check_version() -> None:
    if aiortc.__version__ != AIORTC_VERSION:
        raise UnsupportedAiortc(
            f"aiortc {aiortc.__version__} is installed; the media relay hooks aiortc "
            f"{AIORTC_VERSION} internals (live_server/media/aiortc_hooks.py)")


class _EncodedTap:
    """Stands in for the receiver's decoder queue: ``put`` gets frames on the event loop and
    hands them on; the decoder thread's ``get`` blocks until the receiver stops."""

    def __init__(self, sink: FrameSink) -> None:
        self._sink = sink
        self._stop: queue.SimpleQueue[None] = queue.SimpleQueue()

    def put(self, item: tuple[Any, Any] | None) -> None:
        if item is None:
            self._stop.put(None)
            return
        codec, frame = item
        self._sink(codec.name, codec.clockRate, frame.timestamp, frame.data)

    def get(self) -> None:
        # the decoder thread ends when it reads None, having told the (unused) track to end
        return self._stop.get()


def tap_receiver(receiver: RTCRtpReceiver, sink: FrameSink) -> StreamPin:
    """Route ``receiver``'s reassembled encoded frames to ``sink`` instead of a decoder, from
    one incoming media stream only (the returned pin: a simulcast publisher's other layers are
    dropped, see ``media/simulcast.py``). Call before the connection starts (before
    ``setLocalDescription`` completes)."""
    if getattr(receiver, "_RTCRtpReceiver__decoder_thread", None) is not None:
        raise RuntimeError("the receiver has already started decoding")
    receiver._RTCRtpReceiver__decoder_queue = _EncodedTap(sink)  # type: ignore[attr-defined]
    pin = StreamPin()
    handle = receiver._handle_rtp_packet
    codecs: dict[int, RTCRtpCodecParameters] = receiver._RTCRtpReceiver__codecs  # type: ignore[attr-defined]

    async def one_stream(packet: RtpPacket, arrival_time_ms: int) -> None:
        codec = codecs.get(packet.payload_type)
        if pin.admit(packet.ssrc, codec is not None and is_rtx(codec)):
            await handle(packet, arrival_time_ms=arrival_time_ms)

    receiver._handle_rtp_packet = one_stream  # type: ignore[method-assign]
    _PINS[receiver] = pin
    return pin


def accept_rid_extensions(transceiver: RTCRtpTransceiver, offer: SimulcastOffer) -> None:
    """Negotiate the offer's RID header extensions on ``transceiver`` (with their offered
    ids). Call between ``setRemoteDescription`` and ``createAnswer``."""
    current: list[RTCRtpHeaderExtensionParameters] = transceiver._headerExtensions
    known = {ext.uri for ext in current}
    transceiver._headerExtensions = current + [
        RTCRtpHeaderExtensionParameters(id=ident, uri=uri)
        for ident, uri in offer.extensions if uri not in known]


class Simulcast:
    """The receivers of one simulcast video section: the transceiver's for layer 0, one more
    per other layer (created at the layer's first packet), and the demultiplexer in front of
    them (module docstring, "Receiving simulcast")."""

    def __init__(self, receiver: RTCRtpReceiver, offer: SimulcastOffer,
                 sink: LayerSink) -> None:
        self.layers = Layers(offer)
        self.first = receiver
        self.receivers: dict[int, RTCRtpReceiver] = {0: receiver}
        self._handlers: dict[int, Callable[..., Awaitable[None]]] = {
            0: receiver._handle_rtp_packet}
        self._sink = sink
        self._codecs: dict[int, RTCRtpCodecParameters] = receiver._RTCRtpReceiver__codecs  # type: ignore[attr-defined]
        self.first_rtcp: Callable[[AnyRtcpPacket], Awaitable[None]] | None = None
        self.closed = False

    async def demux(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        """The shadow of the first receiver's ``_handle_rtp_packet``: each packet to its
        layer's receiver."""
        codec = self._codecs.get(packet.payload_type)
        retransmission = codec is not None and is_rtx(codec)
        extensions = packet.extensions
        layer = self.layers.layer_of(packet.ssrc, extensions.rtp_stream_id,
                                     extensions.repaired_rtp_stream_id, retransmission)
        if layer is None or self.closed:
            return
        receiver = self.receivers.get(layer)
        if receiver is None:
            receiver = await self._start(layer)
        if retransmission:
            media = self.layers.media.get(layer)
            rtx: dict[int, int] = receiver._RTCRtpReceiver__rtx_ssrc  # type: ignore[attr-defined]
            if media is None:
                return  # nothing to repair yet
            rtx[packet.ssrc] = media
        await self._handlers[layer](packet, arrival_time_ms=arrival_time_ms)

    async def route_rtcp(self, packet: AnyRtcpPacket) -> None:
        """The shadow of the first receiver's ``_handle_rtcp_packet`` (the router sends it the
        sender reports and BYEs of every layer's SSRC): another layer's go to that layer's
        receiver, which then reports the round trip of its own stream, and a BYE for one layer
        no longer stops the first layer's frames."""
        sources = ([packet.ssrc] if isinstance(packet, RtcpSrPacket)
                   else packet.sources if isinstance(packet, RtcpByePacket) else [])
        for ssrc in sources:
            layer = self.layers.layer_of_stream(ssrc)
            receiver = self.receivers.get(layer) if layer else None
            if receiver is not None:
                await receiver._handle_rtcp_packet(packet)
                return
        if self.first_rtcp is not None:
            await self.first_rtcp(packet)

    async def _start(self, layer: int) -> RTCRtpReceiver:
        first: Any = self.first
        receiver = RTCRtpReceiver(first._RTCRtpReceiver__kind, first.transport)
        receiver._set_rtcp_ssrc(first._RTCRtpReceiver__rtcp_ssrc)
        extra: Any = receiver
        extra._RTCRtpReceiver__remote_bitrate_estimator = (
            first._RTCRtpReceiver__remote_bitrate_estimator)
        extra._track = RemoteStreamTrack(kind=first._RTCRtpReceiver__kind)
        tap = _EncodedTap(functools.partial(self._sink, layer))
        extra._RTCRtpReceiver__decoder_queue = tap
        self.receivers[layer] = receiver
        self._handlers[layer] = receiver._handle_rtp_packet
        await receiver.receive(RTCRtpReceiveParameters(codecs=list(self._codecs.values())))
        first.transport._rtp_router.unregister_receiver(receiver)
        # the decoder thread receive() started would only wait for the stop marker: end it
        # now (frames still reach the tap, as the receiver only checks the thread was set)
        tap.put(None)
        return receiver

    async def request_keyframe(self, layer: int) -> int:
        """A PLI for one layer's media stream (0 when it has not been heard yet)."""
        ssrc = self.layers.media.get(layer)
        if ssrc is None or self.closed:
            return 0
        await self.first._send_rtcp_pli(ssrc)
        return 1

    async def stop(self) -> None:
        """Stop the extra receivers (the connection stops the first)."""
        self.closed = True
        for layer, receiver in list(self.receivers.items()):
            if layer:
                await receiver.stop()


def receive_simulcast(receiver: RTCRtpReceiver, offer: SimulcastOffer,
                      sink: LayerSink) -> Simulcast:
    """Receive every layer of ``offer`` through ``receiver``'s section, each reassembled on
    its own and handed to ``sink`` with its layer number (never decoded). Call before the
    connection starts, as ``tap_receiver``."""
    if getattr(receiver, "_RTCRtpReceiver__decoder_thread", None) is not None:
        raise RuntimeError("the receiver has already started decoding")
    state = Simulcast(receiver, offer, sink)
    receiver._RTCRtpReceiver__decoder_queue = _EncodedTap(functools.partial(sink, 0))  # type: ignore[attr-defined]
    receiver._handle_rtp_packet = state.demux  # type: ignore[method-assign]
    state.first_rtcp = receiver._handle_rtcp_packet
    receiver._handle_rtcp_packet = state.route_rtcp  # type: ignore[method-assign]
    _SIMULCAST[receiver] = state
    return state


def simulcast_state(receiver: RTCRtpReceiver) -> Simulcast | None:
    """What ``receive_simulcast`` put on ``receiver`` (None if it was not)."""
    return _SIMULCAST.get(receiver)


def stream_pin(receiver: RTCRtpReceiver) -> StreamPin | None:
    """The pin ``tap_receiver`` put on ``receiver`` (None if it was not tapped)."""
    return _PINS.get(receiver)


def is_tapped(receiver: RTCRtpReceiver) -> bool:
    return isinstance(getattr(receiver, "_RTCRtpReceiver__decoder_queue", None), _EncodedTap)


async def send_pli(receiver: RTCRtpReceiver) -> int:
    """Ask the publisher for a keyframe (RTCP PLI) on every stream the receiver hears; the
    number of requests sent."""
    sent = 0
    for source in receiver.getSynchronizationSources():
        await receiver._send_rtcp_pli(source.source)
        sent += 1
    return sent


class Packetizer:
    """What a viewer's sender uses instead of an encoder: RTP payloads for one already encoded
    frame, computed by the first sender that packs the frame and shared by all (they depend on
    nothing per viewer: VP8's picture id is the frame's number in the relay, so a viewer sees
    consecutive ids except where it skipped to a keyframe). ``EncodedFrame.timestamp`` is
    already on the RTP clock, so it goes out unchanged (the sender adds its own origin)."""

    def __init__(self, codec: str) -> None:
        self.codec = codec.lower()

    def pack(self, frame: EncodedFrame) -> tuple[list[bytes], int]:
        cached = frame.payloads
        if cached is None:
            if self.codec == "vp8":
                cached = Vp8Encoder._packetize(frame.data, frame.number % (1 << 15))
            elif self.codec == "h264":
                cached = H264Encoder._packetize(H264Encoder._split_bitstream(frame.data))
            else:
                cached = [frame.data]
            object.__setattr__(frame, "payloads", cached)  # frozen: a cache field
        return cached, frame.timestamp


def passthrough_sender(sender: RTCRtpSender, codec: str,
                       on_keyframe_request: Callable[[], None],
                       on_feedback: Feedback | None = None,
                       wants_feedback: Callable[[], bool] = lambda: True) -> None:
    """Make ``sender`` forward the relay's encoded frames (never encode: the room's shared
    payloads, this viewer's headers, see ``Forwarding``), answer NACKs from its own history,
    report viewers' keyframe requests (PLI/FIR) to ``on_keyframe_request`` and, while
    ``wants_feedback()`` (a simulcast room: nothing to choose otherwise, and a viewer's RTCP
    is a large share of the server's work), their loss reports and REMBs to ``on_feedback``.
    Call before the sender starts."""
    sender._RTCRtpSender__encoder = Packetizer(codec)  # type: ignore[attr-defined]
    sender._send_keyframe = on_keyframe_request  # type: ignore[method-assign]
    state = Forwarding(sender)
    state.on_feedback, state.wants_feedback = on_feedback, wants_feedback
    sender._run_rtp = state.run  # type: ignore[method-assign]
    sender._retransmit = state.retransmit  # type: ignore[method-assign]
    if on_feedback is not None:
        handle = sender._handle_rtcp_packet

        async def with_feedback(packet: AnyRtcpPacket) -> None:
            await handle(packet)
            if not wants_feedback():
                return
            if isinstance(packet, RtcpRrPacket | RtcpSrPacket):
                for report in packet.reports:
                    if report.ssrc == sender._ssrc:
                        on_feedback(report.fraction_lost / 256, None)
            elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                try:
                    bitrate, ssrcs = unpack_remb_fci(packet.fci)
                except ValueError:
                    return
                if sender._ssrc in ssrcs:
                    state.remb(bitrate)

        sender._handle_rtcp_packet = with_feedback  # type: ignore[method-assign]


def forwarding_state(sender: RTCRtpSender) -> Forwarding | None:
    """The forwarding loop ``passthrough_sender`` gave ``sender`` (None if it has none)."""
    owner = getattr(getattr(sender, "_run_rtp", None), "__self__", None)
    return owner if isinstance(owner, Forwarding) else None


class Forwarding:
    """``RTCRtpSender._run_rtp`` and ``_retransmit`` for one passthrough sender: the same
    track, encoder and lifecycle as aiortc's loop; a frame's packets are written and sent in
    one synchronous call, and after the first frame the relay calls it directly (no task wake
    per viewer per frame; see the module docstring, "Sending", and ``relay.ViewerTrack``)."""

    def __init__(self, sender: RTCRtpSender) -> None:
        self.sender = sender
        self.out: RtpOut | None = None
        self.datagrams: DatagramSender | None = None
        self._extension: ExtensionBlock | None = None
        self.direct_frames = 0  # frames sent straight from the relay's push
        self._layer: int | None = None  # the simulcast layer of the last frame sent
        self.on_feedback: Feedback | None = None
        self.wants_feedback: Callable[[], bool] = lambda: False
        self.resent = 0  # packets sent again for the viewer's NACKs
        self.rtcp: ViewerRtcp | None = None  # the connection's short RTCP path

    async def run(self, codec: RTCRtpCodecParameters) -> None:
        s: Any = self.sender
        s._RTCRtpSender__rtp_started.set()
        self.rtcp = ViewerRtcp.install(s.transport)
        self.out = RtpOut(
            ssrc=s._ssrc, payload_type=codec.payloadType or 0,  # set once negotiated
            sequence=random_sequence_number(), timestamp_origin=random32(),
            rtx_ssrc=s._rtx_ssrc, rtx_payload_type=s._RTCRtpSender__rtx_payload_type,
            rtx_sequence=s._RTCRtpSender__rtx_sequence_number)
        sample = RtpPacket()
        sample.extensions.abs_send_time = int.from_bytes(ABS_SEND_TIME_PROBE, "big")
        sample.extensions.mid = s._RTCRtpSender__mid
        extensions_map: HeaderExtensionsMap = s._RTCRtpSender__rtp_header_extensions_map
        self._extension = ExtensionBlock(sample.serialize(extensions_map)[12:])
        try:
            while True:
                track = s.track
                if track is None:
                    await asyncio.sleep(0.02)
                    continue
                data = await track.recv()
                self._send_frame(data)
                if getattr(track, "direct", False) is None:
                    # the first frame went through the track's queue (which attached it to
                    # the relay); later ones come straight from the relay when it is empty
                    track.direct = self._direct
        except (asyncio.CancelledError, ConnectionError, MediaStreamError):
            pass
        except Exception:  # as aiortc's loop: stop() must not hang on an unexpected error
            log.warning("RTP forwarding of a viewer's %s track failed", s.kind, exc_info=True)
        if getattr(s.track, "direct", None) is not None:
            s.track.direct = None
        if s.track is not None:
            s.track.stop()
            s._RTCRtpSender__track = None
        s._RTCRtpSender__encoder = None
        if self.datagrams is not None:
            self.datagrams.close()
            self.datagrams = None
        s._RTCRtpSender__rtp_exited.set()

    def _send_frame(self, data: Any) -> None:
        """One frame from the track: this viewer's packets, protected and sent; the counters
        aiortc's RTCP sender reports."""
        s: Any = self.sender
        if not s._enabled:
            return
        payloads, timestamp = s._RTCRtpSender__encoder.pack(data)
        if not payloads or self.out is None or self._extension is None:
            return
        layer = getattr(data, "layer", 0)
        if layer != self._layer:
            if self._layer is not None:  # switched layers: time must still move forward
                self.out.advance_past(timestamp, max(1, data.clock_rate // 100))
            self._layer = layer
        ntp = ntp_now()
        self._send_srtp(self.out.frame(payloads, timestamp, self._extension.at(ntp)))
        s._RTCRtpSender__ntp_timestamp = ntp
        s._RTCRtpSender__rtp_timestamp = self.out.last_timestamp
        s._RTCRtpSender__octet_count += sum(map(len, payloads))
        s._RTCRtpSender__packet_count += len(payloads)

    def _direct(self, data: Any) -> None:
        """A frame handed over by the relay's ``push``; a failure ends this viewer's track
        (and so the loop in ``run``) instead of reaching the relay and the other viewers."""
        track: Any = self.sender.track
        try:
            self._send_frame(data)
            self.direct_frames += 1
        except Exception as exc:
            if not isinstance(exc, ConnectionError):
                log.warning("RTP forwarding of a viewer's %s track failed",
                            self.sender.kind, exc_info=True)
            if track is not None:
                track.direct = None
                track.end()

    async def retransmit(self, sequence_number: int) -> None:
        packet = self.out.retransmission(sequence_number) if self.out is not None else None
        if packet is not None:
            await self.sender.transport._send_rtp(packet)
            self.resent += 1

    def resend(self, sequences: list[int]) -> None:
        """A NACK from ``ViewerRtcp``: the packets still in the history sent again at once,
        batched as a frame's (aiortc awaits one ``_retransmit`` per sequence number)."""
        if self.out is None:
            return
        found = [self.out.retransmission(sequence) for sequence in sequences]
        packets = [packet for packet in found if packet is not None]
        if packets:
            self._send_srtp(packets)
            self.resent += len(packets)

    def takes_remb(self) -> bool:
        """Whether a REMB means anything here: only in a room with layers (nothing to choose
        otherwise), so a single-stream room's ~15 REMBs a second per viewer are read and
        dropped without queuing a call."""
        return self.on_feedback is not None and self.wants_feedback()

    def remb(self, bitrate: int) -> None:
        """The viewer's estimate of what its network carries, for the layer chooser."""
        if self.on_feedback is not None and self.wants_feedback():
            self.on_feedback(None, bitrate)

    def _send_srtp(self, packets: list[bytes]) -> None:
        """Protect ``packets`` and send them, as ``RTCDtlsTransport._send_rtp`` and aioice's
        ``Connection.sendto`` would one by one (raising ConnectionError as they do when the
        connection is not up), without a coroutine per packet and batched by
        ``datagrams.DatagramSender``."""
        dtls: Any = self.sender.transport
        if dtls._state != DtlsState.CONNECTED:
            raise ConnectionError("Cannot send encrypted RTP, not connected")
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None:
            raise ConnectionError("Cannot send data, not connected")
        transport = pair.protocol.transport
        batch = self.datagrams
        if batch is None or batch.transport is not transport:
            if batch is not None:
                batch.close()
            batch = self.datagrams = DatagramSender(transport)
        protect = dtls._tx_srtp.protect
        protected = [protect(packet) for packet in packets]
        batch.send(protected, pair.remote_addr)
        dtls._RTCDtlsTransport__tx_bytes += sum(map(len, protected))
        dtls._RTCDtlsTransport__tx_packets += len(protected)



class ViewerRtcp:
    """The short path for the feedback a viewer's connection sends: its RTCP REMBs (an aiortc
    viewer sends one on most estimate updates, ~15 a second), NACKs, PLIs and FIRs, handled
    where aioice hands the datagram over (``Connection.data_received``) instead of through
    aioice's queue, a wake of the DTLS transport's task, four awaited coroutines, an object
    per RTCP packet, ``RtpRouter.route_rtcp``'s set and the sender's ``_handle_rtcp_packet``
    (together about a fifth of the server's work per viewer: loadtest/RESULTS.md "webrtc
    density"). What each does is what aiortc's handlers do for a forwarding sender: a REMB
    reaches the layer chooser (only in rooms with layers; aiortc only logs it, as a
    ``Packetizer`` has no ``target_bitrate``), a PLI or FIR ``_send_keyframe``, a NACK the
    packets from the history, sent in one batch. The transport's received counters are kept.

    Only SRTCP datagrams whose first packet (its header is not encrypted) is payload-specific
    or transport feedback come this way; anything else (DTLS, receiver and sender reports,
    BYEs: about one a second) stays on aiortc's path. When a decrypted datagram holds any other
    packet, padding, a malformed length or a sender that does not forward, the whole of it goes
    to aiortc's ``_handle_rtcp_data``, which then decides exactly as before."""

    def __init__(self, dtls: Any) -> None:
        self.dtls = dtls
        self.queued: Callable[[bytes, int], None] = dtls.transport._connection.data_received
        self.handled = 0  # datagrams handled here
        self.passed_on = 0  # decrypted datagrams handed to aiortc's handler
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def install(cls, dtls: Any) -> ViewerRtcp:
        """The short path on ``dtls``'s ICE connection (once per connection: every sender of
        a BUNDLE shares it)."""
        connection = dtls.transport._connection
        current = getattr(connection.data_received, "__self__", None)
        if isinstance(current, ViewerRtcp):
            return current
        path = cls(dtls)
        connection.data_received = path.data_received
        return path

    def data_received(self, data: bytes, component: int) -> None:
        dtls = self.dtls
        srtp = dtls._rx_srtp
        if (len(data) < 8 or not 127 < data[0] < 192 or data[1] not in _FEEDBACK
                or srtp is None or dtls._state != DtlsState.CONNECTED):
            self.queued(data, component)
            return
        dtls._RTCDtlsTransport__rx_bytes += len(data)
        dtls._RTCDtlsTransport__rx_packets += 1
        try:
            plain = srtp.unprotect_rtcp(data)
        except pylibsrtp.Error:
            return  # as aiortc: dropped (it logs at DEBUG)
        try:
            actions = self._actions(plain)
            if actions is None:
                self._pass_on(plain)
                return
            self.handled += 1
            for act in actions:
                act()
        except ConnectionError:
            pass  # a NACK answered while the connection closes, as aiortc's send raises
        except Exception:  # aioice's datagram_received must not raise into the event loop
            log.warning("a viewer's RTCP feedback could not be handled", exc_info=True)

    def _actions(self, plain: bytes) -> list[Callable[[], None]] | None:
        """What to do for each packet of ``plain``; None when aiortc should decide."""
        senders: dict[int, RTCRtpSender] = self.dtls._rtp_router.senders
        actions: list[Callable[[], None]] = []
        pos, size = 0, len(plain)
        while pos < size:
            if size < pos + 4:
                return None
            first, kind = plain[pos], plain[pos + 1]
            start = pos + 4
            pos = start + ((plain[pos + 2] << 8) | plain[pos + 3]) * 4
            fmt = first & 0x1F
            if first >> 6 != 2 or first & 0x20 or pos > size or pos - start < 8:
                return None  # a version, padding or length aiortc's parser judges
            media = int.from_bytes(plain[start + 4:start + 8], "big")
            if kind == RTCP_PSFB and fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                sender = senders.get(media)
                if sender is not None:
                    if forwarding_state(sender) is None:
                        return None
                    actions.append(sender._send_keyframe)
            elif kind == RTCP_PSFB and fmt == RTCP_PSFB_APP:
                try:
                    bitrate, ssrcs = unpack_remb_fci(plain[start + 8:pos])
                except ValueError:
                    continue  # aiortc's router and sender both ignore it
                for ssrc in dict.fromkeys([media, *ssrcs]):
                    sender = senders.get(ssrc)
                    if sender is None:
                        continue
                    state = forwarding_state(sender)
                    if state is None:
                        return None
                    if sender._ssrc in ssrcs and state.takes_remb():
                        actions.append(functools.partial(state.remb, bitrate))
            elif kind == RTCP_RTPFB and fmt == RTCP_RTPFB_NACK and (pos - start) % 4 == 0:
                sender = senders.get(media)
                if sender is not None:
                    state = forwarding_state(sender)
                    if state is None:
                        return None
                    actions.append(functools.partial(state.resend, _nacked(plain, start + 8, pos)))
            else:
                return None
        return actions

    def _pass_on(self, plain: bytes) -> None:
        self.passed_on += 1
        task = asyncio.ensure_future(self.dtls._handle_rtcp_data(plain))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


_FEEDBACK = frozenset((RTCP_RTPFB, RTCP_PSFB))


def _nacked(plain: bytes, start: int, end: int) -> list[int]:
    """The sequence numbers a generic NACK's FCI entries (PID, bitmask of the 16 following)
    name, in aiortc's order."""
    lost: list[int] = []
    for pos in range(start, end, 4):
        pid = (plain[pos] << 8) | plain[pos + 1]
        mask = (plain[pos + 2] << 8) | plain[pos + 3]
        lost.append(pid)
        lost.extend((pid + d + 1) & 0xFFFF for d in range(16) if (mask >> d) & 1)
    return lost


def is_passthrough(sender: RTCRtpSender) -> bool:
    return isinstance(getattr(sender, "_RTCRtpSender__encoder", None), Packetizer)


#: (use_ipv4, use_ipv6) -> the local addresses to bind host candidates on
AddressChooser = Callable[[bool, bool], list[str]]

_AIOICE_HOST_ADDRESSES: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses
_chooser: contextvars.ContextVar[AddressChooser | None] = contextvars.ContextVar(
    "ice_host_addresses", default=None)


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    choose = _chooser.get()
    if choose is None:
        return _AIOICE_HOST_ADDRESSES(use_ipv4, use_ipv6)
    return choose(use_ipv4, use_ipv6)


@contextlib.contextmanager
def host_candidates(choose: AddressChooser | None) -> Iterator[None]:
    """Within the block, ICE gathering binds host candidates on ``choose``'s addresses instead
    of every non-loopback address of the host (``None``: aioice's own choice). Wrap the
    ``setLocalDescription`` call, where aiortc gathers."""
    aioice.ice.get_host_addresses = _host_addresses
    token = _chooser.set(choose)
    try:
        yield
    finally:
        _chooser.reset(token)


def common_codecs(kind: str, remote: list[RTCRtpCodecParameters]) -> list[RTCRtpCodecParameters]:
    """The offer's codecs aiortc can handle, as aiortc would negotiate them (local parameters,
    remote payload types), in the offer's order."""
    return list(find_common_codecs(CODECS[kind], remote))


def capability(codec: RTCRtpCodecParameters) -> RTCRtpCodecCapability:
    """The public capability object matching a negotiated codec, for setCodecPreferences."""
    return RTCRtpCodecCapability(mimeType=codec.mimeType, clockRate=codec.clockRate,
                                 channels=codec.channels, parameters=dict(codec.parameters))


def transport_states(pc: Any) -> tuple[str, str, str | None]:
    """(ICE state, DTLS state, the selected candidate pair or None) of a peer connection, for
    the log line of a failed session. The pair is aioice's nominated pair
    (``Connection._nominated``): neither aiortc nor aioice has a public getter for it."""
    dtls_state, pair = "new", None
    for transceiver in pc.getTransceivers():
        dtls = transceiver.receiver.transport
        if dtls is None:
            continue
        dtls_state = str(dtls.state)
        nominated = getattr(getattr(dtls.transport, "_connection", None), "_nominated", {})
        chosen = nominated.get(1) if isinstance(nominated, dict) else None
        if chosen is not None:
            local, remote = chosen.local_candidate, chosen.remote_candidate
            pair = (f"{local.host}:{local.port} {local.type} -> "
                    f"{remote.host}:{remote.port} {remote.type}")
        break  # BUNDLE: the first transport carries every section
    return str(pc.iceConnectionState), dtls_state, pair
