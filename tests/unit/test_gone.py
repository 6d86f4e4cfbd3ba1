"""The rules of what a process knows is gone (live_server/realtime/gone.py): which buys and grabs
it may refuse without Valkey, with which answer, and when it must forget. The events are the
shapes the scripts publish (ev_sale_* in _lib.lua, events.red_packet_finished)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson

from live_server.errors import AlreadyGrabbed, Expired, NoneLeft, SaleEnded, SoldOut
from live_server.realtime.conn import Conn
from live_server.realtime.gone import GoneRecord, Refusal, SaleBuy
from live_server.realtime.hub import Hub, HubStats
from live_server.store.red_packets import grab_refusal
from live_server.store.shelf import buy_refusal

ROOM = "r1"


def sale_event(kind: str, sale_id: str = "s1", *, product: str = "p1", end_at: int = 9_000,
               **data: Any) -> dict[str, Any]:
    sale = {"id": sale_id, "product_id": product, "variant_id": "v0", "price": 100,
            "start_at": 0, "end_at": end_at, "state": "closed" if kind == "sale_ended" else "open"}
    return {"type": kind, "ts": 1, "seq": 1, "data": {"sale": sale, "left": 0, **data}}


def open_sale(gone: GoneRecord, sale_id: str = "s1", product: str = "p1") -> None:
    gone.note_event(ROOM, sale_event("sale_started", sale_id, product=product,
                                     server_time=1))


def sold_out(gone: GoneRecord, sale_id: str = "s1") -> None:
    gone.note_event(ROOM, sale_event("sale_ended", sale_id, reason="sold_out"))


def ask(gone: GoneRecord, sale_id: str, user: str, key: str, *, product: str = "p1",
        variant: str | None = "v0") -> Refusal | None:
    return gone.sale_refusal(ROOM, SaleBuy(sale_id, product, variant, user, key))


def followed() -> GoneRecord:
    gone = GoneRecord()
    gone.follow(ROOM)
    return gone


# Sales ---------------------------------------------------------------------------------------

def test_a_watched_sale_that_sold_out_refuses_sold_out_as_the_script_does() -> None:
    gone = followed()
    open_sale(gone)
    assert ask(gone, "s1", "u1", "k1") is None  # open: ask Valkey
    sold_out(gone)
    known = ask(gone, "s1", "u1", "k1")
    assert known == Refusal("sold_out")
    assert known is not None
    err = buy_refusal(known.status, known.reply)
    assert isinstance(err, SoldOut) and err.code == "sold_out"
    assert ask(gone, "s2", "u1", "k1") is None  # another sale: unknown


def test_a_sale_that_ended_or_was_cancelled_refuses_sale_ended_with_its_end() -> None:
    for reason in ("ended", "cancelled"):
        gone = followed()
        gone.note_event(ROOM, sale_event("sale_countdown", server_time=1))
        gone.note_event(ROOM, sale_event("sale_ended", end_at=4_321, reason=reason))
        known = ask(gone, "s1", "u1", "k1")
        assert known == Refusal("sale_ended", 4_321)
        assert known is not None
        err = buy_refusal(known.status, known.reply)
        assert isinstance(err, SaleEnded) and err.extra == {"end_at": 4_321}


def test_only_a_buy_of_the_sales_product_and_variant_is_refused() -> None:
    # the script checks the product and the variant before the sale: their refusals come first
    gone = followed()
    open_sale(gone)
    sold_out(gone)
    assert ask(gone, "s1", "u", "k", product="p2") is None
    assert ask(gone, "s1", "u", "k", variant="v_other") is None
    # no variant named: the script takes the sale's while it is the product's current sale
    assert ask(gone, "s1", "u", "k", variant=None) == Refusal("sold_out")


def test_a_new_sale_of_the_product_makes_the_old_one_sale_ended_at_zero() -> None:
    gone = followed()
    open_sale(gone, "s1")
    sold_out(gone, "s1")
    open_sale(gone, "s2")  # the product's current sale now
    assert ask(gone, "s1", "u", "k") == Refusal("sale_ended", 0)
    # without a variant the script may ask for one first (a product of several variants)
    assert ask(gone, "s1", "u", "k", variant=None) is None
    assert ask(gone, "s2", "u", "k") is None
    open_sale(gone, "s3", product="p2")  # another product's sale changes nothing here
    assert ask(gone, "s1", "u", "k") == Refusal("sale_ended", 0)


def test_a_sale_whose_start_was_not_seen_here_is_never_refused_here() -> None:
    # its keys sent before this process followed the room are not known here
    gone = followed()
    sold_out(gone)
    assert ask(gone, "s1", "u1", "k1") is None
    gone = GoneRecord()  # not followed at all
    open_sale(gone)
    sold_out(gone)
    assert ask(gone, "s1", "u1", "k1") is None


def won_then_sold_out() -> GoneRecord:
    """A followed room whose sale ``winner`` bought in (key ``k1``, sent from here) and which
    then sold out."""
    gone = followed()
    open_sale(gone)
    gone.sending(ROOM, "s1", "winner", "k1")
    gone.answered(ROOM, "s1", "winner", "k1")
    sold_out(gone)
    return gone


def test_a_key_this_process_sent_goes_to_valkey_again_after_the_sell_out() -> None:
    gone = won_then_sold_out()
    assert ask(gone, "s1", "winner", "k1") is None  # the script answers the order
    assert ask(gone, "s1", "winner", "k2") == Refusal("sold_out")  # a new key
    assert ask(gone, "s1", "other", "k1") == Refusal("sold_out")


def test_a_key_in_flight_before_the_room_was_followed_is_taken_over() -> None:
    gone = GoneRecord()
    gone.sending(ROOM, "s1", "early", "k1")  # an HTTP buy, no socket of the room here yet
    gone.follow(ROOM)
    open_sale(gone)
    gone.answered(ROOM, "s1", "early", "k1")
    sold_out(gone)
    assert ask(gone, "s1", "early", "k1") is None
    assert ask(gone, "s1", "late", "k1") == Refusal("sold_out")


def test_units_coming_back_forget_the_closure() -> None:
    reopenings: list[dict[str, Any]] = [
        sale_event("sale_started", reopened=True),
        {"type": "stock", "ts": 1, "data": {"product_id": "p1", "sale_id": "s1", "left": 1}},
        {"type": "product_updated", "ts": 1, "seq": 2, "data": {"product": {"id": "p1"}}},
        {"type": "shelf_updated", "ts": 1, "seq": 2, "data": {"products": [], "by": "c"}},
    ]
    for ev in reopenings:
        gone = followed()
        open_sale(gone)
        sold_out(gone)
        gone.note_event(ROOM, ev)
        assert ask(gone, "s1", "u", "k") is None, ev["type"]
        sold_out(gone)  # still watched: the next sell-out counts again
        assert ask(gone, "s1", "u", "k") == Refusal("sold_out"), ev["type"]


def test_stock_of_another_product_or_sale_none_left_or_ordinary_units_changes_nothing() -> None:
    gone = followed()
    open_sale(gone)
    sold_out(gone)
    for data in ({"product_id": "p2", "sale_id": "s9", "left": 5},
                 {"product_id": "p1", "sale_id": "s1", "left": 0},
                 {"product_id": "p1", "sale_id": "s0", "left": 3},   # an earlier sale's
                 {"product_id": "p1", "sale_id": None, "left": 7}):  # bought at the live price
        gone.note_event(ROOM, {"type": "stock", "ts": 1, "data": data})
    assert ask(gone, "s1", "u", "k") == Refusal("sold_out")


def test_a_room_is_forgotten_when_unfollowed_resynchronised_or_ended() -> None:
    def ready() -> GoneRecord:
        gone = followed()
        open_sale(gone)
        sold_out(gone)
        return gone

    gone = ready()
    gone.unfollow(ROOM)
    assert ask(gone, "s1", "u", "k") is None
    gone.follow(ROOM)
    sold_out(gone)  # its start was before this following began: not watched
    assert ask(gone, "s1", "u", "k") is None

    gone = ready()
    gone.forget_room(ROOM)
    assert ask(gone, "s1", "u", "k") is None

    gone = ready()
    gone.note_event(ROOM, {"type": "room_state", "ts": 1, "seq": 9,
                           "data": {"state": "ended", "ended_at": 1, "by": "c"}})
    assert ask(gone, "s1", "u", "k") is None
    assert gone.rooms_followed == 0


def test_a_lost_pubsub_connection_forgets_closures_but_keeps_watching() -> None:
    gone = won_then_sold_out()
    gone.forget_gone()
    assert ask(gone, "s1", "u", "k") is None
    sold_out(gone)  # e.g. refilled from the room's history
    assert ask(gone, "s1", "u", "k") == Refusal("sold_out")
    assert ask(gone, "s1", "winner", "k1") is None


def test_too_many_keys_for_a_sale_stop_its_local_refusals_for_good() -> None:
    gone = GoneRecord(max_keys=3)
    gone.follow(ROOM)
    open_sale(gone)
    for n in range(4):
        gone.sending(ROOM, "s1", f"u{n}", "k")
        gone.answered(ROOM, "s1", f"u{n}", "k")
    sold_out(gone)
    assert ask(gone, "s1", "new", "k") is None
    open_sale(gone)  # a start seen again does not make it watched: keys were dropped
    sold_out(gone)
    assert ask(gone, "s1", "new", "k") is None


def test_too_many_sales_in_a_room_stop_its_local_refusals_until_forgotten() -> None:
    gone = GoneRecord(max_sales=2)
    gone.follow(ROOM)
    for sid in ("s1", "s2", "s3"):
        open_sale(gone, sid)
        sold_out(gone, sid)
    assert all(ask(gone, sid, "u", "k") is None for sid in ("s1", "s2", "s3"))
    gone.unfollow(ROOM)
    gone.follow(ROOM)
    open_sale(gone, "s4")
    sold_out(gone, "s4")
    assert ask(gone, "s4", "u", "k") == Refusal("sold_out")


# Red packets ---------------------------------------------------------------------------------

def refuse(gone: GoneRecord, user: str, *, now: int = 10, condition: str = "anyone",
           expires_at: int = 1_000) -> Refusal | None:
    return gone.packet_refusal("rp1", user, now=now, condition=condition,
                               expires_at=expires_at)


def test_an_empty_packet_is_refused_once_its_claims_are_known() -> None:
    gone = GoneRecord()
    assert refuse(gone, "u") is None
    gone.packet_empty("rp1", ROOM)
    assert gone.claims_wanted("rp1")
    assert refuse(gone, "u") is None  # claims unknown: a grabber retrying must get their amount
    gone.note_claims("rp1", {"lucky": 123})
    assert not gone.claims_wanted("rp1")
    loser, winner = refuse(gone, "u"), refuse(gone, "lucky")
    assert loser == Refusal("none_left") and winner == Refusal("already_grabbed", 123)
    assert loser is not None and winner is not None
    assert isinstance(grab_refusal(loser.status, loser.reply), NoneLeft)
    err = grab_refusal(winner.status, winner.reply)
    assert isinstance(err, AlreadyGrabbed) and err.extra == {"amount": 123}


def test_only_packets_open_to_anyone_and_not_yet_expired_are_refused_none_left() -> None:
    gone = GoneRecord()
    gone.packet_empty("rp1", ROOM)
    gone.note_claims("rp1", {"lucky": 5})
    for condition in ("followers", "fan_club", "keyword"):  # eligibility comes first
        assert refuse(gone, "u", condition=condition) is None
    assert refuse(gone, "u", now=1_000, expires_at=1_000) is None  # the script says expired


def test_an_expired_packet_is_refused_expired_whatever_its_condition() -> None:
    gone = GoneRecord()
    gone.note_event(ROOM, {"type": "red_packet_finished", "ts": 1, "seq": 3, "data": {
        "packet_id": "rp1", "reason": "expired", "luckiest": None, "refunded": 10,
        "shares_left": 2}})
    known = refuse(gone, "u", condition="fan_club")
    assert known == Refusal("expired")
    assert isinstance(grab_refusal(known.status, known.reply), Expired)  # type: ignore[union-attr]
    assert not gone.claims_wanted("rp1")


def test_packet_events_and_claims_that_say_empty() -> None:
    for ev in ({"type": "red_packet_finished", "ts": 1, "seq": 3, "data": {
                    "packet_id": "rp1", "reason": "all_grabbed", "luckiest": None,
                    "refunded": 0, "shares_left": 0}},
               {"type": "red_packet_grabbed", "ts": 1, "data": {
                    "packet_id": "rp1", "name": "n", "amount": 3, "left": 0}}):
        gone = GoneRecord()
        gone.note_event(ROOM, ev)
        assert gone.claims_wanted("rp1")
    gone = GoneRecord()
    gone.note_event(ROOM, {"type": "red_packet_grabbed", "ts": 1, "data": {
        "packet_id": "rp1", "name": "n", "amount": 3, "left": 4}})
    assert not gone.claims_wanted("rp1")
    gone.note_claims("rp1", {"a": 1})  # not known empty: ignored
    assert refuse(gone, "b") is None


def test_packets_are_bounded_and_forgotten_with_their_room_or_pubsub() -> None:
    gone = GoneRecord(max_packets=2, max_claims=3)
    for pid in ("a", "b", "c"):
        gone.packet_empty(pid, ROOM)
    assert not gone.claims_wanted("a") and gone.claims_wanted("b")  # the oldest went
    gone.note_claims("b", {"x": 1, "y": 1})
    gone.note_claims("c", {"z": 1, "w": 1})  # 4 claims > 3: the oldest packet goes
    assert gone.packet_refusal("b", "q", now=1, condition="anyone", expires_at=9) is None
    assert gone.packet_refusal("c", "q", now=1, condition="anyone",
                               expires_at=9) == Refusal("none_left")
    gone.unfollow(ROOM)  # a packet stays empty whoever watches the room
    assert gone.packet_refusal("c", "q", now=1, condition="anyone",
                               expires_at=9) == Refusal("none_left")
    gone.forget_room(ROOM)
    assert gone.packet_refusal("c", "q", now=1, condition="anyone", expires_at=9) is None
    gone.packet_empty("d", "other")
    gone.note_claims("d", {})
    gone.forget_gone()
    assert gone.packet_refusal("d", "q", now=1, condition="anyone", expires_at=9) is None


# The hub feeds it ----------------------------------------------------------------------------

async def test_the_hub_follows_feeds_and_forgets_the_record() -> None:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    gone = GoneRecord()
    hub = Hub(max_out_buffer=1 << 20, slow_close_grace_ms=100, join_names=3,
              max_batch_events=500, stats=HubStats(lambda *a: None, lambda: None, lambda: None),
              gone=gone)
    conn = Conn(room_id=ROOM, transport=transport, user_id="u", name="U", role="viewer")  # type: ignore[arg-type]
    assert hub.attach(conn)
    hub.activate(conn, 0, [])
    hub.deliver(ROOM, orjson.dumps(sale_event("sale_started", server_time=1) | {"seq": 1}))
    hub.deliver(ROOM, orjson.dumps(sale_event("sale_ended", reason="sold_out") | {"seq": 2}))
    assert ask(gone, "s1", "u", "k") == Refusal("sold_out")
    hub.resync(ROOM, 100)  # the stream went back: what it said is forgotten
    assert ask(gone, "s1", "u", "k") is None
    hub.deliver(ROOM, orjson.dumps(sale_event("sale_started", server_time=1) | {"seq": 101}))
    hub.deliver(ROOM, orjson.dumps(sale_event("sale_ended", reason="sold_out") | {"seq": 102}))
    assert ask(gone, "s1", "u", "k") == Refusal("sold_out")
    conn2 = Conn(room_id=ROOM, transport=transport, user_id="v", name="V", role="viewer")  # type: ignore[arg-type]
    hub.attach(conn2)
    hub.detach(conn)
    assert ask(gone, "s1", "u", "k") == Refusal("sold_out")  # still followed
    hub.detach(conn2)
    assert ask(gone, "s1", "u", "k") is None  # the last socket left
    transport.close()
    theirs.close()
