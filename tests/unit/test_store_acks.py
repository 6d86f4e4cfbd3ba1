"""The acknowledged scripts are real scripts, and settings that could never be acknowledged are
refused at start."""

from __future__ import annotations

import pytest

from live_server import config
from live_server.store.acks import ACKED
from live_server.store.scripts import LUA_DIR


def test_every_acknowledged_script_exists() -> None:
    assert ACKED and all((LUA_DIR / f"{name}.lua").exists() for name in ACKED)


@pytest.mark.parametrize(("store", "message"), [
    ({"url": "", "ack_replicas": 1}, "embedded Valkey"),
    ({"url": "redis://127.0.0.1:1/0", "ack_replicas": -1}, "ack_replicas"),
    ({"url": "redis://127.0.0.1:1/0", "ack_replicas": 1, "ack_timeout_ms": 0}, "ack_timeout_ms"),
])
def test_acknowledgement_settings_that_cannot_work_are_refused(store: dict[str, object],
                                                               message: str) -> None:
    with pytest.raises(config.ConfigError, match=message):
        config.load(env={}, overrides={"store": store})


def test_acknowledgement_is_off_by_default_and_set_from_the_environment() -> None:
    assert config.load(env={}).store.ack_replicas == 0
    settings = config.load(env={"LIVE_STORE_ACK_REPLICAS": "1", "REDIS_URL": "redis://x:1/0"})
    assert settings.store.ack_replicas == 1 and settings.store.ack_timeout_ms == 500
