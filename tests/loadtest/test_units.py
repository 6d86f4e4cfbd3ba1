"""Small pieces: pacing bounds, role dealing, loopback guard, budgets evaluation, tokens."""

from __future__ import annotations

import json
import time

import jwt
import orjson
import pytest

from loadtest.check import evaluate
from loadtest.dialects import DIALECTS, FAILED, JOINED, WAIT, Reply
from loadtest.figures import loss_figures
from loadtest.pacing import paced
from loadtest.runner import assign_roles, require_loopback
from loadtest.tokens import mint


async def test_paced_is_bounded_by_count_and_time() -> None:
    got = [i async for batch in paced(50, 1000.0, time.monotonic() + 5) for i in batch]
    assert got == list(range(50))
    t0 = time.monotonic()
    got = [i async for batch in paced(10_000, 100.0, time.monotonic() + 0.3) for i in batch]
    assert time.monotonic() - t0 < 1.0
    assert 15 <= len(got) <= 45
    now = time.monotonic()
    assert [i async for batch in paced(5, 0, now + 1) for i in batch] == [0, 1, 2, 3, 4]


def test_assign_roles_spreads_tracers_and_talkers() -> None:
    plans = assign_roles(10, 3, 2, 3)
    flat = sorted(v for p in plans for v in p)
    assert [i for i, _ in flat] == list(range(10))
    roles = [r for _, r in flat]
    assert roles.count("tracer") == 3 and roles.count("talker") == 2
    assert all(p for p in plans)


def test_loopback_only() -> None:
    assert require_loopback("http://127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert require_loopback("http://localhost:9")[0] == "127.0.0.1"
    with pytest.raises(ValueError, match="loopback"):
        require_loopback("http://10.1.2.3:80")


def test_tokens_carry_the_protocol_claims() -> None:
    secret = "a-test-secret-long-enough-for-hs256-keys"
    claims = jwt.decode(mint(secret, "bob", "viewer"), secret, algorithms=["HS256"])
    assert {"sub", "name", "role", "iat", "exp"} <= claims.keys()
    assert claims["sub"] == "bob" and claims["role"] == "viewer"


def test_live_dialect_counts_without_decoding() -> None:
    d = DIALECTS["live"]
    assert d.count(b'{"type":"events","events":[{"type":"chat"},{"type":"counters"}]}') == (2, 1)
    assert d.count(b'{"type": "events", "events": [{"type": "chat"}]}') == (1, 1)
    assert d.count(b'{"type":"pong","id":1}') == (0, 0)
    rep = d.reply(b'{"type":"reply","id":4,"data":{"seq":9}}')
    assert rep is not None and rep.rid == 4 and rep.data == {"seq": 9}
    assert d.reply(b'{"type":"events"}') is None


def test_live_dialect_reads_a_frame_whatever_its_key_order() -> None:
    """The figures must not hinge on the server writing `type` first: a frame with it last, or
    after an `events` list whose entries have their own `type`, reads the same."""
    d = DIALECTS["live"]
    events = [{"seq": 5, "type": "chat", "data": {"text": "x"}},
              {"data": {"left": 2}, "type": "stock"}, {"type": "chat", "data": {"text": "y"}}]
    first = orjson.dumps({"type": "events", "room": "r1", "events": events})
    last = orjson.dumps({"room": "r1", "events": events, "type": "events"})
    spaced_last = json.dumps({"room": "r1", "events": events, "type": "events"}).encode()
    assert d.count(first) == d.count(last) == d.count(spaced_last) == (3, 2)
    assert d.count(orjson.dumps({"id": 1, "type": "pong"})) == (0, 0)

    assert d.before_join(orjson.dumps({"seq": 4, "type": "welcome"}), "r1", None) == (JOINED, None)
    refused = orjson.dumps({"error": {"code": "banned"}, "type": "error"})
    assert d.before_join(refused, "r1", None) == (FAILED, None)
    assert d.before_join(last, "r1", None) == (WAIT, None)

    answer = orjson.dumps({"id": 4, "data": {"seq": 9}, "type": "reply"})
    assert d.reply(answer) == Reply(4, {"seq": 9}, None)
    assert d.reply(refused) == Reply(-1, None, {"code": "banned"})
    assert d.reply(last) is None


def test_loss_figures() -> None:
    finals = [
        {"accepted_chat_seqs": [5, 6, 7, 8], "tracers": [
            {"open": True, "seqs": [5, 6, 6, 8], "welcome_seq": 4},
            {"open": True, "seqs": [7, 8], "welcome_seq": 6},
            {"open": False, "seqs": [], "welcome_seq": 4},
        ]},
    ]
    loss = loss_figures(finals)
    assert loss["lost"] == 1  # 7 missing for the first tracer
    assert loss["duplicated"] == 1
    assert loss["tracers_checked"] == 2 and loss["tracers_disconnected"] == 1


def test_evaluate_budgets() -> None:
    ours = {"figures": {"server": {"cpu_ms_per_1k_deliveries": 1.0, "by_process": {
                "1": {"bytes_per_viewer": 9000}}},
            "latency_ms": {"p99": 120.0}, "loss": {"lost": 0, "duplicated": 0},
            "sequence": {"gaps": 0}},
            "checks": [{"name": "room total exact", "ok": True, "detail": ""}]}
    peer = {"figures": {"server": {"cpu_ms_per_1k_deliveries": 40.0}}}
    verdicts = evaluate({"cpu_ratio_max": 0.05, "p99_ms_max": 100, "lost_max": 0,
                         "mem_per_viewer_max": 16384, "exact_totals": True}, ours, peer)
    holds = {name: ok for name, _, _, ok in verdicts}
    assert holds == {
        "server CPU per 1k deliveries / peer's": True,
        "latency p99 ms": False,
        "lost + duplicated + seq gaps": True,
        "server bytes per idle viewer": True,
        "room heart total exact": True,
    }


def test_floor_note_reads_events_per_frame_and_the_peers_cost() -> None:
    from loadtest.floor import floor_note

    ours = {"figures": {"throughput": {"deliveries_per_s": 60_000.0, "frames_per_s": 30_000.0}}}
    peer = {"figures": {"server": {"cpu_ms_per_1k_deliveries": 40.0}}}
    note = floor_note(8.0, ours, peer)
    assert note is not None
    assert "2.0 events per frame" in note and "at least 4.000 ms" in note
    assert note.endswith("0.1000 of the peer's")
    assert floor_note(8.0, {"figures": {}}, peer) is None  # nothing to read: no note


def test_webrtc_targets_read_the_webrtc_figures() -> None:
    ours = {"figures": {"webrtc": {"viewers_per_core": 268.0, "late_joiner_worst_ms": 1800.0}},
            "checks": [{"name": "every viewer connected", "ok": True, "detail": ""}]}
    got = {name: (measured, ok) for name, _limit, measured, ok in evaluate(
        {"viewers_per_core_min": 150, "late_join_ms_max": 1500, "checks_pass": True}, ours, None)}
    assert got["WebRTC viewers per server core"] == (268.0, True)
    assert got["late joiner's first keyframe, worst ms"] == (1800.0, False)
    assert got["the run's own checks"] == (True, True)


def test_rush_targets_read_the_answer_p99_of_either_rush() -> None:
    name = "answer p99 ms (every buy or grab)"
    sale = {"figures": {"flash_sale": {"reply_ms_p99": 280.5}}, "checks": []}
    storm = {"figures": {"red_packet_storm": {"reply_ms_p99": 410.0}}, "checks": []}
    got = {n: (measured, ok) for n, _limit, measured, ok in evaluate(
        {"reply_p99_ms_max": 300}, sale, None)}
    assert got[name] == (280.5, True)
    got = {n: (measured, ok) for n, _limit, measured, ok in evaluate(
        {"reply_p99_ms_max": 400}, storm, None)}
    assert got[name] == (410.0, False)
    got = {n: (measured, ok) for n, _limit, measured, ok in evaluate(
        {"reply_p99_ms_max": 400}, {"figures": {}, "checks": []}, None)}
    assert got[name] == (None, False)  # nothing measured holds nothing
