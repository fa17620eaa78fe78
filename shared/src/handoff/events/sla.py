"""Events on handoff.sla.v1: timers started, warnings, breaches, escalations and met agreements."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from handoff.events.envelope import ADAPTER_CONFIG, CloudEvent, EventData
from handoff.events.values import UtcDatetime

TOPIC = "handoff.sla.v1"
SOURCE = "/handoff/sla-watch"


class SlaData(EventData):
    lead_id: str
    handoff_id: str
    timer_id: str
    policy: str
    stage: str
    due_at: UtcDatetime
    rep_id: str | None = None


class StartedData(SlaData):
    """A timer armed: when it started and when it will warn (None: its policy has no warning)."""

    started_at: UtcDatetime
    warn_at: UtcDatetime | None = None


class FiredData(SlaData):
    fired_at: UtcDatetime
    late_by_seconds: float = 0.0  # how long after due_at it fired (downtime shows here)


class EscalatedData(FiredData):
    level: int
    action: Literal["remind", "escalate_to_manager", "reassign"]
    target: str | None = None


class Elapsed(EventData):
    wall_seconds: float
    business_seconds: float


class MetData(SlaData):
    elapsed: Elapsed
    met_at: UtcDatetime


class SlaStarted(CloudEvent[StartedData]):
    """Added in v1 (additive): a stage's timer was armed; `due_at` is known from here on."""

    type: Literal["handoff.sla.started"] = "handoff.sla.started"
    source: str = SOURCE


class SlaWarning(CloudEvent[FiredData]):
    type: Literal["handoff.sla.warning"] = "handoff.sla.warning"
    source: str = SOURCE


class SlaBreached(CloudEvent[FiredData]):
    type: Literal["handoff.sla.breached"] = "handoff.sla.breached"
    source: str = SOURCE


class SlaEscalated(CloudEvent[EscalatedData]):
    type: Literal["handoff.sla.escalated"] = "handoff.sla.escalated"
    source: str = SOURCE


class SlaMet(CloudEvent[MetData]):
    type: Literal["handoff.sla.met"] = "handoff.sla.met"
    source: str = SOURCE


SlaEvent = Annotated[
    SlaStarted | SlaWarning | SlaBreached | SlaEscalated | SlaMet, Field(discriminator="type")
]
sla_event_adapter: TypeAdapter[SlaEvent] = TypeAdapter(SlaEvent, config=ADAPTER_CONFIG)
