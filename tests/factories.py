"""Event factories for tests: plausible defaults, override what the test is about."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from handoff.events import scoring, signals

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def new_id(prefix: str = "L") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def activity(
    lead_id: str,
    kind: str = "page_view",
    *,
    event_id: str | None = None,
    at: datetime | None = None,
    **props: Any,
) -> signals.ActivitySignal:
    return signals.ActivitySignal(
        id=event_id or new_id("evt"),
        source="/tests",
        subject=lead_id,
        data=signals.ActivityData(
            lead_id=lead_id, activity_type=kind, occurred_at=at or T0, properties=props
        ),
    )


def identify(lead_id: str, **traits: Any) -> signals.IdentifySignal:
    return signals.IdentifySignal(
        id=new_id("evt"),
        source="/tests",
        subject=lead_id,
        data=signals.IdentifyData(
            lead_id=lead_id, occurred_at=T0, traits=signals.Traits.model_validate(traits)
        ),
    )


def mql(lead_id: str, *, cycle: int = 1, score: int = 75) -> scoring.LeadMql:
    mql_id = new_id("mql")
    return scoring.LeadMql(
        id=mql_id,
        subject=lead_id,
        data=scoring.MqlData(
            lead_id=lead_id,
            mql_id=mql_id,
            cycle=cycle,
            score=score,
            engagement_score=score,
            fit_score=0,
            model_version="test",
            trigger=scoring.Trigger(kind="threshold", rule="score >= 60"),
            reason="test",
            contributions=[],
            qualified_at=T0,
        ),
    )


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
