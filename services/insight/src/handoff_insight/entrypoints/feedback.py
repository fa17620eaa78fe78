"""GET /v1/funnel/feedback: how the MQLs of each scoring rule and trigger ended, and what the
acceptance would have been had the MQL bar been elsewhere; scope `read`."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from handoff.http.auth import require_scope
from handoff.settings import ApiKeyRecord
from handoff_insight.domain.kpis import Labels, reasons_of
from handoff_insight.domain.whatif import WhatIfRow
from handoff_insight.entrypoints.deps import Deps
from handoff_insight.entrypoints.query import (
    ReasonOut,
    Text,
    WindowName,
    WindowOut,
    filters_of,
    window_of,
)
from handoff_insight.service_layer import queries

router = APIRouter(prefix="/v1", tags=["funnel"])


class OutcomesOut(BaseModel):
    name: str
    mqls: int
    accepted: int
    rejected: int
    open: int = Field(description="not yet accepted or rejected")
    sql: int
    rejected_by_reason: dict[str, int] = Field(description="reason code -> count")
    reasons: list[ReasonOut] = Field(
        description="the same, most frequent first, with the English and Japanese labels"
    )

    @classmethod
    def of(cls, o: queries.Outcomes, labels: Labels) -> OutcomesOut:
        return cls(
            name=o.name,
            mqls=o.mqls,
            accepted=o.accepted,
            rejected=o.rejected,
            open=o.open,
            sql=o.sql,
            rejected_by_reason=dict(o.reasons),
            reasons=[ReasonOut(**vars(r)) for r in reasons_of(o.reasons, o.rejected, labels)],
        )


class WhatIfOut(BaseModel):
    threshold: int
    mqls: int
    decided: int
    acceptance_rate: float | None
    sql_rate: float | None
    too_few_to_trust: bool

    @classmethod
    def of(cls, r: WhatIfRow) -> WhatIfOut:
        return cls(
            threshold=r.threshold,
            mqls=r.mqls,
            decided=r.decided,
            acceptance_rate=r.acceptance_rate,
            sql_rate=r.sql_rate,
            too_few_to_trust=r.too_few,
        )


class FeedbackOut(BaseModel):
    window: WindowOut
    filters: dict[str, str] = Field(
        description="the filters applied (source, campaign, pool, rep), as on /v1/funnel"
    )
    by_rule: list[OutcomesOut] = Field(description="per scoring rule that contributed points")
    by_trigger: list[OutcomesOut] = Field(description="per MQL trigger (kind: rule)")
    what_if: list[WhatIfOut] = Field(description="had the MQL bar been at `threshold`")
    note: str


def _note(rows: list[WhatIfRow], minimum: int) -> str:
    return "Only recorded MQLs are known, so thresholds start at the lowest MQL score seen. " + (
        f"Rows marked too_few_to_trust have fewer than {minimum} decided MQLs."
        if any(r.too_few for r in rows)
        else f"Every row has at least {minimum} decided MQLs."
    )


@router.get(
    "/funnel/feedback",
    response_model=FeedbackOut,
    summary="How the MQLs of each scoring rule and trigger ended, and the threshold what-if",
)
async def get_feedback(
    deps: Deps,
    key: Annotated[ApiKeyRecord, Depends(require_scope("read"))],
    window: Annotated[WindowName | None, Query()] = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: Annotated[date | None, Query()] = None,
    source: Text = None,
    campaign: Text = None,
    pool: Text = None,
    rep: Text = None,
) -> FeedbackOut:
    win = window_of(window, from_, to, deps.clock().date())
    filters = filters_of(source=source, campaign=campaign, pool=pool, rep=rep)
    minimum = deps.config.whatif_min_decided
    async with deps.engine.connect() as conn:
        rules, triggers, rows = await queries.feedback(conn, win, filters, minimum)
    return FeedbackOut(
        window=WindowOut.of(win),
        filters=filters,
        by_rule=[OutcomesOut.of(o, deps.labels) for o in rules],
        by_trigger=[OutcomesOut.of(o, deps.labels) for o in triggers],
        what_if=[WhatIfOut.of(r) for r in rows],
        note=_note(rows, minimum),
    )
