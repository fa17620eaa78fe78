"""DELETE /v1/leads/{lead_id}: erase a lead's personal data on request (APPI, GDPR).

Scoring erases what it holds in one transaction and answers 202: the other services erase
when they consume the `handoff.lead.erased` event it publishes (docs/running.md, "Privacy:
erasing a lead"). The answer names what was erased, as tables, counts and field names; it
never repeats a value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, Field
from sqlalchemy.exc import InterfaceError, OperationalError

from handoff.http.auth import require_scope
from handoff.http.limits import retry_after
from handoff.http.problem import Problem
from handoff.settings import ApiKeyRecord
from handoff_scoring.entrypoints.deps import Deps
from handoff_scoring.service_layer.erasure import Erasure, erase_lead

router = APIRouter(prefix="/v1", tags=["privacy"])

# Who erases on `handoff.lead.erased` (docs/events.md): named in the answer so the caller
# knows the erasure is not complete until they have consumed it.
DOWNSTREAM = ("routing", "insight", "notify")


class ErasedPart(BaseModel):
    service: str
    table: str
    action: Literal["blanked", "deleted"]
    rows: int
    fields: list[str] = Field(description="the names of the fields erased; never their values")


class KeptPart(BaseModel):
    service: str
    table: str
    fields: list[str]
    why: str


class ErasureOut(BaseModel):
    lead_id: str
    erased_at: datetime
    event_id: str = Field(description="the id of the handoff.lead.erased event published")
    aliases: int = Field(description="previous ids of the lead, erased with it")
    erased: list[ErasedPart] = Field(description="what scoring erased, in this request")
    kept: list[KeptPart] = Field(description="what stays, and why it identifies nobody")
    pending: list[str] = Field(
        description="services that erase their part when they consume handoff.lead.erased"
    )


KEPT = [
    KeptPart(
        service="scoring",
        table="scoring.leads",
        fields=["lead_id", "cycle", "erased_at"],
        why="a tombstone: the next MQL of this id gets a new mql_id, and signals sent before "
        "the erasure are dropped rather than bringing the data back",
    ),
    KeptPart(
        service="scoring",
        table="scoring.inbox",
        fields=["source", "event_id"],
        why="ids of applied events, without a lead id, pruned after the retention window",
    ),
    KeptPart(
        service="ingress",
        table="ingress.webhook_deliveries",
        fields=["source", "delivery_id", "received_at"],
        why="the providers' delivery ids for dedupe; no body and no lead id is stored",
    ),
]


def erasure_out(erasure: Erasure) -> ErasureOut:
    data = erasure.event.data
    parts = [
        ErasedPart(
            service="scoring",
            table="scoring.leads",
            action="blanked",
            rows=len(erasure.leads),
            fields=sorted({f for lead in erasure.leads for f in lead.fields}),
        )
    ]
    if erasure.outbox.deleted:
        parts.append(
            ErasedPart(
                service="scoring",
                table="scoring.outbox",
                action="deleted",
                rows=erasure.outbox.deleted,
                fields=["value"],
            )
        )
    if erasure.outbox.scrubbed:
        parts.append(
            ErasedPart(
                service="scoring",
                table="scoring.outbox",
                action="blanked",
                rows=erasure.outbox.scrubbed,
                fields=list(erasure.outbox.fields),
            )
        )
    return ErasureOut(
        lead_id=data.lead_id,
        erased_at=data.erased_at,
        event_id=erasure.event.id,
        aliases=len(data.aliases),
        erased=parts,
        kept=KEPT,
        pending=list(DOWNSTREAM),
    )


@router.delete(
    "/leads/{lead_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ErasureOut,
    summary="Erase a lead's personal data here, and downstream through handoff.lead.erased",
    responses={
        401: {"description": "no key, or an unknown one"},
        403: {"description": "the key lacks the admin scope"},
        404: {"description": "scoring never had this lead"},
    },
)
async def erase(
    lead_id: str, deps: Deps, key: Annotated[ApiKeyRecord, Depends(require_scope("admin"))]
) -> ErasureOut:
    if "\x00" in lead_id or len(lead_id) > 200:
        raise _unknown(lead_id)  # no lead id can hold these (signals refuse them)
    try:
        async with deps.uow() as uow:
            erasure = await erase_lead(uow, deps.model, lead_id, deps.clock(), key.id)
            if erasure is None:
                raise _unknown(lead_id)
            await uow.commit()
    except (OperationalError, InterfaceError, OSError, TimeoutError):
        raise Problem(
            503,
            "The database did not answer; nothing was erased. Retry later.",
            headers=retry_after(5),
        ) from None
    return erasure_out(erasure)


def _unknown(lead_id: str) -> Problem:
    shown = lead_id if len(lead_id) <= 200 and "\x00" not in lead_id else "(not a lead id)"
    return Problem(
        404,
        f"No signals have been scored for lead {shown!r}, so there is nothing to erase. "
        "A previous id merged into another lead by an alias is erased with that lead.",
    )
