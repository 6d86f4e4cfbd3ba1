"""Co-hosting's media: a guest's WHIP session (a second publisher slot of the room, one per
guest) and viewers' WHEP sessions of that guest, each guest with a relay of its own.

Decisions (docs/ARCHITECTURE.md, "Co-hosting"):

* **A second WHEP session per guest, not extra m-lines in the host's.** WHEP has no
  renegotiation: a guest arriving or leaving mid-show would need a new offer anyway, which
  would cut the host's picture. As a session of its own, the guest's stream comes and goes
  while the host's session runs untouched; it is negotiated on its own (the guest may send
  VP8 while the host sends H.264), through the same code as any WHEP session. The cost is a
  second ICE/DTLS handshake per viewer. The page lays the two videos out (no server compose).
* **A guest publishes where the host does.** The guest's session lives on the room's media
  home (a POST reaching another process is redirected there with 307: guests publish from our
  own page, whose client re-sends a redirected POST), so viewers find both streams on one
  process, and when the host's publisher leaves or moves the guests end with it.
* **HLS is the host's.** Guests' relays are never announced to ``on_video_started``, so the
  HLS writer (and the replay recorder) never see them: HLS and replays show the host only.
* **Removal is at once.** A removal made in this process closes the session immediately
  (``CohostService.on_end``); one made elsewhere is seen at the next re-read of the guests'
  records (every ``cohost.check_interval_ms``, one pipelined read for all guests here).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from live_server.auth import Identity
from live_server.domain.cohost import Guest
from live_server.errors import (
    GuestsMustLogIn,
    InvalidState,
    MediaFull,
    MediaRedirect,
    NoPublisher,
)
from live_server.media import sdp
from live_server.media.relay import RoomRelay
from live_server.media.sessions import MediaSession
from live_server.services.cohost import CohostService

if TYPE_CHECKING:
    from live_server.media.service import MediaService

log = logging.getLogger(__name__)

#: the session roles of co-hosting (``MediaService.session`` finds them by role for DELETE)
GUEST, GUEST_VIEWER = "guest", "guest_viewer"

Slot = tuple[str, str]  # (room id, guest id)


class CohostMedia:
    def __init__(self, service: MediaService, cohost: CohostService) -> None:
        self.service = service
        self.cohost = cohost
        self.cfg = service.cfg
        self.relays: dict[Slot, RoomRelay] = {}
        self.publishers: dict[Slot, MediaSession] = {}
        self.guests: dict[Slot, Guest] = {}
        self.watching: dict[str, Slot] = {}  # a guest viewer's session id → the guest's slot
        self._tasks: set[asyncio.Task[None]] = set()
        self._check: asyncio.Task[None] | None = None
        service.on_video_stopped.append(self._host_left)
        cohost.on_end.append(self._ended)

    # WHIP (the guest) ------------------------------------------------------------------------

    async def publish(self, token: str, room_id: str, guest_id: str,
                      offer: str) -> tuple[MediaSession, str]:
        """(session, SDP answer) for a guest's offer with their publishing token."""
        guest = await self.cohost.authorize(token, room_id, guest_id)
        self.service._require_enabled()
        await self._require_host_here(room_id)
        tracks = sdp.plan_publish(offer)
        slot = (room_id, guest_id)
        old = self.publishers.pop(slot, None)
        if old is not None:  # the guest reconnecting: the new session replaces the old one
            old.replaced = True
            await old.close("replaced")
            await self._end_relay(slot, "replaced")
        relay = self.relays[slot] = RoomRelay(
            f"{room_id}/{guest_id}", queue_frames=self.cfg.viewer_queue_frames,
            keyframe_min_ms=self.cfg.keyframe_request_min_ms, stats=self.service.stats.relay)
        for t in tracks:
            relay.set_source(t.kind, t.codec_name, t.codec.clockRate)
        session = MediaSession(room_id, GUEST, self.service.rtc_config, self.cfg.session_idle_ms,
                               on_connected=self._connected, on_end=self._guest_ended,
                               user_id=guest_id, host_addresses=self.service.host_addresses)
        self.service.sessions[session.id] = session
        self.publishers[slot] = session
        self.guests[slot] = guest
        answer = await self.service.answer(session,
                                           session.answer_publisher(offer, tracks, relay))
        self._watch_removals()
        return session, answer

    async def _require_host_here(self, room_id: str) -> None:
        retry_s = max(1, self.cfg.home_ttl_ms // 2000)
        home = await self.service.store.home(room_id)
        if home is None:
            raise NoPublisher(retry_s)
        if home.process_id != self.service.process_id:
            raise MediaRedirect(home.url)
        if room_id not in self.service.publishers:
            raise NoPublisher(retry_s)

    async def _connected(self, session: MediaSession) -> None:
        slot = (session.room_id, str(session.user_id))
        guest = self.guests.get(slot)
        if self.publishers.get(slot) is session and guest is not None:
            await self.cohost.on_air(session.room_id, guest, session.codecs)

    async def _guest_ended(self, session: MediaSession) -> None:
        self.service.sessions.pop(session.id, None)
        slot = (session.room_id, str(session.user_id))
        if session.replaced or self.publishers.get(slot) is not session:
            return
        del self.publishers[slot]
        guest = self.guests.pop(slot, None)
        await self._end_relay(slot, session.end_reason)
        if guest is not None and session.end_reason != "removed":
            try:
                await self.cohost.off_air(session.room_id, guest, session.end_reason)
            except Exception:  # shutting down with Valkey gone
                log.warning("could not record the end of a guest's stream", exc_info=True)

    async def _end_relay(self, slot: Slot, reason: str) -> None:
        """The guest's stream ended: their viewers' sessions end (the page's guest video
        stops), then the relay."""
        relay = self.relays.pop(slot, None)
        for s in self._viewers(slot):
            await s.close(reason)
        if relay is not None:
            relay.close()

    # WHEP (viewers of a guest) ---------------------------------------------------------------

    async def watch(self, who: Identity, room_id: str, guest_id: str,
                    offer: str) -> tuple[MediaSession, str]:
        """(session, SDP answer) for a viewer's offer to receive one guest's stream."""
        self.service._require_enabled()
        room = await self.service.rooms.admit(room_id, who, guests_refused=GuestsMustLogIn)
        if room.state == "ended":
            raise InvalidState("the room has ended", state=room.state)
        slot = (room_id, guest_id)
        relay, publisher = self.relays.get(slot), self.publishers.get(slot)
        if relay is None or publisher is None:
            home = await self.service.store.home(room_id)
            if home is not None and home.process_id != self.service.process_id:
                raise MediaRedirect(home.url)
            raise NoPublisher(max(1, self.cfg.home_ttl_ms // 2000))
        if len(self._viewers(slot)) >= self.cfg.max_viewers_per_room:
            raise MediaFull(max(1, self.cfg.home_ttl_ms // 2000))
        tracks = sdp.plan_view(offer, {t.kind: t.codec for t in publisher.tracks})
        session = MediaSession(room_id, GUEST_VIEWER, self.service.rtc_config,
                               self.cfg.session_idle_ms, on_end=self._viewer_ended,
                               user_id=who.user_id, host_addresses=self.service.host_addresses)
        self.service.sessions[session.id] = session
        self.watching[session.id] = slot
        return session, await self.service.answer(session,
                                                  session.answer_viewer(offer, tracks, relay))

    def _viewers(self, slot: Slot) -> list[MediaSession]:
        return [self.service.sessions[sid] for sid, watched in self.watching.items()
                if watched == slot and sid in self.service.sessions]

    async def _viewer_ended(self, session: MediaSession) -> None:
        self.service.sessions.pop(session.id, None)
        self.watching.pop(session.id, None)

    # ending ----------------------------------------------------------------------------------

    async def end(self, room_id: str, guest_id: str, reason: str) -> None:
        session = self.publishers.get((room_id, guest_id))
        if session is not None:
            await session.close(reason)

    async def _ended(self, room_id: str, guest_id: str, reason: str) -> None:
        """Removed or left (told by the service in this process)."""
        await self.end(room_id, guest_id, "removed")

    def _host_left(self, room_id: str) -> None:
        """The host's publisher left this process (or the room ended): its guests end too."""
        for slot in [s for s in self.publishers if s[0] == room_id]:
            task = asyncio.ensure_future(self.end(*slot, "publisher_left"))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _watch_removals(self) -> None:
        if self._check is None or self._check.done():
            self._check = asyncio.create_task(self._check_removals())

    async def _check_removals(self) -> None:
        """Re-read the records of the guests on air here; close those removed elsewhere. Runs
        while any guest is on air here."""
        while self.publishers:
            await asyncio.sleep(self.cohost.cfg.check_interval_ms / 1000)
            slots = list(self.publishers)
            try:
                records = await self.cohost.current(slots)
            except Exception:
                log.warning("re-reading the co-hosts failed", exc_info=True)
                continue
            for slot, record in zip(slots, records, strict=True):
                guest = self.guests.get(slot)
                if guest is not None and (record is None or record.jti != guest.jti):
                    await self.end(*slot, "removed")

    async def stop(self) -> None:
        """Shutdown (before the hosts' sessions close): every guest and guest viewer ends."""
        for session in [self.service.sessions[sid] for sid in list(self.watching)
                        if sid in self.service.sessions]:
            await session.close("shutdown")
        for session in list(self.publishers.values()):
            await session.close("shutdown")
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._check is not None:
            self._check.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._check
