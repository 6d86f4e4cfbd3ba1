"""Outgoing webhooks: a creator's endpoints (events of their rooms) and ops' platform endpoints
(every room's events), their secrets, their delivery log, tests and redeliveries. A creator
manages only their own endpoints; ops manage the platform's and may act on any."""

from __future__ import annotations

from live_server.auth import require_creator
from live_server.commands.access import Access
from live_server.commands.command import Call, Command, Route
from live_server.commands.fields import Boolean, Choice, Field, Integer, ListOf, Text
from live_server.domain.webhooks import DESCRIPTION_MAX, EVENT_TYPES, URL_MAX
from live_server.errors import (
    Forbidden,
    InvalidState,
    LimitReached,
    NotFound,
    Unauthorized,
    UrlNotAllowed,
)
from live_server.protocol import Json

BASE = "/api/webhooks"
ONE = BASE + "/{webhook_id}"
OWNER = Access("webhook_owner", "a creator (their own webhooks) or ops (the platform's, and "
               "any)", require_creator, (Unauthorized, Forbidden))
WEBHOOK_ID = Text("webhook_id", "a webhook id (`wh_...`)", max_len=19, pattern="wh_[0-9a-f]{16}")
MESSAGE_ID = Text("message_id", "a delivery's message id (its `webhook-id` header)",
                  max_len=160, pattern="msg_[A-Za-z0-9_.-]{1,150}")
EVENTS_DOC = "event types: " + ", ".join(f"`{e}`" for e in EVENT_TYPES)


def _fields(creating: bool) -> tuple[Field, ...]:
    return (
        Text("url", "http(s) URL of the receiver; private and loopback addresses are refused "
             "unless webhooks.allow_private", required=creating, min_len=1, max_len=URL_MAX),
        ListOf("events", EVENTS_DOC, required=creating,
               item=Choice("event", choices=EVENT_TYPES), max_items=len(EVENT_TYPES)),
        Text("description", required=False, max_len=DESCRIPTION_MAX),
        Boolean("enabled", required=False),
    )


async def _create(call: Call) -> Json:
    return await call.services.webhooks.create(call.who, call.args)


async def _list(call: Call) -> Json:
    return {"webhooks": await call.services.webhooks.listing(call.who)}


async def _get(call: Call) -> Json:
    a = call.args
    return await call.services.webhooks.get(call.who, a["webhook_id"], a["limit"])


async def _update(call: Call) -> Json:
    changes = {k: v for k, v in call.args.items() if k != "webhook_id"}
    return await call.services.webhooks.update(call.who, call.args["webhook_id"], changes)


async def _rotate(call: Call) -> Json:
    return await call.services.webhooks.rotate(call.who, call.args["webhook_id"])


async def _delete(call: Call) -> Json:
    await call.services.webhooks.delete(call.who, call.args["webhook_id"])
    return {}


async def _test(call: Call) -> Json:
    return await call.services.webhooks.send_test(call.who, call.args["webhook_id"])


async def _redeliver(call: Call) -> Json:
    a = call.args
    return await call.services.webhooks.redeliver(call.who, a["webhook_id"], a["message_id"])


FOUND = (NotFound,)

COMMANDS = (
    Command("create_webhook", "Register an endpoint for events of the caller's rooms (ops: "
            "of every room). The signing secret (`whsec_...`) is in this answer only.",
            _create, OWNER, _fields(creating=True), (UrlNotAllowed, LimitReached),
            http=Route("POST", BASE, 201), reply="the webhook with its `secret`"),
    Command("list_webhooks", "The caller's endpoints (ops: the platform's), with their status "
            "and queued deliveries.", _list, OWNER, http=Route("GET", BASE),
            reply="`{\"webhooks\": [...]}`"),
    Command("get_webhook", "One endpoint with its latest delivery attempts (time, type, "
            "attempt, status or error, the answer's first 500 bytes, next retry).", _get, OWNER,
            (WEBHOOK_ID, Integer("limit", "delivery attempts, newest first", required=False,
                                 default=50, lo=1, hi=lambda s: s.webhooks.log_max)),
            FOUND, http=Route("GET", ONE), reply="the webhook with `deliveries`"),
    Command("update_webhook", "Change an endpoint's URL, events, description, or turn it on "
            "(clearing an automatic disable) or off.", _update, OWNER,
            (WEBHOOK_ID, *_fields(creating=False)), (NotFound, UrlNotAllowed),
            http=Route("PATCH", ONE), reply="the webhook"),
    Command("rotate_webhook_secret", "A new signing secret, shown once; the previous one "
            "still signs (a second signature) for 24 hours.", _rotate, OWNER, (WEBHOOK_ID,),
            FOUND, http=Route("POST", ONE + "/rotate"),
            reply="`{\"id\", \"secret\", \"previous_until\"}`"),
    Command("delete_webhook", "Remove an endpoint and what is queued for it.", _delete, OWNER,
            (WEBHOOK_ID,), FOUND, http=Route("DELETE", ONE), reply="`{}`"),
    Command("test_webhook", "Queue a `webhook.test` event to the endpoint.", _test, OWNER,
            (WEBHOOK_ID,), (NotFound, InvalidState), http=Route("POST", ONE + "/test"),
            reply="`{\"message_id\"}`"),
    Command("redeliver", "Send a finished (failed or delivered) delivery again, with "
            "the same `webhook-id` and a fresh retry schedule.", _redeliver, OWNER,
            (WEBHOOK_ID, MESSAGE_ID), (NotFound, InvalidState),
            http=Route("POST", ONE + "/deliveries/{message_id}/redeliver"),
            reply="`{\"message_id\", \"type\", \"state\"}`"),
)
