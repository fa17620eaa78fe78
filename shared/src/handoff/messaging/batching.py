"""How many records the consumer takes next: at most a count, and about a time budget's worth.

aiokafka's `getmany` never waits to fill a batch: it returns at once with what the fetcher
holds, so a lightly loaded consumer applies each record as it comes, in a batch of one or a
few. What a batch must not do under load is grow so long that an event arriving just behind it
waits out a long transaction: that wait is the consumer's share of an event's latency. So the
count taken is bounded by HANDOFF_CONSUMER_BATCH_MAX and by what the last batches say fits in
HANDOFF_CONSUMER_BATCH_BUDGET_MS. Pure: the consumer reports each batch and asks for the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Growth per batch at most; a batch of a few records is dominated by the transaction's fixed
# cost, so its rate says little about a large one: grow step by step and look again.
MOST_GROWTH = 4
# A batch's fixed cost (its round trips, whatever its size) is read off the line through the
# last batch and the quickest recent one; that one ages by this factor per batch.
FIXED_COST_DRIFT = 1.1


@dataclass(slots=True)
class BatchSizer:
    """The next batch's record limit, from the last batch's size and how long it took."""

    most: int  # HANDOFF_CONSUMER_BATCH_MAX
    budget_seconds: float  # HANDOFF_CONSUMER_BATCH_BUDGET_MS, as seconds
    limit: int = field(init=False)
    quickest: tuple[int, float] | None = field(init=False, default=None)  # (records, seconds)

    def __post_init__(self) -> None:
        if self.most < 1 or self.budget_seconds <= 0:
            raise ValueError("a batch needs room for one record and a positive time budget")
        self.limit = self.most

    def observe(self, records: int, seconds: float) -> int:
        """Record that a batch of `records` took `seconds`; return the next limit.

        Over budget: shrink to what the batch's own rate fits in the budget. Within budget and
        full (it met the limit, so more may have been waiting): grow towards what fits, at most
        MOST_GROWTH times. Within budget and not full: the load, not the limit, sized it, so the
        limit stays.
        """
        if records < 1:
            return self.limit
        fixed = self._fixed_cost(records, seconds)
        if fixed >= self.budget_seconds / 2:
            # The round trips alone take the budget (a slow or distant database): a smaller
            # batch would wait as long and apply less, so only the count bounds it.
            self.limit = self.most
            return self.limit
        per_record = max(seconds - fixed, 0.0) / records
        room = self.budget_seconds - fixed
        fits = int(room / per_record) if per_record > 0 else self.most
        if seconds > self.budget_seconds:
            self.limit = max(1, min(self.limit, fits))
        elif records >= self.limit:
            self.limit = min(self.most, max(self.limit, min(fits, records * MOST_GROWTH)))
        return self.limit

    def _fixed_cost(self, records: int, seconds: float) -> float:
        """The cost of a batch of any size, from two batches of sizes far enough apart (0 until
        there are two)."""
        fixed = 0.0
        # Two sizes at least twice apart: from sizes close together, timing noise alone would
        # read as a large fixed cost (9 records in 50 ms and 8 in 48 ms say "32 ms").
        if self.quickest is not None and max(self.quickest[0], records) >= 2 * min(
            self.quickest[0], records
        ):
            n, t = self.quickest
            fixed = (t * records - seconds * n) / (records - n)
            fixed = min(max(fixed, 0.0), t, seconds)
        if self.quickest is None or seconds <= self.quickest[1] * FIXED_COST_DRIFT:
            self.quickest = (records, seconds)
        else:
            self.quickest = (self.quickest[0], self.quickest[1] * FIXED_COST_DRIFT)
        return fixed
