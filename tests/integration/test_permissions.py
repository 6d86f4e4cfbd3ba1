"""Who may do what: every operation × every kind of caller. Allowed calls succeed; the others
get the documented error code and change nothing."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from tests.conftest import TEST_SECRET, LiveApp, token
from tests.helpers import Viewer

CALLERS = ("viewer", "owner", "other_creator", "ops", "guest", "expired", "wrong_secret")


def auth_header(caller: str) -> dict[str, str]:
    tokens = {
        "viewer": token("vera"),
        "owner": token("alice", "creator"),
        "other_creator": token("oscar", "creator"),
        "ops": token("olga", "ops"),
        "expired": jwt.encode({"sub": "vera", "role": "viewer", "name": "Vera",
                               "iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600},
                              TEST_SECRET, algorithm="HS256"),
        "wrong_secret": token("olga", "ops", secret="another-secret-" + "y" * 30),
    }
    return {"Authorization": f"Bearer {tokens[caller]}"} if caller in tokens else {}


@dataclass(frozen=True)
class Op:
    name: str
    method: str
    path: str  # {room} is replaced
    body: Any
    allowed: frozenset[str]


MOD = frozenset({"owner", "ops"})
ANY_USER = frozenset({"viewer", "owner", "other_creator", "ops"})
EVERYONE = frozenset({"viewer", "owner", "other_creator", "ops", "guest"})
OPS: list[Op] = [
    Op("create_room", "POST", "/api/rooms", {"title": "x"},
       frozenset({"owner", "other_creator", "ops"})),
    Op("get_room", "GET", "/api/rooms/{room}", None, EVERYONE),
    Op("list_live", "GET", "/api/rooms", None, EVERYONE),
    Op("update_room", "PATCH", "/api/rooms/{room}", {"title": "changed"}, MOD),
    Op("end_room", "POST", "/api/rooms/{room}/end", None, MOD),
    Op("announce", "PUT", "/api/rooms/{room}/announcement", {"text": "hi"}, MOD),
    Op("slow_mode", "PUT", "/api/rooms/{room}/slow-mode", {"seconds": 10}, MOD),
    Op("set_keywords", "PUT", "/api/rooms/{room}/keywords", {"words": ["x"]}, MOD),
    Op("get_keywords", "GET", "/api/rooms/{room}/keywords", None, MOD),
    Op("delete_message", "DELETE", "/api/rooms/{room}/messages/{msg}", None, MOD),
    Op("mute", "POST", "/api/rooms/{room}/mutes", {"user_id": "bob", "duration_s": 60}, MOD),
    Op("list_mutes", "GET", "/api/rooms/{room}/mutes", None, MOD),
    Op("ban", "POST", "/api/rooms/{room}/bans", {"user_id": "bob"}, MOD),
    Op("list_bans", "GET", "/api/rooms/{room}/bans", None, MOD),
    Op("report", "POST", "/api/rooms/{room}/reports", {"seq": "{msg}", "reason": "spam"},
       ANY_USER),
    Op("ops_rooms", "GET", "/api/ops/rooms", None, frozenset({"ops"})),
    Op("ops_reports", "GET", "/api/ops/reports", None, frozenset({"ops"})),
    Op("ops_moderation", "GET", "/api/ops/moderation", None, frozenset({"ops"})),
    Op("me", "GET", "/api/me", None, ANY_USER),
]


def expected_error(caller: str) -> tuple[int, str]:
    if caller == "expired":
        return 401, "token_expired"
    if caller == "wrong_secret":
        return 401, "unauthorized"
    if caller == "guest":
        return -1, ""  # 401 or 403 depending on the endpoint: checked below
    return 403, "forbidden"


async def _state(live: LiveApp, room: str) -> dict[str, Any]:
    """Everything a forbidden call could have changed."""
    h = auth_header("ops")
    _, public = await live.call("GET", f"/api/rooms/{room}")
    _, mutes = await live.call("GET", f"/api/rooms/{room}/mutes", headers=h)
    _, bans = await live.call("GET", f"/api/rooms/{room}/bans", headers=h)
    _, kw = await live.call("GET", f"/api/rooms/{room}/keywords", headers=h)
    _, hist = await live.call("GET", f"/api/rooms/{room}/history")
    _, reports = await live.call("GET", "/api/ops/reports", headers=h)
    _, mine = await live.call("GET", "/api/rooms?state=all", headers=h)
    public.pop("counters")
    return {"room": public, "mutes": mutes, "bans": bans, "kw": kw, "hist": hist,
            "reports": len(reports["reports"]), "rooms": len(mine["rooms"])}


@pytest.mark.parametrize("caller", CALLERS)
async def test_http_permission_matrix(live: LiveApp, caller: str) -> None:
    for op in OPS:
        room = await live.live_room("alice")
        chatter = await Viewer.connect(live.base, room, token("bob"))
        await chatter.wait_welcome()
        msg_seq = (await chatter.request("chat", text="hello"))["data"]["seq"]
        await chatter.close()
        before = await _state(live, room)
        path = op.path.replace("{room}", room).replace("{msg}", str(msg_seq))
        body = op.body
        if isinstance(body, dict):
            body = {k: (msg_seq if v == "{msg}" else v) for k, v in body.items()}
        status, answer = await live.call(op.method, path, json=body, headers=auth_header(caller))
        if caller in op.allowed:
            assert status < 300, (op.name, caller, status, answer)
            continue
        code, err = expected_error(caller)
        if caller == "guest":
            assert (status, answer["error"]["code"]) in ((401, "unauthorized"),
                                                         (403, "forbidden")), (op.name, answer)
        else:
            assert (status, answer["error"]["code"]) == (code, err), (op.name, caller, answer)
        assert await _state(live, room) == before, (op.name, caller)


WS_MOD_OPS: list[tuple[str, dict[str, Any]]] = [
    ("mute", {"user_id": "bob", "duration_s": 60}), ("unmute", {"user_id": "bob"}),
    ("slow_mode", {"seconds": 5}), ("announce", {"text": "x"}), ("delete", {"seq": "{msg}"}),
    ("ban", {"user_id": "bob"}), ("unban", {"user_id": "bob"}),
]


@pytest.mark.parametrize("caller", ["viewer", "owner", "other_creator", "ops"])
async def test_websocket_moderation_needs_owner_or_ops(live: LiveApp, caller: str) -> None:
    room = await live.live_room("alice")
    tok = auth_header(caller)["Authorization"].split()[1]
    actor = await Viewer.connect(live.base, room, tok)
    welcome = await actor.wait_welcome()
    assert welcome["snapshot"]["me"]["moderator"] is (caller in MOD)
    bob = await Viewer.connect(live.base, room, token("bob"))
    await bob.wait_welcome()
    msg_seq = (await bob.request("chat", text="msg"))["data"]["seq"]
    for name, fields in WS_MOD_OPS:
        fields = {k: (msg_seq if v == "{msg}" else v) for k, v in fields.items()}
        before = await _state(live, room)
        reply = await actor.request(name, **fields)
        if caller in MOD:
            assert reply["type"] == "reply", (name, reply)
        else:
            assert reply["error"]["code"] == "forbidden", (name, reply)
            assert await _state(live, room) == before, name
    if caller in MOD:  # the ban went through only for moderators
        assert await bob.wait_closed() == 4003
    else:
        assert not bob.closed
    await actor.close()
    await bob.close()


async def test_websocket_refuses_bad_tokens(live: LiveApp) -> None:
    room = await live.live_room("alice")
    for caller, code in (("expired", "token_expired"), ("wrong_secret", "unauthorized")):
        tok = auth_header(caller)["Authorization"].split()[1]
        viewer = await Viewer.connect(live.base, room, tok)
        assert await viewer.wait_closed() == 4001
        assert viewer.frames[0]["error"]["code"] == code
        await viewer.close()
    garbage = await Viewer.connect(live.base, room, "not-a-jwt")
    assert await garbage.wait_closed() == 4001
    await garbage.close()


async def test_room_transitions_follow_the_state_machine(live: LiveApp) -> None:
    status, room = await live.call("POST", "/api/rooms", "alice", "creator",
                                   json={"title": "Later"})
    assert status == 201 and room["state"] == "scheduled"
    rid = room["id"]
    status, answer = await live.call("POST", f"/api/rooms/{rid}/start", "alice", "creator")
    assert status == 200 and answer["state"] == "live" and answer["started_at"] > 0
    status, answer = await live.call("POST", f"/api/rooms/{rid}/start", "alice", "creator")
    assert status == 409 and answer["error"]["code"] == "invalid_state"
    status, answer = await live.call("POST", f"/api/rooms/{rid}/end", "alice", "creator")
    assert status == 200 and answer["state"] == "ended"
    for action in ("start", "end"):
        status, answer = await live.call("POST", f"/api/rooms/{rid}/{action}", "alice",
                                         "creator")
        assert status == 409 and answer["error"]["code"] == "invalid_state"
    _, live_rooms = await live.call("GET", "/api/rooms")
    assert rid not in [r["id"] for r in live_rooms["rooms"]]
    status, answer = await live.call("POST", "/api/rooms/nope/start", "alice", "creator")
    assert status == 404 and answer["error"]["code"] == "not_found"


# The catalogue: a creator owns theirs; ops may read any product and take it down or put it back,
# never create or edit; a viewer nothing, even with a token that carries the owner's id.
CATALOGUE_CALLERS = {
    "owner": ("alice", "creator"), "viewer_with_owner_id": ("alice", "viewer"),
    "other_creator": ("oscar", "creator"), "viewer": ("vera", "viewer"),
    "ops": ("olga", "ops"), "ops_with_owner_id": ("alice", "ops"), "guest": (None, "viewer"),
}
NEW_PRODUCT = {"title": "Tea", "list_price": 2000, "live_price": 1500, "stock": 5}
OWN_OR_OPS = frozenset({"owner", "ops", "ops_with_owner_id"})
CATALOGUE_ACTIONS: dict[str, tuple[str, str, Any, frozenset[str]]] = {
    "create": ("POST", "/api/products", NEW_PRODUCT, frozenset({"owner", "other_creator"})),
    "list": ("GET", "/api/products", None, frozenset({"owner", "other_creator"})),
    "read": ("GET", "/api/products/{pid}", None, OWN_OR_OPS),
    "edit": ("PATCH", "/api/products/{pid}", {"live_price": 1}, frozenset({"owner"})),
    "delete": ("DELETE", "/api/products/{pid}", None, frozenset({"owner"})),
    "take_down": ("POST", "/api/products/{pid}/takedown", {"reason": "x"}, OWN_OR_OPS),
    "restore": ("POST", "/api/products/{pid}/restore", None, OWN_OR_OPS),
}


async def _catalogue_state(live: LiveApp, pid: str) -> Any:
    """The owner's catalogue as the owner reads it: what a refused call must leave alone."""
    _, listing = await live.call("GET", "/api/products", "alice", "creator")
    _, product = await live.call("GET", f"/api/products/{pid}", "alice", "creator")
    return listing, product


@pytest.mark.parametrize("caller", CATALOGUE_CALLERS)
@pytest.mark.parametrize("action", CATALOGUE_ACTIONS)
async def test_catalogue_role_matrix(live: LiveApp, caller: str, action: str) -> None:
    method, path, body, allowed = CATALOGUE_ACTIONS[action]
    status, product = await live.call("POST", "/api/products", "alice", "creator",
                                      json=NEW_PRODUCT)
    assert status == 201, product
    pid = product["id"]
    if action == "restore":  # the owner's own take-down, which the owner may undo
        status, _ = await live.call("POST", f"/api/products/{pid}/takedown", "alice", "creator")
        assert status == 200
    before = await _catalogue_state(live, pid)
    user, role = CATALOGUE_CALLERS[caller]
    status, answer = await live.call(method, path.replace("{pid}", pid), user, role,
                                     json=body)
    if caller in allowed:
        assert status < 300, (status, answer)
        return
    if caller == "guest":
        assert (status, answer["error"]["code"]) in ((401, "unauthorized"),
                                                     (403, "forbidden")), answer
    else:
        assert (status, answer["error"]["code"]) == (403, "forbidden"), answer
    assert await _catalogue_state(live, pid) == before
    _, mine = await live.call("GET", "/api/products", user, "creator")
    if user is not None and user != "alice":
        assert mine["products"] == []  # nothing was created in the caller's name either
