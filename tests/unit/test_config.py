from __future__ import annotations

import dataclasses
import tomllib

import pytest

from live_server import config


def test_every_setting_has_a_default_in_the_toml_file() -> None:
    with config.DEFAULT_FILE.open("rb") as fh:
        raw = tomllib.load(fh)
    settings = config.load(env={})
    for section in dataclasses.fields(settings):
        names = {f.name for f in dataclasses.fields(getattr(settings, section.name))}
        assert names == set(raw[section.name]), section.name


def test_environment_overrides_are_typed() -> None:
    s = config.load(env={"LIVE_REALTIME_TICK_MS": "50", "LIVE_AUTH_DEV_LOGIN": "off",
                         "LIVE_CHAT_GLOBAL_KEYWORDS": "spam, scam", "REDIS_URL": "redis://x:1/0",
                         "LIVE_CHAT_RATE_PER_S": "2.5"})
    assert s.realtime.tick_ms == 50
    assert s.auth.dev_login is False
    assert s.chat.global_keywords == ("spam", "scam")
    assert s.store.url == "redis://x:1/0"
    assert s.chat.rate_per_s == 2.5
    assert config.load(env={"LIVE_FANS_LEVELS": "5, 20"}).fans.levels == (5, 20)


def test_fan_levels_count_the_thresholds_reached() -> None:
    fans = config.load(env={"LIVE_FANS_LEVELS": "5,20"}).fans
    assert [fans.level(p) for p in (0, 4, 5, 19, 20, 10_000)] == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize(("env", "message"), [
    ({"LIVE_REALTIME_TICK_MS": "fast"}, "realtime.tick_ms"),
    ({"LIVE_REALTIME_TICK_MS": "0"}, "realtime.tick_ms"),
    ({"LIVE_AUTH_DEV_LOGIN": "maybe"}, "auth.dev_login"),
    ({"LIVE_CHAT_KEYWORD_ACTION": "shout"}, "keyword_action"),
    ({"LIVE_SERVER_ENV": "staging"}, "server.env"),
    ({"LIVE_FANS_LEVELS": "20,5"}, "fans.levels"),
    ({"LIVE_FANS_LEVELS": "5,x"}, "fans.levels"),
    ({"LIVE_FANS_DAY_STARTS_AT_UTC_HOUR": "24"}, "fans.day_starts_at_utc_hour"),
    ({"LIVE_MEDIA_ANNOUNCED_IP": "media.example.com"}, "media.announced_ip"),
    ({"LIVE_STORE_APPENDFSYNC": "sometimes"}, "store.appendfsync"),
])
def test_bad_values_are_refused_with_the_setting_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(config.ConfigError, match=message):
        config.load(env=env)


def test_production_needs_a_real_secret_and_turns_dev_login_off() -> None:
    with pytest.raises(config.ConfigError, match="LIVE_AUTH_SECRET"):
        config.load(env={"LIVE_SERVER_ENV": "production"})
    with pytest.raises(config.ConfigError, match="LIVE_AUTH_SECRET"):
        config.load(env={"LIVE_SERVER_ENV": "production", "LIVE_AUTH_SECRET": "short"})
    s = config.load(env={"LIVE_SERVER_ENV": "production", "LIVE_AUTH_SECRET": "k" * 40})
    assert s.production and s.auth.dev_login is False


def test_config_file_layer(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "prod.toml"
    path.write_text('[ws]\nmax_frame_bytes = 2048\n[chat]\nburst = 9\n')
    s = config.load(env={"LIVE_CONFIG": str(path), "LIVE_CHAT_BURST": "11"})
    assert s.ws.max_frame_bytes == 2048
    assert s.chat.burst == 11  # environment wins over the file
    path.write_text('[nosuch]\nx = 1\n')
    with pytest.raises(config.ConfigError, match="nosuch"):
        config.load(env={"LIVE_CONFIG": str(path)})
