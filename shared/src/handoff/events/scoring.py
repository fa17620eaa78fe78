"""Events on handoff.scoring.v1: MQLs, disqualifications and score changes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from handoff.events.envelope import ADAPTER_CONFIG, CloudEvent, EventData
from handoff.events.signals import Traits
from handoff.events.values import UtcDatetime

TOPIC = "handoff.scoring.v1"
SOURCE = "/handoff/scoring"


class Trigger(EventData):
    kind: Literal["threshold", "activity", "sequence", "criteria"]
    rule: str


class Contribution(EventData):
    activity_type: str
    count: int
    points: int
    last_seen: UtcDatetime | None = None
    rule: str | None = None  # the behaviour rule that earned the points


class MqlData(EventData):
    lead_id: str
    mql_id: str
    cycle: int
    score: int
    engagement_score: int
    fit_score: int
    fit_grade: Literal["A", "B", "C", "D"] | None = None
    model_version: str
    trigger: Trigger
    reason: str
    contributions: list[Contribution]
    qualified_at: UtcDatetime
    traits: Traits | None = None


class DisqualifiedData(EventData):
    lead_id: str
    reason: str
    model_version: str
    at: UtcDatetime
    reason_code: str | None = None  # e.g. competitor, free_mail, student, unsubscribed
    rule: str | None = None  # the model's disqualifier that matched
    cycle: int | None = None


class ScoreChangedData(EventData):
    lead_id: str
    score: int
    engagement_score: int
    fit_score: int
    at: UtcDatetime
    fit_grade: Literal["A", "B", "C", "D"] | None = None
    previous_score: int | None = None
    model_version: str | None = None


class LeadMql(CloudEvent[MqlData]):
    type: Literal["handoff.lead.mql"] = "handoff.lead.mql"
    source: str = SOURCE


class LeadDisqualified(CloudEvent[DisqualifiedData]):
    type: Literal["handoff.lead.disqualified"] = "handoff.lead.disqualified"
    source: str = SOURCE


class LeadScoreChanged(CloudEvent[ScoreChangedData]):
    type: Literal["handoff.lead.score_changed"] = "handoff.lead.score_changed"
    source: str = SOURCE


ScoringEvent = Annotated[LeadMql | LeadDisqualified | LeadScoreChanged, Field(discriminator="type")]
scoring_event_adapter: TypeAdapter[ScoringEvent] = TypeAdapter(ScoringEvent, config=ADAPTER_CONFIG)
