"""Simulcast offers the layers cannot be told apart in, and streams sent without any offer:
an offer with RIDs but no ``rtp-stream-id`` header extension is answered as a single stream,
and a publisher that sends several streams anyway has exactly one relayed, so viewers never get
a mix of two layers' packets (media/simulcast.py). Receiving every layer is in
test_simulcast_layers.py."""

from __future__ import annotations

import inspect

import aiohttp
from aiortc import RTCRtpSender, RTCSessionDescription
from aiortc.rtcdtlstransport import RTCDtlsTransport, RtpRouter
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from live_server.media import aiortc_hooks
from live_server.media.simulcast import StreamPin, offered_layers
from live_server.web.media import MEDIA
from tests.conftest import LiveApp, token
from tests.integration.media_peers import (
    HEIGHT,
    WIDTH,
    MovingPicture,
    Publisher,
    Viewer,
    app_of,
    post_sdp,
)

RID_LINES = [
    "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    "a=rid:h send",
    "a=rid:m send",
    "a=rid:l send",
    "a=simulcast:send h;m;~l",
]


def with_simulcast(offer: str, lines: list[str] = RID_LINES) -> str:
    """``offer`` as a browser with three ``sendEncodings`` writes its video section."""
    out: list[str] = []
    video = False
    for line in offer.split("\r\n"):
        if line.startswith("m="):
            video = line.startswith("m=video")
        out.append(line)
        if video and line.startswith("a=mid:"):
            out += lines
    return "\r\n".join(out)


def test_the_internals_the_pin_relies_on_are_unchanged() -> None:
    """aiortc routes every stream of a matching payload type to one receiver, through the
    method the pin shadows, and keeps the codec table the pin reads (aiortc_hooks.py)."""
    changed = "aiortc changed what live_server/media/aiortc_hooks.tap_receiver relies on"
    route = inspect.getsource(RtpRouter.route_rtp)
    assert "if ssrc_receiver is None and len(pt_receivers) == 1:" in route, changed
    handle = inspect.getsource(RTCDtlsTransport._handle_rtp_data)
    assert "await receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)" \
        in handle, changed
    assert list(inspect.signature(RTCRtpReceiver._handle_rtp_packet).parameters) == [
        "self", "packet", "arrival_time_ms"], changed
    init = inspect.getsource(RTCRtpReceiver.__init__)
    assert "self.__codecs: dict[int, RTCRtpCodecParameters] = {}" in init, changed
    assert "self.__codecs[codec.payloadType] = codec" in inspect.getsource(
        RTCRtpReceiver.receive), changed


def test_offered_layers() -> None:
    audio = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=simulcast:send x;y\r\n"
    video = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n"
    assert offered_layers(audio + video) == []
    assert offered_layers(audio + video + "\r\n".join(RID_LINES)) == ["h", "m", "l"]
    assert offered_layers(video + "a=simulcast:recv r send a,b;c\r\n") == ["a", "b", "c"]
    assert offered_layers(video + "a=ssrc-group:SIM 11 22 33\r\n") == ["11", "22", "33"]


def test_pin_relays_the_first_stream_heard() -> None:
    pin = StreamPin()
    assert pin.admit(7, retransmission=False)
    assert pin.admit(99, retransmission=True)  # aiortc maps or drops retransmissions
    assert not pin.admit(8, retransmission=False)
    assert pin.admit(7, retransmission=False)
    assert (pin.ssrc, pin.dropped_packets, pin.other_streams) == (7, 1, {8})


async def test_rids_without_the_rid_extension_are_answered_with_one_stream(
        live: LiveApp) -> None:
    room = await live.live_room("alice")
    publisher, viewer = Publisher("VP8"), Viewer()
    async with aiohttp.ClientSession() as http:
        try:
            offer = with_simulcast(await publisher.offer(), RID_LINES[2:])
            assert offered_layers(offer) == ["h", "m", "l"]
            status, _, answer = await post_sdp(http, f"{live.base}/api/rooms/{room}/whip",
                                               offer, token("alice", "creator"))
            assert status == 201
            # no a=simulcast in the answer: the publisher sends a single stream (RFC 8853)
            assert "a=simulcast" not in answer and "a=rid:" not in answer
            assert "rtp-stream-id" not in answer
            await publisher.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            assert await viewer.watch(http, f"{live.base}/api/rooms/{room}/whep") == 201
            await viewer.wait_for(lambda: viewer.decoded >= 10)
            assert set(viewer.sizes) == {(WIDTH, HEIGHT)}
            state = app_of(live)[MEDIA].state()["rooms"][room]
            assert state["layers"] == []
            # a viewer may still ask for a layer: nothing to choose from, nothing changes
            assert viewer.location is not None
            async with http.post(viewer.location + "/layer", json={"layer": "l"}) as resp:
                assert resp.status == 200
                assert await resp.json() == {"mode": "l", "layer": None,
                                             "switching_to": None, "layers": []}
            before = viewer.decoded
            await viewer.wait_for(lambda: viewer.decoded >= before + 10)
            assert set(viewer.sizes) == {(WIDTH, HEIGHT)}
        finally:
            await viewer.close()
            await publisher.close()


async def test_a_second_layer_sent_anyway_is_not_mixed_in(live: LiveApp) -> None:
    """The publisher also sends a 160x120 layer on its own SSRC with the same payload type
    (as an encoder that ignores the answer would): viewers see only the first layer, whole."""
    room = await live.live_room("alice")
    publisher, viewer = Publisher("VP8"), Viewer()
    small = MovingPicture(WIDTH // 2, HEIGHT // 2)
    extra: RTCRtpSender | None = None
    async with aiohttp.ClientSession() as http:
        try:
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            assert await viewer.watch(http, f"{live.base}/api/rooms/{room}/whep") == 201
            await viewer.wait_for(lambda: viewer.decoded >= 5)
            transceiver = publisher.pc.getTransceivers()[0]
            extra = RTCRtpSender(small, transceiver.sender.transport)
            params = RTCRtpSendParameters(codecs=transceiver._codecs,
                                          headerExtensions=transceiver._headerExtensions,
                                          muxId=transceiver.mid)
            params.rtcp.cname = "layer-2"
            params.rtcp.mux = True
            await extra.send(params)

            media = app_of(live)[MEDIA]
            session = media.publishers[room]
            video = next(t for t in session.pc.getTransceivers() if t.kind == "video")
            pin = aiortc_hooks.stream_pin(video.receiver)
            assert pin is not None
            before = viewer.decoded
            await viewer.wait_for(lambda: small.sent >= 30 and viewer.decoded >= before + 30)
            assert pin.ssrc == transceiver.sender._ssrc
            assert pin.other_streams == {extra._ssrc}
            state = media.state()["rooms"][room]
            assert state["other_layer_packets"] == pin.dropped_packets > 0
            assert set(viewer.sizes) == {(WIDTH, HEIGHT)}
        finally:
            if extra is not None:
                await extra.stop()
            await viewer.close()
            await publisher.close()
