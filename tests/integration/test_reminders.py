"""Show reminders end to end against a real app and a real Valkey: subscribing to a scheduled
show (HTTP and the room socket, idempotent, only while scheduled, only logged in), the counts
on the room and the upcoming list, my reminders, the ``show_starting`` notice on a subscriber's
socket in another room (once, never to a non-subscriber or after a cancel), the
``show.starting`` webhook with the subscriber ids in pages, and the count in the show report."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.conftest import LiveApp, token
from tests.helpers import Viewer
from tests.integration.test_webhooks import WEBHOOKS, Receiver, hook

HOUR_MS = 3_600_000


async def scheduled(live: LiveApp, title: str = "Tomorrow's show") -> str:
    at = int(time.time() * 1000) + 2 * HOUR_MS
    status, room = await live.call("POST", "/api/rooms", "alice", "creator",
                                   json={"title": title, "scheduled_at": at})
    assert status == 201, room
    return str(room["id"])


async def remind(live: LiveApp, room: str, user: str | None) -> tuple[int, Any]:
    return await live.call("POST", f"/api/rooms/{room}/reminder", user)


async def test_subscribing_is_idempotent_counted_and_listed(live: LiveApp) -> None:
    room = await scheduled(live)
    status, got = await remind(live, room, "bob")
    assert status == 200, got
    assert got == {"room_id": room, "subscribed": True, "reminders": 1}
    status, got = await remind(live, room, "bob")  # again: nothing changes
    assert (status, got["reminders"]) == (200, 1)
    _, got = await remind(live, room, "carol")
    assert got["reminders"] == 2

    _, view = await live.call("GET", f"/api/rooms/{room}")
    assert view["reminders"] == 2
    _, upcoming = await live.call("GET", "/api/rooms?state=scheduled")
    assert [r["reminders"] for r in upcoming["rooms"] if r["id"] == room] == [2]

    status, mine = await live.call("GET", "/api/me/reminders", "bob")
    assert status == 200, mine
    assert [(r["id"], r["reminders"]) for r in mine["rooms"]] == [(room, 2)]

    status, got = await live.call("DELETE", f"/api/rooms/{room}/reminder", "bob")
    assert status == 200, got
    assert got == {"room_id": room, "subscribed": False, "reminders": 1}
    status, got = await live.call("DELETE", f"/api/rooms/{room}/reminder", "bob")
    assert (status, got["reminders"]) == (200, 1)
    _, mine = await live.call("GET", "/api/me/reminders", "bob")
    assert mine["rooms"] == []


async def test_guests_unknown_rooms_and_rooms_not_scheduled_are_refused(live: LiveApp) -> None:
    room = await scheduled(live)
    status, got = await remind(live, room, None)
    assert (status, got["error"]["code"]) == (403, "forbidden"), got
    status, got = await live.call("GET", "/api/me/reminders")
    assert (status, got["error"]["code"]) == (403, "forbidden"), got
    status, got = await remind(live, "r_nosuchroom", "bob")
    assert (status, got["error"]["code"]) == (404, "not_found"), got

    on_air = await live.live_room()
    status, got = await remind(live, on_air, "bob")
    assert (status, got["error"]["code"]) == (409, "invalid_state"), got
    assert got["error"]["state"] == "live"
    _, view = await live.call("GET", f"/api/rooms/{on_air}")
    assert view["reminders"] == 0


async def test_the_room_socket_takes_remind_me_and_remind_cancel(live: LiveApp) -> None:
    room = await scheduled(live)
    viewer = await Viewer.connect(live.base, room, token("bob"))
    await viewer.wait_welcome()
    reply = await viewer.request("remind_me")
    assert reply["type"] == "reply", reply
    assert reply["data"] == {"room_id": room, "subscribed": True, "reminders": 1}
    reply = await viewer.request("remind_cancel")
    assert reply["data"]["reminders"] == 0
    await viewer.close()
    guest = await Viewer.connect(live.base, room, guest=True)
    await guest.wait_welcome()
    reply = await guest.request("remind_me")
    assert reply["type"] == "error" and reply["error"]["code"] == "forbidden", reply
    await guest.close()


async def test_a_subscriber_watching_another_room_hears_the_start_once(live: LiveApp) -> None:
    show = await scheduled(live, "Tea tasting")
    other = await live.live_room(creator="dave", title="Elsewhere")
    for user in ("bob", "carol", "erin"):
        assert (await remind(live, show, user))[0] == 200
    await live.call("DELETE", f"/api/rooms/{show}/reminder", "erin")  # cancelled: no notice
    bob = await Viewer.connect(live.base, other, token("bob"))
    zed = await Viewer.connect(live.base, other, token("zed"))  # never subscribed
    erin = await Viewer.connect(live.base, other, token("erin"))
    carol = await Viewer.connect(live.base, show, token("carol"))  # in the show's own room
    for v in (bob, zed, erin, carol):
        await v.wait_welcome()

    status, started = await live.call("POST", f"/api/rooms/{show}/start", "alice", "creator")
    assert status == 200, started
    notices = await bob.wait_for(lambda: bob.of_type("show_starting"))
    assert notices[0]["data"] == {"room_id": show, "title": "Tea tasting",
                                  "creator_id": "alice", "started_at": started["started_at"]}
    await carol.wait_for(lambda: any(e["data"].get("state") == "live"
                                     for e in carol.of_type("room_state")))
    await asyncio.sleep(0.3)  # anything more would have arrived by now
    assert len(bob.of_type("show_starting")) == 1
    assert zed.of_type("show_starting") == [] and erin.of_type("show_starting") == []
    assert carol.of_type("show_starting") == []  # its own room says room_state instead
    for v in (bob, zed, erin, carol):
        await v.close()

    # the report counts who was waiting when it went live
    status, report = await live.call("GET", f"/api/rooms/{show}/report", "alice", "creator")
    assert status == 200, report
    assert report["headline"]["reminded"] == 2


@pytest.fixture
async def app(live_app_factory: Any) -> LiveApp:
    made: LiveApp = await live_app_factory(webhooks=WEBHOOKS)
    return made


async def test_the_webhook_carries_every_subscriber_in_pages(app: LiveApp) -> None:
    receiver = Receiver()
    url = await receiver.start()
    try:
        await hook(app, url, ["show.starting"], user="ops", role="ops")
        show = await scheduled(app)
        users = [f"u{i:04d}" for i in range(2_345)]
        for user in users:
            assert (await remind(app, show, user))[0] == 200
        status, _ = await app.call("POST", f"/api/rooms/{show}/start", "alice", "creator")
        assert status == 200
        await receiver.wait(lambda: len(receiver.of_type("show.starting")) == 3)
        pages = sorted((body["data"] for _h, body in receiver.of_type("show.starting")),
                       key=lambda d: d["page"])
        assert [p["page"] for p in pages] == [1, 2, 3]
        assert {p["pages"] for p in pages} == {3} and {p["subscribers"] for p in pages} == {2345}
        assert [len(p["user_ids"]) for p in pages] == [1000, 1000, 345]
        got = [uid for p in pages for uid in p["user_ids"]]
        assert sorted(got) == users  # each subscriber once
        assert {p["room_id"] for p in pages} == {show}
        assert pages[0]["room"]["id"] == show
    finally:
        await receiver.stop()
