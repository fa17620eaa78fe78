"""GET /v1/funnel (JSON or CSV), /v1/funnel/feedback and /v1/funnel/alerts: read-only, scope `read`."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from handoff.http.auth import require_scope
from handoff.http.problem import Problem
from handoff.runtime import Runtime
from handoff.settings import ApiKeyRecord
from handoff_insight.adapters.alert_states import AlertState
from handoff_insight.domain import wording
from handoff_insight.domain.kpis import Kpis, reasons_of
from handoff_insight.service_layer import queries
from handoff_insight.service_layer.queries import WINDOWS, Window

router = APIRouter(prefix="/v1", tags=["funnel"])

WindowName = Literal["7d", "30d", "90d"]
GroupBy = Literal[
    "overall", "source", "campaign", "trigger", "fit_grade", "pool", "rep", "team", "week"
]
MAX_DAYS = 400
# PostgreSQL text cannot hold NUL: refuse it here as bad input rather than fail in the query.
Text = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")]
LAST_DAY = date(9999, 12, 30)  # the window's end (the next midnight) must still be a date


class ReasonOut(BaseModel):
    code: str
    count: int
    share: float | None = Field(description="of the rejected MQLs")
    label_en: str
    label_ja: str


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
        from handoff_insight.domain.rollup import BUCKETS

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


class WindowOut(BaseModel):
    name: str = Field(description="7d, 30d, 90d, or custom (from/to)")
    first_day: date
    last_day: date


class GroupOut(BaseModel):
    group: str
    kpis: KpisOut


class FunnelOut(BaseModel):
    window: WindowOut
    by: str
    filters: dict[str, str]
    overall: KpisOut
    groups: list[GroupOut]


def window_of(name: str | None, first: date | None, last: date | None) -> Window:
    today = datetime.now(UTC).date()
    if first is None and last is None:
        return Window.rolling(name or "30d", today)
    if name is not None:
        raise Problem(
            422,
            "Give either window or from/to, not both.",
            errors=[
                {"field": "window", "message": f"not with from/to; one of {', '.join(WINDOWS)}"}
            ],
        )
    if first is None or last is None:
        missing = "from" if first is None else "to"
        raise Problem(
            422,
            f"A custom window needs both from and to; {missing} is missing.",
            errors=[{"field": missing, "message": "required with the other"}],
        )
    if last > LAST_DAY:
        raise Problem(
            422,
            f"The window must end by {LAST_DAY}.",
            errors=[{"field": "to", "message": f"at most {LAST_DAY}"}],
        )
    if last < first:
        raise Problem(
            422,
            "The window ends before it starts.",
            errors=[{"field": "to", "message": "must not be before from"}],
        )
    if (last - first).days >= MAX_DAYS:
        raise Problem(
            422,
            f"A custom window spans at most {MAX_DAYS} days.",
            errors=[{"field": "to", "message": f"at most {MAX_DAYS} days after from"}],
        )
    return Window("custom", first, last)


def _filters(**given: str | None) -> dict[str, str]:
    return {k: v for k, v in given.items() if v}


def _csv(report: FunnelOut) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    columns = [
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
    writer.writerow([report.by, *columns, "sla_accept_compliance", "top_reason"])
    for g in [GroupOut(group="(all)", kpis=report.overall), *report.groups]:
        row = g.kpis.model_dump()
        accept = next((s for s in g.kpis.sla if s.stage == "accept"), None)
        writer.writerow(
            [
                g.group,
                *("" if row[c] is None else row[c] for c in columns),
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
    rt: Runtime = request.app.state.runtime
    win = window_of(window, from_, to)
    filters = _filters(source=source, campaign=campaign, pool=pool, rep=rep)
    async with rt.engine.connect() as conn:
        overall, groups = await queries.funnel(conn, win, by, filters, rt.state["labels"])
    report = FunnelOut(
        window=WindowOut(name=win.name, first_day=win.first, last_day=win.last),
        by=by,
        filters=filters,
        overall=KpisOut.of(overall),
        groups=[GroupOut(group=g.group, kpis=KpisOut.of(g.kpis)) for g in groups],
    )
    if "text/csv" in request.headers.get("accept", ""):
        return Response(_csv(report), media_type="text/csv; charset=utf-8")
    return report


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


class WhatIfOut(BaseModel):
    threshold: int
    mqls: int
    decided: int
    acceptance_rate: float | None
    sql_rate: float | None
    too_few_to_trust: bool


class FeedbackOut(BaseModel):
    window: WindowOut
    filters: dict[str, str] = Field(
        description="the filters applied (source, campaign, pool, rep), as on /v1/funnel"
    )
    by_rule: list[OutcomesOut] = Field(description="per scoring rule that contributed points")
    by_trigger: list[OutcomesOut] = Field(description="per MQL trigger (kind: rule)")
    what_if: list[WhatIfOut] = Field(description="had the MQL bar been at `threshold`")
    note: str


@router.get(
    "/funnel/feedback",
    response_model=FeedbackOut,
    summary="How the MQLs of each scoring rule and trigger ended, and the threshold what-if",
)
async def get_feedback(
    request: Request,
    key: Annotated[ApiKeyRecord, Depends(require_scope("read"))],
    window: Annotated[WindowName | None, Query()] = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: Annotated[date | None, Query()] = None,
    source: Text = None,
    campaign: Text = None,
    pool: Text = None,
    rep: Text = None,
) -> FeedbackOut:
    rt: Runtime = request.app.state.runtime
    win = window_of(window, from_, to)
    filters = _filters(source=source, campaign=campaign, pool=pool, rep=rep)
    minimum = rt.state["config"].whatif_min_decided
    labels = rt.state["labels"]
    async with rt.engine.connect() as conn:
        rules, triggers, rows = await queries.feedback(conn, win, filters, minimum)

    def out(o: queries.Outcomes) -> OutcomesOut:
        return OutcomesOut(
            name=o.name,
            mqls=o.mqls,
            accepted=o.accepted,
            rejected=o.rejected,
            open=o.open,
            sql=o.sql,
            rejected_by_reason=dict(o.reasons),
            reasons=[ReasonOut(**vars(r)) for r in reasons_of(o.reasons, o.rejected, labels)],
        )

    few = [r.threshold for r in rows if r.too_few]
    note = "Only recorded MQLs are known, so thresholds start at the lowest MQL score seen. " + (
        f"Rows marked too_few_to_trust have fewer than {minimum} decided MQLs."
        if few
        else f"Every row has at least {minimum} decided MQLs."
    )
    return FeedbackOut(
        window=WindowOut(name=win.name, first_day=win.first, last_day=win.last),
        filters=filters,
        by_rule=[out(o) for o in rules],
        by_trigger=[out(o) for o in triggers],
        what_if=[
            WhatIfOut(
                threshold=r.threshold,
                mqls=r.mqls,
                decided=r.decided,
                acceptance_rate=r.acceptance_rate,
                sql_rate=r.sql_rate,
                too_few_to_trust=r.too_few,
            )
            for r in rows
        ],
        note=note,
    )


class AlertOut(BaseModel):
    band: str
    metric: str
    group_by: str
    group: str
    value: float
    samples: int
    raised_at: datetime
    below: float | None = Field(description="the band: in it when value < below")
    at_or_above: float | None = Field(description="the band: in it when value >= at_or_above")
    message_en: str = Field(description="the alert as a sentence, in English")
    message_ja: str = Field(description="the alert as a sentence, in Japanese")


class AlertsOut(BaseModel):
    window: str
    alerts: list[AlertOut]


@router.get(
    "/funnel/alerts", response_model=AlertsOut, summary="Band alerts raised and not cleared"
)
async def get_alerts(
    request: Request, key: Annotated[ApiKeyRecord, Depends(require_scope("read"))]
) -> AlertsOut:
    rt: Runtime = request.app.state.runtime
    config = rt.state["config"]
    bands = {b.name: b for b in config.bands}
    async with rt.engine.connect() as conn:
        states = await queries.open_alerts(conn)

    def out(s: AlertState) -> AlertOut:
        band = bands.get(s.band)  # None if the band was renamed since it was raised
        said = wording.Alert(
            s.band, s.metric, s.group_by, s.group, s.value, s.samples, config.window_days
        )
        return AlertOut(
            band=s.band,
            metric=s.metric,
            group_by=s.group_by,
            group=s.group,
            value=s.value,
            samples=s.samples,
            raised_at=s.changed_at,
            below=band.below if band else None,
            at_or_above=band.at_or_above if band else None,
            message_en=wording.sentence_en(said, band),
            message_ja=wording.sentence_ja(said, band),
        )

    return AlertsOut(window=config.window, alerts=[out(s) for s in states])
