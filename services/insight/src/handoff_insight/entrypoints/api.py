"""GET /v1/funnel: the funnel's KPIs over a window, grouped, as JSON or CSV; scope `read`.

The feedback and alert routes are in feedback.py and alerts.py."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from handoff.http.auth import require_scope
from handoff.settings import ApiKeyRecord
from handoff_insight.domain.kpis import Kpis
from handoff_insight.domain.rollup import BUCKETS
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

GroupBy = Literal[
    "overall", "source", "campaign", "trigger", "fit_grade", "pool", "rep", "team", "week"
]


class SlaOut(BaseModel):
    stage: str = Field(description="accept, first_contact, status_update, or other")
    met: int
    breached: int
    compliance: float | None = Field(description="met / (met + breached)")


class KpisOut(BaseModel):
    mqls: int
    assigned: int
    accepted: int
    rejected: int
    decided: int
    acceptance_rate: float | None = Field(description="accepted / decided")
    rejection_rate: float | None = Field(description="rejected / decided")
    sql: int
    mql_to_sql: float | None = Field(description="SQL / MQLs")
    sal_to_sql: float | None = Field(description="accepted MQLs that became SQL / accepted")
    recycled: int
    recycle_share: float | None
    disqualified: int
    disqualify_share: float | None
    nurture: int
    time_to_accept_p50_seconds: float | None
    time_to_accept_p90_seconds: float | None
    time_to_first_contact_p50_seconds: float | None
    time_to_first_contact_p90_seconds: float | None
    time_to_accept_histogram: dict[str, int] = Field(
        description="MQLs accepted within each bucket, keyed by its upper bound in seconds"
    )
    sla: list[SlaOut]
    breaches: int
    escalations: int
    reasons: list[ReasonOut]

    @classmethod
    def of(cls, k: Kpis) -> KpisOut:
        return cls(
            mqls=k.mqls,
            assigned=k.assigned,
            accepted=k.accepted,
            rejected=k.rejected,
            decided=k.decided,
            acceptance_rate=k.acceptance_rate,
            rejection_rate=k.rejection_rate,
            sql=k.sql,
            mql_to_sql=k.mql_to_sql,
            sal_to_sql=k.sal_to_sql,
            recycled=k.recycled,
            recycle_share=k.recycle_share,
            disqualified=k.disqualified,
            disqualify_share=k.disqualify_share,
            nurture=k.nurture,
            time_to_accept_p50_seconds=k.time_to_accept_p50,
            time_to_accept_p90_seconds=k.time_to_accept_p90,
            time_to_first_contact_p50_seconds=k.time_to_contact_p50,
            time_to_first_contact_p90_seconds=k.time_to_contact_p90,
            time_to_accept_histogram={
                (str(BUCKETS[i]) if i < len(BUCKETS) else "more"): n
                for i, n in sorted(k.accept_histogram.items())
            },
            sla=[
                SlaOut(stage=s.stage, met=s.met, breached=s.breached, compliance=s.compliance)
                for s in k.sla
            ],
            breaches=k.breaches,
            escalations=k.escalations,
            reasons=[ReasonOut(**vars(r)) for r in k.reasons],
        )


class GroupOut(BaseModel):
    group: str
    kpis: KpisOut


class FunnelOut(BaseModel):
    window: WindowOut
    by: str
    filters: dict[str, str]
    overall: KpisOut
    groups: list[GroupOut]


CSV_COLUMNS = [
    "mqls",
    "accepted",
    "rejected",
    "acceptance_rate",
    "rejection_rate",
    "sql",
    "mql_to_sql",
    "sal_to_sql",
    "recycle_share",
    "disqualify_share",
    "time_to_accept_p50_seconds",
    "time_to_accept_p90_seconds",
    "time_to_first_contact_p50_seconds",
    "time_to_first_contact_p90_seconds",
    "breaches",
    "escalations",
]


def _csv(report: FunnelOut) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([report.by, *CSV_COLUMNS, "sla_accept_compliance", "top_reason"])
    for g in [GroupOut(group="(all)", kpis=report.overall), *report.groups]:
        row = g.kpis.model_dump()
        accept = next((s for s in g.kpis.sla if s.stage == "accept"), None)
        writer.writerow(
            [
                g.group,
                *("" if row[c] is None else row[c] for c in CSV_COLUMNS),
                "" if accept is None or accept.compliance is None else accept.compliance,
                g.kpis.reasons[0].code if g.kpis.reasons else "",
            ]
        )
    return out.getvalue()


@router.get(
    "/funnel",
    response_model=FunnelOut,
    summary="Funnel KPIs over a window, grouped (JSON, or CSV with Accept: text/csv)",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def get_funnel(
    request: Request,
    deps: Deps,
    key: Annotated[ApiKeyRecord, Depends(require_scope("read"))],
    window: Annotated[
        WindowName | None, Query(description="rolling: the last 7, 30 or 90 days (default 30d)")
    ] = None,
    from_: Annotated[
        date | None, Query(alias="from", description="first day (UTC), with `to`")
    ] = None,
    to: Annotated[date | None, Query(description="last day (UTC), inclusive, with `from`")] = None,
    by: Annotated[GroupBy, Query(description="the dimension to group by")] = "overall",
    source: Text = None,
    campaign: Text = None,
    pool: Text = None,
    rep: Text = None,
) -> FunnelOut | Response:
    win = window_of(window, from_, to, deps.clock().date())
    filters = filters_of(source=source, campaign=campaign, pool=pool, rep=rep)
    async with deps.engine.connect() as conn:
        overall, groups = await queries.funnel(conn, win, by, filters, deps.labels)
    report = FunnelOut(
        window=WindowOut.of(win),
        by=by,
        filters=filters,
        overall=KpisOut.of(overall),
        groups=[GroupOut(group=g.group, kpis=KpisOut.of(g.kpis)) for g in groups],
    )
    if "text/csv" in request.headers.get("accept", ""):
        return Response(_csv(report), media_type="text/csv; charset=utf-8")
    return report
