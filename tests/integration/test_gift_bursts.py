"""Gift bursts through the real app and a real Valkey: the room's stage (a few senders' gifts
heard at once, a combo on the stage seen to its end, a big gift always heard, the sender told
`shown`), and a burst of concurrent sends answered from shared pipelines with exact money."""

from __future__ import annotations

import asyncio
from typing import Any

from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.helpers import Viewer
from tests.integration.test_gifts import full_audit, send
from tests.integration.test_red_packets import balance, topup


def senders_heard(viewer: Viewer) -> set[tuple[str, str]]:
    return {(e["data"]["from"], e["data"]["gift_id"]) for e in viewer.of_type("gift")}


async def test_the_stage_shows_a_few_senders_and_their_combos_to_the_end(
        live_app_factory: Any) -> None:
    live: LiveApp = await live_app_factory(gifts={"stage_slots": 2, "stage_hold_ms": 1500})
    room = await live.live_room()
    for user in ("ann", "ben", "cat", "dan"):
        await topup(live, user, 10_000)
    watcher = await Viewer.connect(live.base, room, token("wes"))
    await watcher.wait_welcome()
    shown = {}
    for user, gift in (("ann", "rose"), ("ben", "rose"), ("cat", "rose"), ("ann", "rose"),
                       ("ann", "rose"), ("dan", "heart"), ("cat", "crown")):
        status, body = await send(live, room, user, gift_id=gift)
        assert status == 200, body
        shown[(user, gift, body["combo"])] = body["shown"]
    assert shown == {("ann", "rose", 1): True, ("ben", "rose", 1): True,
                     ("cat", "rose", 1): False,  # the stage is full
                     ("ann", "rose", 2): True, ("ann", "rose", 3): True,  # on it: to the end
                     ("dan", "heart", 1): False,
                     ("cat", "crown", 1): True}  # 20.00: always shown, the stage full or not
    await watcher.wait_for(lambda: [e for e in watcher.of_type("gift")
                                    if e["data"]["combo"] == 3])
    await watcher.wait_for(lambda: ("cat", "crown") in senders_heard(watcher))
    assert senders_heard(watcher) == {("ann", "rose"), ("ben", "rose"), ("cat", "crown")}
    # every send was charged, shown or not
    assert await balance(live, "cat") == 10_000 - 10 - 2_000
    assert await balance(live, "dan") == 10_000 - 100
    # a place frees once its gift has had no send for the hold
    await asyncio.sleep(1.6)
    status, body = await send(live, room, "dan", gift_id="heart")
    assert status == 200 and body["shown"] is True and body["combo"] == 2  # within 3 s
    await watcher.wait_for(lambda: ("dan", "heart") in senders_heard(watcher))
    await watcher.close()
    assert await full_audit(live) == []


async def test_a_burst_is_answered_from_shared_pipelines_with_exact_money(
        live: LiveApp) -> None:
    room = await live.live_room()
    users = [f"v{i}" for i in range(40)]
    for user in users:
        await topup(live, user, 1_000)
    metrics = live.client.app[SERVICES].metrics

    def batches() -> float:
        return metrics.registry.get_sample_value(
            "live_valkey_seconds_count", {"op": "gift_send_many"}) or 0.0

    before = batches()
    # every viewer sends 3 gifts at once, each twice with its key (a retried send)
    calls = [send(live, room, user, gift_id="heart", idempotency_key=f"{user}-{n}")
             for n in range(3) for user in users for _ in range(2)]
    answers = await asyncio.gather(*calls)
    assert all(status == 200 for status, _ in answers), [b for s, b in answers if s != 200]
    charged = [body for _, body in answers if not body["repeated"]]
    assert len(charged) == 3 * len(users)  # one charge per key
    assert batches() - before < len(calls) / 4  # in pipelines, not a round trip each
    for user in users:
        assert await balance(live, user) == 700
    status, figs = await live.call("GET", f"/api/rooms/{room}/gifts", "alice", "creator")
    assert status == 200 and figs["sends"] == 120 and figs["spent"] == 12_000
    assert await balance(live, "alice") == 8_400
    status, card = await live.call("GET", "/api/creators/alice/fans", "v0")
    assert status == 200 and card["intimacy"] >= 3  # the batch's intimacy, before the answer
    assert await full_audit(live) == []
