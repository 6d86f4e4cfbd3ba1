"""Order rules: states and the legal transitions. order_transition.lua enforces the same table
atomically; this module is what the service checks first and the tests reason about. No I/O."""

from __future__ import annotations

from live_server.errors import InvalidState

STATES = ("reserved", "paid", "fulfilled", "cancelled", "expired", "refunded")
# action → (from-state, to-state)
ACTIONS: dict[str, tuple[str, str]] = {
    "pay": ("reserved", "paid"),
    "cancel": ("reserved", "cancelled"),
    "expire": ("reserved", "expired"),
    "fulfil": ("paid", "fulfilled"),
    "refund": ("paid", "refunded"),
}


def check_action(state: str, action: str) -> str:
    """The state after ``action``, or ``invalid_state``."""
    src, dst = ACTIONS[action]
    if state != src:
        raise InvalidState(f"cannot {action} an order that is {state}", state=state)
    return dst


def order_room(order_id: str) -> str | None:
    """Order ids are ``o.<room id>.<random>``: the room (and so the slot) is in the id."""
    parts = order_id.split(".")
    if len(parts) != 3 or parts[0] != "o" or not parts[1] or not parts[2]:
        return None
    return parts[1]
