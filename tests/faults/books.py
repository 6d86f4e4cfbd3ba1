"""What the clients were told, compared with what the store holds afterwards: per kind, how
many were acknowledged, how many of those are lost, and how many things were done twice."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

from live_server.store.keys import Keys
from tests.conftest import ROOT
from tests.faults.actors import Acks
from tests.faults.followers import Follower
from tests.faults.show import CREATOR, Show

LIVE_ORDER_STATES = ("reserved", "paying", "paid", "fulfilled")


# The store is read untyped, as live_server's store does: redis-py annotates every reply as a
# union of what it could be whatever the connection decodes (here: bytes).


@dataclass
class Figure:
    kind: str
    acknowledged: int
    lost: int
    duplicated: int


def table(title: str, figures: list[Figure]) -> str:
    lines = [title, f"  {'kind':<18}{'acknowledged':>14}{'lost':>8}{'duplicated':>12}"]
    lines += [f"  {f.kind:<18}{f.acknowledged:>14}{f.lost:>8}{f.duplicated:>12}"
              for f in figures]
    return "\n".join(lines)


def assert_whole(title: str, figures: list[Figure]) -> None:
    """Print the figures (they are the suite's report) and fail on any loss or duplicate."""
    text = table(title, figures)
    print("\n" + text)
    bad = [f for f in figures if f.lost or f.duplicated]
    assert not bad, text


async def orders(show: Show, acks: Acks) -> tuple[Figure, list[str]]:
    """Every acknowledged purchase is one order under its (buyer, key); no key has two; the
    sale's units add up (units left + units held by orders = the sale's stock)."""
    answer = await show.call("GET", f"/api/rooms/{show.room}/orders?limit=5000", CREATOR,
                             "creator")
    assert answer.ok, answer
    listed: list[dict[str, Any]] = answer.body["orders"]
    per_key = Counter((o["buyer"], o["idempotency_key"]) for o in listed)
    ids = {(o["buyer"], o["idempotency_key"]): o["id"] for o in listed}
    lost = sum(1 for key, oid in acks.orders.items() if ids.get(key) != oid)
    figure = Figure("orders", len(acks.orders), lost, sum(n - 1 for n in per_key.values()))
    card = await show.call("GET", f"/api/rooms/{show.room}/products/{show.product}", CREATOR)
    held = sum(o["quantity"] for o in listed if o["state"] in LIVE_ORDER_STATES)
    problems = []
    if card.body["stock_left"] + held != show.sale_stock:
        problems.append(f"units: {card.body['stock_left']} left + {held} held by orders != "
                        f"{show.sale_stock} on sale")
    return figure, problems


async def packets_and_grabs(show: Show, acks: Acks, store: Any,
                            keys: Keys) -> list[Figure]:
    """Every acknowledged launch is one packet (no launch key made two); every acknowledged
    grab is in its packet's record once, with its amount; nobody is in a record twice."""
    every = [p.decode() for p in await store.zrange(keys.wallet(CREATOR).key("rp:all"), 0, -1)]
    launch_keys = int(await store.hlen(keys.wallet(CREATOR).key(f"rpidem:{CREATOR}")))
    launches = Figure("red packets", len(acks.packets),
                      sum(1 for p in acks.packets.values() if p not in every),
                      len(every) - launch_keys)
    records: dict[str, Counter[tuple[str, int]]] = {}
    for packet in every:
        view = await show.call("GET", f"/api/red-packets/{packet}", "auditor")
        assert view.ok, view
        records[packet] = Counter((r["user"], int(r["amount"])) for r in view.body["record"])
    lost = sum(1 for (packet, user), amount in acks.grabs.items()
               if records.get(packet, Counter())[(user, amount)] != 1)
    twice = sum(n - 1 for record in records.values()
                for n in Counter(user for user, _amount in record.elements()).values())
    return [launches, Figure("grabs", len(acks.grabs), lost, twice)]


async def ledger(acks: Acks, store: Any, keys: Keys) -> Figure:
    """The money ledger holds one entry for the top-up, one per acknowledged launch and one
    per acknowledged grab, and no movement twice (a movement: reason, ref, from, to)."""
    rows = [row for w in keys.buckets for row in await store.xrange(w.ledger, "-", "+")]
    amounts: dict[tuple[str, str, str, str], list[int]] = {}
    for _id, f in rows:
        move = (f[b"reason"].decode(), f[b"ref"].decode(), f[b"from"].decode(),
                f[b"to"].decode())
        amounts.setdefault(move, []).append(int(f[b"amount"]))
    expected = {("red_packet", p, f"user:{CREATOR}", f"packet:{p}"): total
                for p, total in acks.launched.items()}
    expected |= {("grab", p, f"packet:{p}", f"user:{u}"): amount
                 for (p, u), amount in acks.grabs.items()}
    lost = sum(1 for move, amount in expected.items() if amount not in amounts.get(move, []))
    topups = [m for m in amounts if m[0] == "topup" and m[3] == f"user:{CREATOR}"]
    lost += len(topups) != 1
    twice = sum(len(found) - 1 for found in amounts.values())
    return Figure("ledger entries", len(expected) + 1, lost, twice)


async def chats(show: Show, acks: Acks) -> Figure:
    """Every acknowledged chat message is in the room's history under its seq, once."""
    texts: dict[int, str] = {}
    seen: Counter[str] = Counter()
    before = 0
    for _ in range(1000):  # pages of 100, oldest first within a page
        page = await show.call("GET", f"/api/rooms/{show.room}/history?before={before}"
                                      "&limit=100", "auditor")
        assert page.ok, page
        events = page.body["events"]
        for event in events:
            texts[int(event["seq"])] = event["data"]["text"]
            seen[event["data"]["text"]] += 1
        if len(events) < 100:
            break
        before = int(events[0]["seq"])
    lost = sum(1 for seq, text in acks.chats.items() if texts.get(seq) != text)
    return Figure("chat messages", len(acks.chats), lost, sum(n - 1 for n in seen.values()))


async def guaranteed(followers: list[Follower], store: Any, keys: Keys, room: str,
                     up_to: int) -> Figure:
    """Every sequenced event the room's stream holds after a viewer's first welcome, up to
    ``up_to``, reached that viewer once (over all its connections)."""
    rows = await store.xrange(keys.room(room).events, "-", "+")
    stream = {int(row_id.decode().split("-")[0]) for row_id, _f in rows}
    owed = lost = twice = 0
    for follower in followers:
        assert follower.first_seq is not None, f"{follower.user} never joined"
        due = {s for s in stream if follower.first_seq < s <= up_to}
        got = follower.received()
        owed += len(due)
        lost += len(due - set(got))
        twice += sum(n - 1 for s, n in got.items() if n > 1 and s <= up_to)
    return Figure("guaranteed events", owed, lost, twice)


async def audit(env: dict[str, str]) -> str:
    """``python -m live_server audit``, as an operator runs it; its output when it is clean."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "live_server", "audit", env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode(errors="replace")
    assert proc.returncode == 0 and " 0 mismatches" in text, text
    return text.strip().splitlines()[-1]
