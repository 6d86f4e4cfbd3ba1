"""Rooms in Valkey: meta hash, state transitions, the event history and snapshots."""

from __future__ import annotations

import time
from typing import Any

import orjson

from live_server import events
from live_server.domain.rooms import (
    TRANSITIONS,
    Room,
    check_transition,
    new_epoch,
    new_room_id,
    to_hash_fields,
)
from live_server.errors import InvalidState, NotFound
from live_server.events import RoomEvent
from live_server.protocol import Json
from live_server.store.core import StoreCore, pairs, stream_entries, text
from live_server.store.shelf import snapshot_fields


def live_presence(online: dict[bytes, bytes], seen: dict[bytes, bytes], now: int,
                  ttl_ms: int) -> dict[str, int]:
    """Online per process, counting only processes seen within ``ttl_ms``."""
    return {
        proc.decode(): int(count) for proc, count in online.items()
        if int(seen.get(proc, b"0")) >= now - ttl_ms
    }


def online_total(online: dict[bytes, bytes], seen: dict[bytes, bytes], now: int,
                 ttl_ms: int) -> int:
    return sum(live_presence(online, seen, now, ttl_ms).values())


class RoomStore:
    def __init__(self, core: StoreCore, *, history_max: int, process_ttl_ms: int) -> None:
        self.core = core
        self.keys = core.keys
        self.history_max = history_max
        self.process_ttl_ms = process_ttl_ms

    async def create(self, creator_id: str, fields: dict[str, Any]) -> Room:
        room_id = new_room_id()
        k = self.keys.room(room_id)
        values = {"id": room_id, "creator_id": creator_id, "state": "scheduled",
                  "slow_mode_s": 0, "keyword_action": "", "epoch": new_epoch(), **fields}
        start = time.perf_counter()
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.hset(k.meta, mapping=dict(zip(*[iter(to_hash_fields(values))] * 2, strict=True)))
            pipe.zadd(self.keys.all_rooms, {room_id: fields["created_at"]})
            pipe.sadd(self.keys.user_rooms(creator_id), room_id)
            await pipe.execute()
        self.core.timed("room_create", start)
        room = await self.get(room_id)
        assert room is not None
        return room

    async def get(self, room_id: str) -> Room | None:
        raw = await self.core.client.hgetall(self.keys.room(room_id).meta)
        return Room.from_hash(raw) if raw else None

    async def require(self, room_id: str) -> Room:
        room = await self.get(room_id) if room_id else None
        if room is None:
            raise NotFound("no such room")
        return room

    async def get_for_user(self, room_id: str, user_id: str | None) -> tuple[Room | None, bool]:
        """The room and whether ``user_id`` is banned from it, in one round trip (the
        websocket join checks both before anything else)."""
        k = self.keys.room(room_id)
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.meta)
            pipe.hexists(k.bans, user_id or "")
            raw, banned = await pipe.execute()
        return (Room.from_hash(raw) if raw else None), bool(banned and user_id)

    async def many(self, room_ids: list[str]) -> list[Room]:
        if not room_ids:
            return []
        async with self.core.client.pipeline(transaction=False) as pipe:
            for rid in room_ids:
                pipe.hgetall(self.keys.room(rid).meta)
            raws = await pipe.execute()
        return [Room.from_hash(raw) for raw in raws if raw]

    async def live_ids(self, limit: int) -> list[str]:
        ids = await self.core.client.zrevrange(self.keys.live_rooms, 0, limit - 1)
        return [i.decode() for i in ids]

    async def recent_ids(self, limit: int) -> list[str]:
        ids = await self.core.client.zrevrange(self.keys.all_rooms, 0, limit - 1)
        return [i.decode() for i in ids]

    async def owned_ids(self, user_id: str) -> list[str]:
        ids = await self.core.client.smembers(self.keys.user_rooms(user_id))
        return sorted(i.decode() for i in ids)

    async def _meta_update(self, room_id: str, ev: RoomEvent, allowed: str,
                           fields: list[str]) -> int:
        k = self.keys.room(room_id)
        reply = await self.core.script(
            "meta_update", [k.meta, k.seq, k.events],
            [k.channel, self.history_max, ev.kind, ev.body, allowed, *fields],
        )
        status = text(reply[0])
        if status == "not_found":
            raise NotFound("no such room")
        if status == "invalid_state":
            raise InvalidState(f"room is {text(reply[1])}", state=text(reply[1]))
        return int(reply[1])

    async def transition(self, room_id: str, target: str, by: str, now: int) -> int:
        room = await self.require(room_id)
        check_transition(room.state, target)
        stamp = "started_at" if target == "live" else "ended_at"
        allowed = ",".join(TRANSITIONS[target])
        seq = await self._meta_update(
            room_id, events.room_state(target, now, by), allowed,
            ["state", target, stamp, str(now)],
        )
        async with self.core.client.pipeline(transaction=False) as pipe:
            if target == "live":
                pipe.zadd(self.keys.live_rooms, {room_id: now})
            else:
                pipe.zrem(self.keys.live_rooms, room_id)
            await pipe.execute()
        return seq

    async def update(self, room_id: str, fields: dict[str, Any]) -> int:
        return await self._meta_update(
            room_id, events.room_updated(fields), "", to_hash_fields(fields)
        )

    async def set_announcement(self, room_id: str, ann: Json | None) -> int:
        return await self._meta_update(
            room_id, events.announcement(ann), "",
            ["announcement", orjson.dumps(ann).decode() if ann else ""],
        )

    async def set_slow_mode(self, room_id: str, seconds: int, by: str) -> int:
        return await self._meta_update(
            room_id, events.slow_mode(seconds, by), "", ["slow_mode_s", str(seconds)],
        )

    # History, recovery, snapshot -------------------------------------------------------------

    async def missed(self, room_id: str, since: int,
                     epoch: str | None = None) -> tuple[str, list[bytes], int]:
        """Events after ``since``: (state, raw events oldest first, current seq). ``"ok"`` when
        recovered; otherwise no events and a snapshot is due: ``"gap"`` when the first wanted
        event has left the history, ``"epoch"`` when ``epoch`` (when given) is not the stream's
        epoch any more, ``"ahead"`` when ``since`` is beyond the stream's end and no epoch says
        which stream it counts in, and ``"rollback"`` when it is beyond the end of the stream
        in the stream's own epoch: a seq that was handed out is no longer there, so the store
        lost writes (``since`` equal to the current seq is not beyond it: nothing is missed)."""
        k = self.keys.room(room_id)
        cur_raw, raw_entries, current_epoch = await self.core.script(
            "events_since", [k.seq, k.events, k.meta], [f"{since + 1}-0"])
        entries = stream_entries(raw_entries)
        current = int(cur_raw or 0)
        if epoch is not None and epoch != text(current_epoch or b""):
            return "epoch", [], current
        if since > current:
            return ("ahead" if epoch is None else "rollback"), [], current
        events = [fields[b"e"] for _id, fields in entries]
        if since < current:
            first = int(entries[0][0].split(b"-")[0]) if entries else None
            if first != since + 1:
                return "gap", [], current
        return "ok", events, current

    async def resume(self, room_id: str, since: int, last: tuple[int, bytes] | None,
                     ) -> tuple[str, list[bytes], int]:
        """After pub/sub was down, where the room's stream stands against what this process
        delivered up to ``since`` (``last``: the seq and bytes of the last event it delivered,
        if any). ``("ok", events after since, seq)``; ``("gap", [], seq)`` when the history no
        longer reaches back; ``("rollback", [], seq)`` when the store lost writes: its seq is
        behind ``since``, or the event at ``last``'s seq is not the one delivered (the seq went
        back and was used again by new events)."""
        k = self.keys.room(room_id)
        check_seq = last[0] if last is not None else since + 1
        cur_raw, raw_entries, _epoch = await self.core.script(
            "events_since", [k.seq, k.events, k.meta], [f"{min(check_seq, since + 1)}-0"])
        entries = stream_entries(raw_entries)
        current = int(cur_raw or 0)
        if current < since:
            return "rollback", [], current
        by_seq = {int(entry_id.split(b"-")[0]): fields for entry_id, fields in entries}
        if last is not None and last[0] in by_seq and by_seq[last[0]].get(b"e") != last[1]:
            return "rollback", [], current
        events = [fields[b"e"] for seq, fields in by_seq.items() if seq > since]
        if current > since and (since + 1) not in by_seq:
            return "gap", [], current
        return "ok", events, current

    async def reset_epoch(self, room_id: str, replacing: str | None = None) -> bool:
        """A new epoch for a room whose stream went back. Without ``replacing`` it is set
        whatever the epoch is (several processes may each set one: a client holding any older
        epoch resynchronises, which is all that matters); with it, only while the stream is
        still in that epoch (one new epoch for all the clients that find the same loss).
        Whether it was set."""
        args = [new_epoch()] if replacing is None else [new_epoch(), replacing]
        set_: int = await self.core.script("epoch_reset", [self.keys.room(room_id).meta], args)
        return set_ == 1

    async def history(self, room_id: str, before: int | None, limit: int) -> list[Json]:
        """Chat messages (not deleted) before ``before``, oldest first."""
        k = self.keys.room(room_id)
        top = f"({before}-1" if before else "+"
        # no transaction needed: the deleted set is read after the entries, so it names every
        # message deleted before they were read (and a MULTI blocks the loop on a cluster)
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.xrevrange(k.events, max=top, min="-", count=max(limit * 4, 50))
            pipe.smembers(k.deleted)
            entries, deleted = await pipe.execute()
        return _chat_only(entries, deleted, limit)

    async def counters(self, room_id: str, now: int) -> Json:
        return (await self.counters_many([room_id], now))[room_id]

    async def counters_many(self, room_ids: list[str], now: int) -> dict[str, Json]:
        return {rid: figures["counters"]
                for rid, figures in (await self.figures_many(room_ids, now)).items()}

    async def figures_many(self, room_ids: list[str], now: int) -> dict[str, Json]:
        """Per room, in one pipeline: its counters, online per live process (``processes``)
        and chat messages in the last whole minute (``chat_per_min``)."""
        minute = now // 60000 - 1  # the current minute is still filling up
        async with self.core.client.pipeline(transaction=False) as pipe:
            for rid in room_ids:
                k = self.keys.room(rid)
                pipe.hmget(k.stats, "hearts", "peak", "chat")
                pipe.hgetall(k.online)
                pipe.hgetall(k.online_seen)
                pipe.execute_command("PFCOUNT", k.unique)  # one key: allowed in a cluster pipeline
                pipe.get(k.chat_minute(minute))
            raw = await pipe.execute()
        out: dict[str, Json] = {}
        for i, rid in enumerate(room_ids):
            (hearts, peak, chat), online, seen, unique, per_min = raw[i * 5:(i + 1) * 5]
            processes = live_presence(online, seen, now, self.process_ttl_ms)
            out[rid] = {
                "counters": {
                    "online": sum(processes.values()), "hearts": int(hearts or 0),
                    "unique": int(unique), "peak": int(peak or 0), "chat": int(chat or 0),
                },
                "processes": processes,
                "chat_per_min": int(per_min or 0),
            }
        return out

    async def top_fans(self, room_id: str, creator_id: str, limit: int) -> list[Json]:
        """The room's top fans: the most intimacy toward its creator (a zset in the creator's
        slot), named from the room's names hash (the user id when they never joined)."""
        k = self.keys.room(room_id)
        pairs = await self.core.client.zrevrange(self.keys.intimacy(creator_id), 0, limit - 1,
                                                 withscores=True)
        if not pairs:
            return []
        names = await self.core.client.hmget(k.names, [uid for uid, _ in pairs])
        return [
            {"user_id": uid.decode(), "name": (name or uid).decode(), "score": int(score)}
            for (uid, score), name in zip(pairs, names, strict=True)
        ]

    async def snapshot(self, room_id: str, user_id: str | None, *, recent: int, top: int,
                       now: int, visit: tuple[str, str] | None = None,
                       ) -> tuple[Room, Json, int] | None:
        """(room, snapshot, seq) from one script, so that ``seq`` matches the content.
        ``visit`` = (visitor id, display name) also records a join (unique viewers, the name
        shown on the fans board): a join reads its snapshot in one command."""
        k, sk, ck = self.keys.room(room_id), self.keys.shelf(room_id), self.keys.coupons(room_id)
        reply = await self.core.script(
            "snapshot",
            [k.meta, k.seq, k.stats, k.online, k.online_seen, k.unique, k.events, k.deleted,
             k.fans, k.names, k.mutes, sk.shelf, sk.products, sk.pinned, sk.sales, sk.left,
             ck.pinned, ck.coupons],
            [user_id or "", visit[0] if visit else "", visit[1] if visit else "", recent, top,
             now, self.process_ttl_ms, max(recent * 4, 50)],
        )
        if text(reply[0]) != "ok":
            return None
        (_ok, meta, seq, hearts, peak, chat, online, unique, chats, fans, mute, shelf_ids,
         products, pinned, sales, left, coupon) = reply
        room = Room.from_hash(pairs(meta))
        muted_until = None
        if mute:
            until = int(orjson.loads(mute)["until"])
            muted_until = until if until > now else None
        snap: Json = {
            "room": room.public(),
            "announcement": room.announcement,
            "counters": {"online": int(online), "hearts": int(hearts), "unique": int(unique),
                         "peak": int(peak), "chat": int(chat)},
            "recent_chat": [orjson.loads(raw) for raw in reversed(chats)],
            "top_fans": [
                {"user_id": fans[i].decode(), "name": fans[i + 2].decode(),
                 "score": int(float(fans[i + 1]))}
                for i in range(0, len(fans), 3)
            ],
            "me": {"muted_until": muted_until, "moderator": False},
            **snapshot_fields(shelf_ids, pairs(products), pinned, pairs(sales), pairs(left)),
            "pinned_coupon": orjson.loads(coupon) if coupon else None,
        }
        return room, snap, int(seq)


def stored_type(fields: dict[bytes, bytes]) -> str | None:
    """The event type of a room history entry: its ``t`` field (written by ``append_event``
    beside the JSON in ``e``), or for an entry from before that field, the JSON's ``type``.
    Reading a field rather than matching the JSON text keeps readers independent of how an
    encoder orders or spaces keys."""
    kind = fields.get(b"t")
    if kind is not None:
        return kind.decode()
    value = orjson.loads(fields[b"e"])
    return value.get("type") if isinstance(value, dict) else None


def _chat_only(entries: list[tuple[bytes, dict[bytes, bytes]]], deleted: set[bytes],
               limit: int) -> list[Json]:
    """Newest-first stream entries → the newest ``limit`` chat events, oldest first."""
    out: list[Json] = []
    for entry_id, fields in entries:
        if entry_id.split(b"-")[0] in deleted or stored_type(fields) != "chat":
            continue
        out.append(orjson.loads(fields[b"e"]))
        if len(out) >= limit:
            break
    out.reverse()
    return out
