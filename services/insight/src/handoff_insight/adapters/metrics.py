"""Business gauges on /metrics: funnel rates per group, bounded to the largest groups per dimension."""

from __future__ import annotations

from prometheus_client import Gauge

LABELS = ["group_by", "group"]
ACCEPTANCE = Gauge(
    "handoff_funnel_acceptance_rate", "Accepted / decided MQLs over the band window", LABELS
)
SQL_RATE = Gauge("handoff_funnel_mql_to_sql_rate", "SQL / MQLs over the band window", LABELS)
SLA_COMPLIANCE = Gauge(
    "handoff_funnel_sla_compliance",
    "SLA met / (met + breached) over the band window",
    [*LABELS, "stage"],
)
MQLS = Gauge("handoff_funnel_mqls", "MQLs over the band window", LABELS)
DECIDED = Gauge("handoff_funnel_decided", "Accepted or rejected MQLs over the band window", LABELS)
OPEN_ALERTS = Gauge("handoff_funnel_open_alerts", "Band alerts raised and not cleared", ["band"])
# The dimensions exported: overall, pool and source (campaign and rep would grow without bound).
DIMENSIONS = ("overall", "pool", "source")

ALL = (ACCEPTANCE, SQL_RATE, SLA_COMPLIANCE, MQLS, DECIDED, OPEN_ALERTS)
