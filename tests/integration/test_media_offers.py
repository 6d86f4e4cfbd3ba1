"""Offers shaped like the ones real WHIP clients send (a Chromium page, OBS Studio): the
answer keeps one forwarded codec per kind, in the client's order of preference."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from live_server.web.media import MEDIA
from tests.conftest import LiveApp, token
from tests.integration.media_peers import app_of, post_sdp

FINGERPRINT = ":".join(["AB"] * 32)

SESSION = """v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=extmap-allow-mixed
a=msid-semantic: WMS stream
"""

TRANSPORT = f"""c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:1 1 udp 2122260223 192.0.2.50 50000 typ host generation 0
a=ice-ufrag:Fq3e
a=ice-pwd:u2nKcJm1PqmWUIsbJ0b8fG0x
a=ice-options:trickle
a=fingerprint:sha-256 {FINGERPRINT}
a=setup:actpass
"""

CHROMIUM_AUDIO = """m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
""" + TRANSPORT + """a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendonly
a=msid:stream audio0
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=ssrc:1001 cname:x1
a=ssrc:1001 msid:stream audio0
"""


def _video(order: list[int]) -> str:
    codecs = {
        96: ("VP8/90000", None), 97: ("rtx/90000", "apt=96"),
        98: ("VP9/90000", "profile-id=0"), 99: ("rtx/90000", "apt=98"),
        102: ("H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;"
                            "profile-level-id=42001f"),
        103: ("rtx/90000", "apt=102"),
        106: ("H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;"
                            "profile-level-id=42e01f"),
        107: ("rtx/90000", "apt=106"),
        112: ("H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;"
                            "profile-level-id=64001f"),
        113: ("rtx/90000", "apt=112"),
        45: ("AV1/90000", "level-idx=5;profile=0;tier=0"), 46: ("rtx/90000", "apt=45"),
        116: ("red/90000", None), 117: ("rtx/90000", "apt=116"), 118: ("ulpfec/90000", None),
    }
    lines = [f"m=video 9 UDP/TLS/RTP/SAVPF {' '.join(map(str, order))}", TRANSPORT.rstrip(),
             "a=mid:1",
             "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
             "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
             "a=sendonly", "a=msid:stream video0", "a=rtcp-mux", "a=rtcp-rsize"]
    for pt in order:
        name, fmtp = codecs[pt]
        lines.append(f"a=rtpmap:{pt} {name}")
        if not name.startswith(("rtx", "red", "ulpfec")):
            lines += [f"a=rtcp-fb:{pt} goog-remb", f"a=rtcp-fb:{pt} transport-cc",
                      f"a=rtcp-fb:{pt} ccm fir", f"a=rtcp-fb:{pt} nack",
                      f"a=rtcp-fb:{pt} nack pli"]
        if fmtp:
            lines.append(f"a=fmtp:{pt} {fmtp}")
    lines += ["a=ssrc-group:FID 2001 2002", "a=ssrc:2001 cname:x1", "a=ssrc:2002 cname:x1"]
    return "\n".join(lines) + "\n"


ALL = [96, 97, 98, 99, 102, 103, 106, 107, 112, 113, 45, 46, 116, 117, 118]
H264_FIRST = [106, 107, 102, 103, 112, 113, 96, 97, 98, 99, 116, 117, 118]
OBS = [106, 107]  # OBS Studio offers H.264 (constrained baseline) and Opus


def _crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


@pytest.mark.parametrize(("name", "video", "kept", "dropped"), [
    ("chromium", ALL, "VP8/90000", ["VP9", "H264", "AV1", "G722", "red/", "ulpfec"]),
    ("chromium preferring H.264", H264_FIRST, "H264/90000", ["VP8", "VP9", "64001f"]),
    ("obs", OBS, "H264/90000", ["VP8"]),
])
async def test_real_client_offers(live: LiveApp, name: str, video: list[int], kept: str,
                                  dropped: list[str]) -> None:
    room = await live.live_room("alice")
    offer = _crlf(SESSION + CHROMIUM_AUDIO + _video(video))
    async with aiohttp.ClientSession() as http:
        status, headers, answer = await post_sdp(http, f"{live.base}/api/rooms/{room}/whip",
                                                 offer, token("alice", "creator"))
        assert status == 201, answer
        assert kept in answer and "opus/48000" in answer and "a=recvonly" in answer
        # the codec lines only: the answer's random ICE credentials may spell "VP8" by chance
        codecs = "\n".join(line for line in answer.splitlines()
                           if line.startswith(("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:")))
        for codec in dropped:
            assert codec not in codecs, codec
        if kept.startswith("H264"):
            assert "profile-level-id=42e01f" in answer
            assert "packetization-mode=1" in answer
        async with http.delete(headers["Location"]) as resp:
            assert resp.status == 204
    assert app_of(live)[MEDIA].sessions == {}


@pytest.mark.parametrize(("change", "status"), [
    (lambda o: o.replace(f"a=fingerprint:sha-256 {FINGERPRINT}\r\n", ""), 400),
    (lambda o: o.replace("a=ice-pwd:u2nKcJm1PqmWUIsbJ0b8fG0x\r\n", ""), 400),
    (lambda o: o.replace("a=mid:1\r\n", ""), 400),
    (lambda o: o.replace("a=rtcp-mux\r\n", ""), 422),
    (lambda o: o.replace("a=sendonly", "a=recvonly"), 422),
])
async def test_broken_offers_are_refused_and_leave_nothing_open(
        live: LiveApp, change: Any, status: int) -> None:
    room = await live.live_room("alice")
    offer = change(_crlf(SESSION + CHROMIUM_AUDIO + _video(ALL)))
    async with aiohttp.ClientSession() as http:
        got, _, body = await post_sdp(http, f"{live.base}/api/rooms/{room}/whip", offer,
                                      token("alice", "creator"))
    assert got == status, body
    media = app_of(live)[MEDIA]
    assert media.sessions == {} and await media.store.home(room) is None
