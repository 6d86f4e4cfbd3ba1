"""The forwarding send path (aiortc_hooks._Forwarding, media/fanout.py, media/datagrams.py) with
real aiortc viewers: every packet arrives, in order, and decodes; NACKs are answered (as RTX
when negotiated); a frame's packets leave in fewer system calls than packets."""

from __future__ import annotations

from typing import Any

import pytest
from aiortc.rtp import RTCP_RTPFB_NACK, RtcpRtpfbPacket, RtpPacket

from live_server.media import aiortc_hooks
from live_server.web.media import MEDIA
from tests.conftest import LiveApp
from tests.integration.media_peers import HEIGHT, WIDTH, Viewer, app_of, on_air


def _server_video_senders(live: LiveApp) -> list[Any]:
    senders = []
    for session in app_of(live)[MEDIA].sessions.values():
        for t in session.pc.getTransceivers():
            if t.kind == "video" and t.currentDirection == "sendonly":
                senders.append(t.sender)
    return senders


async def _inbound(viewer: Viewer) -> Any:
    report = await viewer.pc.getStats()
    return next(s for s in report.values() if s.type == "inbound-rtp" and s.kind == "video")


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_viewers_get_every_packet_in_order_and_decode(live: LiveApp, codec: str) -> None:
    async with on_air(live, codec) as air:
        viewers = [air.viewer] + [Viewer() for _ in range(4)]
        try:
            for v in viewers:
                assert await v.watch(air.http, air.whep) == 201
            for v in viewers:
                await v.wait_for(lambda v=v: v.decoded >= 40)
                assert set(v.sizes) == {(WIDTH, HEIGHT)}
            senders = _server_video_senders(live)
            assert len(senders) == len(viewers)
            for sender in senders:
                state = aiortc_hooks.forwarding_state(sender)
                assert state is not None and state.out is not None
                assert state.datagrams is not None
                # after the first frame, frames go straight from the relay to the sender
                assert state.direct_frames >= 30
                sent = await sender.getStats()
                outbound = next(s for s in sent.values() if s.type == "outbound-rtp")
                # one call per run of equal-sized packets, not one per packet
                assert 0 < state.datagrams.calls < outbound.packetsSent
            for v in viewers:
                inbound = await _inbound(v)
                assert inbound.packetsLost == 0
                assert inbound.packetsReceived > 40
        finally:
            for v in viewers[1:]:
                await v.close()


async def test_a_nack_is_answered_from_the_viewers_history(live: LiveApp) -> None:
    async with on_air(live, "H264") as air:
        viewer = air.viewer
        await air.watch()
        await viewer.wait_for(lambda: viewer.decoded >= 10)
        [sender] = _server_video_senders(live)
        state = aiortc_hooks.forwarding_state(sender)
        assert state is not None and state.out is not None
        out = state.out
        dtls = sender.transport
        resent: list[bytes] = []
        send_rtp = dtls._send_rtp

        async def recording(data: bytes) -> None:
            resent.append(data)
            await send_rtp(data)
        dtls._send_rtp = recording
        lost = (out.sequence - 3) & 0xFFFF
        await sender._handle_rtcp_packet(RtcpRtpfbPacket(
            fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=sender._ssrc, lost=[lost]))
        dtls._send_rtp = send_rtp
        assert len(resent) == 1
        packet = RtpPacket.parse(resent[0])
        if out.rtx_payload_type is None:
            assert (packet.ssrc, packet.sequence_number) == (sender._ssrc, lost)
        else:
            assert packet.ssrc == sender._rtx_ssrc
            assert packet.payload_type == out.rtx_payload_type
            assert int.from_bytes(packet.payload[:2], "big") == lost
        before = viewer.decoded
        await viewer.wait_for(lambda: viewer.decoded >= before + 10)
        assert (await _inbound(viewer)).packetsLost == 0


async def test_a_viewers_feedback_is_handled_where_it_arrives(live: LiveApp) -> None:
    """A viewer's REMBs, NACKs and PLIs, sent over the wire as SRTCP, are answered on the
    short path (aiortc_hooks.ViewerRtcp, not aiortc's receive loop) and the transport still
    counts every datagram it received."""
    async with on_air(live, "H264") as air:
        viewer, publisher = air.viewer, air.publisher
        await air.watch()
        await viewer.wait_for(lambda: viewer.decoded >= 10)
        [sender] = _server_video_senders(live)
        state = aiortc_hooks.forwarding_state(sender)
        assert state is not None and state.out is not None and state.rtcp is not None
        rtcp = state.rtcp
        # an aiortc viewer sends REMBs as its estimate moves
        await viewer.wait_for(lambda: rtcp.handled >= 3)
        receiver = next(t.receiver for t in viewer.pc.getTransceivers() if t.kind == "video")
        resent, handled = state.resent, rtcp.handled
        lost = (state.out.sequence - 2) & 0xFFFF
        await receiver._send_rtcp_nack(sender._ssrc, [lost])
        await viewer.wait_for(lambda: state.resent > resent)
        assert state.resent == resent + 1 and rtcp.handled > handled
        requests = publisher.keyframe_requests
        await viewer.request_keyframe()
        await publisher.wait_for(lambda: publisher.keyframe_requests > requests)
        assert rtcp.passed_on == 0
        stats = await sender.getStats()
        transport = next(s for s in stats.values() if s.type == "transport")
        assert transport.packetsReceived > rtcp.handled
        before = viewer.decoded
        await viewer.wait_for(lambda: viewer.decoded >= before + 10)
        assert (await _inbound(viewer)).packetsLost == 0
