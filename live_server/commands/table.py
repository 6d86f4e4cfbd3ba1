"""The command table: every operation a client may ask for, once. The room socket looks ops up
in :data:`WS_OPS`; the HTTP side builds one handler per :data:`HTTP` entry; the OpenAPI document
is generated from both."""

from __future__ import annotations

from live_server.commands import (
    addresses,
    auctions,
    charity,
    chat,
    cohost,
    coupons,
    draws,
    gifts,
    money,
    ops,
    orders,
    reminders,
    replays,
    rooms,
    shelf,
    show_report,
    socket,
    webhooks,
)
from live_server.commands.command import Command

COMMANDS: tuple[Command, ...] = (*socket.COMMANDS, *rooms.COMMANDS, *chat.COMMANDS,
                                 *shelf.COMMANDS, *orders.COMMANDS, *money.COMMANDS,
                                 *ops.COMMANDS, *coupons.COMMANDS, *addresses.COMMANDS,
                                 *show_report.COMMANDS, *webhooks.COMMANDS, *gifts.COMMANDS,
                                 *reminders.COMMANDS,
                                 *draws.COMMANDS,
                                 *auctions.COMMANDS,
                                 *charity.COMMANDS,
                                 *replays.COMMANDS,
                                 *cohost.COMMANDS)
BY_NAME: dict[str, Command] = {c.name: c for c in COMMANDS}
WS_OPS: dict[str, Command] = {c.op: c for c in COMMANDS if c.op is not None}
HTTP: tuple[Command, ...] = tuple(c for c in COMMANDS if c.http is not None)

assert len(BY_NAME) == len(COMMANDS), "two commands share a name"
assert len({(c.http.method, c.http.path) for c in HTTP if c.http}) == len(HTTP), \
    "two commands share a route"
