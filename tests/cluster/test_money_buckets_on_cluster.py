"""Money over 3 wallet buckets on the 3-master cluster: the transfers between buckets, red
packets paid to grabbers on other buckets than the creator's, gifts and fan-club fees from
senders on other buckets, and cash-draw prizes to winners on other buckets, each run unchanged
from tests/integration (this folder's ``settings_factory`` spreads wallets over 3 slots, so the
buckets are on different nodes and no script may touch two of them)."""

from __future__ import annotations

from tests.integration.test_buckets_draws_topups import (
    test_a_prize_transfer_left_by_a_dead_process_is_credited_once_by_the_reconciler,
    test_cash_draw_pays_winners_on_other_buckets,
    test_gateway_notices_for_top_ups_on_every_bucket_credit_once,
)
from tests.integration.test_buckets_gifts import (
    test_a_fan_club_join_from_another_bucket,
    test_a_gift_from_another_bucket_end_to_end,
    test_a_gift_whose_process_died_after_the_payment_is_finished_by_the_reconciler,
    test_a_key_used_again_from_another_bucket_moves_the_money_once,
    test_concurrent_gifts_from_every_bucket_add_up_exactly,
)
from tests.integration.test_buckets_red_packets import (
    test_a_grab_cut_before_its_credit_on_another_bucket_is_credited_once,
    test_a_lost_escrow_is_rebuilt_without_the_grabs_credited_on_every_bucket,
    test_a_show_pays_grabbers_on_other_buckets_once_and_refunds_the_creator,
    test_concurrent_launches_with_one_key_on_the_creators_bucket_debit_once,
)
from tests.integration.test_wallet_buckets import (
    test_a_refused_transfer_goes_back_once_and_frees_its_key,
    test_a_transfer_left_half_done_is_finished_by_the_reconciler,
    test_concurrent_transfers_never_overdraw_and_add_up,
)

__all__ = [
    "test_a_fan_club_join_from_another_bucket",
    "test_a_gift_from_another_bucket_end_to_end",
    "test_a_gift_whose_process_died_after_the_payment_is_finished_by_the_reconciler",
    "test_a_grab_cut_before_its_credit_on_another_bucket_is_credited_once",
    "test_a_key_used_again_from_another_bucket_moves_the_money_once",
    "test_a_lost_escrow_is_rebuilt_without_the_grabs_credited_on_every_bucket",
    "test_a_prize_transfer_left_by_a_dead_process_is_credited_once_by_the_reconciler",
    "test_a_refused_transfer_goes_back_once_and_frees_its_key",
    "test_a_show_pays_grabbers_on_other_buckets_once_and_refunds_the_creator",
    "test_a_transfer_left_half_done_is_finished_by_the_reconciler",
    "test_cash_draw_pays_winners_on_other_buckets",
    "test_concurrent_gifts_from_every_bucket_add_up_exactly",
    "test_concurrent_launches_with_one_key_on_the_creators_bucket_debit_once",
    "test_concurrent_transfers_never_overdraw_and_add_up",
    "test_gateway_notices_for_top_ups_on_every_bucket_credit_once",
]
