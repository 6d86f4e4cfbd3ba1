"""One rule for every body, on both transports, built from the command table so that a new
command is covered the day it is declared: an unknown field is ``invalid_field``, an absent
required one ``missing_field``, a body that is not a JSON object ``invalid_json``. Each request
carries a token the command's role admits, so the answer is about the body, not about who asks.
"""

from __future__ import annotations

import re
import time
from typing import Any

import orjson
import pytest

from live_server import config
from live_server.auth import ROLES, Identity, Role
from live_server.commands.command import Command
from live_server.commands.fields import Boolean, Choice, Field, Integer, ListOf, bound
from live_server.commands.shelf import JsonList
from live_server.commands.table import HTTP, WS_OPS
from live_server.errors import LiveError
from live_server.services.orders import sign
from tests.conftest import LiveApp, token
from tests.helpers import WAIT_S, Viewer, open_ws
from tests.integration.test_shelf import buy, on_sale, product

SETTINGS = config.load(env={})
PURCHASE_SAMPLES = {"variant_id": "v0", "sale_id": "s_abc", "coupon_id": "best"}
ADDRESS_SAMPLES = {"phone": "+44 20 7946 0958", "country": "GB", "postal_code": "SW1Y 4LE"}
WEBHOOK_SAMPLES = {"webhook_id": "wh_0123456789abcdef", "message_id": "msg_abc"}
ID_SAMPLES = {"topup_id": "tu_" + "0" * 20, "auction_id": "a_0123",
              "beneficiary_id": "b_" + "0" * 12}
UNKNOWN = "zz_not_a_field"
NOT_OBJECTS = ("{broken", "[1, 2]", '"text"', "17", "null")


def sample(field: Field) -> Any:
    """A value the field accepts, so that only the field under test is wrong."""
    value: Any
    if isinstance(field, Integer):
        value = bound(field.lo, SETTINGS)
    elif isinstance(field, Boolean):
        value = True
    elif isinstance(field, Choice):
        value = field.choices[0]
    elif isinstance(field, ListOf):
        value = [sample(field.item)]
    elif isinstance(field, JsonList):
        value = []
    elif field.name.endswith("product_id"):
        value = "p_abc"
    elif field.name in PURCHASE_SAMPLES:
        value = PURCHASE_SAMPLES[field.name]
    elif field.name in ADDRESS_SAMPLES:
        value = ADDRESS_SAMPLES[field.name]
    elif field.name in WEBHOOK_SAMPLES:
        value = WEBHOOK_SAMPLES[field.name]
    elif field.name in ID_SAMPLES:
        value = ID_SAMPLES[field.name]
    elif getattr(field, "pattern", None) == "[A-Z]{3}":
        value = SETTINGS.shelf.currency
    else:
        value = "x" * max(1, getattr(field, "min_len", 1))
    field.check(value, SETTINGS)  # a new field kind needs a sample here: fail loudly
    return value


def role_for(command: Command) -> Role:
    """The least role the command's token rule admits."""
    for role in ROLES:
        try:
            command.allow(Identity(user_id="tester", name="Tester", role=role))
        except LiveError:
            continue
        return role
    raise AssertionError(f"{command.name}: no role may run it")


def path_of(command: Command) -> tuple[str, set[str]]:
    """The command's route with every parameter filled in, and the fields the path gives."""
    assert command.http is not None
    by_name = {f.name: f for f in command.fields}
    given = set(re.findall(r"{(\w+)}", command.http.path))
    path = command.http.path
    for name in given:
        value = "r_test" if name == "room_id" else str(sample(by_name[name]))
        path = path.replace("{" + name + "}", value)
    return path, given - {"room_id"}


def full_body(command: Command, leave_out: set[str]) -> dict[str, Any]:
    return {f.name: sample(f) for f in command.fields if f.name not in leave_out}


def required(command: Command, leave_out: set[str]) -> list[str]:
    return [f.name for f in command.fields if f.required and f.name not in leave_out]


async def http_code(live: LiveApp, command: Command, role: Role, path: str,
                    body: dict[str, Any] | None = None, raw: str | None = None) -> tuple[int, str]:
    assert command.http is not None
    headers = {**live.headers("tester", role), "Content-Type": "application/json"}
    kwargs: dict[str, Any] = {}
    if command.http.method == "GET":
        kwargs["params"] = {k: str(v).lower() if isinstance(v, bool) else str(v)
                            for k, v in (body or {}).items()}
    else:
        kwargs["data"] = raw if raw is not None else orjson.dumps(body or {})
    async with live.client.request(command.http.method, path, headers=headers, **kwargs) as resp:
        answer = await resp.json(content_type=None)
        return resp.status, answer["error"]["code"] if resp.status >= 400 else "ok"


@pytest.mark.parametrize("command", HTTP, ids=lambda c: c.name)
async def test_every_route_refuses_unknown_missing_and_broken_bodies(live: LiveApp,
                                                                     command: Command) -> None:
    assert command.http is not None
    role = role_for(command)
    path, in_path = path_of(command)
    body = full_body(command, in_path)
    got = await http_code(live, command, role, path, {**body, UNKNOWN: 1})
    assert got == (400, "invalid_field"), (command.name, "unknown field", got)
    for name in required(command, in_path):
        got = await http_code(live, command, role, path,
                              {k: v for k, v in body.items() if k != name})
        assert got == (400, "missing_field"), (command.name, name, got)
    if command.http.method != "GET":
        for raw in NOT_OBJECTS:
            got = await http_code(live, command, role, path, raw=raw)
            assert got == (400, "invalid_json"), (command.name, raw, got)


WS_COMMANDS = [c for name, c in WS_OPS.items() if name != "auth"]  # auth: the first frame only


@pytest.mark.parametrize("command", WS_COMMANDS, ids=lambda c: c.name)
async def test_every_op_refuses_unknown_and_missing_fields(live: LiveApp,
                                                           command: Command) -> None:
    assert command.op is not None
    room = await live.live_room()
    viewer = await Viewer.connect(live.base, room, token("tester", role_for(command)))
    await viewer.wait_welcome()
    body = full_body(command, set())
    reply = await viewer.request(command.op, **body, **{UNKNOWN: 1})
    assert reply.get("error", {}).get("code") == "invalid_field", (command.name, reply)
    for name in required(command, set()):
        reply = await viewer.request(command.op, **{k: v for k, v in body.items() if k != name})
        assert reply.get("error", {}).get("code") == "missing_field", (command.name, name, reply)
    await viewer.close()


async def test_the_payment_webhook_follows_the_same_rule(live: LiveApp) -> None:
    """Outside the table (its signature covers the raw body), the same answers once the
    signature is good; a bad signature is refused first, whatever the body."""
    room = await live.live_room()
    p = await product(live)
    await on_sale(live, room, p["id"], stock=2, price=1000)
    _, bought = await buy(live, room, p["id"], "vic", "k")
    order = bought["order"]
    event = {"id": "evt_1", "type": "payment.succeeded", "order_id": order["id"],
             "amount": order["amount"], "reference": "gw_1"}
    secret = live.settings.payments.webhook_secret

    async def post(raw: bytes, key: str = secret) -> tuple[int, str]:
        headers = {"X-Live-Signature": sign(key, int(time.time()), raw)}
        async with live.client.post("/api/payments/webhook", data=raw,
                                    headers=headers) as resp:
            answer = await resp.json()
            return resp.status, answer["error"]["code"] if resp.status >= 400 else "ok"

    assert await post(orjson.dumps({**event, UNKNOWN: 1})) == (400, "invalid_field")
    for name in ("id", "type", "order_id", "amount"):
        assert await post(orjson.dumps({k: v for k, v in event.items() if k != name})) == (
            400, "missing_field"), name
    for raw in NOT_OBJECTS:
        assert await post(raw.encode()) == (400, "invalid_json"), raw
        assert await post(raw.encode(), "wrong") == (401, "invalid_signature"), raw
    assert await post(orjson.dumps({**event, "amount": "1000"})) == (400, "invalid_field")
    _, still = await live.call("GET", f"/api/orders/{order['id']}", "vic")
    assert still["state"] == "reserved"  # nothing refused moved the order
    assert await post(orjson.dumps(event)) == (200, "ok")


async def _first_frame(live: LiveApp, room: str, frame: dict[str, Any]) -> tuple[Any, int | None]:
    """The first thing the server answers an ``auth`` first frame, and the close code if it
    then closes."""
    url = live.base.replace("http", "ws", 1) + f"/ws/rooms/{room}"
    ws = await open_ws(live.client.session, url)
    try:
        await ws.send_str(orjson.dumps(frame).decode())
        answer = orjson.loads((await ws.receive(timeout=WAIT_S)).data)
        if answer.get("type") == "welcome":
            return answer, None
        await ws.receive(timeout=WAIT_S)  # the close
        return answer, ws.close_code
    finally:
        await ws.close()


async def test_the_auth_first_frame_follows_the_same_rule(live: LiveApp) -> None:
    """The first frame is bound by the ``auth`` op's declared fields (``token``, ``since``,
    ``epoch``; ``op`` and ``id`` are the envelope): an unknown field is refused like anywhere
    else, and a declared one, ``epoch`` included, is taken."""
    room = await live.live_room()
    viewer = await Viewer.connect(live.base, room, token("bob"))
    welcome = await viewer.wait_welcome()
    await viewer.close()
    first = {"op": "auth", "id": 1, "token": token("bob"), "since": welcome["seq"],
             "epoch": welcome["epoch"]}
    answer, _ = await _first_frame(live, room, first)
    assert answer["type"] == "welcome" and answer["user"]["id"] == "bob", answer
    answer, code = await _first_frame(live, room, {**first, UNKNOWN: 1})
    assert (answer["error"]["code"], code) == ("invalid_field", 4001), answer
    assert UNKNOWN in answer["error"]["message"], answer
    answer, code = await _first_frame(live, room, {**first, "epoch": 7})
    assert (answer["error"]["code"], code) == ("invalid_field", 1000), answer
    assert "'epoch'" in answer["error"]["message"], answer


async def test_the_dev_login_follows_the_same_rule(live: LiveApp) -> None:
    """``POST /api/dev/token`` outside the table binds its declared fields the same way."""
    async def post(data: dict[str, Any]) -> tuple[int, Any]:
        async with live.client.post("/api/dev/token", json=data) as resp:
            return resp.status, await resp.json()

    status, answer = await post({"user": "dan", UNKNOWN: 1})
    assert (status, answer["error"]["code"]) == (400, "invalid_field"), answer
    assert UNKNOWN in answer["error"]["message"], answer
    status, answer = await post({"name": "Dan"})
    assert (status, answer["error"]["code"]) == (400, "missing_field"), answer
    assert "'user'" in answer["error"]["message"], answer
    status, answer = await post({"user": "dan", "role": "king"})
    assert (status, answer["error"]["code"]) == (400, "invalid_field"), answer
    status, answer = await post({"user": "dan", "name": "  Dan  ", "role": "creator"})
    assert status == 200, answer
    async with live.client.get("/api/me", headers={
            "Authorization": f"Bearer {answer['token']}"}) as resp:
        me = await resp.json()
    assert (me["id"], me["name"], me["role"]) == ("dan", "Dan", "creator")
