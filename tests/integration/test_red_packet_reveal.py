"""What a red packet tells viewers while it is open: who grabbed how much, but not who is
luckiest (the best grab so far can still be beaten); and a keyword packet's refusal names the
keyword, so the page can say what to send in chat."""

from __future__ import annotations

from tests.conftest import LiveApp, token
from tests.helpers import Viewer
from tests.integration.test_red_packets import assert_audit_clean, grab, launch, topup


async def test_luckiest_is_revealed_only_when_the_packet_finishes(live: LiveApp) -> None:
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    viewer = await Viewer.connect(live.base, room, token("vic"))
    await viewer.wait_welcome()
    status, made = await launch(live, room, total=900, shares=3, split="random")
    assert status == 201, made
    pid = made["packet"]["id"]
    assert made["packet"]["luckiest"] is None
    got = {}
    for user in ("kay", "lou"):
        status, body = await grab(live, pid, user)
        assert status == 200, body
        got[user] = body["amount"]
        status, view = await live.call("GET", f"/api/red-packets/{pid}", "vic")
        assert status == 200 and view["state"] == "open"
        assert view["luckiest"] is None
        assert {r["user"]: r["amount"] for r in view["record"]} == got  # the grabs are public
        status, listed = await live.call("GET", f"/api/rooms/{room}/red-packets", "vic")
        assert status == 200
        assert [(p["id"], p["luckiest"]) for p in listed["packets"]] == [(pid, None)]
    status, body = await grab(live, pid, "max")
    assert status == 200, body
    got["max"] = body["amount"]
    best = max(got, key=lambda u: got[u])
    finished = await viewer.wait_for(lambda: viewer.of_type("red_packet_finished"))
    assert finished[0]["data"]["luckiest"]["user"] == best
    status, view = await live.call("GET", f"/api/red-packets/{pid}", "vic")
    assert view["state"] == "finished"
    assert (view["luckiest"]["user"], view["luckiest"]["amount"]) == (best, got[best])
    status, listed = await live.call("GET", f"/api/rooms/{room}/red-packets", "vic")
    assert listed["packets"][0]["luckiest"]["user"] == best
    await viewer.close()
    await assert_audit_clean(live)


async def test_a_keyword_refusal_names_the_keyword(live: LiveApp) -> None:
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    _, made = await launch(live, room, total=200, shares=2, split="equal",
                           condition="keyword", keyword="Open  Sesame")
    pid = made["packet"]["id"]
    status, body = await grab(live, pid, "lou")  # over HTTP
    assert status == 409 and body["error"]["code"] == "not_eligible"
    assert body["error"]["keyword"] == "open sesame"
    viewer = await Viewer.connect(live.base, room, token("kay"))
    await viewer.wait_welcome()
    refused = await viewer.request("grab", packet_id=pid)  # over the room socket
    assert refused["error"]["code"] == "not_eligible"
    assert refused["error"]["keyword"] == "open sesame"
    assert (await viewer.request("chat", text="open sesame"))["type"] == "reply"
    took = await viewer.request("grab", packet_id=pid)
    assert took["type"] == "reply" and took["data"]["amount"] == 100
    # other conditions name no keyword
    _, club = await launch(live, room, total=200, shares=2, split="equal",
                           condition="fan_club")
    status, body = await grab(live, club["packet"]["id"], "lou")
    assert status == 409 and body["error"]["code"] == "not_eligible"
    assert "keyword" not in body["error"]
    await viewer.close()
    await assert_audit_clean(live)
