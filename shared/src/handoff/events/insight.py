"""Events on handoff.insight.v1: funnel band alerts raised and cleared by the insight service."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, TypeAdapter

from handoff.events.envelope import CloudEvent, EventData

TOPIC = "handoff.insight.v1"
SOURCE = "/handoff/insight"


class FunnelAlertData(EventData):
    """A group entered (raised) or left (cleared) a health band over a rolling window."""

    alert_id: str  # stable per (band, group): the same alert raised and cleared
    state: Literal["raised", "cleared"]
    band: str  # the band's name in config/insight.yaml, e.g. bar_too_loose
    metric: str  # acceptance_rate, mql_to_sql, sla_compliance_accept, ...
    value: float  # the metric's value when the transition was seen (a fraction, 0..1)
    lower: float | None = None  # the band: value < lower, or value >= upper
    upper: float | None = None
    window: str  # e.g. 30d
    group_by: str  # overall, source, campaign or pool
    group: str  # the group's value ("all" for overall)
    samples: int  # the metric's denominator: decided MQLs, MQLs or SLA outcomes
    at: AwareDatetime


class FunnelAlert(CloudEvent[FunnelAlertData]):
    type: Literal["handoff.funnel.alert"] = "handoff.funnel.alert"
    source: str = SOURCE


InsightEvent = Annotated[FunnelAlert, Field(discriminator="type")]
insight_event_adapter: TypeAdapter[InsightEvent] = TypeAdapter(InsightEvent)
