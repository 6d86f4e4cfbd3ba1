"""A room's co-hosting in Valkey: one hash per room, ``<prefix>:{room}:cohost`` (the room's
slot), fields ``i:<user>`` → ``"<expires ms>|<inviter>"`` (an invitation) and ``g:<user>`` →
the guest's JSON record (``domain/cohost.Guest``). The hash expires a day after its last
acceptance, so an abandoned room leaves nothing behind."""

from __future__ import annotations

from live_server.domain.cohost import GUEST, INVITE, Guest, Invitation
from live_server.errors import CohostFull, NotFound
from live_server.events import RoomEvent
from live_server.store.core import StoreCore, text

KEY_TTL_MS = 86_400_000


class CohostStore:
    def __init__(self, core: StoreCore) -> None:
        self.core = core
        self.keys = core.keys
        self.client = core.client

    def key(self, room_id: str) -> str:
        return f"{self.keys.prefix}:{{{room_id}}}:cohost"

    async def invite(self, room_id: str, invitation: Invitation) -> None:
        key = self.key(room_id)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, INVITE + invitation.guest_id, invitation.encode())
            pipe.pexpire(key, KEY_TTL_MS)
            await pipe.execute()

    async def invitation(self, room_id: str, guest_id: str) -> Invitation | None:
        raw = await self.client.hget(self.key(room_id), INVITE + guest_id)
        return Invitation.decode(guest_id, text(raw)) if raw else None

    async def decline(self, room_id: str, guest_id: str) -> bool:
        return bool(await self.client.hdel(self.key(room_id), INVITE + guest_id))

    async def accept(self, room_id: str, guest: Guest, now: int, max_guests: int) -> None:
        reply = await self.core.script("cohost_accept", [self.key(room_id)],
                                       [guest.user_id, now, max_guests, guest.encode(),
                                        KEY_TTL_MS])
        outcome = text(reply[0])
        if outcome == "full":
            raise CohostFull("the room already has as many guests as it takes",
                             max_guests=max_guests)
        if outcome != "ok":
            raise NotFound("no open invitation to co-host this room")

    async def guests(self, room_id: str) -> list[Guest]:
        raw = await self.client.hgetall(self.key(room_id))
        return sorted((Guest.decode(v) for k, v in raw.items() if text(k).startswith(GUEST)),
                      key=lambda g: g.since)

    async def guest(self, room_id: str, guest_id: str) -> Guest | None:
        raw = await self.client.hget(self.key(room_id), GUEST + guest_id)
        return Guest.decode(raw) if raw else None

    async def current(self, pairs: list[tuple[str, str]]) -> list[Guest | None]:
        """Each (room, guest)'s record, in one pipeline (the media home's re-read)."""
        async with self.client.pipeline(transaction=False) as pipe:
            for room_id, guest_id in pairs:
                pipe.hget(self.key(room_id), GUEST + guest_id)
            raw = await pipe.execute()
        return [Guest.decode(v) if v else None for v in raw]

    async def remove(self, room_id: str, guest_id: str) -> bool:
        return bool(await self.client.hdel(self.key(room_id), GUEST + guest_id))

    async def set_publishing(self, room_id: str, guest: Guest, publishing: bool) -> bool:
        """Mark the record, if it is still this acceptance's (a removed guest stays removed);
        whether it was."""
        updated = Guest(guest.user_id, guest.name, guest.jti, guest.since, publishing)
        reply = await self.core.script("cohost_mark", [self.key(room_id)],
                                       [guest.user_id, guest.jti, updated.encode()])
        return text(reply[0]) == "ok"

    async def clear(self, room_id: str) -> None:
        await self.client.delete(self.key(room_id))

    async def notify(self, room_id: str, ev: RoomEvent) -> None:
        """An unsequenced event addressed to one user (``cohost_invited``): published on the
        room's channel, where each process's hub hands it to that user's sockets only."""
        await self.core.publish(self.keys.room(room_id).channel, ev.body)
