"""Both websocket front ends answer a failed join the same way (web.gateway.refusal)."""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError

from live_server.errors import CloseCode, NotFound
from live_server.web.gateway import Refused, auth_timeout, refusal


def test_a_refusal_stays_as_it_is() -> None:
    refused = auth_timeout()
    assert refusal(refused) is refused


def test_a_coded_error_during_the_join_closes_normally_with_its_code() -> None:
    refused = refusal(NotFound("no such room"))
    assert (refused.err.code, refused.close_code, refused.reason) == (
        "not_found", CloseCode.NORMAL, "not_found")


def test_a_store_failure_is_internal_with_1011() -> None:
    for exc in (RedisConnectionError("down"), TimeoutError(), OSError("reset")):
        refused = refusal(exc)
        assert isinstance(refused, Refused)
        assert (refused.err.code, refused.close_code, refused.reason) == (
            "internal", CloseCode.INTERNAL, "internal")
