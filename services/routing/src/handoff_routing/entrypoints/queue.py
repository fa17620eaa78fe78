"""GET /v1/reps/{rep_id}/handoffs: a rep's queue, for a CRM sidebar or the rep's own page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from handoff.http.auth import require_scope
from handoff.settings import ApiKeyRecord
from handoff_routing.adapters import rep_queue
from handoff_routing.adapters.rep_queue import QueueItem, QueueState
from handoff_routing.entrypoints.deps import Deps

router = APIRouter(prefix="/v1", tags=["routing"])


class QueueItemOut(BaseModel):
    handoff_id: str
    lead_id: str
    state: str = Field(description="assigned (waiting for the rep), accepted or contacted")
    pool: str | None
    assigned_at: datetime | None
    lead_name: str | None
    company_name: str | None
    reason: str | None = Field(description="the MQL's reason sentence, as the rep reads it")
    due_stage: str | None = Field(description="the SLA stage of the next due time")
    due_at: datetime | None = Field(description="the next SLA due time sla-watch announced")
    overdue: bool

    @classmethod
    def of(cls, item: QueueItem, now: datetime) -> QueueItemOut:
        return cls(
            handoff_id=item.handoff_id,
            lead_id=item.lead_id,
            state=item.state,
            pool=item.pool,
            assigned_at=item.assigned_at,
            lead_name=item.lead_name,
            company_name=item.company_name,
            reason=item.reason,
            due_stage=item.due_stage,
            due_at=item.due_at,
            overdue=item.breached_at is not None
            or (item.due_at is not None and item.due_at <= now),
        )


class QueueOut(BaseModel):
    rep_id: str
    state: str
    handoffs: list[QueueItemOut]
    next_after: str | None = Field(description="pass as `after` for the next page")


@router.get(
    "/reps/{rep_id}/handoffs",
    response_model=QueueOut,
    summary="A rep's queue: open (assigned, accepted), assigned, accepted or overdue handoffs",
)
async def rep_handoffs(
    rep_id: str,
    key: Annotated[ApiKeyRecord, Depends(require_scope("read"))],
    deps: Deps,
    state: Annotated[QueueState, Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[str | None, Query(max_length=200, description="a handoff id")] = None,
) -> QueueOut:
    now = deps.clock()
    async with deps.engine.connect() as conn:
        items = await rep_queue.queue(conn, rep_id, state, now, limit, after)
    return QueueOut(
        rep_id=rep_id,
        state=state,
        handoffs=[QueueItemOut.of(i, now) for i in items],
        next_after=items[-1].handoff_id if len(items) == limit else None,
    )
