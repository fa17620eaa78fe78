"""GET /v1/leads/{lead_id}/sla and GET /v1/sla/overdue: timers and open breaches, read-only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from handoff.http.auth import require_scope
from handoff.http.problem import Problem
from handoff.settings import ApiKeyRecord
from handoff_sla_watch.adapters import timers as repository
from handoff_sla_watch.domain.model import Timer
from handoff_sla_watch.entrypoints.deps import Deps

router = APIRouter(prefix="/v1", tags=["sla"])
MAX_OVERDUE = 1000


class TimerOut(BaseModel):
    timer_id: str
    handoff_id: str
    rep_id: str | None
    pool: str | None
    policy: str
    stage: str
    state: str = Field(description="pending, breached, met or cancelled")
    started_at: datetime | None = Field(
        description="null for a tombstone: the stop came before the start"
    )
    due_at: datetime | None = Field(description="null for a tombstone")
    fired_at: datetime | None = Field(
        description="when the breach fired; kept after a late answer cancels it"
    )
    stopped_at: datetime | None
    escalation_level: int = Field(description="escalation steps fired so far")
    next_at: datetime | None = Field(
        description="when the next warning, breach or escalation step is due; null if none"
    )

    @classmethod
    def of(cls, t: Timer) -> TimerOut:
        return cls(
            timer_id=t.timer_id,
            handoff_id=t.handoff_id,
            rep_id=t.rep_id,
            pool=t.pool,
            policy=t.policy,
            stage=t.stage,
            state=t.state.value,
            started_at=t.started_at,
            due_at=t.due_at,
            fired_at=t.fired_at,
            stopped_at=t.stopped_at,
            escalation_level=t.escalation_level,
            next_at=t.next_at,
        )


class LeadSlaOut(BaseModel):
    lead_id: str
    timers: list[TimerOut]


class BreachOut(TimerOut):
    lead_id: str
    overdue_seconds: float = Field(
        description="seconds since the due time, at the time of the request"
    )


class OverdueOut(BaseModel):
    breaches: list[BreachOut]


@router.get(
    "/leads/{lead_id}/sla", response_model=LeadSlaOut, summary="A lead's SLA timers and their state"
)
async def get_lead_sla(
    lead_id: str, deps: Deps, key: Annotated[ApiKeyRecord, Depends(require_scope("read"))]
) -> LeadSlaOut:
    async with deps.engine.connect() as conn:
        timers = await repository.for_lead(conn, lead_id)
    if not timers:
        raise Problem(404, f"No SLA timers exist for lead {lead_id!r}.")
    return LeadSlaOut(lead_id=lead_id, timers=[TimerOut.of(t) for t in timers])


@router.get("/sla/overdue", response_model=OverdueOut, summary="Open breaches, oldest due first")
async def get_overdue(
    deps: Deps,
    key: Annotated[ApiKeyRecord, Depends(require_scope("read"))],
    rep_id: Annotated[
        str | None, Query(max_length=200, description="only this rep's breaches")
    ] = None,
    pool: Annotated[
        str | None,
        Query(max_length=200, description="only breaches of leads assigned from this pool"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_OVERDUE)] = 100,
) -> OverdueOut:
    async with deps.engine.connect() as conn:
        timers = await repository.open_breaches(conn, rep_id=rep_id, pool=pool, limit=limit)
    now = deps.now()
    return OverdueOut(
        breaches=[
            BreachOut(
                **TimerOut.of(t).model_dump(),
                lead_id=t.lead_id,
                overdue_seconds=(now - t.due_at).total_seconds() if t.due_at else 0.0,
            )
            for t in timers
        ]
    )
