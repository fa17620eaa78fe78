"""The reps' and CRMs' API: a lead's handoff and its trace, the rep's actions, the reason codes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from handoff.events import routing as ev
from handoff.http.auth import require_scope
from handoff.http.body import parse_body
from handoff.http.limits import require_json
from handoff.http.problem import Problem
from handoff.settings import ApiKeyRecord
from handoff_routing.adapters import decision_codec, handoffs
from handoff_routing.domain.handoff import (
    Action,
    Handoff,
    HandoffConflict,
    HandoffNotFound,
    Outcome,
    RepAction,
    UnknownReasonCode,
    UnknownRep,
)
from handoff_routing.domain.reasons import FollowUp
from handoff_routing.entrypoints.deps import Deps, RoutingDeps
from handoff_routing.service_layer import handlers

router = APIRouter(prefix="/v1", tags=["routing"])
Reader = Annotated[ApiKeyRecord, Depends(require_scope("read"))]

RepId = Annotated[
    str, Field(min_length=1, max_length=200, description="the acting rep's id, as on the roster")
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


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rep_id: RepId
    channel: str | None = Field(
        default=None, max_length=100, description="how: phone, email, meeting, ..."
    )


class DispositionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rep_id: RepId
    outcome: Literal["sql", "nurture", "recycle", "disqualified"]
    note: str | None = Field(default=None, max_length=2000)
    recycle_after_days: int | None = Field(
        default=None, ge=1, le=3650, description="with outcome recycle; 90 when left out"
    )

    @field_validator("recycle_after_days")
    @classmethod
    def _only_when_recycled(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("outcome") != "recycle":
            raise ValueError("only with outcome recycle")
        return value


class HandoffOut(BaseModel):
    handoff_id: str
    lead_id: str
    mql_id: str
    attempt: int = Field(description="1 for the first handoff of the MQL, +1 per reassignment")
    state: str = Field(
        description="assigned, accepted, contacted, dispositioned, rejected, reassigned or unassigned"
    )
    rep_id: str | None
    pool: str | None
    rule: str
    assigned_at: datetime | None
    updated_at: datetime
    reason_code: str | None
    note: str | None
    follow_up: str | None = Field(
        description="after a rejection: reassigned, recycled or disqualified"
    )
    outcome: str | None = Field(description="the disposition: sql, nurture, recycle, disqualified")
    recycle_until: datetime | None
    channel: str | None
    next_handoff_id: str | None = Field(description="the handoff that replaced this one")


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
        attempt=h.attempt,
        state=str(h.state),
        rep_id=h.rep_id,
        pool=h.pool,
        rule=h.rule,
        assigned_at=h.assigned_at,
        updated_at=h.updated_at,
        reason_code=h.reason_code,
        note=h.note,
        follow_up=h.follow_up,
        outcome=h.outcome,
        recycle_until=h.recycle_until,
        channel=h.channel,
        next_handoff_id=h.next_handoff_id,
    )


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


BodyT = TypeVar("BodyT", bound=BaseModel)


def json_body(model: type[BodyT]) -> Callable[[Request], Awaitable[BodyT]]:
    """The body parsed as `model`, as a dependency: declared before `Deps`, so a bad body is a
    422 naming the field whatever the service holds; route dependencies (the key) come first."""

    async def parse(request: Request) -> BodyT:
        return parse_body(model, await request.body())

    return parse


def _not_found(handoff_id: str) -> Problem:
    return Problem(404, f"There is no handoff {handoff_id!r}.")


@router.get(
    "/leads/{lead_id}/handoff", response_model=HandoffOut, summary="A lead's current handoff"
)
async def get_lead_handoff(lead_id: str, key: Reader, deps: Deps) -> HandoffOut:
    async with deps.engine.connect() as conn:
        found = await handoffs.latest_for_lead(conn, lead_id)
    if found is None:
        raise Problem(404, f"Lead {lead_id!r} has not been handed to sales.")
    return _out(found)


@router.get(
    "/handoffs/{handoff_id}/decision",
    response_model=DecisionOut,
    summary="Why the lead went to this rep",
)
async def get_decision(handoff_id: str, key: Reader, deps: Deps) -> DecisionOut:
    async with deps.engine.connect() as conn:
        found = await handoffs.get(conn, handoff_id)
    if found is None:
        raise _not_found(handoff_id)
    return DecisionOut(
        handoff_id=found.handoff_id,
        lead_id=found.lead_id,
        rep_id=found.rep_id,
        pool=found.pool,
        rule=found.rule,
        decision=decision_codec.models(found.decision),
    )


async def _act(deps: RoutingDeps, action: RepAction) -> HandoffOut:
    async with deps.uow() as uow:
        try:
            handoff, freed = await handlers.act(uow, deps.routing, action)
        except UnknownRep as exc:
            raise Problem(
                422,
                f"There is no rep {exc.rep_id!r} on the roster.",
                errors=[{"field": "rep_id", "message": f"no rep {exc.rep_id!r} on the roster"}],
            ) from None
        except HandoffNotFound:
            raise _not_found(action.handoff_id) from None
        except HandoffConflict as exc:
            raise Problem(409, exc.detail, extra={"state": str(exc.state)}) from None
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
    if freed:
        deps.sweeper.wake()
    return _out(handoff)


WRITE = [Depends(require_scope("handoffs:write")), Depends(require_json)]


@router.post(
    "/handoffs/{handoff_id}/accept",
    response_model=HandoffOut,
    openapi_extra=body_schema(AcceptIn),
    dependencies=WRITE,
    summary="The assigned rep accepts the lead (SAL); repeating it is harmless",
)
async def accept(
    handoff_id: str, body: Annotated[AcceptIn, Depends(json_body(AcceptIn))], deps: Deps
) -> HandoffOut:
    return await _act(deps, RepAction(Action.ACCEPT, handoff_id, body.rep_id))


@router.post(
    "/handoffs/{handoff_id}/reject",
    response_model=HandoffOut,
    openapi_extra=body_schema(RejectIn),
    dependencies=WRITE,
    summary="The assigned rep rejects the lead with a reason code; the reason's follow-up runs",
)
async def reject(
    handoff_id: str, body: Annotated[RejectIn, Depends(json_body(RejectIn))], deps: Deps
) -> HandoffOut:
    return await _act(
        deps,
        RepAction(
            Action.REJECT, handoff_id, body.rep_id, reason_code=body.reason_code, note=body.note
        ),
    )


@router.post(
    "/handoffs/{handoff_id}/contact",
    response_model=HandoffOut,
    openapi_extra=body_schema(ContactIn),
    dependencies=WRITE,
    summary="The rep reached the lead after accepting it",
)
async def contact(
    handoff_id: str, body: Annotated[ContactIn, Depends(json_body(ContactIn))], deps: Deps
) -> HandoffOut:
    return await _act(
        deps, RepAction(Action.CONTACT, handoff_id, body.rep_id, channel=body.channel)
    )


@router.post(
    "/handoffs/{handoff_id}/disposition",
    response_model=HandoffOut,
    openapi_extra=body_schema(DispositionIn),
    dependencies=WRITE,
    summary="What sales decided after contact: sql, nurture, recycle or disqualified",
)
async def disposition(
    handoff_id: str, body: Annotated[DispositionIn, Depends(json_body(DispositionIn))], deps: Deps
) -> HandoffOut:
    return await _act(
        deps,
        RepAction(
            Action.DISPOSITION,
            handoff_id,
            body.rep_id,
            outcome=Outcome(body.outcome),
            note=body.note,
            recycle_after_days=body.recycle_after_days,
        ),
    )


@router.get(
    "/reason-codes",
    response_model=ReasonCodesOut,
    summary="The rejection reasons, for CRM pick lists",
)
async def get_reason_codes(key: Reader, deps: Deps) -> ReasonCodesOut:
    return ReasonCodesOut(
        reason_codes=[
            ReasonCodeOut(
                code=c.code,
                label_en=c.label_en,
                label_ja=c.label_ja,
                follow_up=c.follow_up,
                recycle_days=c.recycle_days,
            )
            for c in deps.config.reasons
        ]
    )
