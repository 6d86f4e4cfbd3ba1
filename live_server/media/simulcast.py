"""Simulcast offers: what a publisher offers, and keeping one layer when it sends several.

A simulcast publisher (a browser with ``sendEncodings``, OBS with several encodings) sends one
RTP stream (SSRC) per layer inside one video section. aiortc 1.16 has one jitter buffer per
receiver and routes every unknown SSRC whose payload type matches to that receiver
(``RtpRouter.route_rtp``): it neither reads ``a=rid``/``a=simulcast`` nor negotiates the RID
header extension, so two layers would be reassembled into one stream of broken frames.

So the server accepts a simulcast offer and relays exactly one layer:

* the answer carries no ``a=simulcast`` (aiortc writes none), which tells a RID-based publisher
  (RFC 8853 section 5.3) to send a single stream;
* a publisher that sends several streams anyway (SSRC-signalled simulcast, ``a=ssrc-group:SIM``,
  or an encoder that ignores the answer) is pinned to the first media stream heard; the other
  layers' packets are dropped before the jitter buffer, and keyframe requests reach only the
  pinned layer.
"""

from __future__ import annotations

import dataclasses


def offered_layers(offer: str) -> list[str]:
    """The layers a WHIP offer's video section says it sends: the RIDs of its
    ``a=simulcast:send`` (alternatives ``a,b`` and paused ``~`` ones included), else one entry
    per SSRC of an ``a=ssrc-group:SIM``; empty for an offer without simulcast."""
    layers: list[str] = []
    video = False
    for line in offer.splitlines():
        if line.startswith("m="):
            video = line.startswith("m=video")
        elif not video:
            continue
        elif line.startswith("a=simulcast:"):
            words = line[len("a=simulcast:"):].split()
            for direction, streams in zip(words[::2], words[1::2], strict=False):
                if direction == "send":
                    layers += [rid.lstrip("~") for alt in streams.split(";")
                               for rid in alt.split(",") if rid.lstrip("~")]
        elif line.startswith("a=ssrc-group:SIM ") and not layers:
            layers = line.split()[1:]
    return layers


@dataclasses.dataclass(slots=True)
class StreamPin:
    """Which of a receiver's incoming media streams is relayed: the first one heard. RTX
    (retransmission) streams are left to aiortc, which maps them to their media stream or drops
    them."""

    ssrc: int | None = None
    dropped_packets: int = 0
    other_streams: set[int] = dataclasses.field(default_factory=set)

    def admit(self, ssrc: int, retransmission: bool) -> bool:
        """Whether a packet of stream ``ssrc`` goes on to the jitter buffer."""
        if retransmission:
            return True
        if self.ssrc is None:
            self.ssrc = ssrc
        if ssrc == self.ssrc:
            return True
        self.other_streams.add(ssrc)
        self.dropped_packets += 1
        return False
