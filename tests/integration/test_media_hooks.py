"""The aiortc internals the relay hooks (live_server/media/aiortc_hooks.py) are still what it
was written for, and the server really never encodes or decodes video for its viewers."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import aiohttp
import aioice.ice
import aiortc
import pytest
from aioice.ice import Connection
from aiortc import RTCIceGatherer, RTCPeerConnection
from aiortc.codecs import h264, opus, vpx
from aiortc.codecs.h264 import H264Encoder, h264_depayload
from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcdtlstransport import RTCDtlsTransport, RtpRouter
from aiortc.rtcicetransport import RTCIceTransport
from aiortc.rtcpeerconnection import find_common_codecs
from aiortc.rtcrtpreceiver import RTCRtpReceiver, decoder_worker
from aiortc.rtcrtpsender import RTCRtpSender

from live_server.media import aiortc_hooks
from live_server.media.frames import EncodedFrame
from live_server.web.media import MEDIA
from tests.conftest import LiveApp, token
from tests.integration.media_peers import (
    HEIGHT,
    NO_ICE_SERVERS,
    WIDTH,
    Publisher,
    Viewer,
    app_of,
    candidate_addresses,
)

CHANGED = ("aiortc changed an internal that live_server/media/aiortc_hooks.py relies on; "
           "re-read the hooks against the new aiortc before changing the pin")


def _params(fn: Any) -> list[str]:
    return list(inspect.signature(fn).parameters)


def test_aiortc_is_the_pinned_version() -> None:
    assert aiortc.__version__ == aiortc_hooks.AIORTC_VERSION == "1.16.0", CHANGED
    aiortc_hooks.check_version()


def test_receiving_internals_are_unchanged() -> None:
    handle = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "self.__decoder_queue.put((codec, encoded_frame))" in handle, CHANGED
    receive = inspect.getsource(RTCRtpReceiver.receive)
    assert "target=decoder_worker" in receive and "self.__decoder_queue," in receive, CHANGED
    assert _params(decoder_worker) == ["loop", "input_q", "output_q", "decode_error"], CHANGED
    worker = inspect.getsource(decoder_worker)
    assert "task = input_q.get()" in worker and "if task is None:" in worker, CHANGED
    assert "decoder = get_decoder(codec)" in worker, CHANGED
    stop = inspect.getsource(RTCRtpReceiver._RTCRtpReceiver__stop_decoder)  # type: ignore[attr-defined]
    assert "self.__decoder_queue.put(None)" in stop, CHANGED
    assert _params(RTCRtpReceiver._send_rtcp_pli) == ["self", "media_ssrc"], CHANGED
    frame = JitterFrame(data=b"x", timestamp=1)
    assert (frame.data, frame.timestamp) == (b"x", 1), CHANGED


def test_sending_internals_are_unchanged() -> None:
    nxt = inspect.getsource(RTCRtpSender._next_encoded_frame)
    assert "if self.__encoder is None:" in nxt, CHANGED
    assert "payloads, timestamp = self.__encoder.pack(data)" in nxt, CHANGED
    assert "isinstance(data, Frame)" in nxt, CHANGED
    assert "self._send_keyframe()" in inspect.getsource(RTCRtpSender._handle_rtcp_packet), CHANGED
    assert _params(Vp8Encoder._packetize) == ["buffer", "picture_id"], CHANGED
    assert _params(H264Encoder._split_bitstream) == ["buf"], CHANGED
    assert _params(H264Encoder._packetize) == ["packages"], CHANGED
    assert _params(find_common_codecs) == ["local_codecs", "remote_codecs"], CHANGED


def test_forwarding_internals_are_unchanged() -> None:
    """What ``aiortc_hooks.Forwarding`` stands in for, reads and keeps up to date."""
    send = inspect.getsource(RTCRtpSender.send)
    assert "asyncio.ensure_future(self._run_rtp(parameters.codecs[0]))" in send, CHANGED
    assert "self.__rtx_payload_type = codec.payloadType" in send, CHANGED
    assert "self.__rtp_header_extensions_map.configure(parameters)" in send, CHANGED
    assert "self.__rtp_exited.wait()" in inspect.getsource(RTCRtpSender.stop), CHANGED
    assert "await self._retransmit(seq)" in inspect.getsource(
        RTCRtpSender._handle_rtcp_packet), CHANGED
    run = inspect.getsource(RTCRtpSender._run_rtp)
    for line in ("self.__rtp_started.set()", "self.__rtp_exited.set()",
                 "enc_frame = await self._next_encoded_frame(codec)",
                 "timestamp = uint32_add(timestamp_origin, enc_frame.timestamp)",
                 "packet.extensions.mid = self.__mid",
                 "clock.current_ntp_time() >> 14",
                 "self.__ntp_timestamp = clock.current_ntp_time()",
                 "self.__rtp_timestamp = packet.timestamp", "self.__octet_count += len(payload)",
                 "self.__packet_count += 1", "packet.marker = (i == len(enc_frame.payloads) - 1)",
                 "except (asyncio.CancelledError, ConnectionError, MediaStreamError):",
                 "self.__track.stop()", "self.__encoder = None"):
        assert line in run, (line, CHANGED)
    assert "wrap_rtx(" in inspect.getsource(RTCRtpSender._retransmit), CHANGED
    dtls_send = inspect.getsource(RTCDtlsTransport._send_rtp)
    for line in ("if self._state != State.CONNECTED:", "data = self._tx_srtp.protect(data)",
                 "await self.transport._send(data)", "self.__tx_bytes += len(data)",
                 "self.__tx_packets += 1"):
        assert line in dtls_send, (line, CHANGED)
    assert "self._send = self._connection.send" in inspect.getsource(RTCIceTransport.__init__)
    sendto = inspect.getsource(Connection.sendto)
    assert "active_pair = self._nominated.get(component)" in sendto, CHANGED
    assert "active_pair.protocol.send_data(data, active_pair.remote_addr)" in sendto, CHANGED
    assert "self.transport.sendto(data, addr)" in inspect.getsource(
        aioice.ice.StunProtocol.send_data), CHANGED



def test_viewer_rtcp_internals_are_unchanged() -> None:
    """What ``aiortc_hooks.ViewerRtcp`` stands in for: aioice hands every non-STUN datagram to
    ``Connection.data_received``, which queues it for the DTLS transport's loop; that loop
    counts it, decrypts SRTCP and routes each packet to the sender named by its media SSRC (or
    a REMB's list)."""
    assert "self.receiver.data_received(data, self.local_candidate.component)" in (
        inspect.getsource(aioice.ice.StunProtocol.datagram_received)), CHANGED
    assert "self._queue.put_nowait((data, component))" in inspect.getsource(
        Connection.data_received), CHANGED
    recv = inspect.getsource(RTCDtlsTransport._recv_next)
    for line in ("self.__rx_bytes += len(data)", "self.__rx_packets += 1",
                 "elif first_byte > 127 and first_byte < 192 and self._rx_srtp:",
                 "if is_rtcp(data):", "data = self._rx_srtp.unprotect_rtcp(data)",
                 "await self._handle_rtcp_data(data)", "except pylibsrtp.Error as exc:"):
        assert line in recv, (line, CHANGED)
    assert _params(RTCDtlsTransport._handle_rtcp_data) == ["self", "data"], CHANGED
    route = inspect.getsource(RtpRouter.route_rtcp)
    for line in ("add_recipient(self.senders.get(packet.media_ssrc))",
                 "for ssrc in rtp.unpack_remb_fci(packet.fci)[1]:"):
        assert line in route, (line, CHANGED)
    assert "self._rtp_router.register_sender(sender, ssrc=sender._ssrc)" in inspect.getsource(
        RTCDtlsTransport._register_rtp_sender), CHANGED
    handle = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    for line in ("RTCP_PSFB_FIR,", "RTCP_PSFB_PLI,", "self._send_keyframe()",
                 "elif isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:",
                 "for seq in packet.lost:",
                 'if self.__encoder and hasattr(self.__encoder, "target_bitrate"):'):
        assert line in handle, (line, CHANGED)
    assert not hasattr(aiortc_hooks.Packetizer("VP8"), "target_bitrate")


async def test_forwarding_reads_fresh_senders_attributes() -> None:
    pc = RTCPeerConnection(configuration=NO_ICE_SERVERS)
    try:
        sender = pc.addTransceiver("video", direction="sendonly").sender
        for name in ("_RTCRtpSender__rtp_started", "_RTCRtpSender__rtp_exited",
                     "_RTCRtpSender__rtp_header_extensions_map", "_RTCRtpSender__mid",
                     "_RTCRtpSender__rtx_payload_type", "_RTCRtpSender__rtx_sequence_number",
                     "_RTCRtpSender__ntp_timestamp", "_RTCRtpSender__rtp_timestamp",
                     "_RTCRtpSender__octet_count", "_RTCRtpSender__packet_count",
                     "_RTCRtpSender__track", "_ssrc", "_rtx_ssrc", "_enabled"):
            assert hasattr(sender, name), (name, CHANGED)
        dtls = sender.transport
        for name in ("_state", "_tx_srtp", "_RTCDtlsTransport__tx_bytes",
                     "_RTCDtlsTransport__tx_packets", "_rx_srtp", "_rtp_router",
                     "_RTCDtlsTransport__rx_bytes", "_RTCDtlsTransport__rx_packets"):
            assert hasattr(dtls, name), (name, CHANGED)
        assert isinstance(dtls.transport._connection._nominated, dict), CHANGED
        assert isinstance(dtls._rtp_router.senders, dict), CHANGED
        aiortc_hooks.passthrough_sender(sender, "VP8", lambda: None)
        state = aiortc_hooks.forwarding_state(sender)
        assert state is not None and state.out is None  # made when the sender starts
    finally:
        await pc.close()


def test_gathering_internals_are_unchanged() -> None:
    # aioice binds host candidates on what this module function returns, looked up at each
    # gathering: host_candidates replaces it
    assert _params(aioice.ice.get_host_addresses) == ["use_ipv4", "use_ipv6"], CHANGED
    gather = inspect.getsource(Connection.gather_candidates)
    assert "addresses = get_host_addresses(" in gather, CHANGED
    assert "get_component_candidates(component=component, addresses=addresses)" in gather, CHANGED
    component = inspect.getsource(Connection.get_component_candidates)
    assert "for address in addresses:" in component and "local_addr=(address, 0)" in component
    # aiortc gathers inside setLocalDescription, in tasks that inherit the caller's context
    local = inspect.getsource(RTCPeerConnection.setLocalDescription)
    assert "await self.__gather()" in local, CHANGED
    gatherer = inspect.getsource(RTCPeerConnection._RTCPeerConnection__gather)  # type: ignore[attr-defined]
    assert "await asyncio.gather(*coros)" in gatherer, CHANGED
    assert "await self._connection.gather_candidates()" in inspect.getsource(
        RTCIceGatherer.gather), CHANGED


async def test_host_candidates_choose_the_addresses_of_one_connection_only() -> None:
    """Two connections gathering at the same time, each within its own choice, get their own
    addresses: the choice belongs to the connection gathered in the block, not to the process.
    Both stay on loopback (127.0.0.0/8): no test peer binds the machine's other interfaces."""
    one, two = (RTCPeerConnection(configuration=NO_ICE_SERVERS) for _ in range(2))

    async def gather(pc: RTCPeerConnection, address: str) -> list[str]:
        pc.addTransceiver("video", direction="recvonly")
        with aiortc_hooks.host_candidates(lambda v4, v6: [address]):
            await pc.setLocalDescription(await pc.createOffer())
        return candidate_addresses(pc.localDescription.sdp)

    try:
        assert await asyncio.gather(gather(one, "127.0.0.1"), gather(two, "127.0.0.2")) == [
            ["127.0.0.1"], ["127.0.0.2"]]
    finally:
        await one.close()
        await two.close()
    # outside any block, a connection gathers where aioice itself would (never on loopback):
    # the addresses are only listed here, nothing is bound
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True)


async def test_hooks_attach_to_fresh_aiortc_objects() -> None:
    pc = RTCPeerConnection(configuration=NO_ICE_SERVERS)
    try:
        video = pc.addTransceiver("video", direction="recvonly")
        assert hasattr(video.receiver, "_RTCRtpReceiver__decoder_queue"), CHANGED
        assert video.receiver._RTCRtpReceiver__decoder_thread is None, CHANGED
        aiortc_hooks.tap_receiver(video.receiver, lambda *a: None)
        assert aiortc_hooks.is_tapped(video.receiver)
        assert hasattr(video.sender, "_RTCRtpSender__encoder"), CHANGED
        aiortc_hooks.passthrough_sender(video.sender, "VP8", lambda: None)
        assert aiortc_hooks.is_passthrough(video.sender)
    finally:
        await pc.close()


@pytest.mark.parametrize("codec", ["VP8", "H264", "opus"])
def test_packetizer_round_trips_through_aiortc_depayloaders(codec: str) -> None:
    if codec == "H264":
        data = b"\x00\x00\x00\x01\x67" + bytes(20) + b"\x00\x00\x00\x01\x68" + bytes(4) + \
            b"\x00\x00\x00\x01\x65" + bytes(range(256)) * 12
        depayload = h264_depayload
    elif codec == "VP8":
        data = b"\x10\x02\x00\x9d\x01\x2a" + bytes(range(256)) * 12
        depayload = vp8_depayload
    else:
        data, depayload = bytes(range(80)), bytes
    frame = EncodedFrame("audio" if codec == "opus" else "video", codec, data, 1234,
                         48000 if codec == "opus" else 90000, True)
    payloads, timestamp = aiortc_hooks.Packetizer(codec).pack(frame)
    assert timestamp == 1234
    assert len(payloads) >= (1 if codec == "opus" else 2)
    assert b"".join(depayload(p) for p in payloads) == data


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_server_never_encodes_or_decodes_for_viewers(
        live: LiveApp, codec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Count every codec object aiortc creates in this process (clients included) while one
    publisher and three viewers run: exactly the publisher client's encoder and each viewer
    client's decoder, none on the server."""
    created: list[str] = []
    for module, name in [(vpx, "Vp8Encoder"), (vpx, "Vp8Decoder"), (h264, "H264Encoder"),
                         (h264, "H264Decoder"), (opus, "OpusEncoder"), (opus, "OpusDecoder")]:
        cls = getattr(module, name)
        original = cls.__init__

        def counting(self: Any, *args: Any, __orig: Any = original, __name: str = name,
                     **kw: Any) -> None:
            created.append(__name)
            __orig(self, *args, **kw)
        monkeypatch.setattr(cls, "__init__", counting)

    room = await live.live_room("alice")
    publisher = Publisher(codec)
    viewers = [Viewer() for _ in range(3)]
    async with aiohttp.ClientSession() as http:
        try:
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            for v in viewers:
                assert await v.watch(http, f"{live.base}/api/rooms/{room}/whep") == 201
            for v in viewers:
                await v.wait_for(lambda v=v: v.decoded >= 20)
                assert set(v.sizes) == {(WIDTH, HEIGHT)}
            media = app_of(live)[MEDIA]
            server_pcs = [s.pc for s in media.sessions.values()]
            assert len(server_pcs) == 4
            for pc in server_pcs:
                for t in pc.getTransceivers():
                    if t.currentDirection == "sendonly":
                        assert aiortc_hooks.is_passthrough(t.sender)
                    if t.currentDirection == "recvonly":
                        assert aiortc_hooks.is_tapped(t.receiver)
        finally:
            for v in viewers:
                await v.close()
            await publisher.close()
    name = "Vp8" if codec == "VP8" else "H264"
    assert sorted(created) == sorted([f"{name}Encoder"] + [f"{name}Decoder"] * 3)
