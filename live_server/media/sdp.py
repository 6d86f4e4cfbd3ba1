"""What an SDP offer may carry, decided before any peer connection exists (so a refused offer
leaves nothing open). Parsing uses aiortc's SDP parser; the rules are ours:

* a WHIP offer has at most one audio and one video section, and each must offer a codec we
  forward: VP8 or H.264 with packetization-mode 1 (constrained baseline or baseline profile,
  what browsers and OBS send) for video, Opus for audio;
* the answer narrows each section to the first such codec of the offer (plus its RTX), so the
  publisher sends exactly one codec per kind;
* a WHEP offer must accept the codec the publisher sends, with the same parameters, because
  frames are forwarded as they are.
"""

from __future__ import annotations

import dataclasses

from aiortc import sdp as aiortc_sdp
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from live_server.errors import BadSdp, OfferNotAcceptable
from live_server.media import aiortc_hooks

FORWARDED = {"video": ("vp8", "h264"), "audio": ("opus",)}
MAX_SDP_BYTES = 64 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class Track:
    """One media section of the answer: its kind and the one codec it will use."""

    kind: str
    codec: RTCRtpCodecParameters

    @property
    def codec_name(self) -> str:
        return str(self.codec.name)

    def describe(self) -> str:
        params = ";".join(f"{k}={v}" for k, v in sorted(self.codec.parameters.items()))
        return f"{self.codec.mimeType}" + (f" ({params})" if params else "")


def parse_offer(text: str) -> aiortc_sdp.SessionDescription:
    if len(text) > MAX_SDP_BYTES:
        raise BadSdp("SDP offer too large")
    if not text.lstrip().startswith("v=0"):
        raise BadSdp("not an SDP offer (must start with v=0)")
    try:
        desc = aiortc_sdp.SessionDescription.parse(text)
    except Exception as exc:  # aiortc raises ValueError, KeyError, IndexError... on bad input
        raise BadSdp(f"cannot parse the SDP offer: {type(exc).__name__}") from None
    media = [m for m in desc.media if m.kind in ("audio", "video")]
    if not media:
        raise BadSdp("the offer has no audio or video section")
    for m in media:
        if (m.ice is None or not m.ice.usernameFragment or not m.ice.password
                or m.dtls is None or not m.dtls.fingerprints):
            raise BadSdp(f"the {m.kind} section lacks ICE credentials or a DTLS fingerprint")
        if not m.rtp.muxId:
            raise BadSdp(f"the {m.kind} section has no a=mid")
        if not m.rtcp_mux:
            raise OfferNotAcceptable(f"the {m.kind} section must use a=rtcp-mux")
    return desc


def _forwardable(kind: str, m: aiortc_sdp.MediaDescription) -> RTCRtpCodecParameters | None:
    for codec in aiortc_hooks.common_codecs(kind, m.rtp.codecs):
        if codec.name.lower() in FORWARDED[kind]:
            return codec
    return None


def plan_publish(text: str) -> list[Track]:
    """The tracks a publisher's offer will be answered with, or why it cannot be."""
    desc = parse_offer(text)
    tracks: list[Track] = []
    seen: set[str] = set()
    for m in desc.media:
        if m.kind not in ("audio", "video"):
            continue
        if m.kind in seen:
            raise OfferNotAcceptable(f"at most one {m.kind} track may be published")
        seen.add(m.kind)
        if m.direction not in (None, "sendonly", "sendrecv"):
            raise OfferNotAcceptable(f"the {m.kind} section does not send media")
        codec = _forwardable(m.kind, m)
        if codec is None:
            wanted = " or ".join(FORWARDED[m.kind])
            raise OfferNotAcceptable(f"no supported {m.kind} codec offered (expected {wanted}; "
                                     "H.264 needs packetization-mode=1, baseline profile)")
        tracks.append(Track(m.kind, codec))
    return tracks


def plan_view(text: str, published: dict[str, RTCRtpCodecParameters]) -> list[Track]:
    """The tracks a viewer's offer will be answered with: each kind the publisher sends that
    the viewer offers to receive, in the publisher's exact codec."""
    desc = parse_offer(text)
    tracks: list[Track] = []
    seen: set[str] = set()
    for m in desc.media:
        if m.kind not in ("audio", "video") or m.kind in seen:
            continue
        seen.add(m.kind)
        source = published.get(m.kind)
        if source is None or m.direction not in (None, "recvonly", "sendrecv"):
            continue
        match = [c for c in aiortc_hooks.common_codecs(m.kind, m.rtp.codecs)
                 if c.mimeType.lower() == source.mimeType.lower()
                 and c.parameters == source.parameters]
        if not match:
            raise OfferNotAcceptable(
                f"the offer does not accept the stream's {m.kind} codec "
                f"{Track(m.kind, source).describe()}")
        tracks.append(Track(m.kind, source))
    if not tracks:
        raise OfferNotAcceptable("the offer receives none of the stream's tracks")
    return tracks


def announce(answer: str, ip: str) -> str:
    """The answer with ``ip`` in place of the machine's own address in its host candidates and
    connection lines (``media.announced_ip``). A server behind 1:1 NAT — a cloud VM with a
    public address that is not on any of its interfaces — is then reached at that address, and
    the NAT delivers the connectivity checks to the sockets aioice bound. Server-reflexive and
    relay candidates already carry outside addresses and stay as they are; candidates of the
    other address family are kept."""
    if not ip:
        return answer
    v6 = ":" in ip
    out = []
    for line in answer.split("\r\n"):
        if line.startswith("a=candidate:"):
            parts = line.split(" ")
            # a=candidate:<foundation> <component> <transport> <priority> <addr> <port> typ <type>
            if len(parts) >= 8 and parts[7] == "host" and (":" in parts[4]) == v6:
                parts[4] = ip
                line = " ".join(parts)
        elif line.startswith("c=IN ") and (line.startswith("c=IN IP6") == v6):
            line = f"c=IN {'IP6' if v6 else 'IP4'} {ip}"
        out.append(line)
    return "\r\n".join(out)
