"""What an SDP offer may carry, decided before any peer connection exists (so a refused offer
leaves nothing open). Parsing uses aiortc's SDP parser; the rules are ours:

* a WHIP offer has at most one audio and one video section, and each must offer a codec we
  forward: VP8 or H.264 with packetization-mode 1 (constrained baseline or baseline profile,
  what browsers and OBS send) for video, Opus for audio;
* the answer narrows each section to the first such codec of the offer (plus its RTX), so the
  publisher sends exactly one codec per kind;
* a WHEP offer must accept the codec the publisher sends, because frames are forwarded as they
  are: the same parameters, or for H.264 the same packetization mode and profile family
  (baseline and constrained baseline are one family: every forwarded stream is constrained
  baseline in practice, and the level only bounds what a receiver decodes, which browsers and
  aiortc do not enforce). The viewer's answer then uses the viewer's own codec entry (its
  payload type and fmtp line), so the viewer accepts it.
"""

from __future__ import annotations

import dataclasses

from aiortc import sdp as aiortc_sdp
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.sdp import parse_h264_profile_level_id

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


H264_FAMILIES = {"PROFILE_CONSTRAINED_BASELINE": "baseline", "PROFILE_BASELINE": "baseline"}


def _h264_family(codec: RTCRtpCodecParameters) -> tuple[str, str] | None:
    """(packetization mode, profile family) of an H.264 codec; None when it is unreadable."""
    try:
        profile = parse_h264_profile_level_id(
            str(codec.parameters.get("profile-level-id", "42e01f")))[0]
    except ValueError:
        return None
    return (str(codec.parameters.get("packetization-mode", "0")),
            H264_FAMILIES.get(profile.name, profile.name))


def _plays(viewer: RTCRtpCodecParameters, source: RTCRtpCodecParameters) -> bool:
    """Can frames sent in ``source`` be sent to a viewer that offered ``viewer``?"""
    if viewer.mimeType.lower() != source.mimeType.lower():
        return False
    if viewer.parameters == source.parameters:
        return True
    if source.mimeType.lower() == "video/h264":
        family = _h264_family(source)
        return family is not None and family == _h264_family(viewer)
    return False


def _viewer_codec(kind: str, m: aiortc_sdp.MediaDescription,
                  source: RTCRtpCodecParameters) -> RTCRtpCodecParameters | None:
    """The viewer's codec entry to answer with: the publisher's exact codec if offered, else
    the first of the same H.264 family."""
    common = aiortc_hooks.common_codecs(kind, m.rtp.codecs)
    exact = [c for c in common if c.mimeType.lower() == source.mimeType.lower()
             and c.parameters == source.parameters]
    return next(iter(exact or [c for c in common if _plays(c, source)]), None)


def plan_view(text: str, published: dict[str, RTCRtpCodecParameters]) -> list[Track]:
    """The tracks a viewer's offer will be answered with: each kind the publisher sends that
    the viewer offers to receive, in the viewer's entry for the publisher's codec."""
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
        match = _viewer_codec(m.kind, m, source)
        if match is None:
            raise OfferNotAcceptable(
                f"the offer does not accept the stream's {m.kind} codec "
                f"{Track(m.kind, source).describe()}")
        tracks.append(Track(m.kind, match))
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
