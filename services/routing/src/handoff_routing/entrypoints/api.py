"""The reps' and CRMs' API: a lead's handoff and its trace, accept, reject, the reason codes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from handoff.events import routing as ev
from handoff.events.envelope import utcnow
from handoff.http.auth import require_scope
from handoff.http.body import parse_body
from handoff.http.limits import require_json
from handoff.http.problem import Problem
from handoff.runtime import Runtime
from handoff.settings import ApiKeyRecord
from handoff_routing import handlers
from handoff_routing.adapters import repository
from handoff_routing.config import RoutingConfig
from handoff_routing.domain.handoff import Handoff, HandoffConflict, UnknownReasonCode
from handoff_routing.domain.reasons import FollowUp

router = APIRouter(prefix="/v1", tags=["routing"])

RepId = Annotated[
    str, Field(min_length=1, max_length=200, description="the acting rep's id, as in routing.yaml")
]


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rep_id: RepId


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rep_id: RepId
    reason_code: str = Field(
        min_length=1, max_length=100, description="one of GET /v1/reason-codes"
    )
    note: str | None = Field(default=None, max_length=2000)


class HandoffOut(BaseModel):
    handoff_id: str
    lead_id: str
    mql_id: str
    state: str = Field(description="assigned, accepted, rejected or unassigned")
    rep_id: str | None
    pool: str | None
    rule: str
    assigned_at: datetime | None
    updated_at: datetime
    reason_code: str | None
    note: str | None


class DecisionOut(BaseModel):
    handoff_id: str
    lead_id: str
    rep_id: str | None
    pool: str | None
    rule: str
    decision: list[ev.DecisionStep] = Field(
        description="the rules tried, in order, with the candidates looked at"
    )


class ReasonCodeOut(BaseModel):
    code: str
    label_en: str
    label_ja: str
    follow_up: FollowUp
    recycle_days: int | None


class ReasonCodesOut(BaseModel):
    reason_codes: list[ReasonCodeOut]


def _out(h: Handoff) -> HandoffOut:
    return HandoffOut(
        handoff_id=h.handoff_id,
        lead_id=h.lead_id,
        mql_id=h.mql_id,
        state=str(h.state),
        rep_id=h.rep_id,
        pool=h.pool,
        rule=h.rule,
        assigned_at=h.assigned_at,
        updated_at=h.updated_at,
        reason_code=h.reason_code,
        note=h.note,
    )


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def _not_found(handoff_id: str) -> Problem:
    return Problem(404, f"There is no handoff {handoff_id!r}.")


def _conflict(exc: HandoffConflict) -> Problem:
    return Problem(409, exc.detail, extra={"state": str(exc.state)})


@router.get(
    "/leads/{lead_id}/handoff", response_model=HandoffOut, summary="A lead's current handoff"
)
async def get_lead_handoff(
    lead_id: str, request: Request, key: Annotated[ApiKeyRecord, Depends(require_scope("read"))]
) -> HandoffOut:
    rt: Runtime = request.app.state.runtime
    async with rt.engine.connect() as conn:
        found = await repository.latest_for_lead(conn, lead_id)
    if found is None:
        raise Problem(404, f"Lead {lead_id!r} has not been handed to sales.")
    return _out(found)


@router.get(
    "/handoffs/{handoff_id}/decision",
    response_model=DecisionOut,
    summary="Why the lead went to this rep",
)
async def get_decision(
    handoff_id: str, request: Request, key: Annotated[ApiKeyRecord, Depends(require_scope("read"))]
) -> DecisionOut:
    rt: Runtime = request.app.state.runtime
    async with rt.engine.connect() as conn:
        found = await repository.get(conn, handoff_id)
    if found is None:
        raise _not_found(handoff_id)
    return DecisionOut(
        handoff_id=found.handoff_id,
        lead_id=found.lead_id,
        rep_id=found.rep_id,
        pool=found.pool,
        rule=found.rule,
        decision=handlers.decision_steps(found.decision),
    )


@router.post(
    "/handoffs/{handoff_id}/accept",
    response_model=HandoffOut,
    openapi_extra=_body_schema(AcceptIn),
    dependencies=[Depends(require_scope("handoffs:write")), Depends(require_json)],
    summary="The assigned rep accepts the lead (SAL); repeating it is harmless",
)
async def accept(handoff_id: str, request: Request) -> HandoffOut:
    body = parse_body(AcceptIn, await request.body())
    rt: Runtime = request.app.state.runtime
    async with rt.uow() as uow:
        try:
            handoff = await handlers.accept_handoff(uow, handoff_id, body.rep_id, utcnow())
        except handlers.HandoffNotFound:
            raise _not_found(handoff_id) from None
        except HandoffConflict as exc:
            raise _conflict(exc) from None
        await uow.commit()
    return _out(handoff)


@router.post(
    "/handoffs/{handoff_id}/reject",
    response_model=HandoffOut,
    openapi_extra=_body_schema(RejectIn),
    dependencies=[Depends(require_scope("handoffs:write")), Depends(require_json)],
    summary="The assigned rep rejects the lead with a reason code; repeating it is harmless",
)
async def reject(handoff_id: str, request: Request) -> HandoffOut:
    body = parse_body(RejectIn, await request.body())
    rt: Runtime = request.app.state.runtime
    config: RoutingConfig = rt.state["config"]
    async with rt.uow() as uow:
        try:
            handoff = await handlers.reject_handoff(
                uow, handoff_id, body.rep_id, body.reason_code, body.note, utcnow(), config.reasons
            )
        except handlers.HandoffNotFound:
            raise _not_found(handoff_id) from None
        except HandoffConflict as exc:
            raise _conflict(exc) from None
        except UnknownReasonCode as exc:
            known = ", ".join(exc.known)
            raise Problem(
                422,
                f"Unknown reason code {exc.code!r}.",
                errors=[
                    {"field": "reason_code", "message": f"unknown reason code; known: {known}"}
                ],
            ) from None
        await uow.commit()
    return _out(handoff)


@router.get(
    "/reason-codes",
    response_model=ReasonCodesOut,
    summary="The rejection reasons, for CRM pick lists",
)
async def get_reason_codes(
    request: Request, key: Annotated[ApiKeyRecord, Depends(require_scope("read"))]
) -> ReasonCodesOut:
    config: RoutingConfig = request.app.state.runtime.state["config"]
    return ReasonCodesOut(
        reason_codes=[
            ReasonCodeOut(
                code=c.code,
                label_en=c.label_en,
                label_ja=c.label_ja,
                follow_up=c.follow_up,
                recycle_days=c.recycle_days,
            )
            for c in config.reasons
        ]
    )
