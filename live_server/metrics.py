"""Prometheus metrics (prometheus-client: the exposition format and process collectors are its
job, not ours). One registry per app so that several apps in one test process do not collide."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self._children: dict[tuple[int, tuple[str, ...]], Counter] = {}
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.connections = Gauge("live_ws_connections", "Open room websockets", registry=r)
        self.connects = Counter("live_ws_connects_total", "Websocket joins by result",
                                ["result"], registry=r)
        self.closes = Counter("live_ws_closes_total", "Websocket closes by close code",
                              ["code"], registry=r)
        self.read_pauses = Counter(
            "live_ws_read_pauses_total",
            "Times a room socket stopped reading because ws.max_queued_requests were waiting",
            registry=r)
        self.requests = Counter("live_ws_requests_total", "Websocket requests by op",
                                ["op"], registry=r)
        self.errors = Counter("live_errors_total", "Errors answered, by code", ["code"],
                              registry=r)
        self.events_out = Counter("live_events_out_total",
                                  "Event deliveries (events x sockets written)", registry=r)
        self.frames_out = Counter("live_frames_written_total", "Websocket frames written",
                                  registry=r)
        self.bytes_out = Counter("live_bytes_out_total", "Websocket bytes written", registry=r)
        self.chat_sampled_out = Counter(
            "live_chat_sampled_out_total",
            "Chat messages left out of a huge room's live fan-out in this process "
            "(still in the history; echoed to their sender)", registry=r)
        self.slow_consumers = Counter("live_slow_consumer_disconnects_total",
                                      "Sockets closed because they did not read fast enough",
                                      registry=r)
        self.connections_refused = Counter(
            "live_connections_refused_total",
            "Connections closed at once: their client address already had "
            "http.max_connections_per_ip open", registry=r)
        self.connections_timed_out = Counter(
            "live_connections_timed_out_total",
            "Connections the front door closed: nothing sent within http.idle_timeout_ms "
            "(stage idle), or the first request head unfinished after http.header_timeout_ms "
            "(stage header)", ["stage"], registry=r)
        self.pubsub_in = Counter("live_pubsub_messages_total", "Pub/sub messages received",
                                 registry=r)
        self.valkey_seconds = Histogram(
            "live_valkey_seconds", "Valkey command/script latency", ["op"], registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )
        self.room_online = Gauge("live_room_online", "Online viewers of the busiest rooms",
                                 ["room"], registry=r)
        self.rooms_local = Gauge("live_rooms_local", "Rooms with viewers in this process",
                                 registry=r)
        # live video (WHIP/WHEP relay, live_server/media)
        self.media_publishers = Gauge("live_media_publishers",
                                      "WHIP publisher sessions in this process", registry=r)
        self.media_viewers = Gauge("live_media_viewers", "WHEP viewer sessions in this process",
                                   registry=r)
        # replays (live_server/services/replays.py): what the last sweep found on this machine
        self.replay_bytes = Gauge("live_replay_bytes",
                                  "Bytes of replays kept on this machine's disk (last sweep)",
                                  registry=r)
        self.replays_deleted = Counter("live_replays_deleted_total",
                                       "Replays deleted, by reason (age, budget, ops)",
                                       ["reason"], registry=r)
        self.media_forwarded = Counter("live_media_frames_forwarded_total",
                                       "Encoded frames forwarded to viewers, queued or handed "
                                       "straight to the sender (frames x viewers)",
                                       registry=r)
        self.media_forwarded_bytes = Counter(
            "live_media_bytes_forwarded_total",
            "Encoded media bytes forwarded to viewers, queued or handed straight to the sender "
            "(payload before RTP/SRTP, x viewers)",
            registry=r)
        self.media_dropped = Counter("live_media_frames_dropped_total",
                                     "Frames a viewer skipped while waiting for a keyframe "
                                     "(new or lagging viewers)", registry=r)
        self.media_keyframe_requests = Counter("live_media_keyframe_requests_total",
                                               "Keyframe requests (PLI) sent to publishers, "
                                               "after coalescing", registry=r)
        self.media_layer_switches = Counter(
            "live_media_layer_switches_total",
            "WHEP viewers moved to another simulcast layer, by cause (down/up: the chooser on "
            "the viewer's loss reports or REMB; chosen: the viewer's own choice)",
            ["cause"], registry=r)

        # the losers of a rush answered here (services/local_refusals.py, realtime/gone.py)
        self.local_refusals = Counter(
            "live_local_refusals_total",
            "Buys and grabs refused without a Valkey round trip because this process knew the "
            "answer (a closed flash sale, a red packet empty or expired), by the refusal's code "
            "and stage (at_once: on arrival; after_wait: once its turn at Valkey came)",
            ["kind", "stage"], registry=r)

        # the clocks (services/periodic.py): items that failed, items parked for an operator
        self.after_commit_failures = Counter(
            "live_after_commit_failures_total",
            "Bookkeeping steps that failed after their action was committed (the action stood)",
            ["step"], registry=r)
        self.unacknowledged = Counter(
            "live_store_unacknowledged_total",
            "Order and money writes fewer replicas than store.ack_replicas confirmed in time "
            "(answered not_ready)", ["script"], registry=r)
        self.scheduler_failures = Counter(
            "live_scheduler_failures_total",
            "Due items (sale transitions, reservation expiries, packet steps) that failed",
            ["clock"], registry=r)
        self.scheduler_parked = Gauge(
            "live_scheduler_parked",
            "Items a clock moved aside after repeated failures (<schedule>:parked in Valkey)",
            ["clock"], registry=r)

        # outgoing webhooks (services/webhook_delivery.py)
        self.webhook_attempts = Counter(
            "live_webhook_attempts_total",
            "Webhook delivery attempts by outcome: delivered (2xx), retry (failed, another "
            "attempt scheduled), failed (the retry schedule spent)", ["outcome"], registry=r)
        self.webhook_seconds = Histogram(
            "live_webhook_attempt_seconds", "One webhook delivery attempt, request to answer",
            registry=r, buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
        self.webhook_queued = Gauge(
            "live_webhook_queued",
            "Webhook deliveries waiting (due or retrying) for enabled endpoints", registry=r)
        self.webhook_disabled = Counter(
            "live_webhook_endpoints_disabled_total",
            "Endpoints disabled after webhooks.disable_after_failures failed deliveries",
            registry=r)

    def count_error(self, code: str) -> None:
        self._child(self.errors, code).inc()

    def count_request(self, op: str) -> None:
        self._child(self.requests, op).inc()

    def _child(self, metric: Counter, *labels: str) -> Counter:
        """A labelled child, looked up once (``labels()`` costs more than ``inc()``, and a
        rush of refusals counts thousands of them a second)."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def frames(self, frames: int, nbytes: int, events: int) -> None:
        self.frames_out.inc(frames)
        self.bytes_out.inc(nbytes)
        if events:
            self.events_out.inc(events)

    def received(self) -> None:
        self.pubsub_in.inc()

    def sampled_out(self, n: int) -> None:
        self.chat_sampled_out.inc(n)

    def slow_consumer(self) -> None:
        self.slow_consumers.inc()

    def connection_refused(self) -> None:
        self.connections_refused.inc()

    def connection_timed_out(self, stage: str) -> None:
        self.connections_timed_out.labels(stage).inc()

    def valkey(self, op: str, seconds: float) -> None:
        self.valkey_seconds.labels(op).observe(seconds)

    def unacknowledged_write(self, script: str) -> None:
        self.unacknowledged.labels(script).inc()

    def set_room_online(self, top: dict[str, int]) -> None:
        self.room_online.clear()
        for room_id, online in top.items():
            self.room_online.labels(room_id).set(online)

    def local_refused(self, kind: str, stage: str) -> None:
        self._child(self.local_refusals, kind, stage).inc()

    def scheduler_failed(self, clock: str) -> None:
        self.scheduler_failures.labels(clock).inc()

    def set_scheduler_parked(self, clock: str, parked: int) -> None:
        self.scheduler_parked.labels(clock).set(parked)

    def webhook_attempt(self, outcome: str, seconds: float) -> None:
        self.webhook_attempts.labels(outcome).inc()
        self.webhook_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
