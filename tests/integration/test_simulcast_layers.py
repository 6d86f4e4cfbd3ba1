"""Simulcast received whole: a publisher sending three layers (320x240, 160x120, 64x48, each
from its own encoder) has every layer relayed, each WHEP viewer receives the layer it chose
(or its network carries), a switch happens at a keyframe of the new layer with only that layer
asked for one, and a viewer losing packets moves down while the others stay
(media/simulcast.py, media/layers.py, docs/ARCHITECTURE.md "Simulcast")."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
from aiohttp.test_utils import TestClient
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.rtcdtlstransport import RTCDtlsTransport, RtpRouter
from aiortc.rtcpeerconnection import create_media_description_for_transceiver
from aiortc.rtcrtpreceiver import RemoteStreamTrack, RTCRtpReceiver
from aiortc.rtp import HeaderExtensionsMap

from live_server import config
from live_server.media.simulcast import REPAIRED_RID_URI, RID_URI, parse
from live_server.web.media import MEDIA
from tests.conftest import LiveApp, token
from tests.helpers import WAIT_S
from tests.integration.media_peers import Viewer, app_of, local_offer, post_sdp
from tests.integration.media_waits import until
from tests.integration.simulcast_peers import LAYERS, LossyPath, SimulcastPublisher
from tests.integration.test_hls_live import hls_app, names_in

SIZES = {rid: (w, h) for rid, w, h in LAYERS}


@dataclasses.dataclass
class Show:
    room: str
    publisher: SimulcastPublisher
    http: aiohttp.ClientSession
    whep: str
    media: Any
    viewers: list[Viewer] = dataclasses.field(default_factory=list)

    async def viewer(self, layer: str | None = None) -> Viewer:
        viewer = Viewer()
        self.viewers.append(viewer)
        query = f"?layer={layer}" if layer else ""
        assert await viewer.watch(self.http, self.whep + query) == 201
        return viewer

    def session(self, viewer: Viewer) -> Any:
        assert viewer.location is not None
        return self.media.sessions[viewer.location.rsplit("/", 1)[1]]

    def state(self) -> dict[str, Any]:
        rooms: dict[str, Any] = self.media.state()["rooms"]
        return dict(rooms[self.room])

    async def choose(self, viewer: Viewer, layer: str) -> tuple[int, Any]:
        assert viewer.location is not None
        async with self.http.post(viewer.location + "/layer", json={"layer": layer}) as resp:
            return resp.status, await resp.json()

    async def layer_of(self, viewer: Viewer) -> Any:
        assert viewer.location is not None
        async with self.http.get(viewer.location + "/layer") as resp:
            assert resp.status == 200
            return await resp.json()


@contextlib.asynccontextmanager
async def simulcast_show(live: LiveApp, codec: str = "VP8",
                         form: str = "rid") -> AsyncIterator[Show]:
    room = await live.live_room("alice")
    publisher = SimulcastPublisher(codec, form)
    async with aiohttp.ClientSession() as http:
        show = Show(room, publisher, http, f"{live.base}/api/rooms/{room}/whep",
                    app_of(live)[MEDIA])
        try:
            assert await publisher.publish(http, f"{live.base}/api/rooms/{room}/whip",
                                           token("alice", "creator")) == 201
            # every layer's size is known once its first keyframe arrived
            await until(lambda: [(x["width"], x["height"]) for x in show.state()["layers"]]
                        == [SIZES["h"], SIZES["m"], SIZES["l"]])
            yield show
        finally:
            for viewer in show.viewers:
                await viewer.close()
            await publisher.close()


CHANGED = "aiortc changed what live_server/media/aiortc_hooks.receive_simulcast relies on"


def test_the_internals_the_layer_receivers_rely_on_are_unchanged() -> None:
    """The RID extensions reach the answer and the packet parser through the transceiver's
    header extension list; an extra receiver hands frames on while its decoder thread is set,
    registers with the router in receive() and can be unregistered; the REMB estimator, RTX
    table, kind and RTCP SSRC are the attributes the hooks share or fill
    (aiortc_hooks.py, "Receiving simulcast")."""
    remote = inspect.getsource(RTCPeerConnection.setRemoteDescription)
    assert "transceiver._headerExtensions = find_common_header_extensions(" in remote, CHANGED
    assert "headerExtensions=transceiver._headerExtensions," in inspect.getsource(
        create_media_description_for_transceiver), CHANGED
    assert "headerExtensions=transceiver._headerExtensions," in inspect.getsource(
        RTCPeerConnection._RTCPeerConnection__remoteRtp), CHANGED  # type: ignore[attr-defined]
    handle = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "if encoded_frame is not None and self.__decoder_thread:" in handle, CHANGED
    assert "self.__remote_bitrate_estimator.add(" in handle, CHANGED
    assert "original_ssrc = self.__rtx_ssrc.get(packet.ssrc)" in handle, CHANGED
    receive = inspect.getsource(RTCRtpReceiver.receive)
    assert "self._track._queue," in receive, CHANGED
    assert "self.__transport._register_rtp_receiver(self, parameters)" in receive, CHANGED
    init = inspect.getsource(RTCRtpReceiver.__init__)
    for name in ("self.__kind = kind", "self.__rtx_ssrc: dict[int, int] = {}",
                 "self.__remote_bitrate_estimator = RemoteBitrateEstimator()",
                 "self.__rtcp_ssrc: Optional[int] = None"):
        assert name in init, CHANGED
    assert "self._rtp_router.unregister_receiver(receiver)" in inspect.getsource(
        RTCDtlsTransport._unregister_rtp_receiver), CHANGED
    route = inspect.getsource(RtpRouter.route_rtcp)
    assert "add_recipient(self.ssrc_table.get(packet.ssrc))" in route, CHANGED
    assert "for source in packet.sources:" in route, CHANGED
    unregister = inspect.getsource(RtpRouter.unregister_receiver)
    assert "receivers.discard(receiver)" in unregister, CHANGED
    configure = inspect.getsource(HeaderExtensionsMap.configure)
    assert RID_URI in configure and REPAIRED_RID_URI in configure, CHANGED
    assert list(inspect.signature(RTCRtpSender._handle_rtcp_packet).parameters) == [
        "self", "packet"], CHANGED
    assert list(inspect.signature(RemoteStreamTrack).parameters) == ["kind", "id"], CHANGED


def test_simulcast_offers_are_read_in_both_forms() -> None:
    rid = ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
           "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n"
           "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
           "a=rid:f send max-width=1280\r\na=rid:h send\r\na=rid:q send\r\n"
           "a=simulcast:send f;h;~q\r\n")
    offer = parse(rid)
    assert offer is not None and offer.names == ["f", "h", "q"] and offer.ssrcs == ()
    assert offer.answer_lines() == ["a=rid:f recv", "a=rid:h recv", "a=rid:q recv",
                                    "a=simulcast:recv f;h;~q"]
    # without the rtp-stream-id extension nothing tells the layers' packets apart
    assert parse(rid.replace("sdes:rtp-stream-id", "sdes:mid")) is None
    sim = parse("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:0\r\n"
                "a=ssrc-group:FID 11 21\r\na=ssrc-group:FID 12 22\r\n"
                "a=ssrc-group:SIM 11 12\r\n")
    assert sim is not None and sim.ssrcs == (11, 12) and dict(sim.rtx) == {21: 11, 22: 12}
    assert sim.answer_lines() == []
    assert parse("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n") is None


@pytest.mark.parametrize(("codec", "form"), [("VP8", "rid"), ("H264", "rid"), ("VP8", "ssrc")])
async def test_each_layer_reaches_the_viewers_who_chose_it(live: LiveApp, codec: str,
                                                           form: str) -> None:
    async with simulcast_show(live, codec, form) as show:
        if form == "rid":
            answer = show.publisher.answer
            assert "a=simulcast:recv h;m;l" in answer
            assert all(f"a=rid:{rid} recv" in answer for rid in "hml")
            assert "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id" in answer
        chosen = {rid: await show.viewer(rid) for rid in "hml"}
        for viewer in chosen.values():
            await viewer.wait_for(lambda v=viewer: v.decoded >= 10)  # type: ignore[misc]
        for rid, viewer in chosen.items():
            assert set(viewer.sizes) == {SIZES[rid]}, rid
            state = await show.layer_of(viewer)
            assert (state["mode"], state["layer"], state["switching_to"]) == (rid, rid, None)
            assert [x["name"] for x in state["layers"]] == ["h", "m", "l"]
        await until(lambda: all(x["bitrate"] > 0 for x in show.state()["layers"]))
        # each layer's receiver reports on its own stream, sender reports included: the
        # publisher knows the round trip of every layer (a browser's bandwidth estimate uses it)
        await until(lambda: all(sender._RTCRtpSender__rtt is not None  # type: ignore[attr-defined]
                                for sender in show.publisher.senders.values()))
        layers = show.state()["layers"]
        assert [x["viewers"] for x in layers] == [1, 1, 1]
        assert all(x["active"] for x in layers)
        assert show.state()["other_layer_packets"] == 0


def count_keyframe_requests(viewer: Viewer) -> list[int]:
    """The PLIs ``viewer`` sends (its decoder asks for one after a picture it cannot
    decode): a list whose length is the count."""
    sent: list[int] = []
    receiver = next(t.receiver for t in viewer.pc.getTransceivers() if t.kind == "video")
    send = receiver._send_rtcp_pli

    async def counted(media_ssrc: int) -> None:
        sent.append(media_ssrc)
        await send(media_ssrc)
    receiver._send_rtcp_pli = counted  # type: ignore[method-assign]
    return sent


async def test_a_switch_starts_at_a_keyframe_of_the_new_layer_asked_of_it_alone(
        live: LiveApp) -> None:
    async with simulcast_show(live) as show:
        viewer = await show.viewer("h")
        plis = count_keyframe_requests(viewer)
        await viewer.wait_for(lambda: viewer.decoded >= 15)
        asked = dict(show.publisher.keyframe_requests)
        status, state = await show.choose(viewer, "l")
        assert status == 200 and state["mode"] == "l"
        assert state["switching_to"] == "l" or state["layer"] == "l"
        await viewer.wait_for(lambda: viewer.sizes.count(SIZES["l"]) >= 15)
        first = viewer.sizes.index(SIZES["l"])
        # the large picture until the switch, then only the small one: the first frame of the
        # new layer was its keyframe (anything else would not decode, and the viewer would
        # have asked for a keyframe)
        assert set(viewer.sizes[:first]) == {SIZES["h"]}
        assert set(viewer.sizes[first:]) == {SIZES["l"]}
        assert plis == []
        now = show.publisher.keyframe_requests
        assert now["l"] > asked["l"]
        assert (now["h"], now["m"]) == (asked["h"], asked["m"])  # nobody else paid for it
        state = await show.layer_of(viewer)
        assert (state["layer"], state["switching_to"]) == ("l", None)
        assert show.session(viewer).video_track.switches == 1

        # and back up, in auto: the largest layer again
        status, state = await show.choose(viewer, "auto")
        assert status == 200 and state["mode"] == "auto"
        status, state = await show.choose(viewer, "h")
        await viewer.wait_for(lambda: viewer.sizes[-1] == SIZES["h"])
        assert plis == []


async def test_a_bad_layer_choice_is_refused(live: LiveApp) -> None:
    async with simulcast_show(live) as show:
        async with show.http.post(show.whep + "?layer=huge", data="v=0",
                                  headers={"Content-Type": "application/sdp"}) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == "invalid_field"
        viewer = await show.viewer()
        for body in ({"layer": "huge"}, {"layer": 1}, {"level": "h"}):
            assert viewer.location is not None
            async with show.http.post(viewer.location + "/layer", json=body) as resp:
                assert resp.status == 400, body
                assert (await resp.json())["error"]["code"] == "invalid_field"
        async with show.http.post(viewer.location + "/layer", json={}) as resp:
            assert (await resp.json())["error"]["code"] == "missing_field"
        async with show.http.post(show.whep + "/nosuchsession/layer",
                                  json={"layer": "h"}) as resp:
            assert resp.status == 404


async def watch_through(viewer: Viewer, path: LossyPath, show: Show) -> None:
    """``viewer`` watches with every packet of its session through ``path``."""
    status, headers, body = await post_sdp(
        show.http, show.whep, path.offer(await local_offer(viewer.pc)))
    assert status == 201
    viewer.location = headers["Location"]
    show.viewers.append(viewer)
    await viewer.pc.setRemoteDescription(RTCSessionDescription(path.answer(body), "answer"))


async def test_a_viewer_losing_packets_moves_down_and_the_others_stay(live: LiveApp) -> None:
    path = LossyPath()
    await path.start()
    try:
        async with simulcast_show(live) as show:
            steady, lossy = await show.viewer(), Viewer()
            await watch_through(lossy, path, show)
            for viewer in (steady, lossy):  # auto: both start on the largest layer
                await viewer.wait_for(lambda v=viewer: v.decoded >= 10)  # type: ignore[misc]
                assert set(viewer.sizes) == {SIZES["h"]}
            track = show.session(lossy).video_track
            path.loss = 0.25
            await until(lambda: track.layer == 2)  # down one layer, then the next
            await lossy.wait_for(lambda: lossy.sizes[-1] == SIZES["l"])
            assert track.chooser.downs == 2 and track.loss is not None and track.loss > 0.1
            state = show.state()
            assert [x["viewers"] for x in state["layers"]] == [1, 0, 1]
            before = steady.decoded
            await steady.wait_for(lambda: steady.decoded >= before + 30)
            assert set(steady.sizes) == {SIZES["h"]}  # the steady viewer never moved
            assert show.session(steady).video_track.switches == 0
            assert path.dropped > 0
    finally:
        path.close()


async def test_a_paused_layer_sends_its_viewers_to_the_nearest_layer(live: LiveApp) -> None:
    """The publisher stops sending the middle layer (a browser short of upload pauses one):
    its auto viewer moves to the nearest layer that still arrives, the smaller one first."""
    async with simulcast_show(live) as show:
        viewer = await show.viewer()
        await viewer.wait_for(lambda: viewer.decoded >= 5)
        status, _ = await show.choose(viewer, "m")
        assert status == 200
        await viewer.wait_for(lambda: viewer.sizes[-1] == SIZES["m"])
        status, _ = await show.choose(viewer, "auto")  # stays on m while m arrives
        show.publisher.stop_layer("m")
        await until(lambda: not show.state()["layers"][1]["active"])
        await viewer.wait_for(lambda: viewer.sizes[-1] == SIZES["l"])
        state = await show.layer_of(viewer)
        assert (state["mode"], state["layer"]) == ("auto", "l")
        assert [x["active"] for x in state["layers"]] == [True, False, True]


async def test_hls_follows_the_largest_layer(
        aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
        settings_factory: Callable[..., config.Settings], tmp_path: Path) -> None:
    live = await hls_app(aiohttp_client, settings_factory, tmp_path / "hls")
    async with simulcast_show(live, "H264") as show:
        url = f"{live.base}/hls/{show.room}/index.m3u8"

        async def segment() -> bytes | None:
            async with show.http.get(url) as resp:
                names = names_in(await resp.text()) if resp.status == 200 else []
            if not names:
                return None
            async with show.http.get(f"{live.base}/hls/{show.room}/{names[0]}") as resp:
                return await resp.read()

        async with asyncio.timeout(WAIT_S):  # a hang guard
            body = await segment()
            while body is None:
                await asyncio.sleep(0.1)
                body = await segment()
        with av.open(io.BytesIO(body), format="mpegts") as container:
            sizes = {(f.width, f.height) for f in container.decode(video=0)}
        assert sizes == {SIZES["h"]}
