"""Platform-wide suspensions: their fields, the durations ops may choose, and the per-process
view every command consults. No I/O: the view is filled by ``services/suspensions.py``.

A suspension is kept as a record rather than a flag so that the moderation log's undo can tell
"this is still the suspension I logged" (same ``at``) from a later one that replaced it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from live_server.errors import InvalidField

HOUR_MS = 3_600_000
# what the ops form offers; 0 = until lifted
DURATIONS: dict[str, int] = {"1h": HOUR_MS, "24h": 24 * HOUR_MS, "7d": 7 * 24 * HOUR_MS,
                             "permanent": 0}
REASON_MAX = 200


@dataclasses.dataclass(frozen=True, slots=True)
class Suspension:
    user_id: str
    reason: str
    by: str
    at: int  # ms
    until: int  # ms; 0 = until lifted

    def active(self, now: int) -> bool:
        return self.until == 0 or self.until > now

    def public(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Suspension:
        return cls(user_id=str(data["user_id"]), reason=str(data.get("reason", "")),
                   by=str(data.get("by", "")), at=int(data.get("at", 0)),
                   until=int(data.get("until", 0)))


def new_suspension(user_id: str, reason: str, by: str, duration: str, now: int) -> Suspension:
    """A suspension starting ``now``; refuses an unknown duration, an empty or long reason and
    ops suspending themselves (they could not lift it from a refused console)."""
    if duration not in DURATIONS:
        raise InvalidField(f"'duration' must be one of {', '.join(DURATIONS)}")
    reason = reason.strip()
    if not reason or len(reason) > REASON_MAX:
        raise InvalidField(f"'reason' must be 1-{REASON_MAX} characters")
    if user_id == by:
        raise InvalidField("ops cannot suspend themselves")
    length = DURATIONS[duration]
    return Suspension(user_id=user_id, reason=reason, by=by, at=now,
                      until=now + length if length else 0)


class SuspensionView:
    """This process's copy of every suspension: answers "is this user suspended now?" with a
    dict lookup, so the check on every command costs no round trip."""

    def __init__(self) -> None:
        self._by_user: dict[str, Suspension] = {}

    def replace_all(self, records: list[Suspension]) -> None:
        self._by_user = {s.user_id: s for s in records}

    def put(self, record: Suspension) -> None:
        self._by_user[record.user_id] = record

    def drop(self, user_id: str) -> None:
        self._by_user.pop(user_id, None)

    def until(self, user_id: str | None, now: int) -> int | None:
        """When ``user_id``'s suspension ends (0 = until lifted), or None if not suspended."""
        if user_id is None:
            return None
        record = self._by_user.get(user_id)
        if record is None or not record.active(now):
            return None
        return record.until
