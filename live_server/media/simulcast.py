"""Simulcast offers: what a publisher offers, what the answer accepts, and which layer each
incoming RTP stream belongs to. Text and numbers only, no aiortc and no I/O
(``aiortc_hooks.receive_simulcast`` wires this into the receivers).

A simulcast publisher (a browser with ``sendEncodings``, OBS with several encodings) sends one
RTP stream (SSRC) per layer inside one video section, signalled in one of two ways:

* **RIDs** (RFC 8851, RFC 8853): ``a=rid:<id> send`` lines and ``a=simulcast:send h;m;l``; each
  packet names its layer in the ``rtp-stream-id`` header extension (a retransmission in
  ``repaired-rtp-stream-id``), at least until the receiver has acknowledged the stream, so the
  SSRC of each layer is learnt from its first packets. The answer accepts the layers with
  ``a=rid:<id> recv`` and ``a=simulcast:recv`` and negotiates both header extensions; without
  the ``rtp-stream-id`` extension in the offer the layers cannot be told apart, so such an
  offer is answered as a single stream.
* **SSRCs** (``a=ssrc-group:SIM s1 s2 s3``, the older form): each layer's SSRC is in the offer,
  and its retransmission SSRC in an ``a=ssrc-group:FID`` line. Nothing to add to the answer.

Aiortc 1.16 knows neither (its SDP parser skips the lines and its router sends every unknown
SSRC to the section's one receiver), so ``Layers`` decides per packet. A publisher whose offer
has no simulcast but sends several streams anyway is still pinned to the first one heard
(``StreamPin``), as before.
"""

from __future__ import annotations

import dataclasses

RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
REPAIRED_RID_URI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"


def _video_lines(offer: str) -> list[str]:
    """The lines of the offer's first video section."""
    lines: list[str] = []
    inside = seen = False
    for line in offer.splitlines():
        if line.startswith("m="):
            inside = line.startswith("m=video") and not seen
            seen = seen or inside
        elif inside:
            lines.append(line.strip())
    return lines


def _send_streams(line: str) -> str | None:
    """The ``send`` stream list of an ``a=simulcast:`` line (e.g. ``h;m;~l``), if any."""
    words = line[len("a=simulcast:"):].split()
    for direction, streams in zip(words[::2], words[1::2], strict=False):
        if direction == "send":
            return streams
    return None


def offered_layers(offer: str) -> list[str]:
    """The layers a WHIP offer's video section says it sends: the RIDs of its
    ``a=simulcast:send`` (alternatives ``a,b`` and paused ``~`` ones included), else one entry
    per SSRC of an ``a=ssrc-group:SIM``; empty for an offer without simulcast."""
    layers: list[str] = []
    for line in _video_lines(offer):
        if line.startswith("a=simulcast:"):
            streams = _send_streams(line)
            if streams:
                layers += [rid.lstrip("~") for alt in streams.split(";")
                           for rid in alt.split(",") if rid.lstrip("~")]
        elif line.startswith("a=ssrc-group:SIM ") and not layers:
            layers = line.split()[1:]
    return layers


@dataclasses.dataclass(frozen=True, slots=True)
class SimulcastOffer:
    """The simulcast a WHIP offer's video section asks for, in the offer's layer order.

    ``rids``: per layer, its RID and alternatives (RID form); ``ssrcs``: per layer, its SSRC
    (SSRC form; empty in the RID form); ``rtx``: retransmission SSRC → media SSRC (SSRC form);
    ``extensions``: the offered (id, URI) of the two RID header extensions; ``streams``: the
    offer's ``send`` list, answered as ``recv``."""

    rids: tuple[tuple[str, ...], ...] = ()
    ssrcs: tuple[int, ...] = ()
    rtx: tuple[tuple[int, int], ...] = ()
    extensions: tuple[tuple[int, str], ...] = ()
    streams: str = ""

    @property
    def count(self) -> int:
        return len(self.ssrcs) if self.ssrcs else len(self.rids)

    @property
    def names(self) -> list[str]:
        """The publisher's name of each layer (its first RID, or its SSRC)."""
        if self.ssrcs:
            return [str(ssrc) for ssrc in self.ssrcs]
        return [alternatives[0] for alternatives in self.rids]

    def answer_lines(self) -> list[str]:
        """What the answer's video section adds (RFC 8853 5.3): each RID received, and the
        streams as offered (paused ones stay paused). The SSRC form needs nothing."""
        if self.ssrcs:
            return []
        rids = [rid for alternatives in self.rids for rid in alternatives]
        return [f"a=rid:{rid} recv" for rid in rids] + [f"a=simulcast:recv {self.streams}"]


def parse(offer: str) -> SimulcastOffer | None:
    """The offer's simulcast, or None when it has none the server can receive: fewer than two
    layers, or RIDs without the ``rtp-stream-id`` header extension (nothing would tell the
    layers' packets apart)."""
    lines = _video_lines(offer)
    extensions: list[tuple[int, str]] = []
    declared: set[str] = set()
    streams: str | None = None
    sim: list[int] = []
    fid: list[tuple[int, int]] = []
    for line in lines:
        if line.startswith("a=extmap:"):
            head, _, uri = line[len("a=extmap:"):].partition(" ")
            ident = head.split("/")[0]
            if uri.strip() in (RID_URI, REPAIRED_RID_URI) and ident.isascii() and ident.isdigit():
                extensions.append((int(ident), uri.strip()))
        elif line.startswith("a=rid:"):
            rid, _, rest = line[len("a=rid:"):].partition(" ")
            if rest.split(" ")[0] == "send":
                declared.add(rid)
        elif line.startswith("a=simulcast:") and streams is None:
            streams = _send_streams(line)
        elif line.startswith("a=ssrc-group:SIM "):
            sim = _numbers(line.split()[1:])
        elif line.startswith("a=ssrc-group:FID "):
            pair = _numbers(line.split()[1:])
            if len(pair) == 2:
                fid.append((pair[1], pair[0]))
    if streams is not None and any(uri == RID_URI for _, uri in extensions):
        layers = tuple(tuple(rid.lstrip("~") for rid in stream.split(",")
                             if rid.lstrip("~") in declared)
                       for stream in streams.split(";"))
        layers = tuple(alternatives for alternatives in layers if alternatives)
        if len(layers) >= 2:
            return SimulcastOffer(rids=layers, extensions=tuple(extensions), streams=streams)
    if len(sim) >= 2 and len(set(sim)) == len(sim):
        return SimulcastOffer(ssrcs=tuple(sim),
                              rtx=tuple((r, m) for r, m in fid if m in sim))
    return None


def _numbers(words: list[str]) -> list[int]:
    return [int(w) for w in words if w.isascii() and w.isdigit() and int(w) < 1 << 32]


def with_answer_lines(answer: str, offer: SimulcastOffer) -> str:
    """``answer`` with the simulcast lines at the end of its first video section."""
    extra = offer.answer_lines()
    if not extra:
        return answer
    lines = answer.split("\r\n")
    video = next((i for i, line in enumerate(lines) if line.startswith("m=video")), None)
    if video is None:
        return answer
    end = next((i for i in range(video + 1, len(lines))
                if lines[i].startswith("m=") or not lines[i]), len(lines))
    return "\r\n".join(lines[:end] + extra + lines[end:])


class Layers:
    """Which layer each incoming stream of a simulcast publisher belongs to, learnt from the
    packets (RID form) or known from the offer (SSRC form). A stream keeps the layer it was
    first seen with; a layer's media stream may be replaced by a newer SSRC with its RID."""

    def __init__(self, offer: SimulcastOffer) -> None:
        self.offer = offer
        self._by_rid = {rid: layer for layer, alternatives in enumerate(offer.rids)
                        for rid in alternatives}
        self._layer_of: dict[int, int] = {}
        self.media: dict[int, int] = {}      # layer → its media SSRC
        self.rtx: dict[int, int] = {}        # retransmission SSRC → layer
        for layer, ssrc in enumerate(offer.ssrcs):
            self._layer_of[ssrc] = layer
            self.media[layer] = ssrc
        for rtx, media in offer.rtx:
            if media in self._layer_of:
                self._layer_of[rtx] = self._layer_of[media]
                self.rtx[rtx] = self._layer_of[media]
        self.unidentified = 0  # packets of a stream no layer claims (dropped)

    def layer_of_stream(self, ssrc: int) -> int | None:
        """The layer a stream (media or retransmission) is known to belong to."""
        return self._layer_of.get(ssrc)

    def layer_of(self, ssrc: int, rid: str | None, repaired_rid: str | None,
                 retransmission: bool) -> int | None:
        """The layer of a packet from ``ssrc`` carrying these RID extensions (None: unknown,
        drop it)."""
        if retransmission:
            named = self._by_rid.get(repaired_rid or rid or "")
            if named is not None and self.rtx.get(ssrc) != named:
                self.rtx[ssrc] = named
                self._layer_of[ssrc] = named
            layer = self.rtx.get(ssrc)
        else:
            named = self._by_rid.get(rid or "")
            if named is not None and self.media.get(named) != ssrc:
                self.media[named] = ssrc
                self._layer_of[ssrc] = named
            layer = self._layer_of.get(ssrc)
            if layer is not None and ssrc in self.rtx:
                layer = None  # a retransmission stream sending on a media payload type
        if layer is None:
            self.unidentified += 1
        return layer


@dataclasses.dataclass(slots=True)
class StreamPin:
    """Which of a receiver's incoming media streams is relayed when the offer had no simulcast:
    the first one heard. RTX (retransmission) streams are left to aiortc, which maps them to
    their media stream or drops them."""

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
