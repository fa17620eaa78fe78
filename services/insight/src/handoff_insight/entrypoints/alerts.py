"""GET /v1/funnel/alerts: the band alerts raised and not cleared, each as a sentence in English
and Japanese; scope `read`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from handoff.http.auth import require_scope
from handoff.settings import ApiKeyRecord
from handoff_insight.adapters.alert_states import AlertState
from handoff_insight.config import InsightConfig
from handoff_insight.domain import wording
from handoff_insight.entrypoints.deps import Deps
from handoff_insight.service_layer import queries

router = APIRouter(prefix="/v1", tags=["funnel"])


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

    @classmethod
    def of(cls, s: AlertState, config: InsightConfig) -> AlertOut:
        # None if the band was renamed since the alert was raised.
        band = next((b for b in config.bands if b.name == s.band), None)
        said = wording.Alert(
            s.band, s.metric, s.group_by, s.group, s.value, s.samples, config.window_days
        )
        return cls(
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


class AlertsOut(BaseModel):
    window: str
    alerts: list[AlertOut]


@router.get(
    "/funnel/alerts", response_model=AlertsOut, summary="Band alerts raised and not cleared"
)
async def get_alerts(
    deps: Deps, key: Annotated[ApiKeyRecord, Depends(require_scope("read"))]
) -> AlertsOut:
    async with deps.engine.connect() as conn:
        states = await queries.open_alerts(conn)
    return AlertsOut(
        window=deps.config.window, alerts=[AlertOut.of(s, deps.config) for s in states]
    )
