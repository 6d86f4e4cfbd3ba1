"""A simulcast WHIP publisher for the tests: aiortc cannot send simulcast itself, so this one
runs an encoder per layer (each an ``RTCRtpSender`` of its own picture size on the connection's
DTLS transport) and writes the offer a browser or OBS would:

* ``form="rid"``: ``a=rid:<id> send`` lines, ``a=simulcast:send h;m;l`` and the two RID header
  extensions; every packet of a layer carries its RID in ``rtp-stream-id`` (retransmissions in
  ``repaired-rtp-stream-id``), stamped on its way to the transport, as browsers do;
* ``form="ssrc"``: ``a=ssrc-group:SIM`` with each layer's SSRC and an ``a=ssrc-group:FID`` per
  layer for its retransmissions, no RIDs.

It counts, per layer, the keyframe requests (PLI/FIR) the server sends it, as a browser's
``pliCount``/``firCount`` per encoding would."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpSendParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket, is_rtcp
from multidict import CIMultiDict

from live_server.media import aiortc_hooks, ice
from live_server.media.simulcast import REPAIRED_RID_URI, RID_URI
from tests.helpers import WAIT_S
from tests.integration.media_peers import (
    NO_ICE_SERVERS,
    MovingPicture,
    _prefer,
    post_sdp,
    until,
)

RID_ID, REPAIRED_ID = 10, 11
#: (rid, width, height) of each layer, in the offer's order
LAYERS = (("h", 320, 240), ("m", 160, 120), ("l", 64, 48))


class RidStamp:
    """The DTLS transport as one layer's sender sees it: every RTP packet leaves with the
    layer's RID in its header extensions (``repaired-rtp-stream-id`` on retransmissions)."""

    def __init__(self, transport: Any, rid: str, rtx_payload_types: set[int],
                 extensions: list[RTCRtpHeaderExtensionParameters]) -> None:
        self._transport = transport
        self._rid = rid
        self._rtx = rtx_payload_types
        self._map = HeaderExtensionsMap()
        self._map.configure(RTCRtpSendParameters(headerExtensions=[
            *extensions, RTCRtpHeaderExtensionParameters(id=RID_ID, uri=RID_URI),
            RTCRtpHeaderExtensionParameters(id=REPAIRED_ID, uri=REPAIRED_RID_URI)]))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    async def _send_rtp(self, data: bytes) -> None:
        if not is_rtcp(data):
            packet = RtpPacket.parse(data, self._map)
            if packet.payload_type in self._rtx:
                packet.extensions.repaired_rtp_stream_id = self._rid
            else:
                packet.extensions.rtp_stream_id = self._rid
            data = packet.serialize(self._map)
        await self._transport._send_rtp(data)


class SimulcastPublisher:
    """A WHIP client sending ``layers`` (rid, width, height) of one moving picture."""

    def __init__(self, codec: str = "VP8", form: str = "rid",
                 layers: tuple[tuple[str, int, int], ...] = LAYERS,
                 addresses: tuple[str, ...] = ("127.0.0.1",)) -> None:
        self.form = form
        self.addresses = ice.HostAddresses(addresses)
        self.pc = RTCPeerConnection(configuration=NO_ICE_SERVERS)
        self.transceiver = self.pc.addTransceiver("video", direction="sendonly")
        _prefer(self.transceiver, "video", codec)
        self.rids = [rid for rid, _, _ in layers]
        self.pictures = {rid: MovingPicture(w, h) for rid, w, h in layers}
        self.keyframe_requests = dict.fromkeys(self.rids, 0)
        self.senders: dict[str, RTCRtpSender] = {}
        self._changed = asyncio.Event()
        self.pc.on("connectionstatechange", self._changed.set)
        self.location: str | None = None
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.answer = ""

    def _sender(self, rid: str, transport: Any) -> RTCRtpSender:
        sender = RTCRtpSender(self.pictures[rid], transport)
        make_keyframe = sender._send_keyframe

        def on_keyframe_request() -> None:
            self.keyframe_requests[rid] += 1
            self._changed.set()
            make_keyframe()
        sender._send_keyframe = on_keyframe_request  # type: ignore[method-assign]
        return sender

    async def offer(self) -> str:
        dtls = self.transceiver.sender.transport
        if self.form == "ssrc":  # the SSRCs go into the offer: the senders exist first
            for rid in self.rids:
                self.senders[rid] = self._sender(rid, dtls)
        with aiortc_hooks.host_candidates(self.addresses):
            await self.pc.setLocalDescription(await self.pc.createOffer())
        return self._simulcast_offer(str(self.pc.localDescription.sdp))

    def _simulcast_offer(self, offer: str) -> str:
        out: list[str] = []
        video = False
        for line in offer.split("\r\n"):
            if line.startswith("m="):
                video = line.startswith("m=video")
            if video and line.startswith(("a=ssrc:", "a=ssrc-group:")):
                continue  # the unused transceiver sender's streams
            out.append(line)
            if not (video and line.startswith("a=mid:")):
                continue
            if self.form == "rid":
                out += [f"a=extmap:{RID_ID} {RID_URI}",
                        f"a=extmap:{REPAIRED_ID} {REPAIRED_RID_URI}"]
                out += [f"a=rid:{rid} send" for rid in self.rids]
                out.append("a=simulcast:send " + ";".join(self.rids))
            else:
                for sender in self.senders.values():
                    for ssrc in (sender._ssrc, sender._rtx_ssrc):
                        out.append(f"a=ssrc:{ssrc} cname:simulcast-test")
                    out.append(f"a=ssrc-group:FID {sender._ssrc} {sender._rtx_ssrc}")
                out.append("a=ssrc-group:SIM " + " ".join(
                    str(s._ssrc) for s in self.senders.values()))
        return "\r\n".join(out)

    async def publish(self, http: aiohttp.ClientSession, url: str, token: str) -> int:
        status, headers, body = await post_sdp(http, url, await self.offer(), token)
        self.headers = headers
        if status != 201:
            return status
        self.location, self.answer = headers["Location"], body
        await self.pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
        await self.wait_for(lambda: self.pc.connectionState == "connected")
        await self._start_layers()
        return status

    async def _start_layers(self) -> None:
        t = self.transceiver
        dtls = t.sender.transport
        rtx = {c.payloadType for c in t._codecs if c.mimeType.lower() == "video/rtx"}
        for rid in self.rids:
            sender = self.senders.get(rid)
            if sender is None:
                sender = self.senders[rid] = self._sender(
                    rid, RidStamp(dtls, rid, rtx, t._headerExtensions))
            params = RTCRtpSendParameters(codecs=t._codecs, headerExtensions=t._headerExtensions,
                                          muxId=t.mid)
            params.rtcp.cname = "simulcast-test"
            params.rtcp.mux = True
            await sender.send(params)

    def stop_layer(self, rid: str) -> None:
        """The encoder of one layer stops (a browser pausing a layer it lacks upload for)."""
        self.pictures[rid].stop()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
        await until(self._changed, predicate, timeout)

    async def close(self) -> None:
        for sender in self.senders.values():
            await sender.stop()
        await self.pc.close()


class _Side(asyncio.DatagramProtocol):
    def __init__(self, deliver: Callable[[bytes], None]) -> None:
        self.deliver = deliver

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.deliver(data)


class LossyPath:
    """A viewer's network path on loopback that loses packets: a UDP relay between the viewer
    and the server (both sides' candidates are rewritten to it, so every packet of the
    session passes through, as through a NAT) that drops ``loss`` of the server's RTP packets
    to the viewer once ``loss`` is set. STUN, DTLS and RTCP always pass."""

    def __init__(self) -> None:
        self.loss = 0.0
        self.dropped = 0
        self._count = 0.0
        self._viewer_side: asyncio.DatagramTransport | None = None
        self._server_side: asyncio.DatagramTransport | None = None
        self._viewer: tuple[str, int] | None = None
        self._server: tuple[str, int] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._viewer_side, _ = await loop.create_datagram_endpoint(
            lambda: _Side(self._to_server), local_addr=("127.0.0.1", 0))
        self._server_side, _ = await loop.create_datagram_endpoint(
            lambda: _Side(self._to_viewer), local_addr=("127.0.0.1", 0))

    def _port(self, side: asyncio.DatagramTransport | None) -> int:
        assert side is not None
        return int(side.get_extra_info("sockname")[1])

    def offer(self, sdp: str) -> str:
        """The viewer's offer as the server must see it: its candidate is the relay's."""
        self._viewer = _candidate(sdp)
        return _rewrite(sdp, self._port(self._server_side))

    def answer(self, sdp: str) -> str:
        """The server's answer as the viewer must see it."""
        self._server = _candidate(sdp)
        return _rewrite(sdp, self._port(self._viewer_side))

    def _to_server(self, data: bytes) -> None:
        if self._server_side is not None and self._server is not None:
            self._server_side.sendto(data, self._server)

    def _to_viewer(self, data: bytes) -> None:
        if self._viewer_side is None or self._viewer is None:
            return
        if self.loss and 128 <= data[0] < 192 and not is_rtcp(data):
            self._count += self.loss
            if self._count >= 1:
                self._count -= 1
                self.dropped += 1
                return
        self._viewer_side.sendto(data, self._viewer)

    def close(self) -> None:
        for side in (self._viewer_side, self._server_side):
            if side is not None:
                side.close()


def _candidate(sdp: str) -> tuple[str, int]:
    """The address of an SDP's (only) UDP host candidate."""
    for line in sdp.split("\r\n"):
        parts = line.split(" ")
        if line.startswith("a=candidate:") and parts[2].lower() == "udp":
            return parts[4], int(parts[5])
    raise AssertionError("no UDP candidate in the SDP")


def _rewrite(sdp: str, port: int) -> str:
    out = []
    for line in sdp.split("\r\n"):
        parts = line.split(" ")
        if line.startswith("a=candidate:"):
            if parts[2].lower() != "udp":
                continue
            parts[4], parts[5] = "127.0.0.1", str(port)
            line = " ".join(parts)
        out.append(line)
    return "\r\n".join(out)
