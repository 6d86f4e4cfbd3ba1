"""Red packets: fields, validation and the split of a total into shares. No I/O.

The split is computed once, when the packet is created (see docs/ARCHITECTURE.md, "Money"):
the grab script then only pops the next share, so it is O(1), needs no random numbers inside
Valkey, and the whole distribution is fixed, stored and auditable from the first second.
"""

from __future__ import annotations

import random
import secrets

from live_server.errors import InvalidField
from live_server.protocol import Json, get_int, get_str

SPLITS = ("random", "equal")
CONDITIONS = ("anyone", "keyword", "followers", "fan_club")
KEYWORD_MAX = 40

_rng = random.SystemRandom()


def new_packet_id() -> str:
    return "rp" + secrets.token_urlsafe(9).replace("-", "x").replace("_", "y")


def equal_split(total: int, count: int) -> list[int]:
    """``total // count`` each; the first ``total % count`` shares get one cent more."""
    _check(total, count)
    base, extra = divmod(total, count)
    return [base + 1 if i < extra else base for i in range(count)]


def random_split(total: int, count: int, rng: random.Random | None = None) -> list[int]:
    """Double-mean rule, share by share in grab order: with ``m`` cents and ``n`` shares left,
    the next share is uniform in ``[1, min(2m // n, m - (n - 1))]`` (the last takes what is
    left). Every share is at least one cent, the sum is exact, and no share is above twice the
    mean of what remained when it was drawn."""
    _check(total, count)
    pick = rng or _rng
    shares: list[int] = []
    left = total
    for n in range(count, 1, -1):
        high = min(2 * left // n, left - (n - 1))
        share = pick.randint(1, high)
        shares.append(share)
        left -= share
    shares.append(left)
    return shares


def _check(total: int, count: int) -> None:
    if count < 1:
        raise InvalidField("'shares' must be at least 1")
    if total < count:
        raise InvalidField("'total' must be at least one cent per share")


def packet_fields(body: Json, *, max_total: int, max_shares: int, max_duration_ms: int,
                  max_open_delay_ms: int, now: int) -> Json:
    """The validated fields of a new packet (times absolute, in ms)."""
    total = get_int(body, "total", lo=1, hi=max_total)
    shares = get_int(body, "shares", lo=1, hi=max_shares)
    if total < shares:
        raise InvalidField("'total' must be at least one cent per share")
    split = get_str(body, "split", required=False) or "random"
    if split not in SPLITS:
        raise InvalidField("'split' must be random or equal")
    delay_s = get_int(body, "countdown_s", lo=0, hi=max_open_delay_ms // 1000, default=0)
    longest = max_duration_ms // 1000
    duration_s = get_int(body, "duration_s", lo=1, hi=longest, default=min(longest, 86_400))
    condition = get_str(body, "condition", required=False) or "anyone"
    if condition not in CONDITIONS:
        raise InvalidField("'condition' must be anyone, keyword, followers or fan_club")
    keyword = ""
    if condition == "keyword":
        keyword = normalise_keyword(get_str(body, "keyword", max_len=KEYWORD_MAX) or "")
        if not keyword:
            raise InvalidField("'keyword' is required for the keyword condition")
    open_at = now + delay_s * 1000
    return {"total": total, "shares": shares, "split": split, "open_at": open_at,
            "expires_at": open_at + duration_s * 1000, "condition": condition,
            "keyword": keyword}


def normalise_keyword(text: str) -> str:
    return " ".join(text.split()).casefold()


def split_for(split: str, total: int, count: int) -> list[int]:
    return equal_split(total, count) if split == "equal" else random_split(total, count)
