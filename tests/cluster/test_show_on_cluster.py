"""A show on the 3-master cluster, through the real app: the integration tests of joining,
chat, hearts and counters, a purchase, a red packet grab and recovery after a reconnect, run
unchanged (this folder's ``settings_factory`` points every app at the cluster). Money stays on
its one ``{wallets}`` slot for now."""

from __future__ import annotations

from tests.integration.test_chat import (
    test_chat_reaches_every_viewer_once_in_order,
    test_history_pages_backwards,
    test_snapshot_on_join_has_recent_chat_counters_and_announcement,
)
from tests.integration.test_counters import test_hearts_are_exact_and_counters_coalesced
from tests.integration.test_recovery import (
    test_gap_beyond_retention_gives_snapshot,
    test_reconnect_gets_exactly_the_missed_events_in_order,
)
from tests.integration.test_red_packets import (
    test_launch_and_grab_with_events_record_and_audit,
    test_same_user_grabbing_concurrently_gets_one_share,
)
from tests.integration.test_shelf import (
    test_idempotent_buy_over_websocket_after_reconnect,
    test_per_buyer_limit_under_concurrency_and_sold_out_event,
    test_shelf_pin_and_sale_events_and_late_joiner_snapshot,
)
from tests.integration.test_tick_report import (
    test_a_failed_report_is_retried_under_its_id,
    test_a_report_sent_twice_counts_once,
    test_joins_are_published_with_the_report,
)

__all__ = [
    "test_a_failed_report_is_retried_under_its_id",
    "test_a_report_sent_twice_counts_once",
    "test_chat_reaches_every_viewer_once_in_order",
    "test_gap_beyond_retention_gives_snapshot",
    "test_hearts_are_exact_and_counters_coalesced",
    "test_history_pages_backwards",
    "test_idempotent_buy_over_websocket_after_reconnect",
    "test_joins_are_published_with_the_report",
    "test_launch_and_grab_with_events_record_and_audit",
    "test_per_buyer_limit_under_concurrency_and_sold_out_event",
    "test_reconnect_gets_exactly_the_missed_events_in_order",
    "test_same_user_grabbing_concurrently_gets_one_share",
    "test_shelf_pin_and_sale_events_and_late_joiner_snapshot",
    "test_snapshot_on_join_has_recent_chat_counters_and_announcement",
]
