"""Orders: the buyer's list, one order, paying, cancelling, fulfilling, refunding; a room's
orders and a creator's earnings. (The payment webhook and the CSV export are HTTP-only:
``web/shelf.py``.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from live_server.auth import Identity
from live_server.commands.access import CREATOR, MODERATOR, ORDER_PARTY, USER
from live_server.commands.command import Call, Command, Route, Run
from live_server.commands.fields import Choice, Integer, Text
from live_server.errors import AddressRequired, BadRequest, InvalidState, NotFound, PaymentDeclined
from live_server.protocol import Json

if TYPE_CHECKING:
    from live_server.services.orders import OrderService

ORDER = "/api/orders/{order_id}"
ORDER_ID = Text("order_id", "`o.<room>.<hex>`", max_len=200, trim=False)
TRANSITION_ERRORS = (NotFound, InvalidState)


async def _mine(call: Call) -> Json:
    return await call.services.orders.mine(call.who, call.args["limit"])


async def _earnings(call: Call) -> Json:
    """The orders' books (which check the caller is a creator first), then the gifts the
    creator was sent over every room: gift income is earnings too."""
    books = await call.services.orders.earnings(call.who, call.args["limit"])
    return {**books, "gifts": await call.services.gifts.creator_figures(str(call.who.user_id))}


OrderCall = Callable[[Identity, str], Awaitable[Json]]


def _on_order(pick: Callable[[OrderService], OrderCall]) -> Run:
    """A command on one order: the service's method, looked up at call time."""
    async def run(call: Call) -> Json:
        return await pick(call.services.orders)(call.who, call.args["order_id"])
    return run


async def _pay(call: Call) -> Json:
    a = call.args
    return await call.services.orders.pay(call.who, a["order_id"], a["outcome"])


async def _room_orders(call: Call) -> Json:
    return await call.services.orders.room_orders(call.who, call.room_id, call.args["limit"])


COMMANDS = (
    Command("my_orders", "The caller's orders, newest first, each with its room's title.",
            _mine, USER, (Integer("limit", required=False, default=50, lo=1, hi=500),),
            http=Route("GET", "/api/me/orders"),
            reply="`{\"orders\", \"payment_provider\", \"currency\"}`"),
    Command("my_earnings", "Commission totals over the caller's rooms and the ledger, and "
            "the gifts sent to the caller (`gifts.creator`: the creator's share, its income).",
            _earnings, CREATOR, (Integer("limit", required=False, default=100, lo=1, hi=1000),),
            http=Route("GET", "/api/me/earnings"),
            reply="`{\"totals\", \"currency\", \"ledger\", \"gifts\": {\"gifts\", "
                  "\"sends\", \"spent\", \"creator\", \"platform\", \"by_gift\"}}`"),
    Command("get_order", "One order (its buyer, the room's creator, ops).",
            _on_order(lambda s: s.get), ORDER_PARTY,
            (ORDER_ID,), (NotFound,), http=Route("GET", ORDER), reply="the order"),
    Command("pay", "Pay a reserved order with the development provider; the buyer's saved "
            "shipping address is copied onto the order (`address_required` when neither has "
            "one).", _pay, USER,
            (ORDER_ID, Choice("outcome", "what the development provider answers",
                              required=False, default="confirm",
                              choices=("confirm", "decline"))),
            (*TRANSITION_ERRORS, PaymentDeclined, BadRequest, AddressRequired),
            http=Route("POST", ORDER + "/pay"), reply="the order, `paid`"),
    Command("cancel_order", "Cancel a reserved order (its buyer, the room's creator, ops).",
            _on_order(lambda s: s.cancel), USER, (ORDER_ID,), TRANSITION_ERRORS,
            http=Route("POST", ORDER + "/cancel"), reply="the order, `cancelled`"),
    Command("fulfil_order", "Mark a paid order fulfilled (the room's creator).",
            _on_order(lambda s: s.fulfil), USER,
            (ORDER_ID,), TRANSITION_ERRORS, http=Route("POST", ORDER + "/fulfil"),
            reply="the order, `fulfilled`"),
    Command("refund_order", "Refund a paid order (the room's creator, ops).",
            _on_order(lambda s: s.refund), USER,
            (ORDER_ID,), TRANSITION_ERRORS, http=Route("POST", ORDER + "/refund"),
            reply="the order, `refunded`"),
    Command("room_orders", "A room's orders and totals (its creator, ops).", _room_orders,
            MODERATOR, (Integer("limit", required=False, default=200, lo=1, hi=5000),),
            (NotFound,), http=Route("GET", "/api/rooms/{room_id}/orders"),
            reply="`{\"orders\", \"totals\"}`"),
)
