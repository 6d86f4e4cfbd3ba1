"""Media use cases: who may publish or watch a room, where its media lives, what the room is
told. No aiohttp here; the handlers in ``web/media.py`` translate requests and answers.

Decisions (docs/ARCHITECTURE.md, "Media"):

* Only the room's creator (or ops) publishes. A second WHIP session for the same room
  *replaces* the first (a creator's client reconnecting must never be locked out by its own
  stale session); viewers keep watching when the codecs stay the same.
* A room's publisher and its WHEP viewers live in one process, the room's *media home*
  (``<prefix>:{room}:media_home`` in Valkey, refreshed while publishing). A WHEP request
  reaching another process is answered with ``MediaRedirect`` (HTTP 307) to the home's own URL.
  A WHIP request is never redirected: the process it reaches becomes the home (the previous
  home notices at its next refresh and drops the room quietly), so WHIP clients that do not
  follow redirects, and browsers that drop ``Authorization`` on cross-origin redirects, work.
* ``golive``: publishing to a scheduled room with ``?golive=1`` moves it to live when media
  flows (the publisher's first frame reaches the relay), not at the POST: a publisher whose
  ICE or DTLS never comes up leaves the room scheduled.
* ``video_started`` when the publisher's connection is up, ``video_stopped`` when it ends;
  viewers' sessions end with the publisher.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping

from live_server import events
from live_server.auth import Identity, require_moderator
from live_server.config import Settings
from live_server.domain import proxies
from live_server.domain.rooms import Room
from live_server.errors import (
    GuestsMustLogIn,
    IceRestartUnsupported,
    InvalidState,
    LiveError,
    MediaDisabled,
    MediaFull,
    MediaRedirect,
    NoPublisher,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
)
from live_server.media import aiortc_hooks, ice, sdp, simulcast, trickle, urls
from live_server.media.cohost import CohostMedia
from live_server.media.relay import RelayStats, RoomRelay, ViewerTrack
from live_server.media.sessions import MediaSession
from live_server.protocol import now_ms
from live_server.services.cohost import CohostService
from live_server.services.rooms import RoomService
from live_server.store.media import MediaStore
from live_server.store.rooms import RoomStore

log = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class MediaStats:
    """Where the media core reports (prometheus in the app)."""

    relay: RelayStats = dataclasses.field(default_factory=RelayStats)
    publishers: Callable[[int], None] = lambda n: None
    viewers: Callable[[int], None] = lambda n: None


class MediaService:
    def __init__(self, settings: Settings, room_store: RoomStore, rooms: RoomService,
                 store: MediaStore, stats: MediaStats | None = None,
                 cohost: CohostService | None = None) -> None:
        self.settings = settings
        self.cfg = settings.media
        self.room_store = room_store
        self.rooms = rooms
        self.store = store
        self.stats = stats or MediaStats()
        self.process_id = "m" + secrets.token_hex(6)
        self.ice_servers = ice.parse(self.cfg.ice_servers)
        self.rtc_config = ice.rtc_configuration(self.ice_servers)
        self.host_addresses = ice.host_addresses(self.cfg.ice_addresses)
        self.trusted_proxies = proxies.networks(settings.http.trusted_proxies)
        self.port: int | None = None    # this process's private media port (web layer sets it)
        self.relays: dict[str, RoomRelay] = {}
        self.publishers: dict[str, MediaSession] = {}
        self.sessions: dict[str, MediaSession] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._publish_locks: dict[str, asyncio.Lock] = {}  # per room; a few bytes each
        # in-process consumers of a room's encoded media (the HLS writer): called when a
        # room's publisher connects here (with its relay: ``relay.subscribe_encoded(kind)``)
        # and when it leaves (the relay's feeds have ended by then)
        self.on_video_started: list[Callable[[str, RoomRelay], None]] = []
        self.on_video_stopped: list[Callable[[str], None]] = []
        self._moved: set[str] = set()  # rooms whose publisher another process took over
        # guests publishing beside the host, and viewers of their streams (media/cohost.py)
        self.cohost = CohostMedia(self, cohost) if cohost is not None else None

    # life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        aiortc_hooks.check_version()
        self._loop_task = asyncio.create_task(self._maintain())

    async def stop(self) -> None:
        """Shutdown: close every session (publishers last, so their homes are released)."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self.cohost is not None:
            await self.cohost.stop()
        for session in [s for s in self.sessions.values() if s.role == "viewer"]:
            await session.close("shutdown")
        for session in list(self.publishers.values()):
            await session.close("shutdown")
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def home_url(self, request_host: str, peer: str | None = None,
                 headers: Mapping[str, str] | None = None) -> str:
        """This process's media URL as the request's client should see it (``media/urls.py``:
        ``public_url``, a trusted proxy's forwarded scheme and host, or the private port)."""
        return urls.base_url(self.cfg, self.trusted_proxies, self.port, request_host, peer,
                             headers or {})

    def moved_away(self, room_id: str) -> bool:
        """The room's video ended here because another process took its publisher over (the
        video goes on there: do not delete what the room shares across processes, e.g. its
        HLS folder)."""
        return room_id in self._moved

    def relay(self, room_id: str) -> RoomRelay | None:
        """This process's relay of a room (``subscribe_encoded`` for in-process consumers),
        or None when the room's publisher is not here."""
        return self.relays.get(room_id)

    # WHIP ------------------------------------------------------------------------------------

    async def publish(self, who: Identity, room_id: str, offer: str, url: str,
                      golive: bool) -> tuple[MediaSession, str, str]:
        """(session, SDP answer, home URL) for a publisher's offer; ``url`` is this process's
        media URL as the publisher sees it (``home_url``), recorded as the room's home."""
        self._require_enabled()
        room = await self.room_store.require(room_id)
        uid = require_moderator(who, room.creator_id)
        if room.state == "ended":
            raise InvalidState("the room has ended", state=room.state)
        tracks = sdp.plan_publish(offer)
        layers = simulcast.parse(offer)
        offered = simulcast.offered_layers(offer)
        if layers is not None:
            log.info("room %s: the publisher sends simulcast, %d layers (%s)", room_id,
                     layers.count, " ".join(layers.names))
        elif offered:
            log.info("room %s: the publisher offers simulcast (%s) without a way to tell the "
                     "layers apart (no rtp-stream-id header extension); one layer is relayed",
                     room_id, " ".join(offered))
        lock = self._publish_locks.setdefault(room_id, asyncio.Lock())
        async with lock:  # one replacement at a time: never two live publishers in a relay
            return await self._publish(who, uid, room, offer, tracks, url, golive, layers)

    async def _publish(self, who: Identity, uid: str, room: Room, offer: str,
                       tracks: list[sdp.Track], url: str, golive: bool,
                       layers: simulcast.SimulcastOffer | None = None,
                       ) -> tuple[MediaSession, str, str]:
        room_id = room.id
        self._moved.discard(room_id)
        previous = await self.store.claim(room_id, self.process_id, url,
                                          {t.kind: t.codec_name for t in tracks})
        if previous is not None and previous.process_id != self.process_id:
            log.info("room %s: publisher moves here from %s", room_id, previous.url)
        old = self.publishers.pop(room_id, None)
        relay = self.relays.get(room_id)
        formats = {t.kind: t.describe() for t in tracks}
        if relay is None or (old is not None and old.formats != formats):
            if relay is not None:
                await self._close_viewers(room_id, "publisher_changed_codec")
                relay.close()
            relay = self.relays[room_id] = RoomRelay(
                room_id, queue_frames=self.cfg.viewer_queue_frames,
                keyframe_min_ms=self.cfg.keyframe_request_min_ms, stats=self.stats.relay)
        if old is not None:
            old.replaced = True
            await old.close("replaced")
            relay.end_publisher()
        for t in tracks:
            relay.set_source(t.kind, t.codec_name, t.codec.clockRate)
        session = MediaSession(room_id, "publisher", self.rtc_config, self.cfg.session_idle_ms,
                               on_connected=self._publisher_connected,
                               on_end=self._publisher_ended, user_id=uid,
                               on_media=(self._go_live(who)
                                         if golive and room.state == "scheduled" else None),
                               host_addresses=self.host_addresses)
        # the room was told the video runs: if this session never connects, say it stopped
        session.announced = old is not None and (old.connected or old.announced)
        self.sessions[session.id] = session
        self.publishers[room_id] = session
        self._count()
        try:
            answer = await session.answer_publisher(offer, tracks, relay, layers)
        except Exception:
            await session.close("negotiation_failed")
            raise
        return session, sdp.announce(answer, self.cfg.announced_ip), url

    def _go_live(self, who: Identity) -> Callable[[MediaSession], Awaitable[None]]:
        """``?golive=1``: the room goes live at the session's first frame, as ``who`` (the
        publisher, checked at the POST), if it is still scheduled and still this session's."""
        async def go(session: MediaSession) -> None:
            if self.publishers.get(session.room_id) is not session:
                return
            try:
                room = await self.room_store.require(session.room_id)
                if room.state == "scheduled":
                    await self.rooms.transition(who, session.room_id, "live")
            except LiveError as err:  # started or ended meanwhile by someone else
                log.info("room %s: golive not applied (%s)", session.room_id, err.code)
        return go

    async def _publisher_connected(self, session: MediaSession) -> None:
        if self.publishers.get(session.room_id) is not session:
            return
        relay = self.relays.get(session.room_id)
        if relay is not None:
            self._notify(self.on_video_started, session.room_id, relay)
        await self.store.append_event(session.room_id,
                                      events.video_started(session.codecs, session.user_id))

    async def _publisher_ended(self, session: MediaSession) -> None:
        self.sessions.pop(session.id, None)
        if session.replaced or self.publishers.get(session.room_id) is not session:
            self._count()
            return
        room_id = session.room_id
        del self.publishers[room_id]
        relay = self.relays.pop(room_id, None)
        await self._close_viewers(room_id, "publisher_left")
        if relay is not None:
            relay.close()
        self._count()
        if session.connected or session.announced:
            self._notify(self.on_video_stopped, room_id)
        try:
            await self.store.release(room_id, self.process_id)
            if session.connected or session.announced:
                await self.store.append_event(room_id, events.video_stopped(session.end_reason))
        except Exception:  # shutting down with Valkey gone: the home key expires by itself
            log.warning("could not record the end of room %s's video", room_id, exc_info=True)

    async def video(self, room_id: str) -> dict[str, object]:
        """Whether the room has a publisher now and in which codecs (any process answers)."""
        await self.room_store.require(room_id)
        home = await self.store.home(room_id) if self.cfg.enabled else None
        if home is None:
            return {"publishing": False}
        return {"publishing": True, "codecs": home.codecs,
                "whep": f"/api/rooms/{room_id}/whep"}

    # WHEP ------------------------------------------------------------------------------------

    async def watch(self, who: Identity, room_id: str, offer: str,
                    layer: str = "auto") -> tuple[MediaSession, str]:
        """(session, SDP answer) for a viewer's offer; ``layer``: the simulcast layer it
        starts with (``media/layers.py``)."""
        self._require_enabled()
        room = await self.rooms.admit(room_id, who, guests_refused=GuestsMustLogIn)
        if room.state == "ended":
            raise InvalidState("the room has ended", state=room.state)
        retry_s = max(1, self.cfg.home_ttl_ms // 2000)
        home = await self.store.home(room_id)
        if home is None:
            raise NoPublisher(retry_s)
        if home.process_id != self.process_id:
            raise MediaRedirect(home.url)
        relay = self.relays.get(room_id)
        if relay is None or room_id not in self.publishers:
            raise NoPublisher(retry_s)
        if self._viewer_sessions(room_id) >= self.cfg.max_viewers_per_room:
            raise MediaFull(retry_s)
        published = {t.kind: t.codec for t in self.publishers[room_id].tracks}
        tracks = sdp.plan_view(offer, published)
        session = MediaSession(room_id, "viewer", self.rtc_config, self.cfg.session_idle_ms,
                               on_end=self._viewer_ended, user_id=who.user_id,
                               host_addresses=self.host_addresses)
        self.sessions[session.id] = session
        self._count()
        return session, await self.answer(session,
                                          session.answer_viewer(offer, tracks, relay, layer))

    async def answer(self, session: MediaSession, negotiation: Awaitable[str]) -> str:
        """The session's SDP answer as the client must see it (``media.announced_ip``); a
        negotiation that fails closes the session, so nothing is left open."""
        try:
            answer = await negotiation
        except Exception:
            await session.close("negotiation_failed")
            raise
        return sdp.announce(answer, self.cfg.announced_ip)

    def _viewer_sessions(self, room_id: str) -> int:
        return sum(1 for s in self.sessions.values()
                   if s.role == "viewer" and s.room_id == room_id)

    async def _viewer_ended(self, session: MediaSession) -> None:
        self.sessions.pop(session.id, None)
        self._count()

    async def _close_viewers(self, room_id: str, reason: str) -> None:
        for s in [s for s in self.sessions.values()
                  if s.role == "viewer" and s.room_id == room_id]:
            await s.close(reason)

    # sessions --------------------------------------------------------------------------------

    def session(self, room_id: str, role: str, session_id: str) -> MediaSession:
        s = self.sessions.get(session_id)
        if s is None or s.room_id != room_id or s.role != role:
            raise NotFound("no such session")
        return s

    async def patch(self, room_id: str, role: str, session_id: str, if_match: str | None,
                    fragment: str) -> None:
        """PATCH on a session URL (RFC 9725 4.3): trickled candidates reach the connection; an
        ICE restart is refused with 422 and the session goes on (aiortc cannot restart ICE on
        a running connection; the client may DELETE and POST a new offer instead)."""
        session = self.session(room_id, role, session_id)
        match = trickle.if_match(if_match, session.etag)
        if match is None:
            raise PreconditionRequired("PATCH needs If-Match: the session's ETag")
        frag = trickle.parse(fragment)
        if trickle.is_restart(frag, *session.remote_ice):
            raise IceRestartUnsupported("ICE restarts are not supported: to change network, "
                                        "DELETE the session and POST a new offer")
        if not match:
            raise PreconditionFailed("If-Match is not the session's current ETag")
        await session.trickle(frag)

    def layer(self, room_id: str, session_id: str, mode: str | None = None) -> dict[str, object]:
        """A WHEP session's simulcast layer: its choice set to ``mode`` (``auto``, ``h``,
        ``m``, ``l``) when given, and what it receives (``layer_state``). The session URL's
        secret is the capability, as for DELETE."""
        session = self.session(room_id, "viewer", session_id)
        track, relay = session.video_track, session.relay
        if track is None or relay is None:
            raise InvalidState("this session receives no video")
        if mode is not None:
            relay.choose_mode(track, mode)
        return layer_state(relay, track)

    async def end(self, room_id: str, role: str, session_id: str) -> None:
        """DELETE on a session URL: the URL's secret is the capability (RFC 9725 4.3)."""
        await self.session(room_id, role, session_id).close("deleted")

    async def end_room(self, room_id: str) -> None:
        """The room ended: its video ends too."""
        session = self.publishers.get(room_id)
        if session is not None:
            await session.close("room_ended")
        await self._close_viewers(room_id, "room_ended")

    async def _drop_room(self, room_id: str) -> None:
        """Another process took the room's publisher over: end everything here quietly (no
        ``video_stopped``: the video goes on there; viewers re-POST and are redirected)."""
        self._moved.add(room_id)
        session = self.publishers.pop(room_id, None)
        relay = self.relays.pop(room_id, None)
        if session is not None:
            session.replaced = True
            await session.close("moved")
        await self._close_viewers(room_id, "moved")
        if relay is not None:
            relay.close()
        self._count()
        if session is not None and (session.connected or session.announced):
            self._notify(self.on_video_stopped, room_id)

    # upkeep ----------------------------------------------------------------------------------

    async def _maintain(self) -> None:
        """Refresh the homes this process holds; end the video of rooms that ended."""
        interval = max(self.cfg.home_ttl_ms / 3000, 0.05)
        while True:
            await asyncio.sleep(interval)
            try:
                room_ids = list(self.publishers)
                lost = await self.store.refresh(room_ids, self.process_id)
                for room_id in lost:
                    log.info("room %s's publisher moved to another process", room_id)
                    await self._drop_room(room_id)
                for room in await self.room_store.many(room_ids):
                    if room.state == "ended":
                        await self.end_room(room.id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("media upkeep failed", exc_info=True)

    def _notify(self, listeners: list[Callable[..., None]], *args: object) -> None:
        for listener in listeners:
            try:
                listener(*args)
            except Exception:  # a consumer's bug must not break the broadcast
                log.exception("media listener %r failed", listener)

    def _count(self) -> None:
        self.stats.publishers(len(self.publishers))
        self.stats.viewers(sum(1 for s in self.sessions.values() if s.role == "viewer"))

    def _require_enabled(self) -> None:
        if not self.cfg.enabled:
            raise MediaDisabled("live video is turned off on this server")

    def _other_layer_packets(self, room_id: str) -> int:
        """Packets of streams that are not relayed (dropped on arrival, ``media/simulcast.py``):
        a publisher that offered no simulcast sending several streams anyway, or a simulcast
        publisher's streams that no layer claims."""
        session = self.publishers.get(room_id)
        if session is None:
            return 0
        dropped = 0
        for t in session.pc.getTransceivers():
            pin = aiortc_hooks.stream_pin(t.receiver)
            state = aiortc_hooks.simulcast_state(t.receiver)
            dropped += pin.dropped_packets if pin is not None else 0
            dropped += state.layers.unidentified if state is not None else 0
        return dropped


    def state(self) -> dict[str, object]:
        """For ops and tests: what this process holds."""
        return {
            "process_id": self.process_id, "port": self.port,
            "rooms": {rid: {"viewers": r.viewer_count, "frames_in": r.frames_in,
                            "keyframes_in": r.keyframes_in,
                            "keyframe_requests": r.keyframe_requests_sent,
                            "other_layer_packets": self._other_layer_packets(rid),
                            "layers": layer_list(r, with_viewers=True),
                            "sources": {k: v.codec for k, v in r.sources.items()}}
                      for rid, r in self.relays.items()},
            "sessions": len(self.sessions), "at": now_ms(),
        }


def layer_list(relay: RoomRelay, with_viewers: bool = False) -> list[dict[str, object]]:
    """A simulcast room's video layers from the largest down (empty for a single stream):
    each one's name for viewers, the publisher's name (``rid``), size, measured bitrate,
    whether it arrives, and for ops the number of viewers receiving it."""
    if len(relay.layers) < 2:
        return []
    names = relay.layer_names()
    statuses = {status.index: status for status in relay.layer_statuses()}
    viewers: dict[int, int] = {}
    for track in relay.video_viewers() if with_viewers else ():
        viewers[track.layer] = viewers.get(track.layer, 0) + 1
    out: list[dict[str, object]] = []
    for index in relay.ranking:
        layer = relay.layers[index]
        entry: dict[str, object] = {
            "name": names[index], "index": index, "rid": layer.name, "width": layer.width,
            "height": layer.height, "bitrate": layer.bitrate,
            "active": statuses[index].active}
        if with_viewers:
            entry["viewers"] = viewers.get(index, 0)
        out.append(entry)
    return out


def layer_state(relay: RoomRelay, track: ViewerTrack) -> dict[str, object]:
    """A viewer's layer: its choice (``mode``), the layer it receives and the one it is
    switching to (names; ``null`` while none, and for a single-stream room), and the room's
    layers."""
    names = relay.layer_names() if len(relay.layers) > 1 else {}
    return {"mode": track.chooser.mode, "layer": names.get(track.layer),
            "switching_to": names.get(track.target) if track.target is not None else None,
            "layers": layer_list(relay)}
