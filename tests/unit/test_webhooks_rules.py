"""The webhook rules without I/O: which receiver URLs are refused, the retry schedule, the
signed body, the secret's format."""

from __future__ import annotations

import base64

import orjson
import pytest

from live_server.domain.webhooks import (
    address_allowed,
    check_events,
    check_url,
    excerpt,
    message_body,
    new_secret,
    next_delay,
)
from live_server.errors import InvalidField, UrlNotAllowed


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x", "http://localhost:8080/x", "http://10.0.0.1/", "http://172.16.3.4/",
    "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data", "http://[::1]/",
    "http://[fe80::1]/", "http://[::ffff:10.0.0.1]/", "http://0.0.0.0/", "http://100.64.0.1/",
    "http://224.0.0.1/", "https://svc.internal/", "http://box.local/", "http://intranet/"])
def test_private_and_local_receivers_are_refused(url: str) -> None:
    with pytest.raises(UrlNotAllowed):
        check_url(url, allow_private=False)
    assert check_url(url, allow_private=True) == url


@pytest.mark.parametrize("url", ["ftp://example.com/", "example.com/x", "http:///x",
                                 "http://u:p@example.com/", "http://example.com/#frag",
                                 "http://example.com:99999/", "", "http://" + "a" * 2001])
def test_malformed_urls_are_invalid(url: str) -> None:
    with pytest.raises(InvalidField) as caught:
        check_url(url, allow_private=True)
    assert caught.type is InvalidField


def test_public_receivers_pass() -> None:
    for url in ("https://hooks.example.com/live", "http://93.184.215.14:8080/x",
                "https://[2606:4700::1111]/x"):
        assert check_url(url, allow_private=False) == url
    assert address_allowed("8.8.8.8", False) and not address_allowed("127.0.0.1", False)
    assert not address_allowed("not an address", True)


def test_events_are_known_unique_and_ordered() -> None:
    assert check_events(["order.paid", "room.started", "order.paid"]) == [
        "room.started", "order.paid"]
    for bad in ([], ["webhook.test"], ["order.eaten"]):
        with pytest.raises(InvalidField):
            check_events(bad)


def test_retry_schedule_then_failed() -> None:
    schedule = (5000, 30000, 120000)
    assert [next_delay(n, schedule) for n in (1, 2, 3, 4)] == [5000, 30000, 120000, None]
    assert next_delay(0, schedule) is None


def test_body_secret_and_excerpt() -> None:
    body = orjson.loads(message_body("order.paid", 1_700_000_000_123, {"a": 1}))
    assert body == {"type": "order.paid", "timestamp": "2023-11-14T22:13:20.123Z",
                    "data": {"a": 1}}
    secret = new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 24
    assert new_secret() != secret
    assert len(excerpt(("é" * 400).encode()).encode()) <= 503  # 500 bytes, a cut char replaced
