"""Ops for a busy evening, against real servers sharing one Valkey: a platform-wide suspension
closes the user's sockets in every process and refuses what they do until it is lifted; the
moderation log undoes bans, mutes, suspensions and take-downs once; the alerts say what is
wrong from the processes' heartbeats."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from live_server.protocol import now_ms
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import Viewer
from tests.integration.test_shelf import buy, on_sale, product, save_address

OPS = ("olga", "ops")


async def _join(app: LiveApp, room: str, user: str, role: Any = "viewer") -> Viewer:
    viewer = await Viewer.connect(app.base, room, token(user, role))
    await viewer.wait_welcome()
    return viewer


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    """Another process hears of a change through pub/sub: wait until ``check`` holds."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "the other process never heard of the change"
        await asyncio.sleep(0.05)


async def _two_processes(factory: Callable[..., Awaitable[LiveApp]]) -> tuple[LiveApp, LiveApp]:
    prefix = "t" + secrets.token_hex(4)
    return (await factory(store={"key_prefix": prefix}),
            await factory(store={"key_prefix": prefix}))


async def _log(app: LiveApp) -> list[dict[str, Any]]:
    status, body = await app.call("GET", "/api/ops/moderation", *OPS)
    assert status == 200, body
    return list(body["actions"])


async def test_suspension_closes_sockets_everywhere_refuses_acts_until_lifted(
        live_app_factory: Callable[..., Awaitable[LiveApp]]) -> None:
    one, two = await _two_processes(live_app_factory)
    room = await one.live_room()
    p = await product(one)
    await on_sale(one, room, p["id"], stock=5, price=500)
    await save_address(one, "bob")
    bob_there = await _join(two, room, "bob")  # bob's socket is in the second process
    carol = await _join(one, room, "carol")

    status, made = await one.call("POST", "/api/ops/suspensions", *OPS,
                                  json={"user_id": "bob", "reason": "fraud ring",
                                        "duration": "24h"})
    assert status == 201, made
    assert made["until"] - made["at"] == 24 * 3_600_000 and made["by"] == "olga"
    assert await bob_there.wait_closed() == 4003  # closed by the process that did not act
    assert not carol.closed

    # the second process refuses bob, with the code and when it ends
    status, refused = await buy(two, room, p["id"], "bob", "k1")
    assert status == 403 and refused["error"]["code"] == "suspended", refused
    assert refused["error"]["until"] == made["until"]
    again = await Viewer.connect(two.base, room, token("bob"))
    assert await again.wait_closed() == 4003
    assert again.frames[0]["error"]["code"] == "suspended"
    # reading public pages stays allowed
    status, _ = await two.call("GET", f"/api/rooms/{room}", "bob")
    assert status == 200
    status, _ = await two.call("GET", f"/api/rooms/{room}/shelf", "bob")
    assert status == 200
    status, listed = await two.call("GET", "/api/ops/suspensions", *OPS)
    assert [s["user_id"] for s in listed["suspensions"]] == ["bob"]

    status, lifted = await two.call("DELETE", "/api/ops/suspensions/bob", *OPS,
                                    json={"reason": "appeal accepted"})
    assert status == 200 and lifted["user_id"] == "bob", lifted

    async def buys_again() -> bool:
        status, _ = await buy(one, room, p["id"], "bob", "k2")
        return status in (200, 201)
    await _eventually(buys_again)  # the first process heard it was lifted
    back = await _join(one, room, "bob")
    assert (await back.request("chat", text="I'm back"))["type"] == "reply"
    status, again_lift = await one.call("DELETE", "/api/ops/suspensions/bob", *OPS)
    assert status == 404 and again_lift["error"]["code"] == "not_found"
    actions = [a["action"] for a in await _log(one)]
    assert actions[:2] == ["unsuspend", "suspend"]
    for v in (bob_there, carol, again, back):
        await v.close()


async def test_suspension_refuses_chat_and_hearts_on_an_open_socket_elsewhere(
        live_app_factory: Callable[..., Awaitable[LiveApp]]) -> None:
    """A permanent suspension has no end (``until`` 0); only ops may suspend."""
    one, two = await _two_processes(live_app_factory)
    room = await one.live_room()
    status, body = await one.call("POST", "/api/ops/suspensions", "alice", "creator",
                                  json={"user_id": "bob", "reason": "x", "duration": "1h"})
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, made = await one.call("POST", "/api/ops/suspensions", *OPS,
                                  json={"user_id": "bob", "reason": "spam", "duration":
                                        "permanent"})
    assert status == 201 and made["until"] == 0
    status, body = await two.call("POST", "/api/ops/suspensions", *OPS,
                                  json={"user_id": "olga", "reason": "x", "duration": "1h"})
    assert status == 400 and body["error"]["code"] == "invalid_field"

    async def refused_there() -> bool:
        status, body = await two.call("POST", f"/api/rooms/{room}/reports", "bob",
                                      json={"seq": 1, "reason": "x"})
        error = body.get("error") or {}
        return status == 403 and error.get("code") == "suspended" and error.get("until") == 0
    await _eventually(refused_there)


async def test_undo_from_the_moderation_log_once(live: LiveApp) -> None:
    room = await live.live_room()
    mod = await _join(live, room, "alice", "creator")
    assert (await mod.request("ban", user_id="bob", reason="abuse"))["type"] == "reply"
    ban = next(a for a in await _log(live) if a["action"] == "ban")
    assert ban["undoable"] is True

    status, done = await live.call("POST", f"/api/ops/moderation/{ban['id']}/undo", *OPS)
    assert status == 200 and done["undone"] is True, done
    assert done["entry"]["undone"]["by"] == "olga"
    back = await _join(live, room, "bob")  # the ban is gone
    log = await _log(live)
    assert log[0]["action"] == "unban" and log[0]["by"] == "olga"  # the undo is logged too
    shown = next(a for a in log if a["id"] == ban["id"])
    assert shown["undone"]["by"] == "olga" and shown["undoable"] is False
    status, twice = await live.call("POST", f"/api/ops/moderation/{ban['id']}/undo", *OPS)
    assert status == 409 and twice["error"]["code"] == "already_undone", twice
    status, body = await live.call("POST", f"/api/ops/moderation/{log[0]['id']}/undo", *OPS)
    assert status == 409 and body["error"]["code"] == "invalid_state"  # an unban has no undo
    status, body = await live.call("POST", "/api/ops/moderation/1-0/undo", *OPS)
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await live.call("POST", f"/api/ops/moderation/{ban['id']}/undo", "bob")
    assert status == 403

    # a mute already lifted by hand: the undo is a no-op that says so
    assert (await mod.request("mute", user_id="bob", duration_s=600,
                              reason="caps"))["type"] == "reply"
    assert (await mod.request("unmute", user_id="bob"))["type"] == "reply"
    mute = next(a for a in await _log(live) if a["action"] == "mute")
    status, noop = await live.call("POST", f"/api/ops/moderation/{mute['id']}/undo", *OPS)
    assert status == 200 and noop["undone"] is False and "ended" in noop["reason"], noop
    assert [a["action"] for a in (await _log(live))[:2]] == ["unmute", "mute"]  # nothing new

    # a platform suspension and a product take-down, undone from the log
    status, _ = await live.call("POST", "/api/ops/suspensions", *OPS,
                                json={"user_id": "dan", "reason": "bots", "duration": "1h"})
    assert status == 201
    suspend = next(a for a in await _log(live) if a["action"] == "suspend")
    status, done = await live.call("POST", f"/api/ops/moderation/{suspend['id']}/undo", *OPS)
    assert status == 200 and done["undone"] is True
    status, listed = await live.call("GET", "/api/ops/suspensions", *OPS)
    assert listed["suspensions"] == []
    p = await product(live)
    status, _ = await live.call("POST", f"/api/products/{p['id']}/takedown", *OPS,
                                json={"reason": "counterfeit"})
    assert status == 200
    down = next(a for a in await _log(live) if a["action"] == "take_down")
    status, done = await live.call("POST", f"/api/ops/moderation/{down['id']}/undo", *OPS)
    assert status == 200 and done["undone"] is True
    status, restored = await live.call("GET", f"/api/products/{p['id']}", "alice", "creator")
    assert restored["status"] == "on_sale"
    for v in (mod, back):
        await v.close()


async def test_alerts_all_clear_then_errors_and_a_silent_process(
        live_app_factory: Callable[..., Awaitable[LiveApp]]) -> None:
    live = await live_app_factory(alerts={"client_errors_per_min": 2, "window_ms": 60_000})
    status, body = await live.call("GET", "/api/ops/alerts", *OPS)
    assert status == 200 and body["alerts"] == [], body
    status, _ = await live.call("GET", "/api/ops/alerts", "bob")
    assert status == 403
    for _ in range(3):  # three refusals in a minute: over 2 a minute
        status, _ = await live.call("GET", "/api/rooms/nope")
        assert status == 404
    services = live.client.app[SERVICES]
    await services.presence.register_process("ghost", {"id": "ghost", "seen_at": now_ms() - 8000})

    async def alerted() -> bool:
        _status, body = await live.call("GET", "/api/ops/alerts", *OPS)
        return {a["kind"] for a in body["alerts"]} == {"error_rate", "stale_process"}
    await _eventually(alerted)  # the error count rides with the next heartbeat
    _status, body = await live.call("GET", "/api/ops/alerts", *OPS)
    stale, rate = body["alerts"]  # critical first
    assert stale == {**stale, "kind": "stale_process", "severity": "critical",
                     "subject": "ghost", "threshold": 5000}
    assert rate["kind"] == "error_rate" and rate["severity"] == "warning"
    assert rate["subject"].endswith(" client") and rate["value"] >= 3 and rate["threshold"] == 2
    assert rate["since"] <= now_ms()
    procs = await services.presence.processes(now_ms())
    assert all(p["valkey_rtt_ms"] is not None for p in procs)  # measured at each heartbeat
