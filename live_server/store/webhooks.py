"""Webhook endpoints and their delivery queues in Valkey.

Every key of one endpoint carries the endpoint id as its hash tag
(``<prefix>:wh:{<id>}:<what>``), so queueing a message, recording an attempt and disabling a
failing endpoint are each one script on one slot:

- ``ep``: string, the endpoint's fields (JSON, with its secret);
- ``state``: hash, ``enabled`` (1/0), ``fails`` (consecutive failed deliveries),
  ``disabled_reason``, ``disabled_at``, ``last_success_at``, ``last_failure_at``;
- ``msgs``: hash, message id → delivery (JSON: type, body, attempts, state, next_at, last);
- ``due``: zset, message id → when its next attempt is due (claimed with a lease,
  ``store/due.py``), with ``due:fails`` / ``due:parked``;
- ``done``: zset, finished message id → when (bounded by ``webhooks.keep_max``);
- ``log``: list, the latest attempts (JSON), newest first (bounded by ``webhooks.log_max``).

``<prefix>:wh:all`` (zset: endpoint id → created at) lists them all."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from live_server.errors import InvalidState, NotFound
from live_server.protocol import Json
from live_server.store.core import StoreCore, text
from live_server.store.due import Schedule


@dataclasses.dataclass(frozen=True, slots=True)
class EndpointKeys:
    endpoint: str
    state: str
    msgs: str
    due: str
    done: str
    log: str


def endpoint_keys(prefix: str, webhook_id: str) -> EndpointKeys:
    base = f"{prefix}:wh:{{{webhook_id}}}"
    return EndpointKeys(endpoint=f"{base}:ep", state=f"{base}:state", msgs=f"{base}:msgs",
                        due=f"{base}:due", done=f"{base}:done", log=f"{base}:log")


def _state(raw: dict[bytes, bytes]) -> Json:
    f = {k.decode(): v.decode() for k, v in raw.items()}
    return {"enabled": f.get("enabled", "1") != "0",
            "disabled_reason": f.get("disabled_reason", ""),
            "disabled_at": int(f["disabled_at"]) if f.get("disabled_at") else None,
            "consecutive_failures": int(f.get("fails", "0")),
            "last_success_at": int(f["last_success_at"]) if f.get("last_success_at") else None,
            "last_failure_at": int(f["last_failure_at"]) if f.get("last_failure_at") else None}


class WebhookStore:
    def __init__(self, core: StoreCore, *, lease_ms: int, log_max: int, keep_max: int) -> None:
        self.core = core
        self.prefix = core.keys.prefix
        self.all_key = f"{self.prefix}:wh:all"
        self.lease_ms = lease_ms
        self.log_max = log_max
        self.keep_max = keep_max

    def keys(self, webhook_id: str) -> EndpointKeys:
        return endpoint_keys(self.prefix, webhook_id)

    def schedule(self, webhook_id: str) -> Schedule:
        """The endpoint's due deliveries as a leased schedule (a cheap handle)."""
        return Schedule(self.core, self.keys(webhook_id).due, lease_ms=self.lease_ms,
                        park_after=1_000_000)  # a delivery's failures are its retry schedule

    # endpoints ----------------------------------------------------------------------------

    async def create(self, endpoint: Json, enabled: bool) -> None:
        """The endpoint's keys in one ``MULTI`` on its slot, then its place in the list
        (another slot on a cluster): nothing lists an endpoint before it is whole, and one
        left unlisted by a failure in between is never read."""
        k = self.keys(endpoint["id"])
        async with self.core.client.pipeline(transaction=True) as pipe:
            pipe.set(k.endpoint, orjson.dumps(endpoint))
            pipe.hset(k.state, mapping={"enabled": 1 if enabled else 0, "fails": 0,
                                        "disabled_reason": "" if enabled else "owner"})
            await pipe.execute()
        await self.core.client.zadd(self.all_key, {endpoint["id"]: endpoint["created_at"]})

    async def put(self, endpoint: Json) -> None:
        """Replace an endpoint's fields (not its state)."""
        await self.core.client.set(self.keys(endpoint["id"]).endpoint, orjson.dumps(endpoint),
                                   xx=True)

    async def set_enabled(self, webhook_id: str, enabled: bool) -> None:
        """On or off by its owner; turning it on clears a failure count and its reason."""
        k = self.keys(webhook_id)
        if enabled:
            await self.core.client.hset(k.state, mapping={"enabled": 1, "fails": 0,
                                                          "disabled_reason": ""})
        else:
            await self.core.client.hset(k.state, mapping={"enabled": 0,
                                                          "disabled_reason": "owner"})

    async def get(self, webhook_id: str) -> tuple[Json, Json] | None:
        """(fields with the secret, state), or None."""
        k = self.keys(webhook_id)
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.get(k.endpoint)
            pipe.hgetall(k.state)
            raw, state = await pipe.execute()
        if raw is None:
            return None
        return orjson.loads(raw), _state(state)

    async def all(self) -> list[tuple[Json, Json]]:
        """Every endpoint, oldest first, with its state (one round trip after the listing)."""
        ids = [i.decode() for i in await self.core.client.zrange(self.all_key, 0, -1)]
        if not ids:
            return []
        async with self.core.client.pipeline(transaction=False) as pipe:
            for webhook_id in ids:
                k = self.keys(webhook_id)
                pipe.get(k.endpoint)
                pipe.hgetall(k.state)
            replies = await pipe.execute()
        return [(orjson.loads(raw), _state(state))
                for raw, state in zip(replies[0::2], replies[1::2], strict=True) if raw]

    async def delete(self, webhook_id: str) -> None:
        """The endpoint and everything queued for it: out of the list first, then its keys
        (one ``DEL`` on its slot; the list is on another slot on a cluster)."""
        k = self.keys(webhook_id)
        await self.core.client.zrem(self.all_key, webhook_id)
        await self.core.client.delete(k.endpoint, k.state, k.msgs, k.due, k.done, k.log,
                                      f"{k.due}:fails", f"{k.due}:parked")

    # the queue ----------------------------------------------------------------------------

    async def enqueue(self, items: list[tuple[str, str, Json]], now: int) -> int:
        """Queue ``(endpoint id, message id, delivery)`` items, each once; one pipelined round
        trip whatever their number. Returns how many were new."""
        if not items:
            return 0
        async with self.core.client.pipeline(transaction=False) as pipe:
            for webhook_id, msg_id, delivery in items:
                k = self.keys(webhook_id)
                self.core.scripts.queue(pipe, "wh_enqueue", [k.msgs, k.due, k.state],
                                        [msg_id, orjson.dumps(delivery), now])
            replies = await self.core.scripts.execute(pipe)
        return sum(int(r) for r in replies)

    async def attempt_inputs(self, webhook_id: str,
                             msg_id: str) -> tuple[Json | None, Json | None]:
        """(the endpoint's fields as stored now, the delivery), one round trip on its slot.
        An attempt signs and addresses with these, not with a process's cached list, so a
        rotated secret or a changed URL holds from the next attempt in every process."""
        k = self.keys(webhook_id)
        async with self.core.client.pipeline(transaction=False) as pipe:
            pipe.get(k.endpoint)
            pipe.hget(k.msgs, msg_id)
            raw_ep, raw_msg = await pipe.execute()
        return (orjson.loads(raw_ep) if raw_ep else None,
                orjson.loads(raw_msg) if raw_msg else None)

    async def record(self, webhook_id: str, msg_id: str, attempt: int, entry: Json,
                     outcome: str, next_at: int, now: int, disable_after: int) -> tuple[str, bool]:
        """One attempt's outcome (``delivered``, ``retry`` at ``next_at``, ``failed``):
        (the delivery's state, whether the endpoint was disabled by it)."""
        k = self.keys(webhook_id)
        reply = await self.core.script(
            "wh_result", [k.msgs, k.due, k.done, k.log, k.state],
            [msg_id, orjson.dumps(entry), outcome, next_at, now, self.log_max, self.keep_max,
             disable_after, attempt])
        return text(reply[0]), len(reply) > 1 and int(reply[1]) == 1

    async def redeliver(self, webhook_id: str, msg_id: str, now: int) -> Json:
        k = self.keys(webhook_id)
        reply = await self.core.script("wh_redeliver", [k.msgs, k.due, k.done], [msg_id, now])
        status = text(reply[0])
        if status == "not_found":
            raise NotFound("no such delivery (finished deliveries are kept for a while)")
        if status == "invalid_state":
            raise InvalidState("the delivery is still being attempted", state=text(reply[1]))
        found: Json = orjson.loads(reply[1])
        return found

    async def log(self, webhook_id: str, limit: int) -> list[Json]:
        raws = await self.core.client.lrange(self.keys(webhook_id).log, 0, limit - 1)
        return [orjson.loads(r) for r in raws]

    async def depths(self, webhook_ids: list[str]) -> dict[str, int]:
        """Deliveries waiting (due or not yet) per endpoint."""
        if not webhook_ids:
            return {}
        async with self.core.client.pipeline(transaction=False) as pipe:
            for webhook_id in webhook_ids:
                pipe.zcard(self.keys(webhook_id).due)
            counts: list[Any] = await pipe.execute()
        return {w: int(c) for w, c in zip(webhook_ids, counts, strict=True)}
