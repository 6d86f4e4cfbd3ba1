"""Both websocket front ends answer a failed join the same way (web.gateway.refusal)."""

from __future__ import annotations

from redis.exceptions import BusyLoadingError, ResponseError
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


def test_a_store_out_of_reach_is_not_ready_with_1013() -> None:
    """Down, restarting, loading or too slow: try again shortly, and not an internal error."""
    for exc in (RedisConnectionError("down"), BusyLoadingError("loading"), TimeoutError(),
                OSError("reset")):
        refused = refusal(exc)
        assert isinstance(refused, Refused)
        assert (refused.err.code, refused.err.status, refused.close_code, refused.reason) == (
            "not_ready", 503, CloseCode.TRY_AGAIN_LATER, "not_ready")


def test_any_other_store_failure_is_internal_with_1011() -> None:
    refused = refusal(ResponseError("WRONGTYPE Operation against a key"))
    assert (refused.err.code, refused.close_code, refused.reason) == (
        "internal", CloseCode.INTERNAL, "internal")
