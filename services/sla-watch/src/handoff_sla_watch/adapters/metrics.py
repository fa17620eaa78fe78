"""Prometheus metrics of sla-watch: pending timers, fire lag, breaches and met agreements."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

TIMERS_PENDING = Gauge(
    "handoff_sla_timers_pending", "Timers armed and not yet due, met or cancelled"
)
FIRE_LAG = Histogram(
    "handoff_sla_fire_lag_seconds",
    "How long after it was due a warning, breach or escalation fired (downtime shows at the top)",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
BREACHES = Counter("handoff_sla_breaches_total", "SLA breaches fired", ["policy", "stage"])
MET = Counter(
    "handoff_sla_met_total", "SLAs met: the assigned rep answered in time", ["policy", "stage"]
)
WARNINGS = Counter("handoff_sla_warnings_total", "SLA warnings sent", ["policy", "stage"])
ESCALATIONS = Counter(
    "handoff_sla_escalations_total", "SLA escalation steps fired", ["policy", "stage", "action"]
)
