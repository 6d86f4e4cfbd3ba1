"""A viewer's way into a room's live feed: the snapshot (or the events missed since a seq), then
the hand-over to the hub, without losing or repeating an event in between (docs/ARCHITECTURE.md,
"Joining a room"). The room socket's session calls it; it knows no socket, only the ``Conn``
the fan-out writes to."""

from __future__ import annotations

import logging

from live_server.auth import Identity, is_moderator
from live_server.config import Settings
from live_server.domain.rooms import Room, shared
from live_server.errors import NotFound
from live_server.protocol import Json, dumps, now_ms
from live_server.realtime.conn import Conn
from live_server.realtime.frames import batch_payload, text_frame
from live_server.realtime.node import Node
from live_server.store.presence import PresenceStore
from live_server.store.rooms import RoomStore

log = logging.getLogger(__name__)


class ViewingService:
    def __init__(self, settings: Settings, node: Node, rooms: RoomStore,
                 presence: PresenceStore) -> None:
        self.settings = settings
        self.node = node
        self.rooms = rooms
        self.presence = presence

    async def snapshot(self, who: Identity, room_id: str,
                       visit: Conn | None = None) -> tuple[Room, Json, int]:
        """The room as of now and the seq it is exact at; with ``visit``, the read also records
        that connection's visit (unique viewers, the display name)."""
        found = await self.rooms.snapshot(
            room_id, who.user_id, recent=self.settings.history.recent_chat, top=0,
            now=now_ms(), visit=(visit.visitor_id, who.name) if visit is not None else None)
        if found is None:
            raise NotFound("no such room")
        room, snap, seq = found
        # by intimacy toward the creator: in the creator's slot, so not in the snapshot script
        snap["top_fans"] = await self.rooms.top_fans(room.id, room.creator_id,
                                                     self.settings.fans.top)
        snap["me"]["moderator"] = is_moderator(who, room.creator_id)
        snap["server_time"] = now_ms()  # for countdowns: the client's clock may be off
        return shared(room), snap, seq

    async def join(self, conn: Conn, who: Identity, room: Room, since: int | None,
                   epoch: str | None = None) -> Room:
        """Hold live events, read the snapshot or the missed events, then go live; the room as
        the snapshot read it (``room`` again after a recovery). ``since`` counts in ``epoch``
        when the client gives one: from another epoch it gets a snapshot."""
        await self.node.join(conn)
        recovered, snap = False, None
        missed: list[bytes] = []
        seq = last = 0
        if since is not None:
            state, missed, current = await self.rooms.missed(room.id, since, epoch)
            recovered = state == "ok"
            if state == "rollback" and epoch is not None:
                await self._rolled_back(room.id, since, epoch, current)
        if recovered and since is not None:
            seq, last = since, since + len(missed)
            await self.presence.joined(room.id, conn.visitor_id, who.user_id, who.name)
        else:  # the snapshot read also records the visit: one round trip fewer per join
            room, snap, seq = await self.snapshot(who, room.id, visit=conn)
            missed, last = [], seq
        welcome = dumps({
            "type": "welcome", "conn_id": conn.id, "server_time": now_ms(),
            "user": who.public(), "recovered": recovered, "seq": seq,
            "epoch": epoch if recovered and epoch is not None else room.epoch, "snapshot": snap,
        })
        frames = [text_frame(welcome)]
        if missed:
            frames.append(text_frame(batch_payload(room.id.encode(), missed)))
        hub = self.node.hub
        hub.note_join(room.id, who.name if who.user_id else None)
        hub.activate(conn, last, frames)
        return room

    async def _rolled_back(self, room_id: str, since: int, epoch: str, current: int) -> None:
        """A client came back from a seq that the store, in the same epoch, no longer reaches:
        the store lost writes and is giving those seqs to new events. No process may have
        followed the room through the loss (a restore and a restart of every process), so this
        is where it shows: the stream gets a new epoch (the client's welcome is then a snapshot
        in it), and every client still holding the old epoch gets a snapshot too, also once the
        seq has passed its old position again (which would otherwise hide the new events
        between the store's seq and that position)."""
        if await self.rooms.reset_epoch(room_id, replacing=epoch):
            log.warning("room %s: a client came back from seq %d, the store is at %d in the "
                        "same epoch: it lost writes; the stream has a new epoch", room_id, since,
                        current)
