"""Order rules: states and the legal transitions. order_transition.lua enforces the same table
atomically; this module is what the service checks first and the tests reason about. No I/O.

Paying is claim, charge, confirm: ``claim`` puts a reservation in ``paying`` with a lease (so a
second ``pay`` cannot charge again), the provider charges, ``pay`` confirms. A claim whose
lease ran out (its process died between claim and confirm) counts as ``reserved`` again; a
declined charge ``release``s it at once. A payment that reaches an order whose reservation
ended (``expired`` or ``cancelled``) is kept as ``paid_late``: the money was taken but no units
are held, so ops refund it."""

from __future__ import annotations

from collections.abc import Mapping

from live_server.errors import InvalidState

STATES = ("reserved", "paying", "paid", "fulfilled", "cancelled", "expired", "paid_late",
          "refunded")
# action → {from-state: to-state}
ACTIONS: dict[str, dict[str, str]] = {
    "claim": {"reserved": "paying"},
    "release": {"paying": "reserved"},
    "pay": {"reserved": "paid", "paying": "paid", "expired": "paid_late",
            "cancelled": "paid_late"},
    "cancel": {"reserved": "cancelled"},
    "expire": {"reserved": "expired"},
    "fulfil": {"paid": "fulfilled"},
    "refund": {"paid": "refunded", "paid_late": "refunded"},
}


def check_action(state: str, action: str) -> str:
    """The state after ``action``, or ``invalid_state``."""
    dst = ACTIONS[action].get(state)
    if dst is None:
        raise InvalidState(f"cannot {action} an order that is {state}", state=state)
    return dst


def effective_state(order: Mapping[str, object], now: int) -> str:
    """The order's state, with a ``paying`` claim whose lease ran out counted as ``reserved``."""
    state = str(order["state"])
    until = order.get("pay_until")
    if state == "paying" and isinstance(until, int) and now >= until:
        return "reserved"
    return state


def may_still_pay(order: Mapping[str, object], placed_by: int, now: int) -> bool:
    """Placed by ``placed_by`` and still able to become ``paid``: reserved and not expired, or
    a payment claim in flight (a claim is only taken before expiry)."""
    created, expires = order.get("created_at"), order.get("expires_at")
    if not isinstance(created, int) or created > placed_by:
        return False
    state = effective_state(order, now)
    if state == "paying":
        return True
    return state == "reserved" and isinstance(expires, int) and now < expires


def order_room(order_id: str) -> str | None:
    """Order ids are ``o.<room id>.<random>``: the room (and so the slot) is in the id."""
    parts = order_id.split(".")
    if len(parts) != 3 or parts[0] != "o" or not parts[1] or not parts[2]:
        return None
    return parts[1]
