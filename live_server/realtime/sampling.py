"""Chat sampling for huge rooms: which of a flush's chat messages the room's sockets receive.

A phone cannot show two hundred messages a second, and writing them to ten thousand sockets is
most of a process's work. In a room over ``chat.sample_above_viewers`` the hub gives every
socket at most ``chat.sample_per_second`` chat messages a second. The choice is made once per
flush for the whole process, so every socket still receives the same frame (one encoding, one
write each): a viewer's sample is the room's sample.

The rules, in order:

- the creator's and the staff's messages (``priority``) always pass; they use up the budget
  when there is some, so ordinary messages make way for them;
- the rest share what is left of a token bucket refilled at the per-second rate and holding at
  most one second's worth, so the rate holds however the flushes fall (ticks, guaranteed events,
  full batches);
- the budget goes round the chatters in a random order, one message each, before anyone gets a
  second: a chatter who sends five messages in a tick is not five times as likely to be seen.

Sampling is delivery only. Every message is in the room's stream: ``since`` recovery and
``history`` return the whole chat, and the hub echoes a sampled-out message to its sender's own
sockets. No I/O here; the hub gives the clock and the random source.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    """One chat message of a pending batch: its place in the batch, its sender, and whether
    it always passes (the room's creator, ops)."""

    index: int
    user_id: str
    priority: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Choice:
    """What a flush sends: the batch indices kept, and the sampled-out messages (each is echoed
    to its sender)."""

    kept: frozenset[int]
    dropped: tuple[Candidate, ...]


class ChatBudget:
    """A room's token bucket: ``per_second`` tokens a second, at most ``per_second`` held."""

    __slots__ = ("_at", "_tokens", "per_second")

    def __init__(self, per_second: float, now: float) -> None:
        self.per_second = per_second
        self._tokens = per_second
        self._at = now

    def allow(self, now: float, priority: int, others: int) -> int:
        """How many of ``others`` ordinary messages may go now, after ``priority`` messages
        that go whatever the budget says (they take tokens while there are some)."""
        elapsed = max(0.0, now - self._at)
        self._at = now
        self._tokens = min(self.per_second, self._tokens + elapsed * self.per_second)
        self._tokens = max(0.0, self._tokens - priority)
        allowed = min(others, int(self._tokens))
        self._tokens -= allowed
        return allowed


def choose(candidates: Sequence[Candidate], allowed: int, rng: random.Random) -> Choice:
    """Keep every priority message and ``allowed`` of the others, round-robin over the chatters
    in a random order (a chatter's earlier messages first)."""
    kept = {c.index for c in candidates if c.priority}
    queues: dict[str, list[Candidate]] = {}
    for c in candidates:
        if not c.priority:
            queues.setdefault(c.user_id, []).append(c)
    chatters = list(queues)
    rng.shuffle(chatters)
    depth = 0
    while allowed > 0 and chatters:
        still = []
        for uid in chatters:
            queue = queues[uid]
            if depth < len(queue):
                if allowed > 0:
                    kept.add(queue[depth].index)
                    allowed -= 1
                still.append(uid)
        chatters = still
        depth += 1
    dropped = tuple(c for c in candidates if c.index not in kept)
    return Choice(kept=frozenset(kept), dropped=dropped)
