"""Co-hosting (连麦) rules without I/O: who may be invited, what an invitation and a guest's
record hold, and how they are stored.

A room's creator invites a user (a viewer or another creator) by id; the invitation lapses
after ``cohost.invite_ttl_ms``. Accepting turns it into a guest record carrying a fresh
``jti``; the guest's publishing token names that ``jti``, so deleting the record (the host
removes the guest, the guest leaves) revokes the token at once although the JWT itself has not
expired. At most ``cohost.max_guests`` records exist per room (checked in the accepting
script, so two guests accepting at once cannot both pass)."""

from __future__ import annotations

import dataclasses
import secrets

import orjson

from live_server.errors import Forbidden, InvalidField
from live_server.protocol import Json, is_safe_id

#: field prefixes in the room's co-host hash: an invitation, a guest
INVITE = "i:"
GUEST = "g:"

#: why a guest's stream ended (``cohost_ended.reason``)
REMOVED, LEFT = "removed", "left"


@dataclasses.dataclass(frozen=True, slots=True)
class Invitation:
    guest_id: str
    by: str
    expires_at: int

    def encode(self) -> str:
        return f"{self.expires_at}|{self.by}"

    @classmethod
    def decode(cls, guest_id: str, raw: str) -> Invitation:
        expires, _, by = raw.partition("|")
        return cls(guest_id, by, int(expires))

    def open_at(self, now: int) -> bool:
        return now < self.expires_at


@dataclasses.dataclass(frozen=True, slots=True)
class Guest:
    """A user who accepted: may publish beside the host while this record exists."""

    user_id: str
    name: str
    jti: str
    since: int
    publishing: bool = False

    def encode(self) -> str:
        return orjson.dumps(dataclasses.asdict(self)).decode()

    @classmethod
    def decode(cls, raw: str | bytes) -> Guest:
        data = orjson.loads(raw)
        return cls(str(data["user_id"]), str(data["name"]), str(data["jti"]),
                   int(data["since"]), bool(data.get("publishing", False)))

    def public(self, room_id: str) -> Json:
        """What pages see (never the ``jti``)."""
        return {"user_id": self.user_id, "name": self.name, "since": self.since,
                "publishing": self.publishing,
                "whep": f"/api/rooms/{room_id}/guests/{self.user_id}/whep"}


def check_invitee(creator_id: str, guest_id: str) -> str:
    """The user a creator may invite: any well-formed user id but their own."""
    if not is_safe_id(guest_id):
        raise InvalidField("user_id is not a user id", field="user_id")
    if guest_id == creator_id:
        raise Forbidden("the host is already on air: invite someone else")
    return guest_id


def new_jti() -> str:
    return secrets.token_urlsafe(12)
