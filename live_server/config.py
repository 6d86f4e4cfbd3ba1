"""Settings: one frozen object built from ``config/default.toml``, an optional file, then env.

The TOML file is the single place where defaults live, so the dataclasses below carry no
defaults of their own; a key missing from the file is a packaging bug and fails loudly.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "config" / "default.toml"
DEV_SECRET = "live-server-dev-secret-not-for-production"
DEV_WEBHOOK_SECRET = "live-server-dev-webhook-secret"
# where intimacy points toward a creator come from; each has fans.<source>_points and _daily_cap
INTIMACY_SOURCES = ("watch", "chat", "heart", "buy", "grab", "fan_club", "gift")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which setting and why."""


@dataclasses.dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str
    port: int
    env: str
    process_heartbeat_ms: int
    process_ttl_ms: int
    shutdown_grace_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class StoreSettings:
    url: str
    key_prefix: str
    data_dir: str
    appendfsync: str
    pool_size: int
    # url names a Valkey Cluster seed node (also implied by a valkey+cluster:// url)
    cluster: bool = False
    # orders and money are answered once this many replicas hold them (WAIT); 0: not waited for
    ack_replicas: int = 0
    ack_timeout_ms: int = 500  # ...within this long, else the client is told not_ready


@dataclasses.dataclass(frozen=True, slots=True)
class AuthSettings:
    secret: str
    token_ttl_s: int
    dev_login: bool
    leeway_s: int


@dataclasses.dataclass(frozen=True, slots=True)
class WsSettings:
    max_frame_bytes: int
    max_out_buffer_bytes: int
    socket_sndbuf_bytes: int
    heartbeat_s: float
    auth_timeout_ms: int
    max_frames_per_s: int
    max_queued_requests: int
    slow_close_grace_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class RealtimeSettings:
    tick_ms: int
    counters_interval_ms: int
    max_notice_writes_per_s: int
    max_batch_events: int
    join_names_per_tick: int


@dataclasses.dataclass(frozen=True, slots=True)
class HistorySettings:
    max_events: int
    recent_chat: int
    page_limit: int


@dataclasses.dataclass(frozen=True, slots=True)
class ChatSettings:
    max_length: int
    rate_per_s: float
    burst: int
    keyword_action: str
    global_keywords: tuple[str, ...]
    max_room_keywords: int
    report_reason_max: int
    announcement_max: int
    score_per_message: int
    sample_above_viewers: int  # rooms with more viewers online get a sample of the chat; 0: never
    sample_per_second: float  # ...at most this many ordinary messages a second per viewer


@dataclasses.dataclass(frozen=True, slots=True)
class HeartsSettings:
    max_per_frame: int
    score_per_heart: int


@dataclasses.dataclass(frozen=True, slots=True)
class HttpSettings:
    max_body_bytes: int
    idle_timeout_ms: int
    header_timeout_ms: int
    body_timeout_ms: int
    keepalive_timeout_ms: int
    max_connections_per_ip: int
    trusted_proxies: tuple[str, ...]  # proxies whose Forwarded / X-Forwarded-* are believed


@dataclasses.dataclass(frozen=True, slots=True)
class OpsSettings:
    top_rooms_gauge: int
    log_max_entries: int


@dataclasses.dataclass(frozen=True, slots=True)
class ShelfSettings:
    currency: str
    max_catalogue: int
    max_shelf: int
    max_price_cents: int
    max_stock: int
    max_per_buyer: int
    max_quantity: int
    max_sale_ms: int
    reservation_ttl_ms: int
    scheduler_interval_ms: int
    bought_sample_every: int
    order_stream_max: int


@dataclasses.dataclass(frozen=True, slots=True)
class AuctionsSettings:
    increment_below: tuple[int, ...]  # the default increment table's thresholds (cents) ...
    increment_steps: tuple[int, ...]  # ... and its steps: one more (the last: above them all)
    snipe_ms: int
    min_duration_ms: int
    max_duration_ms: int
    pay_within_ms: int
    second_chances: int
    scheduler_interval_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentsSettings:
    provider: str
    webhook_secret: str
    webhook_tolerance_s: int


@dataclasses.dataclass(frozen=True, slots=True)
class MoneySettings:
    dev_topup: bool
    max_topup_cents: int
    max_packet_cents: int
    max_shares: int
    max_countdown_ms: int
    max_duration_ms: int
    scheduler_interval_ms: int
    grab_sample_every: int
    recent_entries: int
    room_list_max: int
    fan_club_fee_cents: int
    wallet_buckets: int


@dataclasses.dataclass(frozen=True, slots=True)
class DrawsSettings:
    max_winners: int
    max_cash_cents: int
    min_duration_ms: int
    max_duration_ms: int
    scheduler_interval_ms: int
    entrants_event_ms: int
    claim_within_ms: int
    room_list_max: int


@dataclasses.dataclass(frozen=True, slots=True)
class FansSettings:
    watch_points: int
    watch_daily_cap: int
    chat_points: int
    chat_daily_cap: int
    heart_points: int
    heart_daily_cap: int
    buy_points: int
    buy_daily_cap: int
    grab_points: int
    grab_daily_cap: int
    fan_club_points: int
    fan_club_daily_cap: int
    gift_points: int
    gift_daily_cap: int
    day_starts_at_utc_hour: int
    top: int
    levels: tuple[int, ...]

    def level(self, points: int) -> int:
        """A fan's level: how many of the ``levels`` thresholds their points reach."""
        return sum(points >= threshold for threshold in self.levels)

    def source(self, name: str) -> tuple[int, int]:
        """(points per event, daily cap) of an intimacy source (one of INTIMACY_SOURCES)."""
        return int(getattr(self, f"{name}_points")), int(getattr(self, f"{name}_daily_cap"))

    @property
    def daily_cap(self) -> int:
        """The most a user can earn toward one creator in a day, all sources together."""
        return sum(self.source(name)[1] for name in INTIMACY_SOURCES)


@dataclasses.dataclass(frozen=True, slots=True)
class GiftsSettings:
    catalogue: tuple[str, ...]  # "id|name|price cents|icon", parsed by domain/gifts.py
    creator_share_bp: int
    platform_account: str
    max_quantity: int
    combo_window_ms: int
    idempotency_ttl_ms: int
    topup_packs: tuple[int, ...]
    topup_min_cents: int
    topup_max_cents: int
    topup_ttl_ms: int
    stage_slots: int  # senders' gifts a room's `gift` events show at once
    stage_hold_ms: int  # a gift stays on the stage this long after its latest send
    always_show_cents: int  # a send worth this much is shown whether or not a slot is free


@dataclasses.dataclass(frozen=True, slots=True)
class MediaSettings:
    enabled: bool
    ice_servers: tuple[str, ...]
    advertise_host: str
    public_url: str
    announced_ip: str
    ice_addresses: tuple[str, ...]
    home_port: int
    home_ttl_ms: int
    viewer_queue_frames: int
    keyframe_request_min_ms: int
    max_viewers_per_room: int
    session_idle_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class HlsSettings:
    enabled: bool
    dir: str
    segment_ms: int
    window: int
    low_latency: bool  # partial segments, blocking reload, preload hints, delta updates
    part_ms: int  # a partial segment's target length (RFC 8216bis: PART-TARGET)
    max_blocking: int  # blocking playlist/part requests one process holds at once; then 503


@dataclasses.dataclass(frozen=True, slots=True)
class CohostSettings:
    max_guests: int  # guests publishing beside the host at once (a second WHIP slot each)
    invite_ttl_ms: int  # an invitation not answered by then is gone
    token_ttl_s: int  # the guest's publishing token expires (removal ends it sooner)
    check_interval_ms: int  # how often the media home re-reads its guests (removal elsewhere)


@dataclasses.dataclass(frozen=True, slots=True)
class ReplaysSettings:
    enabled: bool
    dir: str  # <dir>/<room>/<part>/: each broadcast of a show, as HLS segments
    retention_days: int  # a replay is deleted this long after its show ended (0: kept)
    max_total_bytes: int  # beyond this the oldest ended replays go first (0: no budget)
    sweep_interval_ms: int
    pin_poll_ms: int  # how often the recording process reads the pin (chapter precision)


@dataclasses.dataclass(frozen=True, slots=True)
class WebhooksSettings:
    allow_private: bool
    timeout_ms: int
    retry_schedule_ms: tuple[int, ...]
    disable_after_failures: int
    concurrency: int
    per_endpoint_in_flight: int
    poll_interval_ms: int
    log_max: int
    keep_max: int
    max_per_owner: int
    cache_ms: int
    follow_interval_ms: int
    follow_ended_ms: int
    claim_idle_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class AlertsSettings:
    window_ms: int
    slow_consumers: int
    server_errors_per_min: int
    client_errors_per_min: int
    valkey_rtt_ms: int
    stale_heartbeat_ms: int
    critical_factor: int


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    server: ServerSettings
    store: StoreSettings
    auth: AuthSettings
    ws: WsSettings
    realtime: RealtimeSettings
    history: HistorySettings
    chat: ChatSettings
    hearts: HeartsSettings
    http: HttpSettings
    ops: OpsSettings
    shelf: ShelfSettings
    auctions: AuctionsSettings
    payments: PaymentsSettings
    money: MoneySettings
    draws: DrawsSettings
    fans: FansSettings
    gifts: GiftsSettings
    media: MediaSettings
    hls: HlsSettings
    replays: ReplaysSettings
    cohost: CohostSettings
    webhooks: WebhooksSettings
    alerts: AlertsSettings

    @property
    def production(self) -> bool:
        return self.server.env == "production"

    def replace(self, **sections: Mapping[str, Any]) -> Settings:
        """A copy with some fields changed, e.g. ``s.replace(ws={"max_frame_bytes": 10})``."""
        changed = {
            name: dataclasses.replace(getattr(self, name), **_coerce_section(name, dict(values)))
            for name, values in sections.items()
        }
        return _validated(dataclasses.replace(self, **changed))


_SECTIONS: dict[str, type[Any]] = {
    f.name: typing.get_type_hints(Settings)[f.name] for f in dataclasses.fields(Settings)
}


def _coerce(kind: Any, value: Any, where: str) -> Any:
    """Turn TOML or environment text into the field's type, so env overrides stay typed."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        truthy, falsy = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
        if isinstance(value, str) and value.lower() in truthy + falsy:
            return value.lower() in truthy
        raise ConfigError(f"{where}: expected a boolean, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if kind is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if kind is str:
        return str(value)
    if typing.get_origin(kind) is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item = typing.get_args(kind)[0] if typing.get_args(kind) else str
        if item is int:
            return tuple(_coerce(int, v, where) for v in value)
        return tuple(str(v) for v in value)
    raise ConfigError(f"{where}: unsupported setting type {kind!r}")  # pragma: no cover


def _coerce_section(section: str, values: dict[str, Any]) -> dict[str, Any]:
    cls = _SECTIONS[section]
    hints = typing.get_type_hints(cls)
    out = {}
    for key, value in values.items():
        if key not in hints:
            raise ConfigError(f"unknown setting {section}.{key}")
        out[key] = _coerce(hints[key], value, f"{section}.{key}")
    return out


def _merge(base: dict[str, dict[str, Any]], extra: Mapping[str, Any], source: str) -> None:
    for section, values in extra.items():
        if section not in _SECTIONS or not isinstance(values, dict):
            raise ConfigError(f"{source}: unknown section [{section}]")
        base.setdefault(section, {}).update(values)


def env_name(section: str, key: str) -> str:
    return f"LIVE_{section.upper()}_{key.upper()}"


def load(
    env: Mapping[str, str] | None = None,
    files: tuple[Path, ...] = (),
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Defaults file, then ``LIVE_CONFIG`` / ``files``, then ``LIVE_*`` env, then overrides."""
    env = os.environ if env is None else env
    with DEFAULT_FILE.open("rb") as fh:
        raw: dict[str, dict[str, Any]] = tomllib.load(fh)
    extra_files = list(files)
    if env.get("LIVE_CONFIG"):
        extra_files.append(Path(env["LIVE_CONFIG"]))
    for path in extra_files:
        with path.open("rb") as fh:
            _merge(raw, tomllib.load(fh), str(path))
    for section, cls in _SECTIONS.items():
        for field in dataclasses.fields(cls):
            name = env_name(section, field.name)
            if name in env:
                raw.setdefault(section, {})[field.name] = env[name]
    # Conventional names that platforms set.
    if env.get("REDIS_URL"):
        raw["store"]["url"] = env["REDIS_URL"]
    if env.get("PORT") and env_name("server", "port") not in env:
        raw["server"]["port"] = env["PORT"]
    if overrides:
        _merge(raw, {k: dict(v) for k, v in overrides.items()}, "overrides")
    sections = {}
    for section, cls in _SECTIONS.items():
        values = _coerce_section(section, raw.get(section, {}))
        missing = {f.name for f in dataclasses.fields(cls)} - values.keys()
        if missing:
            raise ConfigError(f"missing settings in [{section}]: {', '.join(sorted(missing))}")
        sections[section] = cls(**values)
    return _validated(Settings(**sections))


def _check_gifts(gifts: GiftsSettings) -> None:
    """The split and the bounds; each catalogue entry is read (and checked) by domain/gifts.py."""
    if not 0 <= gifts.creator_share_bp <= 10_000:
        raise ConfigError("gifts.creator_share_bp must be between 0 and 10000")
    if min(gifts.max_quantity, gifts.combo_window_ms, gifts.idempotency_ttl_ms,
           gifts.topup_min_cents, gifts.topup_ttl_ms, gifts.stage_slots, gifts.stage_hold_ms,
           gifts.always_show_cents) <= 0:
        raise ConfigError("gifts: max_quantity, combo_window_ms, idempotency_ttl_ms, "
                          "topup_min_cents, topup_ttl_ms, stage_slots, stage_hold_ms and "
                          "always_show_cents must be positive")
    if gifts.topup_max_cents < gifts.topup_min_cents:
        raise ConfigError("gifts.topup_max_cents must be >= gifts.topup_min_cents")
    if any(not gifts.topup_min_cents <= p <= gifts.topup_max_cents for p in gifts.topup_packs):
        raise ConfigError("gifts.topup_packs must lie between topup_min_cents and "
                          "topup_max_cents")
    if not gifts.platform_account or "|" in gifts.platform_account:
        raise ConfigError("gifts.platform_account must be a non-empty name")


def _check_public_url(url: str) -> None:
    """``media.public_url``: scheme, host, optional port and path prefix; nothing else (it is
    the front of every session URL the server hands out)."""
    if not url:
        return
    scheme, sep, rest = url.partition("://")
    host = rest.split("/")[0]
    if (scheme not in ("http", "https") or not sep or not host or any(c in url for c in "?#")
            or any(c.isspace() for c in url)):
        raise ConfigError("media.public_url must be http(s)://host[:port][/prefix], e.g. "
                          "https://live.example.com or https://live.example.com/m/{port}")


def _check_ice_address(entry: str) -> None:
    """An entry of ``media.ice_addresses`` is a bindable IP address or an interface name; which
    of them exist on this host is checked when the media service starts."""
    try:
        address = ipaddress.ip_address(entry)
    except ValueError:
        if not entry or any(c.isspace() or c in ",/[]" for c in entry):
            raise ConfigError(f"media.ice_addresses: {entry!r} is neither an IP address nor "
                              "an interface name") from None
        return
    if address.is_unspecified or address.is_multicast:
        raise ConfigError(f"media.ice_addresses: {entry!r} cannot be a candidate's address")


def _validated(settings: Settings) -> Settings:
    """Refuse settings that would run but be unsafe or meaningless."""
    if settings.server.env not in ("development", "production", "test"):
        raise ConfigError("server.env must be development, production or test")
    if settings.chat.keyword_action not in ("mask", "block"):
        raise ConfigError("chat.keyword_action must be 'mask' or 'block'")
    if settings.chat.sample_above_viewers < 0 or settings.chat.sample_per_second <= 0:
        raise ConfigError("chat.sample_above_viewers must be at least 0 "
                          "and chat.sample_per_second positive")
    if not 0 < settings.hls.part_ms < settings.hls.segment_ms or settings.hls.max_blocking <= 0:
        raise ConfigError("hls.part_ms must be positive and shorter than hls.segment_ms, "
                          "and hls.max_blocking positive")
    if settings.media.announced_ip:
        try:
            ipaddress.ip_address(settings.media.announced_ip)
        except ValueError:
            raise ConfigError("media.announced_ip must be an IP address") from None
    for entry in settings.media.ice_addresses:
        _check_ice_address(entry)
    _check_public_url(settings.media.public_url)
    if min(settings.cohost.max_guests, settings.cohost.invite_ttl_ms,
           settings.cohost.token_ttl_s, settings.cohost.check_interval_ms) <= 0:
        raise ConfigError("cohost: max_guests, invite_ttl_ms, token_ttl_s and "
                          "check_interval_ms must be positive")
    for entry in settings.http.trusted_proxies:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(f"http.trusted_proxies: {entry!r} is not an address or a "
                              "CIDR network") from None
    if settings.payments.provider not in ("dev", "webhook"):
        raise ConfigError("payments.provider must be 'dev' or 'webhook'")
    if settings.production and settings.payments.provider == "dev":
        # like dev login: never in production (the webhook refuses the dev secret there too)
        settings = dataclasses.replace(
            settings, payments=dataclasses.replace(settings.payments, provider="webhook"))
    if settings.production and settings.money.dev_topup:
        # like dev login: money is never made out of thin air in production
        settings = dataclasses.replace(
            settings, money=dataclasses.replace(settings.money, dev_topup=False))
    if settings.production and settings.webhooks.allow_private:
        # like dev login: a production server never posts to its own network (SSRF)
        settings = dataclasses.replace(
            settings, webhooks=dataclasses.replace(settings.webhooks, allow_private=False))
    if settings.production:
        secret = settings.auth.secret
        if secret == DEV_SECRET or len(secret) < 32:
            raise ConfigError(
                "production needs LIVE_AUTH_SECRET set to a random secret of 32+ characters"
            )
        if settings.auth.dev_login:
            settings = dataclasses.replace(
                settings, auth=dataclasses.replace(settings.auth, dev_login=False)
            )
    positive = {
        "realtime.tick_ms": settings.realtime.tick_ms,
        "ws.max_frame_bytes": settings.ws.max_frame_bytes,
        "ws.max_out_buffer_bytes": settings.ws.max_out_buffer_bytes,
        "ws.max_queued_requests": settings.ws.max_queued_requests,
        "history.max_events": settings.history.max_events,
        "chat.max_length": settings.chat.max_length,
        "chat.burst": settings.chat.burst,
        "chat.rate_per_s": settings.chat.rate_per_s,
        "realtime.max_notice_writes_per_s": settings.realtime.max_notice_writes_per_s,
        "realtime.counters_interval_ms": settings.realtime.counters_interval_ms + 1,
        "hearts.max_per_frame": settings.hearts.max_per_frame,
        "shelf.reservation_ttl_ms": settings.shelf.reservation_ttl_ms,
        "shelf.scheduler_interval_ms": settings.shelf.scheduler_interval_ms,
        "shelf.bought_sample_every": settings.shelf.bought_sample_every,
        "shelf.max_quantity": settings.shelf.max_quantity,
        "money.max_shares": settings.money.max_shares,
        "money.max_duration_ms": settings.money.max_duration_ms,
        "money.scheduler_interval_ms": settings.money.scheduler_interval_ms,
        "money.grab_sample_every": settings.money.grab_sample_every,
        "money.recent_entries": settings.money.recent_entries,
        "money.wallet_buckets": settings.money.wallet_buckets,
        "auctions.snipe_ms": settings.auctions.snipe_ms,
        "auctions.min_duration_ms": settings.auctions.min_duration_ms,
        "auctions.pay_within_ms": settings.auctions.pay_within_ms,
        "auctions.scheduler_interval_ms": settings.auctions.scheduler_interval_ms,
        "auctions.second_chances": settings.auctions.second_chances + 1,
        **{f"draws.{f.name}": getattr(settings.draws, f.name)
           for f in dataclasses.fields(DrawsSettings)},
        "fans.top": settings.fans.top,
        "http.idle_timeout_ms": settings.http.idle_timeout_ms,
        "http.header_timeout_ms": settings.http.header_timeout_ms,
        "http.body_timeout_ms": settings.http.body_timeout_ms,
        "http.keepalive_timeout_ms": settings.http.keepalive_timeout_ms,
        "webhooks.timeout_ms": settings.webhooks.timeout_ms,
        "webhooks.concurrency": settings.webhooks.concurrency,
        "webhooks.per_endpoint_in_flight": settings.webhooks.per_endpoint_in_flight,
        "webhooks.poll_interval_ms": settings.webhooks.poll_interval_ms,
        "webhooks.log_max": settings.webhooks.log_max,
        "webhooks.keep_max": settings.webhooks.keep_max,
        "webhooks.follow_interval_ms": settings.webhooks.follow_interval_ms,
        "webhooks.claim_idle_ms": settings.webhooks.claim_idle_ms,
        **{f"alerts.{f.name}": getattr(settings.alerts, f.name)
           for f in dataclasses.fields(AlertsSettings)},
    }
    for name, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{name} must be positive")
    if any(d <= 0 for d in settings.webhooks.retry_schedule_ms):
        raise ConfigError("webhooks.retry_schedule_ms must be positive waits")
    if settings.http.max_connections_per_ip < 0:
        raise ConfigError("http.max_connections_per_ip must be >= 0 (0: no cap)")
    for source in INTIMACY_SOURCES:
        if min(settings.fans.source(source)) < 0:
            raise ConfigError(f"fans.{source}_points and fans.{source}_daily_cap must be >= 0")
    levels = settings.fans.levels
    if any(t <= 0 for t in levels) or list(levels) != sorted(set(levels)):
        raise ConfigError("fans.levels must be positive and increasing")
    if settings.store.appendfsync not in ("always", "everysec", "no"):
        raise ConfigError("store.appendfsync must be always, everysec or no")
    _check_acks(settings.store)
    if not 0 <= settings.fans.day_starts_at_utc_hour <= 23:
        raise ConfigError("fans.day_starts_at_utc_hour must be between 0 and 23")
    _check_gifts(settings.gifts)
    return settings


def _check_acks(store: StoreSettings) -> None:
    """WAIT with no timeout would hold a purchase for ever, and the embedded Valkey has no
    replica to wait for: every order would be refused."""
    if store.ack_replicas < 0:
        raise ConfigError("store.ack_replicas must be >= 0 (0: writes are not waited for)")
    if store.ack_timeout_ms <= 0:
        raise ConfigError("store.ack_timeout_ms must be positive")
    if store.ack_replicas and not store.url:
        raise ConfigError("store.ack_replicas needs replicas: the embedded Valkey (no "
                          "store.url) has none")


__all__ = ["DEV_SECRET", "ConfigError", "Settings", "env_name", "load"]
