"""What a moderation action tells whom: the room hears that a user was muted or banned, never
why (a public reason shames or provokes); the moderators' lists and the ops moderation log keep
the reason. A product ops take down: the creator's sockets are told why, the room sees only
the card change."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.conftest import LiveApp, token
from tests.helpers import Viewer
from tests.integration.test_shelf import product

REASON = "posted a scam link 4711"


async def _join(live: LiveApp, room: str, user: str, role: Any = "viewer") -> Viewer:
    viewer = await Viewer.connect(live.base, room, token(user, role))
    await viewer.wait_welcome()
    return viewer


def _heard(kind: str, viewer: Viewer) -> Callable[[], list[dict[str, Any]]]:
    return lambda: viewer.of_type(kind)


def _saw_reason(viewer: Viewer) -> bool:
    return any(REASON in json.dumps(frame) for frame in viewer.frames)


async def test_a_ban_is_public_but_its_reason_is_not(live: LiveApp) -> None:
    room = await live.live_room()
    mod = await _join(live, room, "alice", "creator")
    carol = await _join(live, room, "carol")
    await _join(live, room, "bob")
    status, _ = await live.call("POST", f"/api/rooms/{room}/bans", "alice", "creator",
                                json={"user_id": "bob", "reason": REASON})
    assert status == 200
    await carol.wait_for(lambda: carol.of_type("user_banned"))
    await mod.wait_for(lambda: mod.of_type("user_banned"))
    event = carol.of_type("user_banned")[0]["data"]
    assert event["user_id"] == "bob" and event["by"] == "alice"
    assert "reason" not in event
    assert not _saw_reason(carol) and not _saw_reason(mod)
    # a viewer who arrives later: neither its welcome nor the chat history says why
    late = await _join(live, room, "dave")
    history = await late.request("history", limit=50)
    assert REASON not in json.dumps(history) and not _saw_reason(late)
    # the room's moderators and ops still see why
    status, bans = await live.call("GET", f"/api/rooms/{room}/bans", "alice", "creator")
    assert status == 200
    assert [(b["user_id"], b["reason"]) for b in bans["bans"]] == [("bob", REASON)]
    status, log = await live.call("GET", f"/api/ops/moderation?room={room}", "olga", "ops")
    assert status == 200
    assert [(a["action"], a["target"], a["reason"]) for a in log["actions"]] == [
        ("ban", "bob", REASON)]
    for v in (mod, carol, late):
        await v.close()


async def test_a_mute_is_public_but_its_reason_is_not(live: LiveApp) -> None:
    room = await live.live_room()
    mod = await _join(live, room, "alice", "creator")
    bob = await _join(live, room, "bob")
    carol = await _join(live, room, "carol")
    reply = await mod.request("mute", user_id="bob", duration_s=600, reason=REASON)
    until = reply["data"]["until"]
    for viewer in (bob, carol):
        await viewer.wait_for(_heard("user_muted", viewer))
        event = viewer.of_type("user_muted")[0]["data"]
        assert event == {"user_id": "bob", "until": until, "by": "alice"}
        assert not _saw_reason(viewer)
    status, mutes = await live.call("GET", f"/api/rooms/{room}/mutes", "alice", "creator")
    assert status == 200
    assert [(m["user_id"], m["reason"]) for m in mutes["mutes"]] == [("bob", REASON)]
    status, log = await live.call("GET", f"/api/ops/moderation?room={room}", "olga", "ops")
    assert status == 200
    assert [(a["action"], a["reason"]) for a in log["actions"]] == [("mute", REASON)]
    for v in (mod, bob, carol):
        await v.close()


async def test_a_takedown_by_ops_tells_the_creator_why_and_the_room_only_that(
        live: LiveApp) -> None:
    room = await live.live_room()
    status, other = await live.call("POST", "/api/rooms", "alice", "creator",
                                    json={"title": "Tomorrow"})  # scheduled, without it
    assert status == 201
    pid = (await product(live, title="Glow serum"))["id"]
    status, _ = await live.call("POST", f"/api/rooms/{room}/shelf", "alice", "creator",
                                json={"product_id": pid})
    assert status == 201
    studio = await _join(live, room, "alice", "creator")
    planning = await _join(live, other["id"], "alice", "creator")
    bob = await _join(live, room, "bob")
    status, _ = await live.call("POST", f"/api/products/{pid}/takedown", "olga", "ops",
                                json={"reason": REASON})
    assert status == 200
    notice = {"product_id": pid, "title": "Glow serum", "reason": REASON, "by": "ops"}
    for creator_socket in (studio, planning):
        told = await creator_socket.wait_for(_heard("product_taken_down", creator_socket))
        assert told[0]["data"] == notice and told[0]["to"] == "alice"
    await bob.wait_for(_heard("product_updated", bob))
    await studio.wait_for(_heard("product_updated", studio))
    assert bob.of_type("product_updated")[-1]["data"]["product"]["status"] == "taken_down"
    assert not bob.of_type("product_taken_down") and not _saw_reason(bob)
    # the catalogue keeps the decision for a creator who was not connected
    status, mine = await live.call("GET", f"/api/products/{pid}", "alice", "creator")
    assert status == 200 and mine["takedown"] == {"by": "olga", "reason": REASON}
    for v in (studio, planning, bob):
        await v.close()


async def test_the_creators_own_takedown_is_no_news_to_them(live: LiveApp) -> None:
    room = await live.live_room()
    pid = (await product(live))["id"]
    status, _ = await live.call("POST", f"/api/rooms/{room}/shelf", "alice", "creator",
                                json={"product_id": pid})
    assert status == 201
    studio = await _join(live, room, "alice", "creator")
    status, _ = await live.call("POST", f"/api/products/{pid}/takedown", "alice", "creator",
                                json={"reason": "out of season"})
    assert status == 200
    # the notice, were there one, is published before the card and sent without batching
    await studio.wait_for(_heard("product_updated", studio))
    assert not studio.of_type("product_taken_down")
    await studio.close()
