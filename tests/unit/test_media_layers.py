"""Simulcast layers on plain objects: the chooser's rules (media/layers.py) and the relay's
per-layer forwarding (media/relay.py): switching at a keyframe of the new layer, keyframe
requests to that layer only, layers ranked by picture size, one timeline for all layers."""

from __future__ import annotations

import asyncio

from live_server.media.layers import (
    HOLD_MS,
    SETTLE_MS,
    UP_AFTER_MS,
    Chooser,
    LayerStatus,
    rank_names,
)
from live_server.media.relay import RoomRelay

H, M, L = (LayerStatus(0, 1_000_000), LayerStatus(1, 300_000), LayerStatus(2, 100_000))
RANKED = [H, M, L]


def vp8_key(width: int, height: int) -> bytes:
    return (b"\x10\x02\x00\x9d\x01\x2a" + width.to_bytes(2, "little")
            + height.to_bytes(2, "little") + bytes(20))


VP8_INTER = b"\x31\x02\x00" + bytes(20)


def test_rank_names() -> None:
    assert rank_names(3) == ["h", "m", "l"]
    assert rank_names(2) == ["h", "l"]
    assert rank_names(4) == ["h", "m", "m", "l"]


def test_loss_moves_down_one_layer_per_report_after_settling() -> None:
    chooser = Chooser()
    chooser.moved(0)
    assert chooser.decide(SETTLE_MS - 1, RANKED, 0, loss=0.5) == 0  # still settling
    assert chooser.decide(SETTLE_MS, RANKED, 0, loss=0.5) == 1
    chooser.moved(SETTLE_MS)
    assert chooser.decide(2 * SETTLE_MS, RANKED, 1, loss=0.09) == 1  # under LOSS_DOWN
    assert chooser.decide(2 * SETTLE_MS + 1, RANKED, 1, loss=0.2) == 2
    assert chooser.decide(3 * SETTLE_MS, RANKED, 2, loss=0.9) == 2  # nothing lower


def test_up_after_a_clean_stretch_and_the_hold() -> None:
    chooser = Chooser()
    t = 10_000
    assert chooser.decide(t, RANKED, 0, loss=0.3) == 1
    chooser.moved(t)
    clean = t + SETTLE_MS
    for step in range(0, HOLD_MS + UP_AFTER_MS, 1000):
        wanted = chooser.decide(clean + step, RANKED, 1, loss=0.0)
        if wanted != 1:
            break
    assert wanted == 0
    assert clean + step >= t + HOLD_MS and step >= UP_AFTER_MS
    # falling back soon after moving up doubles the hold
    chooser.moved(clean + step)
    assert chooser.decide(clean + step + SETTLE_MS, RANKED, 0, loss=0.3) == 1
    assert chooser.hold_ms == 2 * HOLD_MS


def test_remb_below_the_layer_rate_twice_moves_down() -> None:
    chooser = Chooser()
    assert chooser.decide(5000, RANKED, 0, remb=600_000) == 0  # one low estimate
    assert chooser.decide(5500, RANKED, 0, remb=900_000) == 0  # not low: count restarts
    assert chooser.decide(6000, RANKED, 0, remb=600_000) == 0
    assert chooser.decide(6500, RANKED, 0, remb=600_000) == 1


def test_a_layer_that_stopped_is_left_for_the_nearest_one_lower_first() -> None:
    paused = [H, LayerStatus(1, 300_000, active=False), L]
    assert Chooser().decide(0, paused, 1) == 2
    assert Chooser("m").decide(0, paused, 0) == 2
    assert Chooser("h").decide(0, paused, 2) == 0
    assert Chooser("l").decide(0, [H, M], 0) == 1
    assert Chooser("m").decide(0, [H, M], 0) == 1  # two layers: m is the smaller


def _relay() -> tuple[RoomRelay, list[int]]:
    relay = RoomRelay("r", queue_frames=8, keyframe_min_ms=0)
    relay.set_source("video", "VP8", 90000)
    relay.set_layers(["q", "h", "f"])  # a browser's order: smallest first
    asked: list[int] = []
    for layer in range(3):
        async def ask(layer: int = layer) -> int:
            asked.append(layer)
            return 1
        relay.set_keyframe_sender(ask, layer)
    return relay, asked


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


SIZES = {0: (80, 60), 1: (160, 120), 2: (320, 240)}


def _keyframes(relay: RoomRelay, ts: int) -> None:
    for layer, (w, h) in SIZES.items():
        relay.push("video", "VP8", 90000, ts, vp8_key(w, h), layer)


async def test_layers_are_ranked_by_size_and_a_switch_waits_for_the_new_layers_keyframe(
        ) -> None:
    relay, asked = _relay()
    _keyframes(relay, 0)
    assert relay.ranking == [2, 1, 0] and relay.layer_names() == {2: "h", 1: "m", 0: "l"}
    track = relay.viewer_track("video", "h")
    assert track.layer == 2
    relay.attach(track)
    await _settle()
    asked.clear()
    relay.push("video", "VP8", 90000, 3000, vp8_key(320, 240), 2)
    relay.choose_mode(track, "l")
    assert (track.layer, track.target) == (2, 0)
    await _settle()
    assert asked == [0]  # only the new layer is asked for a keyframe
    relay.push("video", "VP8", 90000, 6000, VP8_INTER, 0)  # not a keyframe: not yet
    relay.push("video", "VP8", 90000, 6000, VP8_INTER, 2)
    relay.push("video", "VP8", 90000, 9000, vp8_key(80, 60), 0)
    relay.push("video", "VP8", 90000, 9000, VP8_INTER, 2)  # the old layer: no longer sent
    frames = [await track.recv() for _ in range(3)]
    assert [(f.layer, f.keyframe) for f in frames] == [(2, True), (2, False), (0, True)]
    assert (track.layer, track.target, track.switches) == (0, None, 1)


async def test_every_layer_shares_one_timeline_and_the_feed_follows_the_largest() -> None:
    relay, _ = _relay()
    feed = relay.subscribe_encoded("video")
    # the layers' clocks start anywhere (each stream's first frame is 0): the relay places a
    # later layer's first frame by arrival, next to the frames already running; nobody starts
    # before every layer's size is known (the feed would start on the smallest, which came
    # first)
    relay.push("video", "VP8", 90000, 90000, vp8_key(80, 60), 0)
    relay.push("video", "VP8", 90000, 500, vp8_key(160, 120), 1)
    relay.push("video", "VP8", 90000, 0, vp8_key(320, 240), 2)
    for layer, ts in ((0, 93000), (1, 3500), (2, 3000)):
        relay.push("video", "VP8", 90000, ts, VP8_INTER, layer)
    # the largest layer's encoder scales down under load: the middle one is the largest now,
    # and the feed moves to it at its keyframe, its timestamps still increasing
    relay.push("video", "VP8", 90000, 6000, vp8_key(120, 90), 2)
    relay.push("video", "VP8", 90000, 6500, VP8_INTER, 1)
    relay.push("video", "VP8", 90000, 6500, vp8_key(160, 120), 1)
    relay.push("video", "VP8", 90000, 9500, VP8_INTER, 1)
    stamps = []
    while not feed._queue.empty():
        frame = await feed.get()
        assert frame is not None
        stamps.append((frame.layer, frame.keyframe, frame.timestamp))
    assert [(layer, key) for layer, key, _ in stamps] == [
        (2, True), (2, False), (2, True), (1, True), (1, False)]
    times = [ts for _, _, ts in stamps]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert abs(times[1] - 93000) < 900  # on the first layer's timeline (10 ms)


async def test_a_reconnecting_publisher_keeps_viewers_on_their_sizes() -> None:
    """The encoder reconnects with the same layers (a browser ordering them smallest first):
    the sizes are kept, so nobody is moved by a ranking that starts over in the offer's order;
    a publisher with other layers is ranked afresh, and a viewer who chose a size gets it."""
    relay, _ = _relay()
    _keyframes(relay, 0)
    largest, smallest = relay.viewer_track("video", "auto"), relay.viewer_track("video", "l")
    for track in (largest, smallest):
        relay.attach(track)
    assert (largest.layer, smallest.layer) == (2, 0)
    relay.end_publisher()
    relay.set_layers(["q", "h", "f"])
    assert relay.ranking == [2, 1, 0]
    _keyframes(relay, 0)
    assert (largest.layer, largest.target, smallest.layer) == (2, None, 0)
    relay.end_publisher()
    relay.set_layers(["a", "b", "c"])  # other layers: ranked from their keyframes again
    for layer, (w, h) in SIZES.items():
        relay.push("video", "VP8", 90000, 0, vp8_key(w, h), layer)
    assert relay.ranking == [2, 1, 0]
    assert smallest.layer == 0 and largest.layer == 2
