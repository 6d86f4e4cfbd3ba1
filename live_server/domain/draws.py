"""Lucky draws (福袋) that anyone can verify: the commitment, the entrant list's hash and the
winners as a deterministic function of the seed and the entrants. Pure: the service, the
``verify-draw`` command line and the tests call the same functions, and
``static/js/draw-verify.js`` is a line-by-line port checked against vectors made here.

The rule, so that anyone can recompute a result:

1. At creation the server draws a 32-byte secret ``seed`` and publishes only
   ``commitment = sha256(seed)`` (hex). The seed cannot be changed afterwards without the
   commitment giving it away, and nobody can predict the winners from the commitment.
2. At ``end_at`` entries freeze. The entrants (user ids, ASCII) are sorted by code point and
   ``entrants_hash = sha256("\\n".join(sorted ids))`` (hex; the empty list hashes "").
3. A stream of 256-bit numbers: block ``c`` (c = 0, 1, 2, ...) is
   ``HMAC-SHA256(key=seed, msg=bytes.fromhex(entrants_hash) || c as 8 bytes big-endian)``
   read as a big-endian integer.
4. ``below(n)``: take the next block ``x``; if ``x >= 2**256 - (2**256 % n)`` take another
   (rejection: no modulo bias); answer ``x % n``.
5. A partial Fisher–Yates shuffle of the sorted list: for ``i`` in ``0 .. k-1``
   (``k = min(winners wanted, entrants)``), ``j = i + below(n - i)``, swap ``a[i]`` and
   ``a[j]``. The winners are ``a[0:k]`` in that order.

The seed is revealed with the result, so the commitment, the hash of the published entrant
list and the winners can all be checked by anyone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

SEED_BYTES = 32
SPACE = 1 << 256
CONDITIONS = ("anyone", "followers", "fan_club", "keyword", "buyers")
PRIZE_KINDS = ("cash", "coupon", "product")
TITLE_MAX = 60
KEYWORD_MAX = 20
STATES = ("open", "drawing", "drawn")


def new_seed() -> bytes:
    return secrets.token_bytes(SEED_BYTES)


def new_draw_id() -> str:
    return "d_" + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")


def commitment(seed: bytes) -> str:
    """What is published before entries open: ``sha256(seed)`` in hex."""
    return hashlib.sha256(seed).hexdigest()


def entrants_hash(entrants: Iterable[str]) -> str:
    """``sha256`` of the sorted ids (each once) joined by newlines, in hex."""
    return hashlib.sha256("\n".join(sorted(set(entrants))).encode()).hexdigest()


class _Blocks:
    """The stream of 256-bit numbers of rule 3, and ``below`` of rule 4."""

    def __init__(self, seed: bytes, hash_hex: str) -> None:
        self.key = seed
        self.prefix = bytes.fromhex(hash_hex)
        self.counter = 0

    def next(self) -> int:
        msg = self.prefix + self.counter.to_bytes(8, "big")
        self.counter += 1
        return int.from_bytes(hmac.new(self.key, msg, hashlib.sha256).digest(), "big")

    def below(self, n: int) -> int:
        limit = SPACE - SPACE % n
        while True:
            x = self.next()
            if x < limit:
                return x % n


def pick_winners(seed: bytes, entrants: Iterable[str], wanted: int) -> list[str]:
    """The winners, in draw order: rule 5 over the sorted entrants."""
    pool = sorted(set(entrants))
    blocks = _Blocks(seed, entrants_hash(pool))
    k = min(max(wanted, 0), len(pool))
    for i in range(k):
        j = i + blocks.below(len(pool) - i)
        pool[i], pool[j] = pool[j], pool[i]
    return pool[:k]


def check(seed_hex: str, published_commitment: str, entrants: list[str], wanted: int,
          published_hash: str, published_winners: list[str]) -> list[str]:
    """What differs between a published result and its recomputation (empty: it checks out).
    The verifier's whole judgement, shared by the command line and the tests."""
    problems: list[str] = []
    try:
        seed = bytes.fromhex(seed_hex)
    except ValueError:
        return ["the revealed seed is not hex"]
    if commitment(seed) != published_commitment:
        problems.append(f"sha256(seed) is {commitment(seed)}, the commitment was "
                        f"{published_commitment}")
    got_hash = entrants_hash(entrants)
    if got_hash != published_hash:
        problems.append(f"the entrant list hashes to {got_hash}, the draw says {published_hash}")
    winners = pick_winners(seed, entrants, wanted)
    if winners != published_winners:
        problems.append(f"the winners recomputed are {winners}, the draw says "
                        f"{published_winners}")
    return problems
