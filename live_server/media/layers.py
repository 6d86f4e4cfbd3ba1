"""Which simulcast layer one viewer receives: the viewer's choice, or in ``auto`` the highest
layer its network carries. Plain rules over numbers, no I/O (``relay.ViewerTrack`` feeds them
the viewer's RTCP and applies the answer).

Signals: each receiver report's *fraction lost* for the viewer's video, and its REMB (receiver
estimated maximum bitrate), compared with the bitrate the layer arrives at from the publisher.
There is no TWCC (aiortc does not negotiate it) and no probing, so REMB, which a receiver
cannot raise much above what it already receives, only ever moves a viewer *down*; moving up is
a trial after a clean stretch.

Rules (``auto``):

* Down one layer when a report says ``LOSS_DOWN`` or more of the packets were lost, or when
  ``REMB_REPORTS`` REMBs in a row estimate less than ``REMB_DOWN`` of the layer's bitrate.
* Up one layer after ``UP_AFTER_MS`` of reports under ``LOSS_UP`` loss, and not before the hold
  that follows a down move has passed. The hold starts at ``HOLD_MS`` and doubles (up to
  ``HOLD_MAX_MS``) each time a viewer comes back down within ``FALLBACK_MS`` of moving up, so a
  viewer whose network carries one layer but not the next does not swing between them.
* Nothing is decided in the ``SETTLE_MS`` after a move: reports then still describe the
  previous layer.
* A layer that stopped arriving (the publisher paused it, e.g. a browser short of upload) is
  skipped: a viewer on it goes to the nearest layer that arrives, lower first.

A fixed choice (``h``, ``m``, ``l``) names a rank: ``h`` the largest layer, ``l`` the smallest,
``m`` the one in the middle (with two layers, the smaller one); when that layer does not
arrive, the nearest one that does.
"""

from __future__ import annotations

import dataclasses

LOSS_DOWN = 0.10
LOSS_UP = 0.02
REMB_DOWN = 0.7
REMB_REPORTS = 2
UP_AFTER_MS = 6000
SETTLE_MS = 2000
HOLD_MS = 8000
HOLD_MAX_MS = 64000
FALLBACK_MS = 10000

MODES = ("auto", "h", "m", "l")


@dataclasses.dataclass(frozen=True, slots=True)
class LayerStatus:
    """What the chooser knows of one layer: its index (the publisher's order), the bitrate it
    arrives at (bits per second, 0 when not measured yet) and whether frames arrive now."""

    index: int
    bitrate: int = 0
    active: bool = True


def rank_names(count: int) -> list[str]:
    """The names of ``count`` layers from the largest down: ``h``, then ``m``, then ``l``;
    ``h``/``l`` for two; ``h`` for one."""
    if count <= 1:
        return ["h"][:count]
    names = ["h"] + ["m"] * (count - 2) + ["l"]
    return names


def named_rank(mode: str, count: int) -> int:
    """The rank (0 = largest) a fixed choice names among ``count`` layers."""
    if mode == "h" or count <= 1:
        return 0
    if mode == "l":
        return count - 1
    return count // 2


def nearest_active(ranked: list[LayerStatus], rank: int) -> int:
    """The rank of the layer nearest ``rank`` that arrives, the lower one first at equal
    distance; ``rank`` itself when none arrives."""
    for distance in range(len(ranked)):
        for candidate in (rank + distance, rank - distance):
            if 0 <= candidate < len(ranked) and ranked[candidate].active:
                return candidate
    return rank


class Chooser:
    """One viewer's layer choice. ``decide`` answers the layer index the viewer should
    receive, given the layers from the largest down; times are monotonic milliseconds."""

    def __init__(self, mode: str = "auto") -> None:
        self.mode = mode
        self.hold_ms = HOLD_MS
        self._hold_until = -1
        self._moved_at = -SETTLE_MS
        self._moved_up_at: int | None = None
        self._clean_since: int | None = None
        self._low_rembs = 0
        self.downs = 0
        self.ups = 0

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self._clean_since = None
        self._low_rembs = 0

    def moved(self, now_ms: int) -> None:
        """The viewer switched layers (by any cause): reports settle again."""
        self._moved_at = now_ms
        self._clean_since = None
        self._low_rembs = 0

    def decide(self, now_ms: int, ranked: list[LayerStatus], current: int,
               loss: float | None = None, remb: int | None = None) -> int:
        """The layer (index) to receive. ``current``: the layer received or being switched
        to; ``loss``: a receiver report's fraction lost (0..1); ``remb``: a REMB in bits per
        second."""
        if not ranked:
            return current
        if self.mode != "auto":
            return ranked[nearest_active(ranked, named_rank(self.mode, len(ranked)))].index
        position = next((i for i, layer in enumerate(ranked) if layer.index == current), 0)
        if not ranked[position].active:
            return ranked[nearest_active(ranked, position)].index
        if now_ms - self._moved_at < SETTLE_MS:
            return current
        down = False
        if loss is not None:
            if loss >= LOSS_DOWN:
                down = True
            elif loss < LOSS_UP:
                if self._clean_since is None:
                    self._clean_since = now_ms
            else:
                self._clean_since = None
        if remb is not None:
            rate = ranked[position].bitrate
            self._low_rembs = self._low_rembs + 1 if rate and remb < REMB_DOWN * rate else 0
            down = down or self._low_rembs >= REMB_REPORTS
        if down:
            lower = next((i for i in range(position + 1, len(ranked)) if ranked[i].active),
                         None)
            self._clean_since = None
            self._low_rembs = 0
            if lower is None:
                return current
            if self._moved_up_at is not None and now_ms - self._moved_up_at < FALLBACK_MS:
                self.hold_ms = min(self.hold_ms * 2, HOLD_MAX_MS)
            self._hold_until = now_ms + self.hold_ms
            self.downs += 1
            return ranked[lower].index
        if (self._clean_since is not None and now_ms - self._clean_since >= UP_AFTER_MS
                and now_ms >= self._hold_until):
            higher = next((i for i in range(position - 1, -1, -1) if ranked[i].active), None)
            if higher is not None:
                self._moved_up_at = now_ms
                self.ups += 1
                return ranked[higher].index
        return current
