"""Scoring's own Prometheus metrics (the shared ones live in handoff.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

FUTURE_DROPPED = Counter(
    "handoff_scoring_future_signals_dropped_total",
    "Signals dated further ahead than HANDOFF_SIGNAL_MAX_FUTURE_SECONDS, dropped by the consumer",
)
