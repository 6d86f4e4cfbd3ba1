"""Chat and moderation state in Valkey: sending, deleting, mutes, bans, keywords, reports (the
moderation log is ``store/moderation_log.py``)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import orjson

from live_server import events
from live_server.errors import Banned, InvalidState, Muted, NotFound, RateLimited, SlowMode
from live_server.events import RoomEvent
from live_server.protocol import Json, dumps, now_ms
from live_server.store.core import StoreCore, text
from live_server.store.rooms import stored_type


class ChatStore:
    def __init__(self, core: StoreCore, *, history_max: int, log_max: int) -> None:
        self.core = core
        self.keys = core.keys
        self.history_max = history_max
        self.log_max = log_max

    async def send(self, room_id: str, user_id: str, message: RoomEvent, *, now: int,
                   rate_per_s: float, burst: int, moderator: bool, score: int) -> int:
        """Append a chat event (``events.chat``) if the rules let it through; returns its
        seq."""
        if message.kind != "chat":
            raise ValueError(f"not a chat event: {message.kind}")
        k = self.keys.room(room_id)
        reply = await self.core.script(
            "chat_send",
            [k.meta, k.bans, k.mutes, k.rate(user_id), k.slow(user_id), k.seq, k.events,
             k.stats, k.fans, k.chat_minute(now // 60000)],
            [k.channel, self.history_max, message.kind, message.body, user_id, now, rate_per_s,
             burst, "1" if moderator else "0", score],
        )
        status = text(reply[0])
        if status == "ok":
            return int(reply[1])
        if status == "not_found":
            raise NotFound("no such room")
        if status == "invalid_state":
            raise InvalidState("the show has ended", state=text(reply[1]))
        if status == "banned":
            raise Banned("you are banned from this room")
        if status == "muted":
            until = int(reply[1])
            raise Muted("you are muted in this room", until=until, retry_after_ms=until - now)
        if status == "slow_mode":
            raise SlowMode("slow mode is on", retry_after_ms=int(reply[1]))
        raise RateLimited("too many messages", retry_after_ms=int(reply[1]))

    async def delete(self, room_id: str, target_seq: int, by: str) -> tuple[int, Json]:
        k = self.keys.room(room_id)
        ev = events.chat_deleted(target_seq, by)
        reply = await self.core.script(
            "delete_chat", [k.events, k.deleted, k.seq],
            [k.channel, self.history_max, ev.kind, ev.body, target_seq],
        )
        status = text(reply[0])
        if status != "ok":
            raise NotFound("no such message" if status == "not_found" else "already deleted")
        return int(reply[1]), orjson.loads(reply[2])

    async def message(self, room_id: str, seq: int) -> Json | None:
        k = self.keys.room(room_id)
        found = await self.core.client.xrange(k.events, min=f"{seq}-1", max=f"{seq}-1")
        if not found or stored_type(found[0][1]) != "chat":
            return None
        value: Json = orjson.loads(found[0][1][b"e"])
        return value

    async def _hash_event(self, room_id: str, which: str, op: str, field: str, value: str,
                          ev: RoomEvent) -> int:
        k = self.keys.room(room_id)
        reply = await self.core.script(
            "hash_event", [k.meta, getattr(k, which), k.seq, k.events],
            [k.channel, self.history_max, ev.kind, ev.body, op, field, value],
        )
        if text(reply[0]) != "ok":
            raise NotFound("no such room" if op == "set" else f"user is not in the {which} list")
        return int(reply[1])

    async def mute(self, room_id: str, user_id: str, until: int, by: str, reason: str) -> int:
        record = {"user_id": user_id, "until": until, "by": by, "reason": reason}
        return await self._hash_event(room_id, "mutes", "set", user_id, dumps(record).decode(),
                                      events.user_muted(user_id, until, by))

    async def unmute(self, room_id: str, user_id: str, by: str) -> int:
        return await self._hash_event(room_id, "mutes", "del", user_id, "",
                                      events.user_unmuted(user_id, by))

    async def ban(self, room_id: str, user_id: str, by: str, reason: str) -> int:
        record = {"user_id": user_id, "by": by, "reason": reason, "ts": now_ms()}
        return await self._hash_event(room_id, "bans", "set", user_id, dumps(record).decode(),
                                      events.user_banned(user_id, by))

    async def unban(self, room_id: str, user_id: str, by: str) -> int:
        return await self._hash_event(room_id, "bans", "del", user_id, "",
                                      events.user_unbanned(user_id, by))

    async def list_hash(self, room_id: str, which: str, now: int) -> list[Json]:
        raw = await self.core.client.hgetall(getattr(self.keys.room(room_id), which))
        items = [orjson.loads(v) for v in raw.values()]
        if which == "mutes":
            items = [m for m in items if int(m["until"]) > now]
        return sorted(items, key=lambda r: str(r["user_id"]))

    async def set_keywords(self, room_id: str, words: list[str], action: str) -> int:
        k = self.keys.room(room_id)
        ev = events.keywords_updated(len(words), action)
        reply = await self.core.script(
            "keywords", [k.meta, k.keywords, k.seq, k.events],
            [k.channel, self.history_max, ev.kind, ev.body, action, *words],
        )
        if text(reply[0]) != "ok":
            raise NotFound("no such room")
        return int(reply[1])

    async def keywords(self, room_id: str) -> tuple[list[str], str]:
        k = self.keys.room(room_id)
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.smembers(k.keywords)
            pipe.hget(k.meta, "keyword_action")
            words, action = await pipe.execute()
        return sorted(w.decode() for w in words), (action or b"").decode()

    # Reports (a global stream, read by ops) ----------------------------------------------

    async def add_report(self, record: Json) -> str:
        report_id = "rep_" + secrets.token_urlsafe(8)
        await self.core.client.xadd(
            self.keys.reports, {"r": dumps({"id": report_id, **record})},
            maxlen=self.log_max, approximate=True,
        )
        return report_id

    async def _batches(self, key: str, size: int) -> AsyncIterator[list[Json]]:
        """The stream's records, newest first, ``size`` per round trip."""
        last = "+"
        while True:
            batch: list[Any] = await self.core.client.xrevrange(key, max=last, min="-",
                                                                 count=size)
            if not batch:
                return
            yield [orjson.loads(fields[b"r"]) for _entry_id, fields in batch]
            if len(batch) < size:
                return
            last = "(" + batch[-1][0].decode()

    async def reports(self, limit: int, state: str = "all") -> list[Json]:
        """The newest ``limit`` reports, each with its ``state`` (``open``, ``resolved`` or
        ``dismissed``) and, once handled, who handled it, when and the note. ``state``
        ``open`` or ``handled`` keeps only those, reading further back as needed."""
        out: list[Json] = []
        async for batch in self._batches(self.keys.reports, max(limit, 100)):
            for report in await self._with_outcomes(batch):
                if state == "all" or (report["state"] == "open") == (state == "open"):
                    out.append(report)
            if len(out) >= limit:
                break
        return out[:limit]

    async def _with_outcomes(self, batch: list[Json]) -> list[Json]:
        raws = await self.core.client.hmget(self.keys.report_outcomes,
                                            [str(r.get("id", "")) for r in batch])
        return [{**report, **(orjson.loads(raw) if raw else {"state": "open"})}
                for report, raw in zip(batch, raws, strict=True)]

    async def report(self, report_id: str) -> Json | None:
        """One report with its state, or None once it left the capped stream (a scan, newest
        first: ops handle recent reports, and the stream holds at most ``log_max``)."""
        async for batch in self._batches(self.keys.reports, 500):
            found = [r for r in batch if r.get("id") == report_id]
            if found:
                return (await self._with_outcomes(found))[0]
        return None

    async def handle_report(self, report_id: str, outcome: Json) -> bool:
        """Record how a report was handled; false if it already was (the first ops decision
        stands, so two people acting at once cannot overwrite each other)."""
        return bool(await self.core.client.hsetnx(self.keys.report_outcomes, report_id,
                                                  dumps(outcome)))
