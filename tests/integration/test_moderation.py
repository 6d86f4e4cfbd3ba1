"""Moderation against the real server: mute, ban, delete, slow mode, keywords, reports, log."""

from __future__ import annotations

from typing import Any

from tests.conftest import LiveApp, token
from tests.helpers import Viewer


async def _join(live: LiveApp, room: str, user: str, role: Any = "viewer") -> Viewer:
    viewer = await Viewer.connect(live.base, room, token(user, role))
    await viewer.wait_welcome()
    return viewer


async def test_mute_refuses_chat_until_lifted(live: LiveApp) -> None:
    room = await live.live_room()
    mod = await _join(live, room, "alice", "creator")
    bob = await _join(live, room, "bob")
    reply = await mod.request("mute", user_id="bob", duration_s=600, reason="spam")
    until = reply["data"]["until"]
    await bob.wait_for(lambda: bob.of_type("user_muted"))
    assert bob.of_type("user_muted")[0]["data"]["user_id"] == "bob"
    refused = await bob.request("chat", text="let me talk")
    assert refused["error"]["code"] == "muted" and refused["error"]["until"] == until
    status, mutes = await live.call("GET", f"/api/rooms/{room}/mutes", "alice", "creator")
    assert status == 200 and [m["user_id"] for m in mutes["mutes"]] == ["bob"]
    # a muted user's snapshot says so
    again = await _join(live, room, "bob")
    assert again.welcome is not None
    assert again.welcome["snapshot"]["me"]["muted_until"] == until
    status, _ = await live.call("DELETE", f"/api/rooms/{room}/mutes/bob", "alice", "creator")
    assert status == 200
    assert (await bob.request("chat", text="thanks"))["type"] == "reply"
    for v in (mod, bob, again):
        await v.close()


async def test_ban_disconnects_now_and_refuses_rejoin_until_unbanned(live: LiveApp) -> None:
    room = await live.live_room()
    mod = await _join(live, room, "alice", "creator")
    bob = await _join(live, room, "bob")
    other = await _join(live, room, "carol")
    status, _ = await live.call("POST", f"/api/rooms/{room}/bans", "alice", "creator",
                                json={"user_id": "bob", "reason": "abuse"})
    assert status == 200
    assert await bob.wait_closed() == 4003
    await other.wait_for(lambda: other.of_type("user_banned"))
    assert not other.closed  # only the banned user is disconnected
    rejoin = await Viewer.connect(live.base, room, token("bob"))
    assert await rejoin.wait_closed() == 4003
    assert rejoin.frames[0]["error"]["code"] == "banned"
    status, bans = await live.call("GET", f"/api/rooms/{room}/bans", "alice", "creator")
    assert [b["user_id"] for b in bans["bans"]] == ["bob"]
    assert (await mod.request("unban", user_id="bob"))["type"] == "reply"
    back = await _join(live, room, "bob")
    assert (await back.request("chat", text="sorry"))["type"] == "reply"
    for v in (mod, bob, other, rejoin, back):
        await v.close()


async def test_delete_is_broadcast_and_removed_from_history(live: LiveApp) -> None:
    room = await live.live_room()
    mod = await _join(live, room, "alice", "creator")
    bob = await _join(live, room, "bob")
    seq = (await bob.request("chat", text="bad words here"))["data"]["seq"]
    await bob.request("chat", text="fine words")
    reply = await mod.request("delete", seq=seq)
    assert reply["type"] == "reply"
    await bob.wait_for(lambda: bob.of_type("chat_deleted"))
    assert bob.of_type("chat_deleted")[0]["data"] == {"target_seq": seq, "by": "alice"}
    _, page = await live.call("GET", f"/api/rooms/{room}/history")
    assert [e["data"]["text"] for e in page["events"]] == ["fine words"]
    late = await _join(live, room, "carol")
    assert late.welcome is not None
    assert [m["data"]["text"] for m in late.welcome["snapshot"]["recent_chat"]] == ["fine words"]
    missing = await mod.request("delete", seq=seq)
    assert missing["error"]["code"] == "not_found"
    not_chat = await mod.request("delete", seq=1)  # seq 1 is the room_state event
    assert not_chat["error"]["code"] == "not_found"
    for v in (mod, bob, late):
        await v.close()


async def test_slow_mode_spaces_viewers_but_not_moderators(live: LiveApp) -> None:
    room = await live.live_room()
    mod = await _join(live, room, "alice", "creator")
    bob = await _join(live, room, "bob")
    assert (await mod.request("slow_mode", seconds=30))["type"] == "reply"
    await bob.wait_for(lambda: bob.of_type("slow_mode"))
    assert (await bob.request("chat", text="one"))["type"] == "reply"
    second = await bob.request("chat", text="two")
    assert second["error"]["code"] == "slow_mode"
    assert 0 < second["error"]["retry_after_ms"] <= 30000
    assert (await mod.request("chat", text="mods are not slowed"))["type"] == "reply"
    assert (await mod.request("chat", text="twice"))["type"] == "reply"
    assert (await mod.request("slow_mode", seconds=0))["type"] == "reply"
    await bob.wait_for(lambda: len(bob.of_type("slow_mode")) == 2)
    assert (await bob.request("chat", text="free again"))["type"] == "reply"
    for v in (mod, bob):
        await v.close()


async def test_keyword_filter_masks_or_blocks(live_app_factory: Any) -> None:
    live = await live_app_factory(chat={"global_keywords": ["scamlink"]})
    room = await live.live_room()
    bob = await _join(live, room, "bob")
    status, body = await live.call("PUT", f"/api/rooms/{room}/keywords", "alice", "creator",
                                   json={"words": ["Badword", " badword ", ""], "action": "mask"})
    assert status == 200 and body == {"count": 1}
    reply = await bob.request("chat", text="this BADWORD and scamlink")
    assert reply["data"]["masked"] is True
    await bob.wait_for(lambda: bob.of_type("chat"))
    assert bob.chat_texts() == ["this ******* and ********"]
    status, _ = await live.call("PUT", f"/api/rooms/{room}/keywords", "alice", "creator",
                                json={"words": ["badword"], "action": "block"})
    assert status == 200
    blocked = await bob.request("chat", text="badword again")
    assert blocked["error"]["code"] == "keyword_blocked"
    _, kw = await live.call("GET", f"/api/rooms/{room}/keywords", "alice", "creator")
    assert kw == {"words": ["badword"], "action": "block"}
    assert len(bob.of_type("chat")) == 1  # the blocked message went nowhere
    await bob.close()


async def test_report_reaches_ops_and_actions_are_logged(live: LiveApp) -> None:
    room = await live.live_room()
    bob = await _join(live, room, "bob")
    carol = await _join(live, room, "carol")
    seq = (await bob.request("chat", text="buy followers at example"))["data"]["seq"]
    reply = await carol.request("report", seq=seq, reason="spam link")
    report_id = reply["data"]["report_id"]
    status, reports = await live.call("GET", "/api/ops/reports", "olga", "ops")
    assert status == 200
    found = [r for r in reports["reports"] if r["id"] == report_id]
    assert found and found[0]["reporter"] == "carol" and found[0]["reason"] == "spam link"
    assert found[0]["message"]["data"]["text"] == "buy followers at example"
    assert found[0]["room_id"] == room
    bad = await carol.request("report", seq=99999, reason="x")
    assert bad["error"]["code"] == "not_found"

    # ops acts on the report: delete and ban; both land in the moderation log
    status, _ = await live.call("DELETE", f"/api/rooms/{room}/messages/{seq}", "olga", "ops",
                                json={"reason": "spam"})
    assert status == 200
    status, _ = await live.call("POST", f"/api/rooms/{room}/bans", "olga", "ops",
                                json={"user_id": "bob", "reason": "spam"})
    assert status == 200
    status, log = await live.call("GET", f"/api/ops/moderation?room={room}", "olga", "ops")
    assert status == 200
    actions = [(a["action"], a["by"], a["target"], a["reason"]) for a in log["actions"]]
    assert actions[:2] == [("ban", "olga", "bob", "spam"), ("delete", "olga", "bob", "spam")]
    assert all(isinstance(a["ts"], int) for a in log["actions"])
    for v in (bob, carol):
        await v.close()


async def test_announcement_is_pinned_and_cleared(live: LiveApp) -> None:
    room = await live.live_room()
    mod = await _join(live, room, "alice", "creator")
    assert (await mod.request("announce", text="Sale at 8pm"))["type"] == "reply"
    await mod.wait_for(lambda: mod.of_type("announcement"))
    assert mod.of_type("announcement")[0]["data"]["text"] == "Sale at 8pm"
    _, public = await live.call("GET", f"/api/rooms/{room}")
    assert public["announcement"]["text"] == "Sale at 8pm"
    assert (await mod.request("announce", text=None))["type"] == "reply"
    await mod.wait_for(lambda: len(mod.of_type("announcement")) == 2)
    _, public = await live.call("GET", f"/api/rooms/{room}")
    assert public["announcement"] is None
    await mod.close()
