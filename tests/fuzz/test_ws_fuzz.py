"""Hypothesis against a real server's room websockets: random frames (opcodes, fragments,
masks, lengths, bad UTF-8, oversized messages, broken closes) carrying random requests (every
op, fields of every JSON type, every token kind). The server must answer every request once, in
order, never with ``internal`` and never close with 1011; every protocol error gets its close
code; a refused request changes nothing stored; and afterwards the server still serves."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from live_server.commands.table import WS_OPS
from live_server.services.wallets import audit
from live_server.web.keys import SERVICES
from tests.conftest import LiveApp, token
from tests.fuzz import sessions
from tests.fuzz.sessions import Spec, Tally
from tests.fuzz.strategies import messages, plausible
from tests.fuzz.world import World, build_world, changes, fingerprint
from tests.helpers import Viewer

# Examples per run: about 20,000 inputs for the mixed run in well under a minute here, and a
# few thousand refused requests with the stored state compared around each batch.
MIXED_EXAMPLES = 370
REFUSED_EXAMPLES = 80
MIN_INPUTS = 20_000
FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
# every frame counts toward the flood limit: the fuzzer writes hundreds per second on purpose
# (the limit itself is tested in tests/integration/test_bad_input.py)
SERVER = {"ws": {"max_frames_per_s": 1_000_000}}


async def _world(live_app_factory: Callable[..., Awaitable[LiveApp]]) -> World:
    return await build_world(await live_app_factory(**SERVER))


async def _still_serving(world: World) -> None:
    """The process answers /healthz, and a fresh viewer joins, chats and hears itself."""
    live = world.live
    status, health = await live.call("GET", "/healthz")
    assert status == 200, health
    viewer = await Viewer.connect(live.base, world.room, token("zoe"))
    await viewer.wait_welcome()
    reply = await viewer.request("chat", text="still here")
    assert reply["type"] == "reply", reply
    await viewer.wait_for(lambda: "still here" in viewer.chat_texts())
    await viewer.close()
    report = await audit(live.client.app[SERVICES].wallets.store,
                         live.client.app[SERVICES].red_packets.store)
    assert report.mismatches == [], report.mismatches


def _line(name: str, tally: Tally, seconds: float) -> str:
    return (f"fuzz {name}: {tally.inputs:,} websocket inputs in {tally.sessions:,} sessions "
            f"({tally.requests:,} requests, {tally.errors:,} refused, {tally.refused_joins:,} "
            f"joins refused), {tally.internal} internal, 0 crashes, {seconds:.1f} s; endings "
            + ", ".join(f"{k} {v}" for k, v in sorted(tally.endings.items())))


async def test_websocket_frames_and_ops(live_app_factory: Callable[..., Awaitable[LiveApp]],
                                        record_property: Callable[[str, Any], None]) -> None:
    world = await _world(live_app_factory)
    tally = Tally()
    call = sessions.on_loop(asyncio.get_running_loop())
    batch = st.lists(sessions.any_specs(plausible(world)), min_size=2, max_size=3)

    def rounds() -> None:
        """The fixed-seed run, then (when sessions ended early and fewer inputs than
        MIN_INPUTS were handled, which depends on the machine's timing) further seeded rounds,
        each sized to what is missing, at most three."""
        for round_no in range(4):
            missing = MIN_INPUTS - tally.inputs
            if round_no and missing <= 0:
                return
            examples = MIXED_EXAMPLES if round_no == 0 else max(
                20, math.ceil(MIXED_EXAMPLES * 1.2 * missing / max(tally.inputs, 1)))

            @seed(round_no)
            @settings(FUZZ, max_examples=examples, derandomize=round_no == 0)
            @given(batch)
            def example(specs: list[Spec]) -> None:
                call(sessions.run_all(world, specs, tally))

            example()

    started = time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, rounds)
    await _still_serving(world)
    record_property("fuzz", _line("websocket", tally, time.monotonic() - started))
    assert tally.internal == 0
    assert tally.inputs >= MIN_INPUTS, tally


# Who may not do what: requests that must all be refused, by token kind. Moderation and the
# creator's ops are refused to guests, viewers and other creators (whatever their fields); any
# op with a field it does not take is refused to everyone (the binding rule).
MODERATION = [*sorted(op for op, c in WS_OPS.items()
                      if c.access.name in ("moderator", "room_creator")), "auth"]
EVERY_OP = sorted(WS_OPS)


@st.composite
def refused_specs(draw: st.DrawFn, world: World) -> Spec:
    values = plausible(world)
    kind = draw(st.sampled_from(["guest", "viewer", "other_creator", "room_creator", "ops",
                                 "expired", "wrong_secret"]))
    outsider = kind in ("guest", "viewer", "other_creator")
    unknown = not outsider or draw(st.booleans())
    ops = EVERY_OP if unknown else MODERATION
    message = messages(values, ops=ops, unknown_field=unknown)
    spec = draw(sessions.specs(values, message, 8, 24))
    room = "other_room" if kind == "room_creator" and draw(st.booleans()) else "room"
    return Spec(kind, spec.auth if spec.auth != "fuzzed" else "query", room,
                sessions._auth_text(kind) if spec.auth != "query" else b"", spec.messages,
                spec.ending)


async def test_refused_requests_change_nothing(
        live_app_factory: Callable[..., Awaitable[LiveApp]],
        record_property: Callable[[str, Any], None]) -> None:
    world = await _world(live_app_factory)
    # a minute connected earns intimacy by being there, not by any request: this process's
    # watch clock stays still, so a slow run cannot mistake it for a refused request's doing
    for task in world.live.client.app[SERVICES].node._tasks:
        if task.get_name() == "watch-intimacy":
            task.cancel()
    tally = Tally()
    call = sessions.on_loop(asyncio.get_running_loop())
    first = await fingerprint(world.live)

    @settings(FUZZ, max_examples=REFUSED_EXAMPLES)
    @given(st.lists(refused_specs(world), min_size=2, max_size=3))
    def example(specs: list[Spec]) -> None:
        before = call(fingerprint(world.live))
        call(sessions.run_all(world, specs, tally, refused_only=True))
        after = call(fingerprint(world.live))
        assert changes(before, after) == {}

    started = time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, example)
    await asyncio.sleep(3 * world.live.settings.realtime.tick_ms / 1000)  # hearts ride ticks
    assert changes(first, await fingerprint(world.live)) == {}
    await _still_serving(world)
    record_property("fuzz", _line("websocket refused", tally, time.monotonic() - started))
