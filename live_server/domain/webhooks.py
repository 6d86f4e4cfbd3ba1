"""Outgoing webhooks without I/O: the event types, endpoint fields, the URL rule that keeps
deliveries off private networks, the retry schedule and the signed message's body.

Deliveries follow the Standard Webhooks spec: a body ``{"type", "timestamp", "data"}`` and a
signing secret ``whsec_<base64>`` made here and shown to its owner once (create, rotate)."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import secrets
import urllib.parse

import orjson

from live_server.errors import InvalidField, UrlNotAllowed
from live_server.protocol import Json

EVENT_TYPES: tuple[str, ...] = (
    "room.started", "room.ended", "order.reserved", "order.paid", "order.refunded",
    "order.expired", "coupon.claimed", "red_packet.finished", "report.filed",
    "show.starting")
TEST_EVENT = "webhook.test"  # sent by test_webhook only; never subscribed to
# an order stream entry's ``type`` → the event it is delivered as (other types are not sent)
ORDER_EVENTS: dict[str, str] = {
    "reserved": "order.reserved", "paid": "order.paid", "paid_late": "order.paid",
    "refunded": "order.refunded", "expired": "order.expired"}
URL_MAX = 2000
DESCRIPTION_MAX = 200
RESPONSE_EXCERPT = 500  # bytes of a receiver's answer kept in the delivery log
SECRET_BYTES = 24
PLATFORM = "*"  # the owner of an ops endpoint: every room's events
# names that always mean this machine or its network, whatever a resolver says
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain")


def new_webhook_id() -> str:
    return "wh_" + secrets.token_hex(8)


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(12)


def order_message_id(room_id: str, entry_id: str) -> str:
    """The webhook-id of an order stream entry: the same however many times (and by however
    many processes) the entry is read, so a receiver sees one id per order event."""
    return f"msg_o_{room_id}_{entry_id}"


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def is_webhook_id(value: object) -> bool:
    return (isinstance(value, str) and value.startswith("wh_") and len(value) == 19
            and all(c in "0123456789abcdef" for c in value[3:]))


def address_allowed(address: str, allow_private: bool) -> bool:
    """Whether a delivery may connect to this IP address: a public unicast address, or any
    address when ``webhooks.allow_private`` is on (development, tests)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if allow_private:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, allow_private: bool) -> str:
    """A receiver's URL: http(s), a host, no credentials, no fragment. Unless private
    receivers are allowed, a literal address must be public and a local name is refused
    (``url_not_allowed``); names are checked again against what they resolve to when the
    delivery connects, so a name that later points inside is refused too."""
    url = url.strip()
    if not url or len(url) > URL_MAX:
        raise InvalidField(f"'url' must be 1-{URL_MAX} characters")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidField("'url' is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidField("'url' must be an http or https URL with a host")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise InvalidField("'url' must not carry credentials or a fragment")
    if port == 0:
        raise InvalidField("'url' has no valid port")
    host = parts.hostname.rstrip(".").lower()
    if allow_private:
        return url
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host in LOCAL_NAMES or host.endswith(LOCAL_SUFFIXES) or "." not in host:
            raise UrlNotAllowed("webhooks may not be sent to local names") from None
        return url
    if not address_allowed(host, allow_private):
        raise UrlNotAllowed("webhooks may not be sent to private, loopback or reserved "
                            "addresses")
    return url


def check_events(events: list[str]) -> list[str]:
    """The subscribed types: at least one, each known, without repeats, in the usual order."""
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise InvalidField(f"'events' has an unknown type '{unknown[0][:40]}'")
    if not events:
        raise InvalidField("'events' must name at least one event type")
    return [e for e in EVENT_TYPES if e in events]


def next_delay(attempt: int, schedule: tuple[int, ...]) -> int | None:
    """The wait (ms) before attempt ``attempt + 1`` after attempt ``attempt`` (1-based) failed;
    None when the schedule is spent and the delivery has failed."""
    if attempt < 1 or attempt > len(schedule):
        return None
    return schedule[attempt - 1]


def iso_time(ms: int) -> str:
    """ISO 8601 in UTC with milliseconds, as the body's ``timestamp``."""
    when = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message_body(kind: str, at_ms: int, data: Json) -> str:
    """The signed body: ``{"type", "timestamp", "data"}``, encoded once at enqueue time so
    every attempt signs and sends the same bytes."""
    return orjson.dumps({"type": kind, "timestamp": iso_time(at_ms), "data": data}).decode()


def excerpt(body: bytes) -> str:
    """The first ``RESPONSE_EXCERPT`` bytes of a receiver's answer, as text."""
    return body[:RESPONSE_EXCERPT].decode("utf-8", errors="replace")


SECRET_FIELDS = frozenset({"secret", "previous_secret"})


def endpoint_view(endpoint: Json, state: Json) -> Json:
    """An endpoint as its owner sees it: never a secret (the current one is shown once, at
    create and rotate; the previous one, still signing for a while after a rotation, never)."""
    view = {k: v for k, v in endpoint.items() if k not in SECRET_FIELDS}
    view.update(state)
    return view
