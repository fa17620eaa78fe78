"""Prometheus metrics of notify: deliveries by outcome, latency, queue depth, disabled endpoints."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERY_TRIES = Counter(
    "handoff_notify_delivery_tries_total",
    "Delivery tries by channel and outcome (delivered, retry, gone, failed)",
    ["channel", "outcome"],
)
DELIVERY_SECONDS = Histogram(
    "handoff_notify_delivery_seconds",
    "How long one try took, receiver's answer included",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DELIVERIES_FAILED = Counter(
    "handoff_notify_deliveries_failed_total",
    "Deliveries that spent the retry schedule and wait for a manual retry",
    ["channel"],
)
ENDPOINTS_DISABLED = Counter(
    "handoff_notify_endpoints_disabled_total",
    "Endpoints disabled: failing too long, or 410 Gone",
    ["channel"],
)
IN_FLIGHT = Gauge("handoff_notify_in_flight", "Deliveries being tried in this process")
