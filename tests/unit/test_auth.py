from __future__ import annotations

import time

import jwt
import pytest

from live_server import auth
from live_server.errors import Forbidden, TokenExpired, Unauthorized

SECRET = "s" * 40


def test_round_trip() -> None:
    who = auth.verify(SECRET, auth.mint(SECRET, "alice", "creator", name="Alice"))
    assert (who.user_id, who.name, who.role) == ("alice", "Alice", "creator")


@pytest.mark.parametrize("bad", [
    jwt.encode({"sub": "a", "role": "viewer", "exp": int(time.time()) + 86400}, "x" * 40,
               algorithm="HS256"),
    jwt.encode({"sub": "a", "role": "viewer", "exp": int(time.time()) + 86400}, None,
               algorithm="none"),
    jwt.encode({"sub": "a", "role": "king", "exp": int(time.time()) + 86400}, SECRET,
               algorithm="HS256"),
    jwt.encode({"sub": "a b", "role": "viewer", "exp": int(time.time()) + 86400}, SECRET,
               algorithm="HS256"),
    jwt.encode({"sub": "a", "role": "viewer"}, SECRET, algorithm="HS256"),  # no exp
    "not.a.token", "", "x" * 5000,
], ids=["wrong_key", "alg_none", "unknown_role", "bad_subject", "no_exp", "not_a_jwt", "empty",
        "huge"])
def test_bad_tokens_are_unauthorized(bad: str) -> None:
    with pytest.raises(Unauthorized) as info:
        auth.verify(SECRET, bad)
    assert info.value.code == "unauthorized"


def test_expired_has_its_own_code() -> None:
    old = auth.mint(SECRET, "a", "viewer", ttl_s=10, now=time.time() - 100)
    with pytest.raises(TokenExpired) as info:
        auth.verify(SECRET, old)
    assert info.value.code == "token_expired" and info.value.status == 401


def test_moderator_rules() -> None:
    owner = auth.Identity("alice", "Alice", "creator")
    other = auth.Identity("oscar", "Oscar", "creator")
    ops = auth.Identity("olga", "Olga", "ops")
    viewer_named_alice = auth.Identity("alice", "Alice", "viewer")
    assert auth.is_moderator(owner, "alice") and auth.is_moderator(ops, "alice")
    assert not auth.is_moderator(other, "alice")
    assert not auth.is_moderator(viewer_named_alice, "alice")
    assert not auth.is_moderator(auth.GUEST, "alice")
    with pytest.raises(Forbidden):
        auth.require_moderator(other, "alice")
    with pytest.raises(Unauthorized):
        auth.require_moderator(auth.GUEST, "alice")
    with pytest.raises(Forbidden):
        auth.require_user(auth.GUEST)
    with pytest.raises(Forbidden):
        auth.require_creator(auth.Identity("v", "V", "viewer"))
