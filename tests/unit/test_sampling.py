"""Chat sampling in huge rooms: the budget holds, the creator and ops always pass, the pick is
fair across chatters, every socket gets the same frame, and a sender sees their own message."""

from __future__ import annotations

import random
from collections import Counter

import orjson

from live_server import events
from live_server.realtime.conn import Conn
from live_server.realtime.hub import Hub, HubStats
from live_server.realtime.sampling import Candidate, ChatBudget, choose
from tests.unit.test_hub_kick import _Transport as _Written


def _cands(users: list[str], priority: frozenset[str] = frozenset()) -> list[Candidate]:
    return [Candidate(i, u, u in priority) for i, u in enumerate(users)]


def test_budget_refills_at_the_rate_and_holds_one_second() -> None:
    budget = ChatBudget(10, now=0.0)
    assert budget.allow(0.0, 0, 50) == 10  # a full second's worth to start
    assert budget.allow(0.05, 0, 50) == 0  # half a token
    assert budget.allow(0.1, 0, 50) == 1
    assert budget.allow(100.0, 0, 50) == 10  # never more than one second's worth


def test_budget_over_many_flushes_never_passes_the_rate() -> None:
    budget = ChatBudget(10, now=0.0)
    sent = sum(budget.allow(t / 100, 0, 7) for t in range(1, 1001))  # 10 s of 10 ms flushes
    assert sent <= 10 + 10 * 10


def test_priority_always_passes_and_takes_the_budget_first() -> None:
    budget = ChatBudget(10, now=0.0)
    assert budget.allow(0.0, 4, 50) == 6
    assert budget.allow(0.0, 30, 50) == 0  # the budget is gone, the priority ones still go
    users = ["creator", *(f"v{i}" for i in range(20)), "ops"]
    choice = choose(_cands(users, {"creator", "ops"}), 0, random.Random(1))
    assert choice.kept == {0, len(users) - 1}
    assert len(choice.dropped) == 20 and not any(c.priority for c in choice.dropped)


def test_choose_keeps_exactly_the_allowed_count() -> None:
    rng = random.Random(2)
    for allowed in (0, 1, 5, 30, 100):
        choice = choose(_cands([f"v{i % 40}" for i in range(60)]), allowed, rng)
        assert len(choice.kept) == min(allowed, 60)
        assert len(choice.kept) + len(choice.dropped) == 60


def test_every_chatter_once_before_anyone_twice() -> None:
    spammer = ["spam"] * 10
    users = [*spammer, "a", "b", "c"]
    for seed in range(50):
        choice = choose(_cands(users), 4, random.Random(seed))
        kept_users = Counter(users[i] for i in choice.kept)
        assert kept_users == {"spam": 1, "a": 1, "b": 1, "c": 1}


def test_fair_across_chatters_over_many_ticks() -> None:
    rng = random.Random(3)
    budget = ChatBudget(10, now=0.0)
    seen: Counter[str] = Counter()
    chatters = [f"v{i}" for i in range(200)]
    for tick in range(1, 5001):  # 500 s at 100 ms; everyone sends each tick
        allowed = budget.allow(tick / 10, 0, len(chatters))
        for i in choose(_cands(chatters), allowed, rng).kept:
            seen[chatters[i]] += 1
    total = sum(seen.values())
    assert 4990 <= total <= 5010  # 10 a second
    mean = total / len(chatters)  # 25 each
    assert min(seen.values()) >= mean * 0.4
    assert max(seen.values()) <= mean * 1.8


# The hub ---------------------------------------------------------------------------------------

class _Transport(_Written):
    """Keeps each frame apart, to read the events of each."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[bytes] = []

    def write(self, data: bytes) -> None:
        super().write(data)
        self.frames.append(data)

    def seqs(self) -> list[int]:
        out = []
        for frame in self.frames:
            body = orjson.loads(frame[4:] if frame[1] == 126 else frame[2:])
            out.extend(ev["seq"] for ev in body["events"] if "seq" in ev)
        return out


def _chat(seq: int, user: str, role: str = "viewer") -> bytes:
    ev = events.chat(user_id=user, name=user, role=role, level=0, fan_club=False, text="hi",
                     masked=False)
    return orjson.dumps({"seq": seq, **orjson.loads(ev.body)})


def _hub(above: int, sampled: list[int]) -> Hub:
    stats = HubStats(lambda *a: None, lambda: None, lambda: None, sampled_out=sampled.append)
    return Hub(max_out_buffer=1 << 20, slow_close_grace_ms=100, join_names=3,
               max_batch_events=500, stats=stats, chat_sample_above=above,
               chat_sample_per_s=2, rng=random.Random(4))


def _viewers(hub: Hub, n: int) -> list[tuple[Conn, _Transport]]:
    out = []
    for i in range(n):
        transport = _Transport()
        conn = Conn(room_id="r", transport=transport, user_id=f"v{i}", name=f"v{i}",
                    role="viewer")
        hub.attach(conn)
        hub.activate(conn, 0, [])
        out.append((conn, transport))
    return out


async def test_a_sampled_flush_writes_one_shared_frame_and_echoes_to_senders() -> None:
    sampled: list[int] = []
    hub = _hub(3, sampled)
    viewers = _viewers(hub, 8)  # v0..v4 chat, v5..v7 only watch
    # ten viewers' messages and one of the creator's, all in one tick
    for seq in range(1, 11):
        hub.deliver("r", _chat(seq, f"v{seq % 5}"))
    hub.deliver("r", _chat(11, "boss", "creator"))
    hub.tick()
    # a budget of 2 a second: the creator's takes one, one viewer's message has the other
    assert sum(sampled) == 10 - 1
    watchers = [t for c, t in viewers if c.user_id in ("v5", "v6", "v7")]
    assert len({t.frames[0] for t in watchers}) == 1  # the same bytes for every bystander
    assert len(watchers[0].seqs()) == 2
    for conn, transport in viewers:
        seqs = transport.seqs()
        assert 11 in seqs  # the creator's, always
        assert seqs == sorted(seqs)  # in order: a client skips a seq below one it has seen
        own = {s for s in range(1, 11) if f"v{s % 5}" == conn.user_id}
        assert own <= set(seqs)  # a viewer always sees their own messages
        assert set(watchers[0].seqs()) <= set(seqs)  # and the room's sample
        assert len(transport.frames) == 1


async def test_under_the_threshold_nothing_is_sampled() -> None:
    sampled: list[int] = []
    hub = _hub(5, sampled)
    viewers = _viewers(hub, 5)
    for seq in range(1, 51):
        hub.deliver("r", _chat(seq, f"v{seq % 5}"))
    hub.tick()
    assert sampled == []
    frames = {t.frames[0] for _c, t in viewers}
    assert len(frames) == 1
    assert viewers[0][1].seqs() == list(range(1, 51))


async def test_off_when_the_threshold_is_zero() -> None:
    sampled: list[int] = []
    hub = _hub(0, sampled)
    viewers = _viewers(hub, 5)
    for seq in range(1, 51):
        hub.deliver("r", _chat(seq, "x"))
    hub.tick()
    assert sampled == [] and viewers[0][1].seqs() == list(range(1, 51))


async def test_guaranteed_events_are_never_sampled() -> None:
    sampled: list[int] = []
    hub = _hub(1, sampled)
    viewers = _viewers(hub, 3)
    for seq in range(1, 21):
        hub.deliver("r", _chat(seq, "x"))
    said = events.announcement({"text": "hi", "by": "c", "ts": 1})
    announcement = orjson.dumps({"seq": 21, **orjson.loads(said.body)})
    hub.deliver("r", announcement)
    hub.tick()
    assert 21 in viewers[0][1].seqs()
    assert sum(sampled) == 20 - 2


async def test_a_huge_room_reports_once_a_second_and_loses_nothing_meanwhile() -> None:
    """Every tick a small room with news reports it; a sampled room reports at most once a
    second (its report costs its shard in the square of the processes), and the hearts sent
    between two reports go with the next one."""
    hub = _hub(3, [])
    _viewers(hub, 8)  # over 3: sampled
    hub.add_hearts("r", "v0", "v0", 2, 2)
    first = hub.take_reports(False, now=10.0)
    assert first["r"].hearts == 2 and first["r"].online == 8
    for tick in range(1, 10):  # the next nine ticks: hearts arrive, no report
        hub.add_hearts("r", "v1", "v1", 1, 1)
        assert "r" not in hub.take_reports(False, now=10.0 + tick / 10)
    later = hub.take_reports(False, now=11.0)
    assert later["r"].hearts == 9 and later["r"].heart_users == {"v1": 9}
    # the periodic presence refresh reports it whenever it comes
    assert "r" in hub.take_reports(True, now=11.05)

    small = _hub(100, [])
    _viewers(small, 8)
    for tick in range(3):
        small.add_hearts("r", "v0", "v0", 1, 1)
        assert small.take_reports(False, now=10.0 + tick / 10)["r"].hearts == 1
