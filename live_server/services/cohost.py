"""Co-hosting (连麦) use cases: the creator invites a user, the user accepts (and gets a guest
publishing token scoped to this room) or declines, the creator removes a guest, a guest leaves,
anyone reads who is on air beside the host. The media side (the guest's WHIP session, viewers'
WHEP sessions of the guest) is ``media/cohost.py``; it asks :meth:`authorize` on every guest
POST, so a removed guest's token stops working at once though the JWT has not expired."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from live_server import events
from live_server.auth import (
    Identity,
    mint_cohost,
    require_moderator,
    require_room_creator,
    require_user,
    verify_cohost,
)
from live_server.config import Settings
from live_server.domain.cohost import LEFT, REMOVED, Guest, Invitation, check_invitee, new_jti
from live_server.errors import Forbidden, InvalidState, NotFound
from live_server.protocol import Json, now_ms
from live_server.store.cohost import CohostStore
from live_server.store.media import MediaStore
from live_server.store.rooms import RoomStore

log = logging.getLogger(__name__)

#: told (in this process) when a guest is removed or leaves: (room id, guest id, reason)
EndListener = Callable[[str, str, str], Awaitable[None]]


class CohostService:
    def __init__(self, settings: Settings, room_store: RoomStore, store: CohostStore,
                 media_store: MediaStore) -> None:
        self.settings = settings
        self.cfg = settings.cohost
        self.room_store = room_store
        self.store = store
        self.media_store = media_store  # the room's sequenced events (cohost_started/ended)
        self.on_end: list[EndListener] = []

    async def _open_room(self, room_id: str) -> str:
        room = await self.room_store.require(room_id)
        if room.state == "ended":
            raise InvalidState("the room has ended", state=room.state)
        return room.creator_id

    async def invite(self, who: Identity, room_id: str, guest_id: str) -> Json:
        """The room's creator invites a user; the invitation reaches their sockets in this room
        (``cohost_invited``) and lapses after ``cohost.invite_ttl_ms``."""
        room = await self.room_store.require(room_id)
        uid = require_room_creator(who, room.creator_id, "invite a co-host")
        if room.state == "ended":
            raise InvalidState("the room has ended", state=room.state)
        check_invitee(uid, guest_id)
        invitation = Invitation(guest_id, uid, now_ms() + self.cfg.invite_ttl_ms)
        await self.store.invite(room_id, invitation)
        await self.store.notify(room_id, events.cohost_invited(
            guest_id, uid, who.name, invitation.expires_at))
        return {"room_id": room_id, "guest_id": guest_id, "expires_at": invitation.expires_at}

    async def accept(self, who: Identity, room_id: str) -> Json:
        """The invited user accepts: their guest record, and the token to publish with."""
        uid = require_user(who)
        await self._open_room(room_id)
        guest = Guest(uid, who.name, new_jti(), now_ms())
        await self.store.accept(room_id, guest, guest.since, self.cfg.max_guests)
        token = mint_cohost(self.settings.auth.secret, uid, who.name, room_id, guest.jti,
                            ttl_s=self.cfg.token_ttl_s)
        return {"room_id": room_id, "token": token,
                "whip": f"/api/rooms/{room_id}/guests/{uid}/whip",
                "expires_at": guest.since + self.cfg.token_ttl_s * 1000,
                "guest": guest.public(room_id)}

    async def decline(self, who: Identity, room_id: str) -> Json:
        uid = require_user(who)
        await self.room_store.require(room_id)
        return {"room_id": room_id, "declined": await self.store.decline(room_id, uid)}

    async def remove(self, who: Identity, room_id: str, guest_id: str) -> Json:
        """The host (or ops) takes a guest off air at once: the record goes (their token is
        refused from now on), their session closes, viewers' guest tracks end."""
        room = await self.room_store.require(room_id)
        require_moderator(who, room.creator_id)
        return await self._end(room_id, guest_id, REMOVED)

    async def leave(self, who: Identity, room_id: str) -> Json:
        uid = require_user(who)
        await self.room_store.require(room_id)
        return await self._end(room_id, uid, LEFT)

    async def _end(self, room_id: str, guest_id: str, reason: str) -> Json:
        if not await self.store.remove(room_id, guest_id):
            raise NotFound("no such guest in this room")
        await self.media_store.append_event(room_id, events.cohost_ended(guest_id, reason))
        for listener in self.on_end:
            try:
                await listener(room_id, guest_id, reason)
            except Exception:  # the record is gone: the media home's re-read ends it anyway
                log.exception("co-host end listener failed")
        return {"room_id": room_id, "guest_id": guest_id, "ended": reason}

    async def view(self, room_id: str) -> Json:
        """Who co-hosts now (anyone may read it: the watch page opens the guests' streams)."""
        await self.room_store.require(room_id)
        return {"room_id": room_id, "max_guests": self.cfg.max_guests,
                "guests": [g.public(room_id) for g in await self.store.guests(room_id)]}

    # for the media side ----------------------------------------------------------------------

    async def authorize(self, token: str, room_id: str, guest_id: str) -> Guest:
        """The guest behind a publishing token for ``room_id``'s slot of ``guest_id``, while
        their acceptance stands; a viewer's or creator's token, another room's or another
        guest's, or a revoked one is refused."""
        grant = verify_cohost(self.settings.auth.secret, token, room_id,
                              leeway_s=self.settings.auth.leeway_s)
        if grant.user_id != guest_id:
            raise Forbidden("this guest token is another guest's")
        await self._open_room(room_id)
        guest = await self.store.guest(room_id, guest_id)
        if guest is None or guest.jti != grant.jti:
            raise Forbidden("this guest token was revoked (removed, left or accepted again)")
        return guest

    async def current(self, pairs: list[tuple[str, str]]) -> list[Guest | None]:
        return await self.store.current(pairs)

    async def on_air(self, room_id: str, guest: Guest, codecs: dict[str, str]) -> None:
        """The guest's stream connected: the record says so and the room hears it."""
        if await self.store.set_publishing(room_id, guest, True):
            await self.media_store.append_event(
                room_id, events.cohost_started(room_id, guest.user_id, guest.name, codecs))

    async def off_air(self, room_id: str, guest: Guest, reason: str) -> None:
        """The guest's stream ended without removal (they may publish again with the same
        token while their acceptance stands)."""
        if await self.store.set_publishing(room_id, guest, False):
            await self.media_store.append_event(room_id,
                                                events.cohost_ended(guest.user_id, reason))
