"""Prometheus metrics shared by every service, labelled by service or schema."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "handoff_events_consumed_total", "Events applied by a consumer", ["consumer", "topic"]
)
EVENTS_DUPLICATE = Counter(
    "handoff_events_duplicate_total", "Events dropped by the inbox as already applied", ["consumer"]
)
EVENTS_SKIPPED = Counter(
    "handoff_events_skipped_total",
    "Well-formed events of a type the consumer ignores",
    ["consumer"],
)
DEAD_LETTERS = Counter(
    "handoff_dead_letters_total", "Values sent to a dead-letter topic", ["consumer", "topic"]
)
POISON_EVENTS = Counter(
    "handoff_consumer_poison_events_total",
    "Events that parsed but made the handler fail every attempt, sent to the dead-letter topic",
    ["consumer", "topic"],
)
APPLY_FAILURES = Counter(
    "handoff_consumer_apply_failures_total",
    "Batch transactions that failed with a non-transient error (each retry and split counts)",
    ["consumer"],
)
ROWS_PRUNED = Counter(
    "handoff_rows_pruned_total", "Rows deleted after their retention", ["schema", "table"]
)
BATCH_SECONDS = Histogram(
    "handoff_batch_seconds",
    "Time to apply one consumed batch, database commit included",
    ["consumer"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CONSUMER_RUNNING = Gauge("handoff_consumer_running", "1 while the consumer loop runs", ["consumer"])
OUTBOX_PUBLISHED = Counter(
    "handoff_outbox_published_total", "Outbox rows published to the broker", ["schema"]
)
OUTBOX_LAG = Histogram(
    "handoff_outbox_lag_seconds",
    "Age of the oldest row in each published outbox batch",
    ["schema"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
