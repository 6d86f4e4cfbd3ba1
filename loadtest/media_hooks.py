"""The generator's own hooks into aiortc internals (aiortc is pinned: ``AIORTC_VERSION``).

Why hooks at all: aiortc's public API decodes every received frame and encodes every sent one.
A load generator that decoded 150 streams of 720p, or encoded one live, would measure itself
instead of the server. The encoded media already exists at two points inside aiortc 1.16.0:

Viewers (``RTCRtpReceiver``)
    ``RTCRtpReceiver._handle_rtp_packet`` depayloads RTP, reassembles complete frames in its
    jitter buffer and hands ``(codec, JitterFrame)`` to ``self.__decoder_queue.put(...)``; the
    thread started by ``receive()`` runs ``decoder_worker`` and takes items with
    ``input_q.get()`` until it reads ``None``. ``tap_receiver`` replaces that queue (the
    name-mangled attribute ``_RTCRtpReceiver__decoder_queue``) before ``receive()`` runs, so
    each complete frame is *counted* (``JitterFrame.data`` is the depayloaded frame: Annex-B
    H.264 with 4-byte start codes, or a VP8 frame) and the thread only ever gets the stop
    marker: no decoder is ever created. NACKs, RTCP reports and PLIs still work as usual.

The publisher (``RTCRtpSender``)
    ``RTCRtpSender._next_encoded_frame`` calls ``self.__encoder.pack(packet)`` for anything the
    track returns that is not an ``av.Frame``: an ``av.Packet`` is packetized as it is
    (``H264Encoder.pack`` / ``Vp8Encoder.pack``; their constructors open no codec context).
    Keyframe requests (PLI/FIR from the server) call ``self._send_keyframe()``, which would
    only flag the (unused) encoder; ``on_keyframe_request`` sets an instance attribute of that
    name so the looping track can jump to its next keyframe instead.

Gathering (aioice)
    ``aioice.ice.Connection.gather_candidates`` binds a host candidate on every address the
    module function ``get_host_addresses(use_ipv4, use_ipv6)`` returns: every address of the
    machine but loopback. ``gather_on`` replaces that function with one that returns the
    addresses chosen for the current context, so a run against a server on 127.0.0.1 keeps its
    media on loopback (aiortc gathers in ``setLocalDescription``, in tasks that copy the
    caller's context).

The load test must never import ``live_server``; this module is the generator's minimal
counterpart of the server's hooks. ``check_version`` refuses any other aiortc version, and
``check_internals`` verifies the names used here (the smoke test calls it).
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import ipaddress
import queue
import time
from collections.abc import Callable, Iterator
from typing import Any

import aioice.ice
import aiortc
from aioice.ice import Connection
from aiortc.rtcpeerconnection import RTCPeerConnection
from aiortc.rtcrtpreceiver import RTCRtpReceiver, decoder_worker
from aiortc.rtcrtpsender import RTCRtpSender

AIORTC_VERSION = "1.16.0"

#: (codec name, frame bytes, keyframe, monotonic arrival time) for every complete frame
FrameCallback = Callable[[str, bytes, bool, float], None]


class UnsupportedAiortc(RuntimeError):
    """The installed aiortc is not the version whose internals this module was written for."""


def check_version() -> None:
    """Refuse to run against another aiortc: the hooked internals may have moved."""
    if aiortc.__version__ != AIORTC_VERSION:
        raise UnsupportedAiortc(
            f"aiortc {aiortc.__version__} is installed; loadtest/media_hooks.py hooks aiortc "
            f"{AIORTC_VERSION} internals")


def check_internals() -> list[str]:
    """What no longer matches in the installed aiortc (empty when every hooked name is there)."""
    problems: list[str] = []
    init = inspect.getsource(RTCRtpReceiver.__init__)
    if "self.__decoder_queue" not in init:
        problems.append("RTCRtpReceiver.__init__ no longer creates __decoder_queue")
    handle = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    if "self.__decoder_queue.put((codec, encoded_frame))" not in handle:
        problems.append("RTCRtpReceiver._handle_rtp_packet no longer puts (codec, frame)")
    if "input_q.get()" not in inspect.getsource(decoder_worker):
        problems.append("decoder_worker no longer reads its input with get()")
    receive = inspect.getsource(RTCRtpReceiver.receive)
    if "self.__decoder_queue" not in receive:
        problems.append("RTCRtpReceiver.receive no longer hands __decoder_queue to the thread")
    nxt = inspect.getsource(RTCRtpSender._next_encoded_frame)
    if "self.__encoder.pack(data)" not in nxt:
        problems.append("RTCRtpSender._next_encoded_frame no longer packs non-Frame data")
    if "self._send_keyframe()" not in inspect.getsource(RTCRtpSender._handle_rtcp_packet):
        problems.append("RTCRtpSender._handle_rtcp_packet no longer calls _send_keyframe()")
    if "addresses = get_host_addresses(" not in inspect.getsource(Connection.gather_candidates):
        problems.append("aioice's Connection.gather_candidates no longer asks get_host_addresses")
    if "await self.__gather()" not in inspect.getsource(RTCPeerConnection.setLocalDescription):
        problems.append("RTCPeerConnection.setLocalDescription no longer gathers itself")
    return problems


_AIOICE_HOST_ADDRESSES: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses
_chosen: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "loadtest_ice_addresses", default=None)


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    chosen = _chosen.get()
    if chosen is None:
        return _AIOICE_HOST_ADDRESSES(use_ipv4, use_ipv6)
    return [a for a in chosen if (use_ipv6 if ":" in a else use_ipv4)]


@contextlib.contextmanager
def gather_on(addresses: tuple[str, ...] | None) -> Iterator[None]:
    """Within the block, host candidates are bound on ``addresses`` only (``None``: every
    address but loopback, aioice's choice). Wrap ``setLocalDescription``."""
    aioice.ice.get_host_addresses = _host_addresses
    token = _chosen.set(addresses)
    try:
        yield
    finally:
        _chosen.reset(token)


def addresses_for(host: str) -> tuple[str, ...] | None:
    """Where a peer of a server at ``host`` (a name or an address) gathers: 127.0.0.1 when the
    server is on this machine's loopback (the media stays there too), else wherever aioice
    would."""
    if host == "localhost":
        return ("127.0.0.1",)
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_loopback:
            return ("127.0.0.1",)
    return None


def is_keyframe(codec: str, data: bytes) -> bool:
    """Whether a depayloaded frame is a keyframe: an H.264 access unit holding an IDR slice
    (NAL type 5), or a VP8 frame whose first byte's lowest bit (the inverse key-frame flag)
    is 0."""
    name = codec.upper()
    if name == "VP8":
        return bool(data) and (data[0] & 0x01) == 0
    if name == "H264":
        pos = data.find(b"\x00\x00\x01")
        while pos != -1 and pos + 3 < len(data):
            if data[pos + 3] & 0x1F == 5:
                return True
            pos = data.find(b"\x00\x00\x01", pos + 3)
        return False
    return False


class CountingTap:
    """Stands in for a receiver's decoder queue: ``put`` runs on the event loop for every
    complete frame and reports it; the decoder thread's ``get`` blocks until the receiver
    stops, then returns the stop marker."""

    def __init__(self, on_frame: FrameCallback) -> None:
        self._on_frame = on_frame
        self._stop: queue.SimpleQueue[None] = queue.SimpleQueue()

    def put(self, item: tuple[Any, Any] | None) -> None:
        if item is None:
            self._stop.put(None)
            return
        codec, frame = item
        data: bytes = frame.data
        self._on_frame(codec.name, data, is_keyframe(codec.name, data), time.monotonic())

    def get(self) -> None:
        return self._stop.get()


def tap_receiver(receiver: Any, on_frame: FrameCallback) -> None:
    """Count ``receiver``'s complete frames with ``on_frame`` instead of decoding them. Call
    right after ``addTransceiver``, before the remote description starts the receiver."""
    if getattr(receiver, "_RTCRtpReceiver__decoder_thread", None) is not None:
        raise RuntimeError("the receiver has already started its decoder thread")
    receiver._RTCRtpReceiver__decoder_queue = CountingTap(on_frame)


def on_keyframe_request(sender: Any, callback: Callable[[], None]) -> None:
    """Call ``callback`` when the remote side asks ``sender`` for a keyframe (PLI or FIR)."""
    sender._send_keyframe = callback


__all__ = [
    "AIORTC_VERSION",
    "CountingTap",
    "UnsupportedAiortc",
    "addresses_for",
    "check_internals",
    "check_version",
    "gather_on",
    "is_keyframe",
    "on_keyframe_request",
    "tap_receiver",
]
