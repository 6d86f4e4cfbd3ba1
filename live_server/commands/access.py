"""Who may run a command, as ``auth.py``'s rules say it.

A level that depends only on the token (a logged-in user, a creator, ops) is checked before the
fields are read, on both transports. A level that depends on a room, a product or an order (its
creator, its owner, its buyer) is checked by the service against what it loads, so that an
unknown room is ``not_found`` whoever asks; the level still says which errors it may answer.
A product's levels check the role from the token first (a viewer token carrying a creator's id
is a viewer); whether the product is the caller's is the service's check.

A user ops suspended from the platform reads but does not act: :func:`check_standing`, run with
the token-only rules on both transports, refuses them every command except those anyone may run,
plain HTTP reads (GET without a websocket op) and ops' own commands, with ``suspended`` and its
end. The suspensions are this process's in-memory view, so the check costs no round trip.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

from live_server.auth import (
    Identity,
    require_creator,
    require_ops,
    require_product_role,
    require_seller,
    require_user,
)
from live_server.errors import Forbidden, LiveError, Suspended, Unauthorized


@dataclasses.dataclass(frozen=True, slots=True)
class Access:
    name: str
    doc: str
    check: Callable[[Identity], object] | None = None  # token-only rules, checked first
    errors: tuple[type[LiveError], ...] = ()


ANYONE = Access("anyone", "anyone, guests included")
USER = Access("user", "a logged-in user (viewer, creator or ops)", require_user, (Forbidden,))
CREATOR = Access("creator", "a creator or ops", require_creator, (Forbidden,))
OPS = Access("ops", "ops", require_ops, (Unauthorized, Forbidden))
MODERATOR = Access("moderator", "the room's creator or ops (a moderator)",
                   errors=(Unauthorized, Forbidden))
ROOM_CREATOR = Access("room_creator", "the room's creator (ops included: 403)",
                      errors=(Unauthorized, Forbidden))
SELLER = Access("seller", "a creator (ops and viewers have no catalogue)", require_seller,
                (Forbidden,))
PRODUCT_OWNER = Access("product_owner", "the product's creator (ops: 403)",
                       lambda who: require_product_role(who), (Unauthorized, Forbidden))
PRODUCT_OWNER_OR_OPS = Access("product_owner_or_ops", "the product's creator, or ops",
                              lambda who: require_product_role(who, ops_may=True),
                              (Unauthorized, Forbidden))
ORDER_PARTY = Access("order_party", "the order's buyer, the room's creator or ops, as said",
                     errors=(Unauthorized, Forbidden))


class Standing(Protocol):
    """Where the suspensions are read: ``services/suspensions.py``'s in-memory view."""

    def until(self, user_id: str | None) -> int | None:
        """When ``user_id``'s platform suspension ends (ms, 0 = until lifted); None if they
        are not suspended."""
        ...


def acts(access: Access, reads_only: bool) -> bool:
    """Whether a suspension stops a command of this level: everything but what anyone may
    run, ops' own console and plain reads."""
    return not reads_only and access not in (ANYONE, OPS)


def check_standing(who: Identity, standing: Standing | None) -> None:
    """The one suspension check (a command that acts, the room socket's admission)."""
    if standing is None or who.user_id is None:
        return
    until = standing.until(who.user_id)
    if until is not None:
        raise Suspended("you are suspended from the platform", until=until)
