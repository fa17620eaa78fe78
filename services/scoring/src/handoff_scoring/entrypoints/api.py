"""GET /v1/leads/{lead_id}/score: a lead's score, its MQL state and why."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from handoff.http.auth import require_scope
from handoff.http.problem import Problem
from handoff.runtime import Runtime
from handoff.settings import ApiKeyRecord
from handoff_scoring.adapters import repository
from handoff_scoring.domain import engine
from handoff_scoring.domain.erasure import is_tombstone
from handoff_scoring.domain.explain import contributions, reason
from handoff_scoring.domain.lead import instant
from handoff_scoring.domain.model import ScoringModel
from handoff_scoring.handlers import mql_id

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


RECENT = 20


@router.get("/leads/{lead_id}/score", response_model=LeadScoreOut, summary="A lead's score and why")
async def get_score(
    lead_id: str, request: Request, key: Annotated[ApiKeyRecord, Depends(require_scope("read"))]
) -> LeadScoreOut:
    rt: Runtime = request.app.state.runtime
    async with rt.engine.connect() as conn:
        found = await repository.get(conn, lead_id)
    if found is None:
        raise Problem(404, f"No signals have been scored for lead {lead_id!r}.")
    if is_tombstone(found.lead):
        raise Problem(404, f"Lead {lead_id!r} was erased; no signals have come in since.")
    lead = found.lead
    model: ScoringModel = rt.state["model"]
    score = engine.score_at(model, lead)
    now = engine.score_at(model, lead, max(time.time(), lead.last_at or 0.0))
    top = contributions(model, lead)
    trigger = None
    if lead.trigger and ":" in lead.trigger:
        kind, rule = lead.trigger.split(":", 1)
        trigger = TriggerOut(kind=kind, rule=rule)
    state = engine.cycle_state(lead, time.time())
    return LeadScoreOut(
        lead_id=lead.lead_id,
        score=score.total,
        engagement_score=score.engagement,
        fit_score=score.fit.points,
        fit_grade=score.fit.grade,
        threshold=model.threshold,
        model_version=model.version,
        as_of=None if score.at is None else instant(score.at),
        score_now=now.total,
        engagement_now=now.engagement,
        mql=MqlState(
            state=state,
            cycle=lead.cycle,
            mql_id=mql_id(lead.lead_id, lead.cycle) if lead.is_mql else None,
            qualified_at=None if lead.qualified_at is None else instant(lead.qualified_at),
            trigger=trigger,
            cycle_opens_at=None if lead.opens_at is None else instant(lead.opens_at),
            disqualified=lead.disqualified,
        ),
        reason=reason(model, lead, score.at or 0.0, top[:5]),
        fit=FitOut(score=score.fit.points, grade=score.fit.grade, rules=list(score.fit.rules)),
        contributions=[
            ContributionOut(
                rule=c.rule,
                activity_type=c.activity_type,
                count=c.count,
                points=c.points,
                last_seen=instant(c.last_seen),
            )
            for c in top
        ],
        recent=[
            ActivityOut(
                activity_type=kind,
                occurred_at=instant(at),
                rules=[model.rule(n).name for n in model.rules_for(kind, props)],
                properties=dict(props or {}),
            )
            for at, kind, props in reversed(lead.history[-RECENT:])
        ],
        updated_at=None if score.at is None else instant(score.at),
    )
