"""One viewer's outgoing RTP stream, written from payloads the room packetized once.

Why: forwarding is the server's main video cost, and aiortc's sender builds every packet as an
``RtpPacket`` object, serializes its header extensions, and awaits four coroutines per packet
to reach the socket. An SFU forwards differently: a frame's payloads are made once per room
(``aiortc_hooks.Packetizer``), and each viewer only gets its own fixed header (SSRC, sequence
number, timestamp origin, payload type, marker) in front of them. This module is that header
writing and the viewer's retransmission memory; no aiortc and no I/O (``aiortc_hooks`` wires
it into the sender and sends the packets).

Rules kept from aiortc's sender: sequence numbers are consecutive modulo 2**16 from a random
start; the timestamp is the frame's (already on the RTP clock) plus a random origin, modulo
2**32; the marker bit is set on a frame's last packet; the last ``HISTORY_SIZE`` packets can
be sent again for a NACK, wrapped as RTX (RFC 4588: the original sequence number in front of
the payload, on the RTX payload type, SSRC and sequence) when RTX was negotiated.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence

HISTORY_SIZE = 128  # as aiortc's RTP_HISTORY_SIZE: about 1 s of 720p at 1 Mbps

_FIXED = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence, timestamp, SSRC
_SEQUENCE = struct.Struct("!H")
_VERSION = 0x80
_EXTENSION_BIT = 0x10
_MARKER = 0x80


_NTP_EPOCH = 2208988800  # seconds from 1900 (NTP) to 1970 (Unix)
ABS_SEND_TIME_PROBE = b"\xa5\xc3\xe1"  # an abs-send-time value no other element starts with


def ntp_now() -> int:
    """The wall clock as a 64-bit NTP timestamp (what aiortc's ``clock.current_ntp_time``
    returns), from integer nanoseconds instead of a datetime."""
    seconds, ns = divmod(time.time_ns(), 1_000_000_000)
    return ((seconds + _NTP_EPOCH) << 32) | ((ns << 32) // 1_000_000_000)


class ExtensionBlock:
    """A viewer's header-extension block, serialized once: only abs-send-time changes from
    frame to frame (MID and the element ids are fixed for the sender), so its three bytes are
    spliced into the block made with ``ABS_SEND_TIME_PROBE`` as the value."""

    __slots__ = ("_head", "_tail")

    def __init__(self, sample: bytes) -> None:
        at = sample.find(ABS_SEND_TIME_PROBE)
        self._head = sample if at < 0 else sample[:at]
        self._tail: bytes | None = None if at < 0 else sample[at + 3:]

    def at(self, ntp: int) -> bytes:
        """The block for a packet sent at ``ntp`` (abs-send-time: 6.18 fixed-point seconds)."""
        if self._tail is None:  # abs-send-time not negotiated
            return self._head
        return self._head + ((ntp >> 14) & 0xFFFFFF).to_bytes(3, "big") + self._tail


class RtpOut:
    """The RTP stream one viewer's sender writes for one track.

    ``frame`` turns a frame's shared payloads into this viewer's packets (plain RTP, before
    SRTP); ``retransmission`` answers a NACK for one of them."""

    __slots__ = (
        "_history",
        "last_timestamp",
        "payload_type",
        "rtx_payload_type",
        "rtx_sequence",
        "rtx_ssrc",
        "sequence",
        "ssrc",
        "timestamp_origin",
    )

    def __init__(self, *, ssrc: int, payload_type: int, sequence: int, timestamp_origin: int,
                 rtx_ssrc: int = 0, rtx_payload_type: int | None = None,
                 rtx_sequence: int = 0) -> None:
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.sequence = sequence & 0xFFFF  # the next packet's
        self.timestamp_origin = timestamp_origin & 0xFFFFFFFF
        self.rtx_ssrc = rtx_ssrc
        self.rtx_payload_type = rtx_payload_type
        self.rtx_sequence = rtx_sequence & 0xFFFF
        self.last_timestamp = self.timestamp_origin
        self._history: list[tuple[bytes, bytes] | None] = [None] * HISTORY_SIZE

    def frame(self, payloads: Sequence[bytes], timestamp: int,
              extension: bytes = b"") -> list[bytes]:
        """This viewer's RTP packets for one frame. ``timestamp`` is the frame's on the RTP
        clock; ``extension`` the serialized header-extension block (profile, length, elements)
        every packet of the frame carries, or empty."""
        ts = (self.timestamp_origin + timestamp) & 0xFFFFFFFF
        self.last_timestamp = ts
        first = _VERSION | _EXTENSION_BIT if extension else _VERSION
        pt, ssrc, seq = self.payload_type, self.ssrc, self.sequence
        history = self._history
        last = len(payloads) - 1
        pack = _FIXED.pack
        packets: list[bytes] = []
        for i, payload in enumerate(payloads):
            header = pack(first, pt | _MARKER if i == last else pt, seq, ts, ssrc) + extension
            # the payload is the room's, shared: a viewer's history holds only its headers
            history[seq % HISTORY_SIZE] = (header, payload)
            packets.append(header + payload)
            seq = (seq + 1) & 0xFFFF
        self.sequence = seq
        return packets

    def advance_past(self, timestamp: int, gap: int) -> None:
        """The next frame (``timestamp`` on its stream's clock) comes from another stream of
        the same picture (a simulcast layer switch): if it would not come after the last frame
        sent, shift this viewer's timestamps so it comes ``gap`` ticks after it. Receivers
        take a repeated or earlier timestamp for the same or a late frame."""
        ts = (self.timestamp_origin + timestamp) & 0xFFFFFFFF
        if not 0 < (ts - self.last_timestamp) & 0xFFFFFFFF < 0x80000000:
            self.timestamp_origin = (self.last_timestamp + gap - timestamp) & 0xFFFFFFFF

    def retransmission(self, sequence: int) -> bytes | None:
        """The packet to send again for a NACK of ``sequence``: as first sent, or wrapped as
        RTX when RTX was negotiated; None once it left the history (or was never sent)."""
        sent = self._history[sequence % HISTORY_SIZE]
        if sent is None or _SEQUENCE.unpack_from(sent[0], 2)[0] != sequence:
            return None
        header, payload = sent
        if self.rtx_payload_type is None:
            return header + payload
        rtx = (bytes((header[0], (header[1] & _MARKER) | self.rtx_payload_type))
               + _SEQUENCE.pack(self.rtx_sequence) + header[4:8]
               + self.rtx_ssrc.to_bytes(4, "big") + header[12:]
               + header[2:4] + payload)
        self.rtx_sequence = (self.rtx_sequence + 1) & 0xFFFF
        return rtx
