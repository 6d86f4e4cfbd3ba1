"""Wallets and red packets end to end through the real app and a real Valkey: top-up, launch,
grab (HTTP and websocket), keyword and countdown conditions, expiry refund, permissions,
bad input, and the ledger audit."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

from live_server.auth import Identity
from live_server.config import INTIMACY_SOURCES
from live_server.services.wallets import audit
from live_server.web.keys import SERVICES
from tests.conftest import ROOT, LiveApp, token
from tests.helpers import Viewer


async def topup(live: LiveApp, user: str, amount: int, role: Any = "viewer") -> int:
    status, body = await live.call("POST", "/api/dev/wallet/topup", user, role,
                                   json={"amount": amount})
    assert status == 200, body
    return int(body["balance"])


async def balance(live: LiveApp, user: str) -> int:
    status, body = await live.call("GET", "/api/me/wallet", user)
    assert status == 200, body
    return int(body["balance"])


async def launch(live: LiveApp, room: str, creator: str = "alice", **fields: Any
                 ) -> tuple[int, Any]:
    return await live.call("POST", f"/api/rooms/{room}/red-packets", creator, "creator",
                           json={"total": 1000, "shares": 10, **fields})


async def grab(live: LiveApp, pid: str, user: str) -> tuple[int, Any]:
    return await live.call("POST", f"/api/red-packets/{pid}/grab", user)


async def assert_audit_clean(live: LiveApp) -> None:
    s = live.client.app[SERVICES]
    report = await audit(s.wallets.store, s.red_packets.store)
    assert report.mismatches == [], report.mismatches


async def test_wallet_topup_and_ledger_entries(live: LiveApp) -> None:
    assert await balance(live, "vic") == 0
    assert await topup(live, "vic", 500) == 500
    assert await topup(live, "vic", 250) == 750
    status, body = await live.call("GET", "/api/me/wallet", "vic")
    assert status == 200 and body["balance"] == 750
    assert [(e["amount"], e["to"], e["reason"]) for e in body["entries"]] == [
        (250, "user:vic", "topup"), (500, "user:vic", "topup")]
    for bad in (0, -1, 10**12, "5", 1.5):
        status, err = await live.call("POST", "/api/dev/wallet/topup", "vic", json={"amount": bad})
        assert status == 400, err
    status, _ = await live.call("POST", "/api/dev/wallet/topup", None, json={"amount": 5})
    assert status in (401, 403)
    assert await balance(live, "vic") == 750
    await assert_audit_clean(live)


async def test_topup_is_off_when_disabled(live_app_factory: Any) -> None:
    live = await live_app_factory(money={"dev_topup": False})
    status, err = await live.call("POST", "/api/dev/wallet/topup", "vic", json={"amount": 5})
    assert status == 403 and err["error"]["code"] == "forbidden"


async def test_launch_and_grab_with_events_record_and_audit(live: LiveApp) -> None:
    room = await live.live_room()
    await topup(live, "alice", 5000, "creator")
    viewer = await Viewer.connect(live.base, room, token("vic"))
    await viewer.wait_welcome()
    status, made = await launch(live, room, total=1000, shares=3, split="random")
    assert status == 201, made
    packet = made["packet"]
    assert made["balance"] == 4000 and packet["state"] == "open"  # no countdown: open at once
    announced = await viewer.wait_for(lambda: viewer.of_type("red_packet"))
    assert announced[0]["data"]["packet"]["id"] == packet["id"] and announced[0]["seq"] > 0
    reply = await viewer.request("grab", packet_id=packet["id"])
    assert reply["type"] == "reply", reply
    got = {"vic": reply["data"]["amount"]}
    again = await viewer.request("grab", packet_id=packet["id"])
    assert again["error"]["code"] == "already_grabbed"
    assert again["error"]["amount"] == got["vic"]
    for user in ("wes", "xia"):
        status, body = await grab(live, packet["id"], user)
        assert status == 200, body
        got[user] = body["amount"]
    status, body = await grab(live, packet["id"], "yan")
    assert status == 409 and body["error"]["code"] == "none_left"
    assert sum(got.values()) == 1000 and min(got.values()) >= 1
    finished = await viewer.wait_for(lambda: viewer.of_type("red_packet_finished"))
    data = finished[0]["data"]
    assert data["reason"] == "all_grabbed" and data["luckiest"]["amount"] == max(got.values())
    status, view = await live.call("GET", f"/api/red-packets/{packet['id']}", "vic")
    assert status == 200 and view["state"] == "finished" and view["mine"] == got["vic"]
    assert {r["user"]: r["amount"] for r in view["record"]} == got
    status, listing = await live.call("GET", f"/api/rooms/{room}/red-packets", "vic")
    assert [p["id"] for p in listing["packets"]] == [packet["id"]]
    for user, amount in got.items():
        assert await balance(live, user) == amount
    await viewer.close()
    await assert_audit_clean(live)


async def test_same_user_grabbing_concurrently_gets_one_share(live: LiveApp) -> None:
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    _, made = await launch(live, room, total=1000, shares=10, split="equal")
    pid = made["packet"]["id"]
    results = await asyncio.gather(*(grab(live, pid, "vic") for _ in range(30)))
    ok = [body for status, body in results if status == 200]
    refused = [body["error"]["code"] for status, body in results if status != 200]
    assert len(ok) == 1 and ok[0]["amount"] == 100
    assert refused == ["already_grabbed"] * 29
    assert await balance(live, "vic") == 100
    await assert_audit_clean(live)


async def test_concurrent_launches_with_one_key_make_one_packet_debited_once(
        live: LiveApp) -> None:
    room = await live.live_room()
    await topup(live, "alice", 5000, "creator")
    viewer = await Viewer.connect(live.base, room, token("vic"))
    await viewer.wait_welcome()
    answers = await asyncio.gather(*(
        launch(live, room, total=1000, shares=4, idempotency_key="launch-1") for _ in range(10)))
    assert sorted(status for status, _ in answers) == [200] * 9 + [201], answers
    assert len({made["packet"]["id"] for _, made in answers}) == 1
    first = next(made for status, made in answers if status == 201)
    assert first["created"] is True and first["seq"] > 0 and first["balance"] == 4000
    assert all(made["created"] is False and made["seq"] is None and made["balance"] == 4000
               for status, made in answers if status == 200)
    assert await balance(live, "alice") == 4000
    status, listing = await live.call("GET", f"/api/rooms/{room}/red-packets")
    assert status == 200 and len(listing["packets"]) == 1
    # a retry later, even with other fields, is the same packet; a new key is a new packet
    status, again = await launch(live, room, total=2000, shares=2, idempotency_key="launch-1")
    assert status == 200 and again["packet"]["id"] == first["packet"]["id"]
    assert again["packet"]["total"] == 1000
    status, other = await launch(live, room, total=500, shares=5, idempotency_key="launch-2")
    assert status == 201 and other["created"] is True and other["balance"] == 3500
    # another creator's identical key is their own
    bob_room = await live.live_room("bob")
    await topup(live, "bob", 300, "creator")
    status, bobs = await launch(live, bob_room, "bob", total=300, shares=3,
                                idempotency_key="launch-1")
    assert status == 201 and bobs["packet"]["id"] != first["packet"]["id"]
    status, body = await launch(live, room, total=100, shares=1, idempotency_key="bad key!")
    assert status == 400 and body["error"]["code"] == "invalid_field"
    await viewer.wait_for(lambda: len(viewer.of_type("red_packet")) >= 2)
    announced = [e["data"]["packet"]["id"] for e in viewer.of_type("red_packet")]
    assert announced == [first["packet"]["id"], other["packet"]["id"]]
    status, wallet = await live.call("GET", "/api/me/wallet", "alice", "creator")
    assert [e["reason"] for e in wallet["entries"]].count("red_packet") == 2
    await viewer.close()
    await assert_audit_clean(live)


async def test_keyword_admits_exactly_who_said_it_after_the_announcement(live: LiveApp) -> None:
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    early = await Viewer.connect(live.base, room, token("early"))
    await early.wait_welcome()
    await early.request("chat", text="Open Sesame")  # before the packet: does not count
    _, made = await launch(live, room, total=600, shares=6, split="equal", condition="keyword",
                           keyword="open  sesame")
    pid = made["packet"]["id"]
    assert made["packet"]["keyword"] == "open sesame"
    viewers = {}
    for name in ("kay", "lou", "max"):
        viewers[name] = await Viewer.connect(live.base, room, token(name))
        await viewers[name].wait_welcome()
    said = await viewers["kay"].request("chat", text="OPEN sesame")
    assert said["type"] == "reply", said
    await viewers["lou"].request("chat", text="open sesame please")  # not the keyword
    await viewers["max"].request("chat", text=" Open  Sesame ")
    codes = {}
    for name in ("early", "kay", "lou", "max", "nobody"):
        status, body = await grab(live, pid, name)
        codes[name] = body["amount"] if status == 200 else body["error"]["code"]
    assert codes == {"early": "not_eligible", "kay": 100, "lou": "not_eligible", "max": 100,
                     "nobody": "not_eligible"}
    for v in (early, *viewers.values()):
        await v.close()
    await assert_audit_clean(live)


async def test_a_packet_is_open_at_once_without_countdown_and_waiting_with_one(
        live: LiveApp) -> None:
    """The state in the launch answer, the packet's record and the ``red_packet`` event."""
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    viewer = await Viewer.connect(live.base, room, token("vic"))
    await viewer.wait_welcome()
    for countdown_s, state in ((0, "open"), (30, "waiting")):
        status, made = await launch(live, room, total=100, shares=2, countdown_s=countdown_s)
        assert status == 201 and made["packet"]["state"] == state, made
        pid = made["packet"]["id"]
        status, record = await live.call("GET", f"/api/red-packets/{pid}", "vic")
        assert status == 200 and record["state"] == state, record
        _, listing = await live.call("GET", f"/api/rooms/{room}/red-packets")
        assert [p["state"] for p in listing["packets"] if p["id"] == pid] == [state]
        event = await viewer.wait_for(lambda pid=pid: [
            e for e in viewer.of_type("red_packet") if e["data"]["packet"]["id"] == pid])
        assert event[0]["data"]["packet"]["state"] == state, event
    await viewer.close()


async def test_countdown_refuses_grabs_until_open(live: LiveApp) -> None:
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    viewer = await Viewer.connect(live.base, room, token("vic"))
    await viewer.wait_welcome()
    _, made = await launch(live, room, total=100, shares=2, countdown_s=1)
    pid = made["packet"]["id"]
    status, body = await grab(live, pid, "vic")
    assert status == 409 and body["error"]["code"] == "not_open"
    assert body["error"]["open_at"] == made["packet"]["open_at"]
    opened = await viewer.wait_for(lambda: viewer.of_type("red_packet_opened"))
    assert opened[0]["data"]["packet_id"] == pid
    status, body = await grab(live, pid, "vic")
    assert status == 200, body
    await viewer.close()


async def test_expiry_refunds_the_remainder_exactly_once(live: LiveApp) -> None:
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    _, made = await launch(live, room, total=1000, shares=10, split="equal", duration_s=3600)
    packet = made["packet"]
    for user in ("a1", "a2", "a3"):
        assert (await grab(live, packet["id"], user))[0] == 200
    svc = live.client.app[SERVICES].red_packets
    later = packet["expires_at"] + 1
    results = await asyncio.gather(*(svc.tick(packet["id"], later) for _ in range(25)))
    assert results.count("expired") == 1
    assert await balance(live, "alice") == 700
    status, view = await live.call("GET", f"/api/red-packets/{packet['id']}", "alice")
    assert view["state"] == "finished" and view["reason"] == "expired"
    assert view["refunded"] == 700 and view["amount_left"] == 0
    status, err = await grab(live, packet["id"], "late")
    assert status == 409 and err["error"]["code"] == "expired"
    wallets = live.client.app[SERVICES].wallets.store
    refunds = [e async for e in wallets.ledger_entries() if e["reason"] == "refund"]
    assert [int(e["amount"]) for e in refunds] == [700]
    await assert_audit_clean(live)


async def test_permissions_and_bad_input_move_no_money(live: LiveApp) -> None:
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    await topup(live, "bob", 1000, "creator")
    status, err = await live.call("POST", f"/api/rooms/{room}/red-packets", "vic", "viewer",
                                  json={"total": 100, "shares": 1})
    assert status == 403, err
    status, err = await launch(live, room, "bob", total=100, shares=1)
    assert status == 403, err
    status, err = await launch(live, "nosuchroom", total=100, shares=1)
    assert status == 404, err
    for fields in ({"total": 0}, {"total": -5}, {"shares": 0}, {"shares": 100_000},
                   {"total": 5, "shares": 10}, {"split": "odd"}, {"total": "10"},
                   {"condition": "keyword"}, {"countdown_s": -1}, {"duration_s": 0}):
        status, err = await launch(live, room, **fields)
        assert status == 400, (fields, err)
    status, err = await launch(live, room, total=1001, shares=1)
    assert status == 402 and err["error"]["code"] == "insufficient_funds"
    assert err["error"]["balance"] == 1000
    status, err = await grab(live, "nosuchpacket", "vic")
    assert status == 404, err
    status, listing = await live.call("GET", f"/api/rooms/{room}/red-packets", "vic")
    assert listing["packets"] == []
    assert await balance(live, "alice") == 1000 and await balance(live, "bob") == 1000
    await assert_audit_clean(live)


async def test_audit_reports_a_tampered_balance_and_exits_non_zero(live: LiveApp) -> None:
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    _, made = await launch(live, room, total=300, shares=3)
    assert (await grab(live, made["packet"]["id"], "vic"))[0] == 200
    env = {"REDIS_URL": live.settings.store.url,
           "LIVE_STORE_KEY_PREFIX": live.settings.store.key_prefix,
           "LIVE_MONEY_WALLET_BUCKETS": str(live.settings.money.wallet_buckets),
           "PATH": "/usr/bin:/bin"}

    def run_audit() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "live_server", "audit"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    clean = await asyncio.to_thread(run_audit)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    wallets = live.client.app[SERVICES].wallets.store
    # money out of nowhere
    await wallets.core.client.hincrby(wallets.keys.wallet("vic").balances, "vic", 1)
    dirty = await asyncio.to_thread(run_audit)
    assert dirty.returncode == 1
    assert "MISMATCH wallet vic" in dirty.stdout


async def test_follow_fan_club_and_their_packet_conditions(live: LiveApp) -> None:
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    status, card = await live.call("POST", "/api/creators/alice/follow", "fol")
    assert status == 200 and card["following"] and card["followers"] == 1
    status, err = await live.call("POST", "/api/creators/alice/follow", "alice", "creator")
    assert status == 400, err
    # the fan club costs its fee, paid to the creator through the ledger
    status, err = await live.call("POST", "/api/creators/alice/fan-club", "fan")
    assert status == 402 and err["error"]["code"] == "insufficient_funds"
    await topup(live, "fan", 150)
    status, card = await live.call("POST", "/api/creators/alice/fan-club", "fan")
    assert status == 200 and card["fan_club_member"] and card["balance"] == 50
    status, err = await live.call("POST", "/api/creators/alice/fan-club", "fan")
    assert status == 409 and err["error"]["code"] == "already_member"
    assert await balance(live, "alice") == 1100 and await balance(live, "fan") == 50
    status, card = await live.call("GET", "/api/creators/alice/fans", "fan")
    assert (card["followers"], card["fan_club_members"], card["fan_club_member"],
            card["following"]) == (1, 1, True, False)
    _, for_followers = await launch(live, room, total=200, shares=2, split="equal",
                                    condition="followers")
    _, for_club = await launch(live, room, total=200, shares=2, split="equal",
                               condition="fan_club")
    results = {}
    for name, packet in (("followers", for_followers), ("club", for_club)):
        for user in ("fol", "fan", "nobody"):
            status, body = await grab(live, packet["packet"]["id"], user)
            results[name, user] = body["amount"] if status == 200 else body["error"]["code"]
    assert results == {
        ("followers", "fol"): 100, ("followers", "fan"): "not_eligible",
        ("followers", "nobody"): "not_eligible", ("club", "fol"): "not_eligible",
        ("club", "fan"): 100, ("club", "nobody"): "not_eligible"}
    status, card = await live.call("DELETE", "/api/creators/alice/follow", "fol")
    assert status == 200 and not card["following"] and card["followers"] == 0
    await assert_audit_clean(live)


async def test_intimacy_points_from_chat_grabs_and_the_club_capped_per_day(
        live_app_factory: Any) -> None:
    live = await live_app_factory(fans={"chat_points": 2, "chat_daily_cap": 4,
                                        "grab_points": 3, "grab_daily_cap": 3,
                                        "fan_club_points": 4, "fan_club_daily_cap": 4},
                                  chat={"rate_per_s": 100.0, "burst": 100})
    room = await live.live_room()
    await topup(live, "alice", 1000, "creator")
    vic = await Viewer.connect(live.base, room, token("vic"))
    host = await Viewer.connect(live.base, room, token("alice", "creator"))
    await vic.wait_welcome()
    await host.wait_welcome()
    for n in range(2):
        assert (await vic.request("chat", text=f"hello {n}"))["type"] == "reply"
    await host.request("chat", text="welcome")  # no points toward oneself
    _, made = await launch(live, room, total=100, shares=1)
    assert (await grab(live, made["packet"]["id"], "vic"))[0] == 200
    status, card = await live.call("GET", "/api/creators/alice/fans", "vic")
    assert (card["intimacy"], card["intimacy_today"]) == (2 + 2 + 3, 7)
    await topup(live, "vic", 500)
    status, card = await live.call("POST", "/api/creators/alice/fan-club", "vic")
    assert status == 200 and card["intimacy"] == 11  # 7 + 4
    for n in range(3):  # chat is at its cap (4) for today
        await vic.request("chat", text=f"more {n}")
    status, card = await live.call("GET", "/api/creators/alice/fans", "alice", "creator")
    assert card["top"] == [{"user": "vic", "intimacy": 11}] and card["intimacy"] == 0
    # the next day has fresh caps
    money = live.client.app[SERVICES].fans
    tomorrow = money.day() + 1
    assert await money.earn("alice", "vic", "chat", now=tomorrow * 86_400_000) == 2
    await vic.close()
    await host.close()


async def test_each_intimacy_source_stops_at_its_daily_cap_and_resumes_the_next_day(
        live_app_factory: Any) -> None:
    fans: dict[str, Any] = {"day_starts_at_utc_hour": 6}
    for source in INTIMACY_SOURCES:
        fans |= {f"{source}_points": 2, f"{source}_daily_cap": 5}
    live = await live_app_factory(fans=fans)
    money = live.client.app[SERVICES].fans
    hour = 3_600_000
    morning = 20_000 * 24 * hour + 10 * hour        # 10:00 UTC, day n (from 06:00)
    before_next = morning + 20 * hour - 1           # 05:59:59.999 the next calendar day: still n
    next_day = morning + 20 * hour                  # 06:00 UTC: day n + 1
    for source in INTIMACY_SOURCES:
        other = INTIMACY_SOURCES[(INTIMACY_SOURCES.index(source) + 1) % len(INTIMACY_SOURCES)]
        user = f"fan-{source}"
        got = [await money.earn("alice", user, source, now=morning) for _ in range(4)]
        assert got == [2, 2, 1, 0], source  # stops at the cap of 5
        assert await money.earn("alice", user, source, now=before_next) == 0, source
        assert await money.earn("alice", user, other, now=before_next) == 2, source
        assert await money.earn("alice", user, source, 3, now=next_day) == 5, source
        card = await money.fans(Identity(user, user, "viewer"), "alice", now=next_day)
        assert (card["intimacy"], card["intimacy_today"]) == (5 + 2 + 5, 5), source
    assert await money.earn("alice", "alice", "chat", now=morning) == 0  # never toward oneself


async def test_fan_level_and_club_badge_in_the_card_and_on_chat_messages(
        live_app_factory: Any) -> None:
    live = await live_app_factory(fans={"fan_club_points": 6, "fan_club_daily_cap": 6,
                                        "levels": [3, 6, 100]})
    room = await live.live_room()
    await topup(live, "vic", 500)
    status, card = await live.call("POST", "/api/creators/alice/fan-club", "vic")
    assert status == 200 and (card["intimacy"], card["level"]) == (6, 2)
    status, card = await live.call("GET", "/api/creators/alice/fans", "zed")
    assert card["level"] == 0
    vic = await Viewer.connect(live.base, room, token("vic"))
    zed = await Viewer.connect(live.base, room, token("zed"))
    host = await Viewer.connect(live.base, room, token("alice", "creator"))
    for v in (vic, zed, host):
        await v.wait_welcome()
    for v in (vic, zed, host):
        assert (await v.request("chat", text="hi"))["type"] == "reply"
    await host.wait_for(lambda: len(host.of_type("chat")) == 3)
    badges = {e["data"]["user"]["id"]: (e["data"]["user"]["level"], e["data"]["user"]["fan_club"])
              for e in host.of_type("chat")}
    assert badges == {"vic": (2, True), "zed": (0, False), "alice": (0, False)}
    for v in (vic, zed, host):
        await v.close()


async def test_the_rooms_top_fans_are_by_intimacy_toward_its_creator(
        live_app_factory: Any) -> None:
    live = await live_app_factory(fans={"fan_club_points": 6, "fan_club_daily_cap": 6,
                                        "chat_points": 1})
    room = await live.live_room()
    vic = await Viewer.connect(live.base, room, token("vic"))
    zed = await Viewer.connect(live.base, room, token("zed"))
    for v in (vic, zed):
        await v.wait_welcome()
    await topup(live, "vic", 500)
    assert (await live.call("POST", "/api/creators/alice/fan-club", "vic"))[0] == 200
    assert (await zed.request("chat", text="hi"))["type"] == "reply"
    want = [{"user_id": "vic", "name": "Vic", "score": 6},
            {"user_id": "zed", "name": "Zed", "score": 1}]
    late = await Viewer.connect(live.base, room, token("amy"))
    assert (await late.wait_welcome())["snapshot"]["top_fans"] == want
    _, board = await live.call("GET", f"/api/rooms/{room}/fans/top?limit=5")
    assert board["fans"] == want
    for v in (vic, zed, late):
        await v.close()
