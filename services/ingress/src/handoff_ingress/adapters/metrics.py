"""Prometheus metrics of ingress: webhook requests by answer, unmapped events, future-dated drops.

The names are those docs/ingress.md and the dashboards use; they did not change with the move
out of scoring.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY, Counter


def _counter(name: str, documentation: str, labels: list[str]) -> Any:
    # TRANSITION (issue 11): until scoring's copy of the webhook route is deleted, a process
    # importing both services (the unit tests) would register these names twice; reuse it then.
    known = getattr(REGISTRY, "_names_to_collectors", {}).get(name)
    return known if known is not None else Counter(name, documentation, labels)


WEBHOOKS = _counter(
    "handoff_webhook_requests_total", "Webhook requests by source and answer", ["source", "outcome"]
)
UNMAPPED = _counter(
    "handoff_webhook_unmapped_events_total", "Provider events no mapping rule matched", ["source"]
)
FUTURE_DROPPED = _counter(
    "handoff_webhook_future_events_dropped_total",
    "Webhook signals dated too far ahead of the clock: answered 202, not published",
    ["source"],
)
