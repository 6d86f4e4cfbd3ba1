"""A show on the 3-master cluster, through the real app: the integration tests of joining,
chat, hearts and counters, a purchase, a red packet grab and recovery after a reconnect, run
unchanged (this folder's ``settings_factory`` points every app at the cluster). So do those of
the paths whose keys span several slots: platform suspensions (two processes), the show report,
coupons, auctions, lucky draws (cash, coupon and product prizes) and webhooks (endpoints and
the order feed). Money stays on its one ``{wallets}`` slot for now."""

from __future__ import annotations

from tests.integration.test_auctions import (
    test_an_unpaid_win_goes_to_the_next_bidder_at_their_max_then_is_cancelled,
    test_anti_snipe_extends_and_the_winner_pays_one_order,
    test_bids_follow_the_increments_and_proxy_maxima,
    test_unsold_and_cancelled_auctions_give_the_unit_back,
)
from tests.integration.test_chat import (
    test_chat_reaches_every_viewer_once_in_order,
    test_history_pages_backwards,
    test_snapshot_on_join_has_recent_chat_counters_and_announcement,
)
from tests.integration.test_chat_sampling import (
    test_a_huge_room_gets_a_sample_and_the_history_is_whole,
    test_a_room_under_the_threshold_gets_every_message,
)
from tests.integration.test_counters import (
    test_counters_go_out_at_most_once_per_interval,
    test_dead_connection_is_closed_by_heartbeat,
    test_each_minute_watched_earns_logged_in_viewers_intimacy_up_to_the_cap,
    test_hearts_are_exact_and_counters_coalesced,
    test_hearts_earn_intimacy_toward_the_creator_up_to_the_daily_cap,
    test_online_unique_and_peak,
)
from tests.integration.test_coupons import (
    test_claim_refusals_are_coded_and_claim_nothing,
    test_create_and_list_as_viewer_and_creator,
    test_one_user_claiming_twenty_times_at_once_gets_one,
    test_pinned_coupon_reaches_viewers_live_and_in_the_welcome,
)
from tests.integration.test_draws import (
    test_cash_draw_entered_drawn_paid_and_verifiable,
    test_conditions_keyword_and_followers,
    test_coupon_draw_gives_copies_and_frees_the_rest,
    test_product_prize_order_claimed_with_an_address,
)
from tests.integration.test_ops_suspend_undo_alerts import (
    test_suspension_closes_sockets_everywhere_refuses_acts_until_lifted,
    test_suspension_refuses_chat_and_hearts_on_an_open_socket_elsewhere,
    test_undo_from_the_moderation_log_once,
)
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
from tests.integration.test_show_report import (
    test_a_show_report_live_then_frozen_with_its_csv,
    test_who_may_read_a_report_and_my_shows,
)
from tests.integration.test_tick_report import (
    test_a_failed_report_is_retried_under_its_id,
    test_a_report_sent_twice_counts_once,
    test_joins_are_published_with_the_report,
)
from tests.integration.test_webhooks import (  # with the fixtures they take
    app,
    receiver,
    test_a_paid_order_reaches_the_receiver_signed,
    test_roles,
)

__all__ = [
    "app",
    "receiver",
    "test_a_failed_report_is_retried_under_its_id",
    "test_a_huge_room_gets_a_sample_and_the_history_is_whole",
    "test_a_paid_order_reaches_the_receiver_signed",
    "test_a_report_sent_twice_counts_once",
    "test_a_room_under_the_threshold_gets_every_message",
    "test_a_show_report_live_then_frozen_with_its_csv",
    "test_an_unpaid_win_goes_to_the_next_bidder_at_their_max_then_is_cancelled",
    "test_anti_snipe_extends_and_the_winner_pays_one_order",
    "test_bids_follow_the_increments_and_proxy_maxima",
    "test_cash_draw_entered_drawn_paid_and_verifiable",
    "test_chat_reaches_every_viewer_once_in_order",
    "test_claim_refusals_are_coded_and_claim_nothing",
    "test_conditions_keyword_and_followers",
    "test_counters_go_out_at_most_once_per_interval",
    "test_coupon_draw_gives_copies_and_frees_the_rest",
    "test_create_and_list_as_viewer_and_creator",
    "test_dead_connection_is_closed_by_heartbeat",
    "test_each_minute_watched_earns_logged_in_viewers_intimacy_up_to_the_cap",
    "test_gap_beyond_retention_gives_snapshot",
    "test_hearts_are_exact_and_counters_coalesced",
    "test_hearts_earn_intimacy_toward_the_creator_up_to_the_daily_cap",
    "test_history_pages_backwards",
    "test_idempotent_buy_over_websocket_after_reconnect",
    "test_joins_are_published_with_the_report",
    "test_launch_and_grab_with_events_record_and_audit",
    "test_one_user_claiming_twenty_times_at_once_gets_one",
    "test_online_unique_and_peak",
    "test_per_buyer_limit_under_concurrency_and_sold_out_event",
    "test_pinned_coupon_reaches_viewers_live_and_in_the_welcome",
    "test_product_prize_order_claimed_with_an_address",
    "test_reconnect_gets_exactly_the_missed_events_in_order",
    "test_roles",
    "test_same_user_grabbing_concurrently_gets_one_share",
    "test_shelf_pin_and_sale_events_and_late_joiner_snapshot",
    "test_snapshot_on_join_has_recent_chat_counters_and_announcement",
    "test_suspension_closes_sockets_everywhere_refuses_acts_until_lifted",
    "test_suspension_refuses_chat_and_hearts_on_an_open_socket_elsewhere",
    "test_undo_from_the_moderation_log_once",
    "test_unsold_and_cancelled_auctions_give_the_unit_back",
    "test_who_may_read_a_report_and_my_shows",
]
