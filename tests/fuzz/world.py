"""What the fuzzers aim at: a live room with something in every corner (a product on the shelf
and on sale, pinned; an order; an open red packet; money in wallets; a chat message), every kind
of token a client can present, and a fingerprint of everything the room and the wallets hold.

A fuzzer that only meets empty rooms and one token never reaches the code that moves money, so
the inputs draw their ids from here."""

from __future__ import annotations

import dataclasses
from typing import Any

import redis.asyncio as aioredis

from live_server.auth import Role
from live_server.protocol import now_ms
from tests.conftest import TEST_SECRET, LiveApp, token

# Every token kind a client may present; ``None`` is a guest (no token at all).
TOKEN_KINDS = ("guest", "viewer", "room_creator", "other_creator", "ops", "expired",
               "wrong_secret")
USERS: dict[str, tuple[str, Role]] = {
    "viewer": ("bob", "viewer"),
    "room_creator": ("alice", "creator"),
    "other_creator": ("carol", "creator"),
    "ops": ("olga", "ops"),
    "expired": ("eve", "viewer"),
    "wrong_secret": ("alice", "creator"),  # the room creator's claims, forged
}


def token_of(kind: str) -> str | None:
    """A token of ``kind``: None for a guest; the expired one ran out an hour ago (well past
    the leeway); the forged one carries the room creator's claims under another secret."""
    if kind == "guest":
        return None
    user, role = USERS[kind]
    if kind == "expired":
        return token(user, role, ttl_s=-3600)
    if kind == "wrong_secret":
        return token(user, role, secret=TEST_SECRET[::-1])
    return token(user, role)


@dataclasses.dataclass
class World:
    """The ids a fuzzer draws from, so that some of its inputs reach deep into the server."""

    live: LiveApp
    room: str
    other_room: str  # carol's: alice is just another creator there
    product: str  # on alice's shelf, on sale, pinned
    spare_product: str  # in alice's catalogue, not on the shelf
    order: str  # bob's reserved order of ``product``
    packet: str  # alice's open red packet in ``room``
    chat_seq: int  # bob's chat message in ``room``

    @property
    def user_ids(self) -> list[str]:
        """Whom moderation requests name: never a user whose token the fuzzer presents, so
        that an accepted ban does not turn the rest of the run into refused joins."""
        return ["eve", "dave", "mallory", "nobody"]


async def _ok(live: LiveApp, method: str, path: str, kind: str, body: Any = None) -> Any:
    user, role = USERS[kind]
    status, answer = await live.call(method, path, user, role, json=body)
    assert status in (200, 201), (method, path, status, answer)
    return answer


async def build_world(live: LiveApp) -> World:
    room = await live.live_room("alice")
    other_room = await live.live_room("carol")
    product = await _ok(live, "POST", "/api/products", "room_creator", {
        "title": "Tea", "list_price": 2000, "live_price": 1500, "stock": 100000,
        "per_buyer_limit": 1000})
    spare = await _ok(live, "POST", "/api/products", "room_creator", {
        "title": "Cups", "list_price": 900, "live_price": 800, "stock": 50})
    pid = product["id"]
    await _ok(live, "POST", f"/api/rooms/{room}/shelf", "room_creator", {"product_id": pid})
    await _ok(live, "PUT", f"/api/rooms/{room}/pinned", "room_creator", {"product_id": pid})
    start = now_ms()
    await _ok(live, "POST", f"/api/rooms/{room}/sales", "room_creator", {
        "product_id": pid, "price": 999, "stock": 100000, "start_at": start,
        "end_at": start + 3_600_000})
    for kind, amount in (("room_creator", 5_000_000), ("viewer", 500_000),
                         ("other_creator", 500_000), ("ops", 500_000)):
        await _ok(live, "POST", "/api/dev/wallet/topup", kind, {"amount": amount})
    order = await _ok(live, "POST", f"/api/rooms/{room}/buy", "viewer", {
        "product_id": pid, "quantity": 1, "idempotency_key": "fuzz-first"})
    packet = await _ok(live, "POST", f"/api/rooms/{room}/red-packets", "room_creator", {
        "total": 1_000_000, "shares": 5000, "duration_s": 3600})
    chat_seq = await _chat(live, room)
    return World(live=live, room=room, other_room=other_room, product=pid,
                 spare_product=spare["id"], order=_id_of(order, "order"),
                 packet=_id_of(packet, "packet"), chat_seq=chat_seq)


def _id_of(answer: dict[str, Any], kind: str) -> str:
    inner = answer.get(kind, answer)
    return str(inner["id"])


async def _chat(live: LiveApp, room: str) -> int:
    from tests.helpers import Viewer

    viewer = await Viewer.connect(live.base, room, token("bob"))
    try:
        await viewer.wait_welcome()
        reply = await viewer.request("chat", text="hello")
        assert reply["type"] == "reply", reply
        return int(reply["data"]["seq"])
    finally:
        await viewer.close()


# The state a refused request must leave alone --------------------------------------------------

# Keys and hash fields that a viewer changes by being there (joining, watching, leaving), not by
# any request: presence reports (and their per-minute samples for the show report), unique
# viewers, the display names a join records (for the fans board), the peak and the totals last
# broadcast. And what every process's clocks write by themselves: the rooms whose order streams
# the webhook feed follows (``wh:follow``, refreshed from the live rooms on every pass), and the
# stock clocks' schedules (``xfer:due``: holders with a transfer to finish, forgotten by the
# reconciler once the setup's purchase transfers are past their grace; ``alloc:due``: rooms
# holding an allotment, looked at again every 30 s; and the red packets' reconciler, which
# leases ``rp:unsettled`` each pass, drops an escrow's pending marks (``}:out``) once the wallet
# slot credited them and a settled packet's launch record (``rp:launching``)). The stock itself
# (the catalogue's counters, the room's allotment, pending transfers) and the packets' escrows
# (shares, claims, records) and credits stay in the fingerprint.
# (":series" and "series:claim:": the load history the series clock samples every 30 s;
# ":ticks": which counter report of each process the room has counted, written every tick)
AUDIENCE_KEYS = (":online", ":onseen", ":uv", ":procs", ":names", ":minutes", ":wh:follow",
                 ":xfer:due", ":alloc:due", ":rp:unsettled", "}:out", ":rp:launching",
                 ":series", ":ticks")
AUDIENCE_FIELDS = ("peak", "peak_log", "peak_final")


async def fingerprint(live: LiveApp) -> dict[str, Any]:
    """Every key of this test's deployment (its key prefix) with its whole value, except what
    presence alone moves: two equal fingerprints mean no request changed anything stored.
    Read in three round trips (the scan, the types, the values), so a fuzzer can afford one
    around many requests; values are bytes as stored (a HyperLogLog is no text)."""
    prefix = live.settings.store.key_prefix
    client = aioredis.from_url(live.settings.store.url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=10_000)
                if not any(part in _text(key) for part in AUDIENCE_KEYS)]
        async with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.type(key)
            kinds = await pipe.execute()
        async with client.pipeline(transaction=False) as pipe:
            for key, kind in zip(keys, kinds, strict=True):
                _read(pipe, key, _text(kind))
            values = await pipe.execute()
    finally:
        await client.aclose()
    out: dict[str, Any] = {}
    for key, kind, value in zip(keys, kinds, values, strict=True):
        value = _value(_text(kind), value)
        # a hash of audience fields only (a room's first tick) is absent, and so is a key
        # that expired between the scan naming it and its read (type "none")
        if value != {} and value != "none":
            out[_text(key)] = value
    return out


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def _read(pipe: Any, key: bytes, kind: str) -> None:
    if kind == "string":
        pipe.get(key)
    elif kind == "hash":
        pipe.hgetall(key)
    elif kind == "list":
        pipe.lrange(key, 0, -1)
    elif kind == "set":
        pipe.smembers(key)
    elif kind == "zset":
        pipe.zrange(key, 0, -1, withscores=True)
    elif kind == "stream":
        pipe.xrange(key)
    else:
        pipe.echo(kind)


def _value(kind: str, value: Any) -> Any:
    if kind == "hash":
        fields = {_text(k): v for k, v in value.items()}
        return {k: v for k, v in fields.items()
                if k not in AUDIENCE_FIELDS and not k.startswith("b_")}
    if kind == "set":
        return sorted(value)
    if kind in ("string", "list", "zset", "stream"):
        return value
    return kind


# Keys that expire by themselves (the chat token bucket once full again, the slow-mode marker,
# the per-minute chat count): one that vanished between two fingerprints ran out; one that
# appeared or changed was written.
EXPIRING = (":rl:", ":slow:", ":cpm:")


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What differs between two fingerprints, as key → (before, after)."""
    return {key: (before.get(key), after.get(key)) for key in before.keys() | after.keys()
            if before.get(key) != after.get(key)
            and not (key not in after and any(part in key for part in EXPIRING))}
