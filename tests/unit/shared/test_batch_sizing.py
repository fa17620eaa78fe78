"""The consumer's batch-sizing policy: a count cap and a time budget, light load untouched."""

from __future__ import annotations

import pytest

from handoff.messaging.batching import MOST_GROWTH, BatchSizer


def sizer(most: int = 2000, budget_ms: int = 100) -> BatchSizer:
    return BatchSizer(most=most, budget_seconds=budget_ms / 1000)


def test_a_fresh_consumer_may_take_up_to_the_count_cap() -> None:
    assert sizer(most=500).limit == 500


def test_small_quick_batches_of_a_light_load_leave_the_limit_alone() -> None:
    # One record in 3 ms is mostly the transaction's fixed cost: it must not shrink the limit.
    s = sizer()
    for _ in range(50):
        assert s.observe(1, 0.003) == 2000


def test_a_batch_over_budget_shrinks_the_limit_to_what_its_rate_fits() -> None:
    s = sizer(budget_ms=100)
    assert s.observe(2000, 0.400) == 500


def test_a_full_batch_within_budget_grows_the_limit_step_by_step_up_to_the_cap() -> None:
    s = sizer(most=2000, budget_ms=100)
    s.observe(2000, 10.0)  # a stall (the database restarting) leaves a tiny limit
    assert s.limit == 20
    seen = [s.observe(s.limit, 0.002) for _ in range(4)]
    assert seen == [20 * MOST_GROWTH, 20 * MOST_GROWTH**2, 20 * MOST_GROWTH**3, 2000]


def test_a_full_batch_grows_only_as_far_as_the_budget_fits() -> None:
    s = sizer(most=2000, budget_ms=100)
    s.observe(2000, 0.400)  # limit 500
    assert s.observe(500, 0.080) == 625  # 500 records in 80 ms: 625 fit in 100 ms


def test_a_batch_the_load_sized_says_nothing_about_growing() -> None:
    s = sizer(budget_ms=100)
    s.observe(2000, 0.400)  # limit 500
    assert s.observe(10, 0.001) == 500


def test_the_limit_never_falls_below_one_record() -> None:
    s = sizer()
    assert s.observe(3, 60.0) == 1
    assert s.observe(1, 59.0) >= 1
    # One record took as long as three: the cost is the batch's, not the records', so a
    # small batch buys nothing and the count alone bounds the next one.
    assert s.limit == 2000


def test_an_empty_batch_changes_nothing() -> None:
    s = sizer(most=300)
    assert s.observe(0, 1.0) == 300


@pytest.mark.parametrize(("most", "budget"), [(0, 0.1), (10, 0.0), (10, -1.0)])
def test_a_sizer_without_room_or_budget_is_refused(most: int, budget: float) -> None:
    with pytest.raises(ValueError, match="one record and a positive time budget"):
        BatchSizer(most=most, budget_seconds=budget)


def test_a_slow_database_does_not_shrink_batches_to_one_round_trip_per_record() -> None:
    """With +50 ms per packet, a batch costs ~400 ms whatever its size: shrinking it would only
    apply fewer records per wait (the reliability suite's slow-database scenario)."""
    sizer = BatchSizer(most=2000, budget_seconds=0.1)
    for records in (200, 40, 10, 200):
        sizer.observe(records, 0.4 + records * 0.0001)
    assert sizer.limit == 2000


def test_a_fast_database_still_sizes_batches_by_the_records_cost() -> None:
    sizer = BatchSizer(most=2000, budget_seconds=0.1)
    sizer.observe(5, 0.006)  # a small batch: mostly the fixed cost
    sizer.observe(2000, 0.5)  # 250 us a record: 2000 records blow the budget
    assert 300 <= sizer.limit <= 400


def test_timing_noise_between_close_sizes_is_not_read_as_a_fixed_cost() -> None:
    """9 records in 50 ms then 8 in 48 ms would say "32 ms whatever the size" and let the next
    batch take a whole backlog (seen once in CI): sizes this close are not compared."""
    sizer = BatchSizer(most=2000, budget_seconds=0.05)
    sizer.observe(120, 0.6)
    sizer.observe(9, 0.050)
    assert sizer.observe(8, 0.048) <= 20
