"""Co-hosting's rules without I/O: the guest token opens one room's guest slot and nothing
else, the records' storage forms, who may be invited, the invitation event's addressing."""

from __future__ import annotations

import orjson
import pytest

from live_server import events
from live_server.auth import mint, mint_cohost, verify, verify_cohost
from live_server.domain.cohost import Guest, Invitation, check_invitee
from live_server.errors import Forbidden, InvalidField, TokenExpired, Unauthorized

SECRET = "s" * 32


def test_a_guest_token_opens_its_room_only() -> None:
    tok = mint_cohost(SECRET, "bob", "Bob", "r1", "j1", ttl_s=60)
    grant = verify_cohost(SECRET, tok, "r1")
    assert (grant.user_id, grant.name, grant.room_id, grant.jti) == ("bob", "Bob", "r1", "j1")
    with pytest.raises(Forbidden):
        verify_cohost(SECRET, tok, "r2")
    # nor is it an ordinary token anywhere else
    with pytest.raises(Unauthorized):
        verify(SECRET, tok)


def test_ordinary_tokens_do_not_open_a_guest_slot() -> None:
    for role in ("viewer", "creator", "ops"):
        with pytest.raises(Forbidden):
            verify_cohost(SECRET, mint(SECRET, "bob", role), "r1")  # type: ignore[arg-type]


def test_a_guest_token_expires_and_must_be_signed_by_us() -> None:
    old = mint_cohost(SECRET, "bob", "Bob", "r1", "j1", ttl_s=60, now=1_000)
    with pytest.raises(TokenExpired):
        verify_cohost(SECRET, old, "r1")
    forged = mint_cohost("x" * 32, "bob", "Bob", "r1", "j1", ttl_s=60)
    with pytest.raises(Unauthorized):
        verify_cohost(SECRET, forged, "r1")


def test_records_round_trip_and_the_public_view_hides_the_jti() -> None:
    inv = Invitation("bob", "alice", 123)
    assert Invitation.decode("bob", inv.encode()) == inv
    assert inv.open_at(122) and not inv.open_at(123)
    guest = Guest("bob", "Bob", "j1", 5, publishing=True)
    assert Guest.decode(guest.encode()) == guest
    assert guest.public("r1") == {"user_id": "bob", "name": "Bob", "since": 5,
                                  "publishing": True,
                                  "whep": "/api/rooms/r1/guests/bob/whep"}


def test_who_may_be_invited() -> None:
    assert check_invitee("alice", "bob") == "bob"
    with pytest.raises(Forbidden):
        check_invitee("alice", "alice")
    with pytest.raises(InvalidField):
        check_invitee("alice", "no spaces")


def test_the_invitation_is_addressed_to_the_guest() -> None:
    ev = events.cohost_invited("bob", "alice", "Alice", 99, ts=7)
    assert ev.kind == "cohost_invited"
    assert orjson.loads(ev.body) == {"type": "cohost_invited", "to": "bob", "ts": 7, "data": {
        "guest_id": "bob", "by": "alice", "by_name": "Alice", "expires_at": 99}}
