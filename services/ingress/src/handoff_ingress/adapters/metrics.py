"""Prometheus metrics of ingress: webhook requests by answer, unmapped events, future-dated drops.

The names are those docs/ingress.md and the dashboards use; they did not change with the move
out of scoring.
"""

from __future__ import annotations

from prometheus_client import Counter

WEBHOOKS = Counter(
    "handoff_webhook_requests_total", "Webhook requests by source and answer", ["source", "outcome"]
)
UNMAPPED = Counter(
    "handoff_webhook_unmapped_events_total", "Provider events no mapping rule matched", ["source"]
)
FUTURE_DROPPED = Counter(
    "handoff_webhook_future_events_dropped_total",
    "Webhook signals dated too far ahead of the clock: answered 202, not published",
    ["source"],
)
