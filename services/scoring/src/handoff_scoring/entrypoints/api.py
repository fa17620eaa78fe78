"""GET /v1/leads/{lead_id}/score: a lead's score, its MQL state and why."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from handoff.http.auth import require_scope
from handoff.http.problem import Problem
from handoff.settings import ApiKeyRecord
from handoff_scoring.adapters import leads
from handoff_scoring.adapters.events_out import mql_id
from handoff_scoring.domain.erasure import is_tombstone
from handoff_scoring.domain.lead import epoch_seconds, utc_datetime
from handoff_scoring.domain.model import ScoringModel
from handoff_scoring.domain.score_report import ScoreReport, score_report
from handoff_scoring.entrypoints.deps import Deps

router = APIRouter(prefix="/v1", tags=["scoring"])


class ContributionOut(BaseModel):
    rule: str
    activity_type: str
    count: int
    points: int
    last_seen: datetime


class TriggerOut(BaseModel):
    kind: str = Field(description="threshold, activity, sequence or criteria")
    rule: str


class MqlState(BaseModel):
    state: str = Field(
        description='"mql" once qualified in the current cycle; "disqualified"; "closed" when '
        'sales closed the cycle for good; "waiting" until a recycled cycle opens; else "open"'
    )
    cycle: int
    mql_id: str | None
    qualified_at: datetime | None
    trigger: TriggerOut | None = None
    cycle_opens_at: datetime | None = None
    disqualified: str | None = Field(default=None, description="the reason code")


class FitOut(BaseModel):
    score: int
    grade: str
    rules: list[str] = Field(description="the fit rules the lead's traits match")


class ActivityOut(BaseModel):
    activity_type: str
    occurred_at: datetime
    rules: list[str] = Field(description="the behaviour rules it matches")
    properties: dict[str, str]


class LeadScoreOut(BaseModel):
    lead_id: str
    score: int = Field(description="engagement + fit as of the latest activity (`as_of`)")
    engagement_score: int
    fit_score: int
    fit_grade: str
    threshold: int
    model_version: str
    as_of: datetime | None
    score_now: int = Field(description="the same score decayed to the time of this request")
    engagement_now: int
    mql: MqlState
    reason: str = Field(description="the sentence a rep would read, as of `as_of`")
    fit: FitOut
    contributions: list[ContributionOut]
    recent: list[ActivityOut] = Field(description="the latest activities, newest first")
    updated_at: datetime | None


@router.get("/leads/{lead_id}/score", response_model=LeadScoreOut, summary="A lead's score and why")
async def get_score(
    lead_id: str, deps: Deps, key: Annotated[ApiKeyRecord, Depends(require_scope("read"))]
) -> LeadScoreOut:
    async with deps.engine.connect() as conn:
        found = await leads.get(conn, lead_id)
    if found is None:
        raise Problem(404, f"No signals have been scored for lead {lead_id!r}.")
    if is_tombstone(found.lead):
        raise Problem(404, f"Lead {lead_id!r} was erased; no signals have come in since.")
    return score_out(deps.model, score_report(deps.model, found.lead, epoch_seconds(deps.clock())))


def _utc_or_none(at: float | None) -> datetime | None:
    return None if at is None else utc_datetime(at)


def score_out(model: ScoringModel, report: ScoreReport) -> LeadScoreOut:
    """The report in the API's words: datetimes, the MQL's id, the shapes of CONTRACT.md."""
    lead, score = report.lead, report.score
    trigger = (
        None
        if report.trigger is None
        else TriggerOut(kind=report.trigger[0], rule=report.trigger[1])
    )
    return LeadScoreOut(
        lead_id=lead.lead_id,
        score=score.total,
        engagement_score=score.engagement,
        fit_score=score.fit.points,
        fit_grade=score.fit.grade,
        threshold=model.threshold,
        model_version=model.version,
        as_of=_utc_or_none(score.at),
        score_now=report.now.total,
        engagement_now=report.now.engagement,
        mql=MqlState(
            state=report.state,
            cycle=lead.cycle,
            mql_id=mql_id(lead.lead_id, lead.cycle) if lead.is_mql else None,
            qualified_at=_utc_or_none(lead.qualified_at),
            trigger=trigger,
            cycle_opens_at=_utc_or_none(lead.opens_at),
            disqualified=lead.disqualified,
        ),
        reason=report.reason,
        fit=FitOut(score=score.fit.points, grade=score.fit.grade, rules=list(score.fit.rules)),
        contributions=[
            ContributionOut(
                rule=c.rule,
                activity_type=c.activity_type,
                count=c.count,
                points=c.points,
                last_seen=utc_datetime(c.last_seen),
            )
            for c in report.contributions
        ],
        recent=[
            ActivityOut(
                activity_type=a.activity_type,
                occurred_at=utc_datetime(a.occurred_at),
                rules=a.rules,
                properties=a.properties,
            )
            for a in report.recent
        ],
        updated_at=_utc_or_none(score.at),
    )
