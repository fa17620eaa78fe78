"""Every event scoring emits, built here: handoff.lead.mql, .disqualified, .score_changed and
.erased on handoff.scoring.v1, with their stable ids, and where they carry personal data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from handoff.events import scoring as ev
from handoff.events.encode import fact_id
from handoff.events.signals import Traits
from handoff.messaging.erasure import drop_data_fields
from handoff.messaging.producer import Message
from handoff_scoring.domain.engagement import Score
from handoff_scoring.domain.explanation import attribution, contributions, reason
from handoff_scoring.domain.lead import Lead, utc_datetime
from handoff_scoring.domain.lifecycle import Disqualified
from handoff_scoring.domain.model import ScoringModel
from handoff_scoring.domain.triggers import Qualified

ScoringEvent = ev.LeadMql | ev.LeadDisqualified | ev.LeadScoreChanged | ev.LeadErased

# Where scoring's events carry personal data: an MQL carries the lead's traits for routing.
PERSONAL_EVENT_FIELDS = ("traits",)


def mql_id(lead_id: str, cycle: int) -> str:
    """The MQL's id, the same for the same lead and cycle whenever it is computed."""
    return fact_id("mql", lead_id, str(cycle))


def _latest(values: list[str]) -> str | None:
    return values[-1] if values else None


def mql_event(model: ScoringModel, lead: Lead, q: Qualified) -> ev.LeadMql:
    the_id = mql_id(q.lead_id, q.cycle)
    sources, campaigns = attribution(lead, q.at)
    top = contributions(model, lead, q.at, limit=5)
    label = model.trigger_labels.get(q.rule) if q.kind != "threshold" else None
    return ev.LeadMql(
        id=the_id,
        subject=q.lead_id,
        time=utc_datetime(q.at),
        data=ev.MqlData(
            lead_id=q.lead_id,
            mql_id=the_id,
            cycle=q.cycle,
            score=q.engagement + q.fit.points,
            engagement_score=q.engagement,
            fit_score=q.fit.points,
            fit_grade=q.fit.grade,
            model_version=model.version,
            trigger=ev.Trigger(kind=q.kind, rule=q.rule),
            reason=reason(model, lead, q.at, top, label, q.rule),
            contributions=[
                ev.Contribution(
                    activity_type=c.activity_type,
                    count=c.count,
                    points=c.points,
                    last_seen=utc_datetime(c.last_seen),
                    rule=c.rule,
                )
                for c in top
            ],
            qualified_at=utc_datetime(q.at),
            traits=Traits.model_validate(lead.traits) if lead.traits else None,
            source=_latest(sources),
            campaign=_latest(campaigns),
            sources=sources,
            campaigns=campaigns,
        ),
    )


def disqualified_event(model: ScoringModel, d: Disqualified) -> ev.LeadDisqualified:
    return ev.LeadDisqualified(
        id=fact_id("disqualified", d.lead_id, str(d.cycle), d.reason),
        subject=d.lead_id,
        time=utc_datetime(d.at),
        data=ev.DisqualifiedData(
            lead_id=d.lead_id,
            reason=f"Disqualified: {d.reason.replace('_', ' ')} (rule {d.rule}).",
            reason_code=d.reason,
            rule=d.rule,
            cycle=d.cycle,
            model_version=model.version,
            at=utc_datetime(d.at),
        ),
    )


def score_changed_event(
    model: ScoringModel, lead_id: str, score: Score, previous: int | None
) -> ev.LeadScoreChanged:
    assert score.at is not None
    return ev.LeadScoreChanged(
        id=fact_id("score_changed", lead_id, repr(score.at), str(score.total)),
        subject=lead_id,
        time=utc_datetime(score.at),
        data=ev.ScoreChangedData(
            lead_id=lead_id,
            score=score.total,
            engagement_score=score.engagement,
            fit_score=score.fit.points,
            fit_grade=score.fit.grade,
            previous_score=previous,
            model_version=model.version,
            at=utc_datetime(score.at),
        ),
    )


def erased_event(lead_id: str, aliases: list[str], at: datetime, by: str | None) -> ev.LeadErased:
    return ev.LeadErased(
        id=fact_id("erased", lead_id, at.isoformat()),
        subject=lead_id,
        time=at,
        data=ev.ErasedData(lead_id=lead_id, erased_at=at, aliases=aliases, requested_by=by),
    )


def scrub_event(event: dict[str, Any]) -> list[str]:
    """Drop the personal fields from a stored outbox event (an erasure reached it unsent)."""
    return drop_data_fields(event, PERSONAL_EVENT_FIELDS)


def messages(events: Sequence[ScoringEvent]) -> list[Message]:
    """The outbox records of scoring's events, keyed by lead on handoff.scoring.v1."""
    return [Message.of(ev.TOPIC, e) for e in events]
